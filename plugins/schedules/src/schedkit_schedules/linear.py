"""The ``linear`` family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step
from schedkit_schedules._call_form import transformers_call_form


@attrs.frozen
class Linear(schedkit.BaseSchedule):
    """Linear interpolation from ``start`` to ``end`` over ``total`` steps, then ``end``.

    ``f(t) = end + (start - end) * (total - t) / total`` for ``t < total``, else ``end``.
    With the defaults (1 to 0) and a warmup this is transformers' linear schedule, value for
    value.

    Example: ``get_schedule("linear", total=10_000, warmup=500, end=0.1)``.
    """

    name = "linear"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    start: float = schedkit.factor(1.0, ge=0.0)
    end: float = schedkit.factor(0.0, ge=0.0)

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        if step >= self.total:
            return self.end
        return self.end + (self.start - self.end) * ((self.total - step) / self.total)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clamp(max=self.total)
        return self.end + (self.start - self.end) * ((self.total - t) / self.total)

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Linear, examples=[{"total": 100}, {"total": 1000, "start": 0.5, "end": 1.0, "warmup": 50}]
    )
