"""The ``plateau`` family: the one schedule with history."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit.plugin import ScheduleHooks, StateReader, as_steps, fields, improves, steps
from schedkit_schedules._call_form import transformers_call_form


@attrs.define(eq=False)
class Plateau(ScheduleHooks):
    """Reduce on plateau: multiply the factor by ``factor`` when a metric stops improving.

    Fed through ``scheduler.step(metric)``. A metric improves when it beats the best seen by
    ``threshold`` (``rel``: a fraction of the best, ``abs``: an amount); after more than
    ``patience`` steps without improvement the factor is multiplied by ``factor`` (never below
    ``min_value``; a change smaller than ``eps`` is skipped), then ``cooldown`` steps pass
    before counting again. torch's ``ReduceLROnPlateau``, as a factor of each group's base
    value; ``min_lr`` (absolute) is converted to ``min_value``. Its history (best, counters,
    factor) is plain state and resumes exactly.

    Example: ``get_scheduler("plateau", opt, mode="max", patience=5)``, then
    ``scheduler.step(val_accuracy)``.
    """

    name = "plateau"
    absolute: ClassVar[Mapping[str, str]] = {"min_lr": "min_value"}

    mode: str = schedkit.choice("min", "max")
    factor: float = schedkit.factor(0.1, gt=0.0, lt=1.0)
    patience: int = schedkit.field(default=10, validator=steps())
    threshold: float = schedkit.factor(1e-4, ge=0.0)
    threshold_mode: str = schedkit.choice("rel", "abs")
    cooldown: int = schedkit.field(default=0, validator=steps())
    min_value: float = schedkit.factor(0.0, ge=0.0)
    eps: float = schedkit.factor(1e-8, ge=0.0)
    value: float = schedkit.field(init=False, default=1.0)
    best: float = schedkit.field(init=False, default=math.inf)
    bad_steps: int = schedkit.field(init=False, default=0)
    cooldown_left: int = schedkit.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf

    # -- the schedule -----------------------------------------------------------------

    def __call__(self, step: float) -> float:
        return self.value

    def values(self, steps: Any) -> torch.Tensor:
        """The current factor at every step (its future depends on metrics not seen yet)."""
        return torch.full_like(as_steps(steps), self.value)

    def spec(self) -> dict[str, Any]:
        return {
            "type": self.name,
            **{f.name: getattr(self, f.name) for f in fields(type(self)) if f.init},
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plateau) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(json.dumps(self.spec(), sort_keys=True))

    @property
    def horizon(self) -> None:
        return None

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form

    # -- history ----------------------------------------------------------------------

    def _better(self, current: float) -> bool:
        return improves(
            current,
            self.best,
            mode=self.mode,
            threshold=self.threshold,
            threshold_mode=self.threshold_mode,
        )

    def observe(self, metric: float, step: int) -> None:
        """Count one step with ``metric``; reduce the factor after a long enough plateau."""
        current = float(metric)
        if self._better(current):
            self.best = current
            self.bad_steps = 0
        else:
            self.bad_steps += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_steps = 0
        if self.bad_steps > self.patience:
            self.reduce()
            self.cooldown_left = self.cooldown
            self.bad_steps = 0

    def reduce(self) -> None:
        """The plateau ended: multiply the factor (what torch does to each group's lr).

        Called by :meth:`observe`; a subclass that keeps its history otherwise (torch's
        ``ReduceLROnPlateau`` alias counts the reductions) overrides it."""
        new = max(self.value * self.factor, self.min_value)
        if self.value - new > self.eps:
            self.value = new

    def state_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "best": self.best,
            "bad_steps": self.bad_steps,
            "cooldown_left": self.cooldown_left,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the history; every entry is checked before any is taken."""
        reader = StateReader(state, what="plateau state")
        value = reader.number("value", ge=0.0, le=max(1.0, self.min_value))
        best = reader.number("best", inf=True)
        bad_steps = reader.integer("bad_steps")
        cooldown_left = reader.integer("cooldown_left", le=self.cooldown)
        self.value, self.best = value, best
        self.bad_steps, self.cooldown_left = bad_steps, cooldown_left


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Plateau,
        aliases=["reduce_lr_on_plateau"],
        examples=[
            {},
            {
                "mode": "max",
                "factor": 0.5,
                "patience": 2,
                "cooldown": 1,
                "min_value": 0.01,
                "threshold_mode": "abs",
            },
        ],
    )
