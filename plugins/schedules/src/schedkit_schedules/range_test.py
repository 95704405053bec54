"""The ``range_test`` family."""

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
class RangeTest(schedkit.BaseSchedule):
    """The learning-rate range test (Smith, 2017): raise the factor from ``start`` to ``end``
    over ``total`` steps and watch the loss.

    ``exponential`` (fastai's lr finder): ``start * (end/start) ** p``; ``linear``
    (DeepSpeed's LRRangeTest): ``start + (end - start) * p``; with ``p = t / total``, or
    ``p`` floored to whole ``step_size`` intervals (DeepSpeed's staircase). Held at ``end``
    after ``total``. ``start_lr``/``end_lr`` (absolute) are converted.

    Example: ``get_scheduler("range_test", opt, total=100, start=1e-4, end=10.0)``.
    """

    name = "range_test"
    absolute: ClassVar[Mapping[str, str]] = {"start_lr": "start", "end_lr": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    start: float = schedkit.factor(1e-3, gt=0.0)
    end: float = schedkit.factor(10.0, gt=0.0)
    mode: str = schedkit.choice("exponential", "linear")
    step_size: int = schedkit.duration(default=1, positive=True, position=False)

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:
            raise SpecError(f"expected end > start ({self.start}), got {self.end}", "end")
        if not math.isfinite(self.end / self.start):
            raise SpecError(
                f"expected end / start to be a finite number, got {self.end} / {self.start}",
                "end",
            )

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        t = min(step, self.total)
        if self.step_size > 1:
            t = math.floor(t / self.step_size) * self.step_size
        p = t / self.total
        if self.mode == "exponential":
            return float(self.start * (self.end / self.start) ** p)
        return self.start + (self.end - self.start) * p

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clamp(max=self.total)
        if self.step_size > 1:
            t = torch.floor(t / self.step_size) * self.step_size
        p = t / self.total
        if self.mode == "exponential":
            return self.start * (self.end / self.start) ** p
        return self.start + (self.end - self.start) * p


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        RangeTest,
        examples=[
            {"total": 100},
            {"total": 60, "start": 0.1, "end": 5.0, "mode": "linear", "step_size": 10},
        ],
    )
