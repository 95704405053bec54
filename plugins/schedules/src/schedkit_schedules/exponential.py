"""The ``exponential`` family."""

from __future__ import annotations

import math

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step, instance_of


@attrs.frozen
class Exponential(schedkit.BaseSchedule):
    """Exponential decay: ``f(t) = rate ** (t / period)``, or ``rate ** floor(t / period)``
    with ``staircase`` (Keras' ExponentialDecay; torch's ExponentialLR is ``period=1``).

    ``rate`` is at most 1: a growing curve would overflow within the run (a growing range
    test is ``range_test``). ``end`` is a floor the curve never goes below.

    Example: ``get_schedule("exponential", rate=0.5, period="10ep")``.
    """

    name = "exponential"

    rate: float = schedkit.factor(gt=0.0, le=1.0)
    period: int = schedkit.duration(default=1, positive=True, position=False)
    staircase: bool = schedkit.field(default=False, validator=instance_of(bool))
    end: float = schedkit.factor(0.0, ge=0.0)

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        p = step / self.period
        if self.staircase:
            p = math.floor(p)
        try:
            value = self.rate**p
        except OverflowError:
            value = math.inf
        return max(value, self.end) if math.isfinite(value) else _overflow(self.rate)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        p = t / self.period
        if self.staircase:
            p = torch.floor(p)
        return torch.clamp(self.rate**p, min=self.end)


def _overflow(rate: float) -> float:
    raise schedkit.SpecError(
        f"rate={rate} grows past the largest float; give a rate <= 1 or stop the run", "rate"
    )


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Exponential,
        examples=[{"rate": 0.99}, {"rate": 0.5, "period": 30, "staircase": True, "end": 0.01}],
    )
