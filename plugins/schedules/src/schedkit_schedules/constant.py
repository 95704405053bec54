"""The ``constant`` family."""

from __future__ import annotations

import attrs

import schedkit


@attrs.frozen
class Constant(schedkit.BaseSchedule):
    """A constant factor: ``f(t) = value`` (default 1, the base value itself).

    With ``warmup`` it is transformers' ``constant_with_warmup``.

    Example: ``get_schedule("constant", warmup=500)``.
    """

    name = "constant"

    value: float = schedkit.factor(1.0, ge=0.0)

    def __call__(self, step: float) -> float:
        return self.value

    @property
    def horizon(self) -> int:
        return 0


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(Constant, examples=[{}, {"value": 0.5, "warmup": 10}])
