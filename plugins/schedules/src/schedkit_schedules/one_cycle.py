"""The ``one_cycle`` family."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import anneal, bad_step, instance_of, optional_pair, to_pair


def _momentum_pair(value: Any) -> Any:
    return None if value is False else to_pair(value)


@attrs.frozen
class OneCycle(schedkit.BaseSchedule):
    """The 1cycle policy (Smith & Topin, 2018), torch's ``OneCycleLR`` in factors.

    The group's lr is the peak (factor 1). The factor rises from ``1/div_factor`` to 1 over
    the first ``pct_start`` of ``total``, then falls to ``1/(div_factor*final_div_factor)``
    (``anneal`` ``cos`` or ``linear``). ``three_phase`` goes back down to ``1/div_factor``
    symmetrically before the final fall. Momentum (Adam's beta1 where there is no momentum)
    cycles inversely between ``momentum = [base, max]`` as absolute values, driven by the
    same scheduler; ``momentum = false`` leaves it alone. Held at the last value after
    ``total``.

    Example: ``get_schedule("one_cycle", total="30ep", pct_start=0.25)``.
    """

    name = "one_cycle"

    total: int = schedkit.duration(positive=True, horizon=True)
    pct_start: float = schedkit.factor(0.3, gt=0.0, lt=1.0)
    anneal: str = schedkit.choice("cos", "linear")
    div_factor: float = schedkit.factor(25.0, gt=0.0)
    final_div_factor: float = schedkit.factor(1e4, gt=0.0)
    three_phase: bool = schedkit.field(default=False, validator=instance_of(bool))
    momentum: tuple[float, float] | None = schedkit.field(
        default=(0.85, 0.95),
        converter=_momentum_pair,
        validator=optional_pair(ge=0.0, le=1.0, names="[base, max]"),
    )
    _phases: tuple[tuple[float, float, float, int, int], ...] = schedkit.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        initial = 1.0 / self.div_factor
        low = initial / self.final_div_factor
        up = float(self.pct_start * self.total) - 1
        last = float(self.total - 1)
        if up <= 0 or (self.three_phase and 2 * up >= last):
            raise SpecError(
                f"expected pct_start*total ({self.pct_start * self.total:g}) to leave room "
                "for each phase",
                "pct_start",
            )
        # (end_step, start factor, end factor, momentum start index, momentum end index)
        phases: tuple[tuple[float, float, float, int, int], ...]
        if self.three_phase:
            phases = (
                (up, initial, 1.0, 1, 0),
                (2 * up, 1.0, initial, 0, 1),
                (last, initial, low, 1, 1),
            )
        else:
            phases = ((up, initial, 1.0, 1, 0), (last, 1.0, low, 0, 1))
        object.__setattr__(self, "_phases", phases)

    def _where(self, step: float) -> tuple[int, float]:
        start = 0.0
        for i, (end, *_rest) in enumerate(self._phases):
            if step <= end or i == len(self._phases) - 1:
                pct = min((step - start) / (end - start), 1.0)
                return i, pct
            start = end
        raise AssertionError("unreachable")

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        i, pct = self._where(step)
        _, a, b, _, _ = self._phases[i]
        return anneal(self.anneal, a, b, pct)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(t)
        done = torch.zeros_like(t, dtype=torch.bool)
        start = 0.0
        for i, (end, a, b, _, _) in enumerate(self._phases):
            here = ~done if i == len(self._phases) - 1 else (~done & (t <= end))
            pct = ((t - start) / (end - start)).clamp(max=1.0)
            if self.anneal == "cos":
                value = b + (a - b) / 2.0 * (torch.cos(math.pi * pct) + 1)
            else:
                value = (b - a) * pct + a
            out = torch.where(here, value, out)
            done = done | here
            start = end
        return out

    def companions(self) -> dict[str, Callable[[float], float]]:
        if self.momentum is None:
            return {}
        values = self.momentum  # (base, max)

        def momentum(step: float) -> float:
            i, pct = self._where(step)
            _, _, _, m0, m1 = self._phases[i]
            return anneal(self.anneal, values[m0], values[m1], pct)

        return {"momentum": momentum}

    def spec(self) -> dict[str, object]:
        out = super().spec()
        if self.momentum is None:
            out["momentum"] = False
        return out


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        OneCycle,
        examples=[
            {"total": 100},
            {
                "total": 200,
                "pct_start": 0.25,
                "anneal": "linear",
                "three_phase": True,
                "momentum": False,
            },
        ],
    )
