"""The ``param_norm`` clipper."""

from __future__ import annotations

from typing import Any

import attrs
import torch

import schedkit
from schedkit import ClipResult
from schedkit.plugin import (
    Target,
    by_device_and_dtype,
    check_norm_type,
    norm_type,
    norms,
    total_norm,
)


@attrs.frozen(kw_only=True)
class ParamNorm(schedkit.BaseClipper):
    """Clip each parameter's gradient to its own norm ``max_norm``: detectron2's
    per-parameter ``CLIP_TYPE: norm`` (``clip_grad_norm_`` called on each parameter).

    Vectorised: one foreach norm and one foreach multiply per device and dtype, instead of
    a Python loop of kernels per parameter. ``total_norm`` is the norm of all gradients
    before clipping; ``clip_coef`` holds each parameter's coefficient.

    Example: ``{type = "param_norm", max_norm = 1.0}``.
    """

    name = "param_norm"

    max_norm: float = schedkit.factor(gt=0.0)
    norm_type: float = schedkit.field(default=2.0, converter=norm_type, validator=check_norm_type)

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        grads = target.grads
        if not grads:
            return ClipResult(total_norm=torch.tensor(0.0), clip_coef=torch.ones(0))
        if self.nonfinite != "ignore" and not self.finite(
            target, total_norm(grads, self.norm_type)
        ):
            return ClipResult(skipped=True)
        first = grads[0].device
        all_norms = []
        all_coefs = []
        limit = self.max_norm * factor
        for group in by_device_and_dtype(grads):
            each = torch.stack(norms(group, self.norm_type))
            coefs = torch.clamp(limit / (each + 1e-6), max=1.0)
            torch._foreach_mul_(group, list(coefs.unbind())) if group[0].device.type in (
                "cpu",
                "cuda",
            ) else [g.mul_(c) for g, c in zip(group, coefs.unbind(), strict=True)]
            all_norms.append(each.to(first))
            all_coefs.append(coefs.to(first))
        stacked = torch.cat(all_norms)
        total = torch.linalg.vector_norm(stacked, self.norm_type)
        return ClipResult(total_norm=total, clip_coef=torch.cat(all_coefs))


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(ParamNorm, examples=[{"max_norm": 1.0}, {"max_norm": 0.1, "norm_type": 1}])
