"""The ``tanh`` family."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import bad_step


@attrs.frozen
class Tanh(schedkit.BaseSchedule):
    """Hyperbolic-tangent decay (Hsueh et al., 2019; timm's ``tanh`` scheduler).

    With ``r = t / total``: ``f(t) = end + (1 - end) * (1 - tanh(lb*(1 - r) + ub*r)) / 2``,
    held from ``total`` on. ``lb < ub`` set how sharp the fall is (timm: -7 and 3).

    Example: ``get_schedule("tanh", total=10_000, end=0.01)``.
    """

    name = "tanh"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "lr_min": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    lb: float = schedkit.factor(-7.0)
    ub: float = schedkit.factor(3.0)
    end: float = schedkit.factor(0.0, ge=0.0)

    def __attrs_post_init__(self) -> None:
        if not self.lb < self.ub:
            raise SpecError(f"expected lb < ub, got lb={self.lb} and ub={self.ub}", "lb")

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        r = min(step, self.total) / self.total
        return self.end + 0.5 * (1.0 - self.end) * (
            1.0 - math.tanh(self.lb * (1.0 - r) + self.ub * r)
        )

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        r = t.clamp(max=self.total) / self.total
        return self.end + 0.5 * (1.0 - self.end) * (
            1.0 - torch.tanh(self.lb * (1.0 - r) + self.ub * r)
        )


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Tanh,
        examples=[{"total": 100}, {"total": 200, "lb": -5.0, "ub": 5.0, "end": 0.1, "warmup": 20}],
    )
