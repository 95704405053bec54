"""The ``multistep`` family."""

from __future__ import annotations

import bisect
import math

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step


@attrs.frozen
class MultiStep(schedkit.BaseSchedule):
    """Multiply by ``gamma`` at each milestone: ``f(t) = gamma ** (milestones passed)``.

    torch's ``MultiStepLR`` in closed form; detectron2's ``WarmupMultiStepLR`` with
    ``warmup_mode="overlay"``. Milestones are positions in the run: a warmup in front does
    not move them.

    Example: ``get_schedule("multistep", milestones=["30ep", "60ep", "80ep"], gamma=0.1)``.
    """

    name = "multistep"

    milestones: tuple[int, ...] = schedkit.durations()
    gamma: float = schedkit.factor(0.1, ge=0.0)

    def __attrs_post_init__(self) -> None:
        if not self.milestones:
            raise schedkit.SpecError("expected at least one milestone, got none", "milestones")
        try:
            last = self.gamma ** len(self.milestones)
        except OverflowError:
            last = math.inf
        if not math.isfinite(last):
            raise schedkit.SpecError(
                f"gamma**{len(self.milestones)} (the factor after the last milestone) overflows, "
                f"got gamma={self.gamma}",
                "gamma",
            )

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        return float(self.gamma ** bisect.bisect_right(self.milestones, step))

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        n = torch.bucketize(t, torch.tensor(self.milestones, dtype=t.dtype), right=True)
        return self.gamma ** n.to(torch.float64)

    @property
    def horizon(self) -> int:
        return self.milestones[-1]


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        MultiStep,
        examples=[{"milestones": [30, 80]}, {"milestones": [20, 40], "gamma": 0.5, "warmup": 10}],
    )
