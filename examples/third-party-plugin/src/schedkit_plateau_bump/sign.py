"""A gradient clipper: only the sign of each gradient element, times ``scale``."""

from __future__ import annotations

from typing import Any

import attrs
import torch

import schedkit
from schedkit.clipping import Target


@attrs.frozen(kw_only=True)
class Sign(schedkit.BaseClipper):
    """Replace every gradient element by its sign times ``scale`` (signSGD's clipping):
    ``g = scale * sign(g)``, elementwise, so no element exceeds ``scale``.

    Example: ``{type = "sign", scale = 1e-3}``.
    """

    name = "sign"
    computes_norm = False

    scale: float = schedkit.factor(gt=0.0)

    def _clip(self, target: Target, factor: float, process_group: Any) -> schedkit.ClipResult:
        for g in target.grads:
            g.copy_(torch.sign(g) * (self.scale * factor))
        return schedkit.ClipResult()


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(Sign, examples=[{"scale": 1e-3}])
