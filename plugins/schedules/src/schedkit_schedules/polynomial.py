"""The ``polynomial`` family."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step, instance_of
from schedkit_schedules._call_form import transformers_call_form


@attrs.frozen
class Polynomial(schedkit.BaseSchedule):
    """Polynomial decay from 1 to ``end`` over ``total`` steps (Keras' PolynomialDecay).

    ``f(t) = (1 - end) * (1 - t/total)**power + end``, held at ``end`` from ``total`` on.
    With ``cycle=True`` the horizon grows to the next multiple of ``total`` instead
    (``total * ceil(t / total)``), so the decay restarts from a lower peak each time.
    ``power=1`` is linear decay; ``end_lr`` (absolute) is converted to ``end``.

    Example: ``get_schedule("polynomial", total=10_000, power=2.0, end=0.01)``.
    """

    name = "polynomial"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "lr_end": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    power: float = schedkit.factor(1.0, gt=0.0)
    end: float = schedkit.factor(0.0, ge=0.0)
    cycle: bool = schedkit.field(default=False, validator=instance_of(bool))

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        horizon: float = self.total
        if self.cycle:
            if step > 0:
                # at least one total: a tiny step (5e-324) divides to 0
                horizon = self.total * max(1, math.ceil(step / self.total))
        elif step >= self.total:
            return self.end
        # max(0, ...): for huge float steps ceil() can round the horizon below the step,
        # and a negative base to a fractional power is complex
        left = max(0.0, 1.0 - step / horizon)
        return float((1.0 - self.end) * left**self.power + self.end)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        if self.cycle:
            horizon = self.total * torch.clamp(torch.ceil(t / self.total), min=1.0)
        else:
            t = t.clamp(max=self.total)
            horizon = torch.full_like(t, float(self.total))
        left = (1.0 - t / horizon).clamp(min=0.0)
        return (1.0 - self.end) * left**self.power + self.end

    @property
    def horizon(self) -> int | None:
        return None if self.cycle else self.total

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Polynomial,
        examples=[
            {"total": 100},
            {"total": 300, "power": 2.0, "end": 0.1, "warmup": 30},
            {"total": 50, "power": 0.5, "cycle": True},
        ],
    )
