"""Composition of schedules: sequence, chain, scale, stretch (the warmup is in
:mod:`schedkit.compose`). Each composite is a pure, immutable schedule whose spec nests the
specs of its parts.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Iterable
from typing import cast

import torch

from schedkit._record import evolve, field
from schedkit.compose import _horizon, _pending, _shift, _values
from schedkit.durations import Duration, is_resolved
from schedkit.errors import SpecError
from schedkit.protocols import Schedule
from schedkit.schedule import BaseSchedule, Unresolved

# the module (the package's name ``schedule`` is the function)
_s = sys.modules["schedkit.schedule"]


class Sequence(BaseSchedule):
    """Schedules one after another: ``schedules[i]`` runs from ``milestones[i-1]``.

    Each part sees its own time from 0 (like torch's ``SequentialLR`` and optax's
    ``join_schedules``); ``len(milestones) == len(schedules) - 1``.
    """

    name = "sequence"

    schedules: tuple[Schedule, ...] = _s.schedules()
    milestones: tuple[int, ...] = _s.durations()
    _starts: tuple[int, ...] = field(init=False, eq=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.milestones) != len(self.schedules) - 1:
            raise SpecError(
                f"expected {len(self.schedules) - 1} milestones for {len(self.schedules)} "
                f"schedules, got {len(self.milestones)}",
                "milestones",
            )
        if self.milestones and self.milestones[0] <= 0:
            raise SpecError(
                f"expected a first milestone > 0, got {self.milestones[0]}", "milestones"
            )
        object.__setattr__(self, "_starts", (0, *self.milestones))

    def __call__(self, step: float) -> float:
        i = bisect.bisect_right(self.milestones, step)
        return self.schedules[i](step - self._starts[i])

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        idx = torch.bucketize(t, torch.tensor(self.milestones, dtype=t.dtype), right=True)
        out = torch.empty_like(t)
        for i, part in enumerate(self.schedules):
            mask = idx == i
            out[mask] = _values(part, t[mask] - self._starts[i])
        return out

    @property
    def horizon(self) -> int | None:
        h = _horizon(self.schedules[-1])
        return None if h is None else h + self._starts[-1]

    def shifted(self, steps: int) -> Sequence:
        if steps == 0:
            return self
        first = self.schedules[0]
        moved = getattr(first, "shifted", None)
        parts = (moved(steps) if moved else first, *self.schedules[1:])
        return evolve(super().shifted(steps), schedules=parts)


class Chain(BaseSchedule):
    """The product of schedules at every step (e.g. a decay times a periodic bump)."""

    name = "chain"

    schedules: tuple[Schedule, ...] = _s.schedules()

    def __call__(self, step: float) -> float:
        f = 1.0
        for s in self.schedules:
            f *= s(step)
        return f

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        out = torch.ones_like(t)
        for s in self.schedules:
            out = out * _values(s, t)
        return out

    @property
    def horizon(self) -> int | None:
        hs = [_horizon(s) for s in self.schedules]
        return None if any(h is None for h in hs) else max(h for h in hs if h is not None)

    def shifted(self, steps: int) -> Chain:
        return Chain(tuple(_shift(s, steps) for s in self.schedules))


class Scale(BaseSchedule):
    """A schedule times a constant ``factor``."""

    name = "scale"

    schedule: Schedule = _s.schedule()
    factor: float = _s.factor(ge=0.0)

    def __call__(self, step: float) -> float:
        return self.factor * self.schedule(step)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        return self.factor * _values(self.schedule, t)

    @property
    def horizon(self) -> int | None:
        return _horizon(self.schedule)

    def shifted(self, steps: int) -> Scale:
        return evolve(self, schedule=_shift(self.schedule, steps))


class Stretch(BaseSchedule):
    """A schedule with time rescaled by ``factor``: ``value(step) = schedule(step / factor)``.

    Extends (factor > 1) or compresses a whole recipe, e.g. to train longer with the same
    shape; :func:`stretch` computes the factor from a new total.
    """

    name = "stretch"

    schedule: Schedule = _s.schedule()
    factor: float = _s.factor(gt=0.0)

    def __call__(self, step: float) -> float:
        return self.schedule(step / self.factor)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        return _values(self.schedule, t / self.factor)

    @property
    def horizon(self) -> int | None:
        h = _horizon(self.schedule)
        return None if h is None else math.ceil(h * self.factor)

    def shifted(self, steps: int) -> Stretch:
        if steps:
            raise SpecError("put the warmup inside the stretched schedule", "warmup")
        return self


def sequence(schedules: Iterable[Schedule], milestones: Iterable[Duration]) -> Schedule:
    """Run ``schedules`` one after another, switching at ``milestones`` (see :class:`Sequence`).

    :param schedules: the schedules in order; each starts from its own step 0.
    :param milestones: the steps (or durations: ``"5ep"``, ``"10%"``) where the next
        schedule takes over, one fewer than the schedules.
    :returns: the sequence (unresolved while a duration needs the run's context).
    :raises SpecError: milestones out of order or of the wrong count.
    """
    parts, marks = tuple(schedules), tuple(milestones)
    if _pending(*parts) or not all(is_resolved(m) for m in marks):
        return Unresolved("sequence", {"schedules": parts, "milestones": marks})
    return Sequence(parts, cast("tuple[int, ...]", marks))


def chain(*schedules: Schedule) -> Schedule:
    """The product of ``schedules`` (see :class:`Chain`).

    :param schedules: the factors, multiplied at every step.
    :returns: their product.
    """
    if _pending(*schedules):
        return Unresolved("chain", {"schedules": schedules})
    return Chain(schedules)


def scale(schedule: Schedule, factor: float) -> Schedule:
    """``schedule`` times ``factor`` (see :class:`Scale`).

    :param schedule: the schedule to scale.
    :param factor: the constant multiplier.
    :returns: the scaled schedule.
    """
    if _pending(schedule):
        return Unresolved("scale", {"schedule": schedule, "factor": factor})
    return Scale(schedule, factor)


def stretch(
    schedule: Schedule, factor: float | None = None, *, total: int | None = None
) -> Schedule:
    """Rescale time by ``factor``, or so that the schedule's horizon becomes ``total``.

    :param schedule: the schedule to stretch.
    :param factor: how many times longer it runs: ``value(step) = schedule(step / factor)``.
    :param total: the horizon it is stretched to, instead of a factor.
    :returns: the stretched schedule (see :class:`Stretch`).
    :raises SpecError: both or neither of ``factor`` and ``total``, or ``total`` for a
        schedule without a horizon.
    """
    if (factor is None) == (total is None):
        raise SpecError("give exactly one of factor and total")
    if total is not None:
        h = _horizon(schedule)
        if not h:
            raise SpecError(f"{schedule!r} has no horizon to stretch to total={total}", "total")
        factor = total / h
    assert factor is not None
    return Stretch(schedule, factor)
