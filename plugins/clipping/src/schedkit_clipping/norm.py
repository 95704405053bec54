"""The ``norm`` clipper."""

from __future__ import annotations

from typing import Any

import attrs
import torch

import schedkit
from schedkit import ClipResult
from schedkit.plugin import (
    Target,
    check_norm_type,
    norm_type,
    scale_,
)


@attrs.frozen(kw_only=True)
class Norm(schedkit.BaseClipper):
    """Clip the global gradient norm to ``max_norm``: ``g *= min(max_norm / (norm + 1e-6), 1)``.

    The norm of all gradients as one vector, of any ``norm_type`` (2, 1, ``"inf"``, p):
    ``torch.nn.utils.clip_grad_norm_``'s result, with foreach kernels. The pre-clip norm is
    returned as a 0-dim tensor (no host sync). Under DDP the gradients are already the same
    on every rank; under FSDP2 the norm of the sharded (DTensor) gradients is materialised;
    ``process_group`` combines the norms of ranks that hold different parameters.

    Example: ``{type = "norm", max_norm = 1.0}``.
    """

    name = "norm"

    max_norm: float = schedkit.factor(gt=0.0)
    norm_type: float = schedkit.field(default=2.0, converter=norm_type, validator=check_norm_type)

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        grads = target.grads
        total = self.global_norm(target, self.norm_type, process_group)
        if not self.finite(target, total):
            return ClipResult(total_norm=total, skipped=True)
        coef = torch.clamp((self.max_norm * factor) / (total + 1e-6), max=1.0)
        scale_(grads, coef)
        return ClipResult(total_norm=total, clip_coef=coef)


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(
        Norm,
        examples=[{"max_norm": 1.0}, {"max_norm": 0.5, "norm_type": "inf", "nonfinite": "skip"}],
    )
