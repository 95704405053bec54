"""The ``constant`` family."""

from __future__ import annotations

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step
from schedkit_schedules._call_form import transformers_call_form


@attrs.frozen
class Constant(schedkit.BaseSchedule):
    """A constant factor: ``f(t) = value`` (default 1, the base value itself).

    With ``warmup`` it is transformers' ``constant_with_warmup``.

    Example: ``get_schedule("constant", warmup=500)``.
    """

    name = "constant"

    value: float = schedkit.factor(1.0, ge=0.0)

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        return self.value

    @property
    def horizon(self) -> int:
        return 0

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(t, self.value)

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Constant, aliases=["constant_with_warmup"], examples=[{}, {"value": 0.5, "warmup": 10}]
    )
