"""The ``value`` clipper."""

from __future__ import annotations

from typing import Any

import attrs
import torch

import schedkit
from schedkit import ClipResult
from schedkit.plugin import Target, by_device_and_dtype


@attrs.frozen(kw_only=True)
class Value(schedkit.BaseClipper):
    """Clip every gradient element to ``[-clip_value, clip_value]``.

    ``torch.nn.utils.clip_grad_value_``'s result, foreach per device and dtype; detectron2's
    ``CLIP_TYPE: value``. No norm is computed, so ``total_norm`` is None.

    Example: ``{type = "value", clip_value = 0.5}``.
    """

    name = "value"
    computes_norm = False

    clip_value: float = schedkit.factor(gt=0.0)

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        limit = self.clip_value * factor
        for group in by_device_and_dtype(target.grads):
            if group[0].device.type in ("cpu", "cuda"):
                torch._foreach_clamp_min_(group, -limit)
                torch._foreach_clamp_max_(group, limit)
            else:
                for g in group:
                    g.clamp_(min=-limit, max=limit)
        return ClipResult()


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(Value, examples=[{"clip_value": 0.5}, {"clip_value": 1.0, "nonfinite": "error"}])
