"""The ``piecewise`` family."""

from __future__ import annotations

import bisect
import math
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

    With ``interpolate = "linear"`` or ``"cosine"`` the values are knots instead: ``values[0]``
    at step 0, ``values[i]`` at ``milestones[i-1]``, joined by straight lines
    (``(v1 - v0) * pct + v0``) or half cosines (``v1 + (v0 - v1) / 2 * (cos(pi * pct) + 1)``),
    ``pct`` the position between two knots; after the last knot its value holds. This is
    optax's ``piecewise_interpolate_schedule(type, init_value, boundaries_and_scales)`` with
    ``milestones`` its boundaries and ``values`` the running products
    ``[1, s1, s1*s2, ...]`` of its scales (times ``init_value``, the base lr).

    Example: ``get_schedule("piecewise", values=[1.0, 0.5, 0.1], milestones=[1000, 5000])``;
    ``get_schedule("piecewise", values=[0.0, 1.0, 1.0, 0.0], milestones=[100, 800, 1000],
    interpolate="linear")`` is a trapezoid.

    :param values: the factors: one per interval (constant) or per knot (interpolated).
    :param milestones: increasing steps where each value starts (constant) or each knot
        after the first lies (interpolated); the first knot is at step 0.
    :param interpolate: ``constant`` (steps), ``linear`` or ``cosine`` between knots.
    """

    name = "piecewise"

    values_: tuple[float, ...] = schedkit.field(
        alias="values", converter=_to_floats, validator=_factors
    )
    milestones: tuple[int, ...] = schedkit.durations()
    interpolate: str = schedkit.choice("constant", "linear", "cosine")

    def __attrs_post_init__(self) -> None:
        if self.interpolate != "constant" and self.milestones and self.milestones[0] <= 0:
            raise SpecError(
                f"expected knots after step 0 (the first knot), got {list(self.milestones)}",
                "milestones",
            )
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
        i = bisect.bisect_right(self.milestones, step)
        if self.interpolate == "constant" or i >= len(self.milestones):
            return self.values_[i]
        lo = self.milestones[i - 1] if i else 0
        pct = (step - lo) / (self.milestones[i] - lo)
        v0, v1 = self.values_[i], self.values_[i + 1]
        if self.interpolate == "linear":
            return float((v1 - v0) * pct + v0)
        return float(v1 + (v0 - v1) / 2.0 * (math.cos(math.pi * pct) + 1))

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        n = torch.bucketize(t, torch.tensor(self.milestones, dtype=t.dtype), right=True)
        values = torch.tensor(self.values_, dtype=torch.float64)
        if self.interpolate == "constant" or not self.milestones:
            return values[n]
        knots = torch.tensor((0, *self.milestones), dtype=t.dtype)
        last = len(self.milestones)
        i = n.clamp(max=last - 1)
        lo, hi = knots[i], knots[i + 1]
        pct = ((t - lo) / (hi - lo)).clamp(0.0, 1.0)
        v0, v1 = values[i], values[i + 1]
        if self.interpolate == "linear":
            out = (v1 - v0) * pct + v0
        else:
            out = v1 + (v0 - v1) / 2.0 * (torch.cos(math.pi * pct) + 1)
        return torch.where(n >= last, values[-1], out)

    def spec(self) -> dict[str, Any]:
        """Every parameter, but ``interpolate`` left at ``constant`` (so the specs, and the
        states, written before it existed stay equal)."""
        out = super().spec()
        for key, default in (("interpolate", "constant"),):
            if out.get(key) == default:
                del out[key]
        return out

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
            {"values": [0.0, 1.0, 1.0, 0.1], "milestones": [20, 60, 100], "interpolate": "linear"},
            {"values": [1.0, 0.5, 0.05], "milestones": [40, 100], "interpolate": "cosine"},
        ],
    )
