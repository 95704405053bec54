"""The ``cyclic`` family."""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step, in_, optional, optional_pair, steps, to_pair


@attrs.frozen
class Cyclic(schedkit.BaseSchedule):
    """Cyclical learning rates (Smith, 2017), torch's ``CyclicLR`` in factors.

    The factor goes from ``low`` up to ``high`` in ``step_size_up`` steps and back in
    ``step_size_down`` (default: the same). The amplitude is scaled per cycle
    (``triangular``: constant, ``triangular2``: halved every cycle) or per step
    (``exp_range``: ``gamma**t``); ``scale_mode`` chooses cycle or iterations explicitly.
    ``momentum = [low, high]`` cycles momentum (or Adam's beta1) inversely, as absolute values.

    Example: ``get_schedule("cyclic", high=6.0, step_size_up=2000, mode="triangular2")``.
    """

    name = "cyclic"

    high: float = schedkit.factor(gt=0.0)
    step_size_up: int = schedkit.duration(positive=True, position=False)
    step_size_down: int | None = schedkit.field(
        default=None, validator=optional(steps(positive=True))
    )
    low: float = schedkit.factor(1.0, ge=0.0)
    mode: str = schedkit.choice("triangular", "triangular2", "exp_range")
    gamma: float = schedkit.factor(1.0, gt=0.0)
    scale_mode: str | None = schedkit.field(
        default=None,
        validator=optional(in_(("cycle", "iterations"))),
    )
    momentum: tuple[float, float] | None = schedkit.field(
        default=None, converter=to_pair, validator=optional_pair(ge=0.0, le=1.0)
    )
    _total: float = schedkit.field(init=False, eq=False, repr=False)
    _ratio: float = schedkit.field(init=False, eq=False, repr=False)
    _by_cycle: bool = schedkit.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        down = self.step_size_down if self.step_size_down is not None else self.step_size_up
        total = float(self.step_size_up + down)
        object.__setattr__(self, "_total", total)
        object.__setattr__(self, "_ratio", self.step_size_up / total)
        mode = self.scale_mode or ("iterations" if self.mode == "exp_range" else "cycle")
        object.__setattr__(self, "_by_cycle", mode == "cycle")
        if self.mode == "exp_range" and self.gamma > 1.0:
            # gamma**t grows without bound: it overflows within the run (1.01 by step 7e4)
            raise schedkit.SpecError(
                f"expected gamma <= 1 with mode 'exp_range' (gamma**step grows past the "
                f"largest float), got {self.gamma}",
                "gamma",
            )

    def _scale(self, x: float) -> float:
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return float(0.5 ** (x - 1))  # 1 / 2**(x-1), without overflow
        return float(self.gamma**x)

    def _phase(self, step: float) -> tuple[int, float]:
        cycle = math.floor(1 + step / self._total)
        x = 1.0 + step / self._total - cycle
        s = x / self._ratio if x <= self._ratio else (x - 1) / (self._ratio - 1)
        return cycle, s

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        cycle, s = self._phase(step)
        height = (self.high - self.low) * s
        return float(self.low + height * self._scale(cycle if self._by_cycle else step))

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        cycle = torch.floor(1 + t / self._total)
        x = 1.0 + t / self._total - cycle
        s = torch.where(x <= self._ratio, x / self._ratio, (x - 1) / (self._ratio - 1))
        by = cycle if self._by_cycle else t
        if self.mode == "triangular":
            scale = torch.ones_like(t)
        elif self.mode == "triangular2":
            scale = 0.5 ** (by - 1)
        else:
            scale = self.gamma**by
        return self.low + (self.high - self.low) * s * scale

    def companions(self) -> dict[str, Callable[[float], float]]:
        if self.momentum is None:
            return {}
        lo, hi = self.momentum

        def momentum(step: float) -> float:
            cycle, s = self._phase(step)
            return hi - (hi - lo) * s * self._scale(cycle if self._by_cycle else step)

        return {"momentum": momentum}


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Cyclic,
        examples=[
            {"high": 4.0, "step_size_up": 20},
            {"high": 10.0, "step_size_up": 10, "step_size_down": 30, "mode": "triangular2"},
            {
                "high": 2.0,
                "step_size_up": 15,
                "mode": "exp_range",
                "gamma": 0.999,
                "momentum": [0.8, 0.9],
            },
        ],
    )
