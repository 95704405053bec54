"""A schedule: a linear ramp that restarts every ``period`` steps."""

from __future__ import annotations

import attrs
import torch

import schedkit


@attrs.frozen
class Sawtooth(schedkit.BaseSchedule):
    """A sawtooth: ``f(t) = low + (1 - low) * (t mod period) / period``.

    Rises from ``low`` to just under 1 in each period, then drops back.

    Example: ``get_schedule("sawtooth", period=100, low=0.5)``.
    """

    name = "sawtooth"

    period: int = schedkit.duration(positive=True, position=False)
    low: float = schedkit.factor(0.0, ge=0.0, le=1.0)

    def __call__(self, step: float) -> float:
        return self.low + (1.0 - self.low) * ((step % self.period) / self.period)

    def _values(self, t: torch.Tensor) -> torch.Tensor:  # fast whole curves, for plots
        return self.low + (1.0 - self.low) * (torch.remainder(t, self.period) / self.period)


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(Sawtooth, examples=[{"period": 10}, {"period": 25, "low": 0.5, "warmup": 5}])
