"""The ``step`` family."""

from __future__ import annotations

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step


@attrs.frozen
class Step(schedkit.BaseSchedule):
    """Multiply by ``gamma`` every ``step_size`` steps: ``f(t) = gamma ** (t // step_size)``.

    torch's ``StepLR`` in closed form (the same floats as its ``_get_closed_form_lr``).

    Example: ``get_schedule("step", step_size="30ep", gamma=0.1)``.
    """

    name = "step"

    step_size: int = schedkit.duration(positive=True, position=False)
    gamma: float = schedkit.factor(0.1, ge=0.0, le=1.0)

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        return float(self.gamma ** (step // self.step_size))

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        return self.gamma ** torch.div(t, self.step_size, rounding_mode="floor")


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(Step, examples=[{"step_size": 30}, {"step_size": 7, "gamma": 0.5, "warmup": 5}])
