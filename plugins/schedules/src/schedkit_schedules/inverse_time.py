"""The ``inverse_time`` family."""

from __future__ import annotations

import math

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step, instance_of


@attrs.frozen
class InverseTime(schedkit.BaseSchedule):
    """Inverse time decay: ``f(t) = 1 / (1 + rate * p) ** exponent`` with ``p = t / period``
    (``floor(t / period)`` with ``staircase``).

    Keras' InverseTimeDecay is ``exponent=1``; Cerebras' InverseExponentialTimeDecay adds
    the exponent.

    Example: ``get_schedule("inverse_time", rate=0.5, period=1000)``.
    """

    name = "inverse_time"

    rate: float = schedkit.factor(ge=0.0)
    period: int = schedkit.duration(default=1, positive=True, position=False)
    exponent: float = schedkit.factor(1.0, gt=0.0)
    staircase: bool = schedkit.field(default=False, validator=instance_of(bool))

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        p = step / self.period
        if self.staircase:
            p = math.floor(p)
        denominator = 1.0 + self.rate * p
        if self.exponent != 1.0:
            try:
                denominator = denominator**self.exponent
            except OverflowError:  # the factor is below the smallest float: 0
                return 0.0
        return 1.0 / denominator

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        p = t / self.period
        if self.staircase:
            p = torch.floor(p)
        return 1.0 / (1.0 + self.rate * p) ** self.exponent


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        InverseTime,
        examples=[
            {"rate": 0.5, "period": 10},
            {"rate": 1.0, "period": 5, "exponent": 2.0, "staircase": True},
        ],
    )
