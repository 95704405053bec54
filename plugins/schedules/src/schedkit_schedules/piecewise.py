"""The ``piecewise`` family."""

from __future__ import annotations

import bisect
from typing import Any

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import Field, bad_step, number, to_float


def _factors(inst: object, attribute: Field, value: tuple[float, ...]) -> None:
    if not value:
        raise SpecError("expected at least one value, got none", attribute.name)
    check = number(ge=0.0)
    for v in value:
        check(inst, attribute, v)


def _to_floats(value: Any) -> Any:
    return tuple(to_float(x) for x in value) if isinstance(value, (list, tuple)) else value


@attrs.frozen
class Piecewise(schedkit.BaseSchedule):
    """Piecewise constant: ``values[i]`` from ``milestones[i-1]`` on (``values[0]`` before
    the first milestone); ``len(values) == len(milestones) + 1``.

    Keras' and Cerebras' PiecewiseConstant, with factors instead of absolute values.

    Example: ``get_schedule("piecewise", values=[1.0, 0.5, 0.1], milestones=[1000, 5000])``.
    """

    name = "piecewise"

    values_: tuple[float, ...] = schedkit.field(
        alias="values", converter=_to_floats, validator=_factors
    )
    milestones: tuple[int, ...] = schedkit.durations()

    def __attrs_post_init__(self) -> None:
        if len(self.values_) != len(self.milestones) + 1:
            raise SpecError(
                f"expected {len(self.milestones) + 1} values for "
                f"{len(self.milestones)} milestones, "
                f"got {len(self.values_)}",
                "values",
            )

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        return self.values_[bisect.bisect_right(self.milestones, step)]

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        n = torch.bucketize(t, torch.tensor(self.milestones, dtype=t.dtype), right=True)
        return torch.tensor(self.values_, dtype=torch.float64)[n]

    @property
    def horizon(self) -> int:
        return self.milestones[-1] if self.milestones else 0


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Piecewise,
        examples=[
            {"values": [1.0, 0.5, 0.1], "milestones": [30, 60]},
            {"values": [0.3], "milestones": []},
        ],
    )
