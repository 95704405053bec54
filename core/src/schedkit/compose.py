"""Composition of schedules, for every family alike: the warmup, and sequence, chain,
scale and stretch.

Each composite is itself a schedule: pure, immutable, with a spec that nests the specs of
its parts, so composed curves resume exactly and never drift.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from typing import Any, cast

import attrs
import torch

from schedkit import _fields as _f
from schedkit import shapes
from schedkit import validators as _validate
from schedkit._base import BaseSchedule
from schedkit._fields import Unresolved
from schedkit._resume import resume_parts
from schedkit.durations import Duration, is_resolved
from schedkit.errors import SpecError
from schedkit.hooks import resume_part
from schedkit.protocols import Finite, Schedule, Shiftable, TensorValued

WARMUP_KINDS = ("linear", "constant", "exponential", "cosine", "1-sqrt", "log", "quadratic")
#: How a warmup meets the schedule (see :class:`Warmup`); "prefix" is "shift" by another name.
WARMUP_MODES = ("shift", "overlay", "replace", "bridge")
_MODE_SPELLINGS = {"prefix": "shift"}


def _mode(value: Any) -> Any:
    return _MODE_SPELLINGS.get(value, value) if isinstance(value, str) else value


def _horizon(s: Schedule) -> int | None:
    h = s.horizon if isinstance(s, Finite) else None
    return h if isinstance(h, int) else None


@attrs.frozen
class Warmup(BaseSchedule):
    """A warmup of ``steps`` in front of (or laid over) a schedule.

    With ``a = step / steps`` during the warmup, the ramp ``r(a)`` goes from a starting
    value to a target: ``linear`` ``from*(1-a) + target*a``, ``cosine`` and ``1-sqrt`` the
    same with ``(1 - cos(pi*a)) / 2``, ``1 - sqrt(1-a)`` or ``a**2`` (``quadratic``) in place
    of ``a``, ``log`` the same with ``log(step + 1) / log(steps)`` (DeepSpeed's
    ``warmup_type="log"``: fast first, the target reached at step ``steps - 1``; at least 2
    steps), ``exponential`` ``from * (target/from)**a``, ``constant`` ``from``. ``mode`` says
    how the ramp meets the schedule ``s``:

    - ``shift`` (default; ``prefix`` is another spelling): a prefix. The ramp goes from
      ``start`` to ``s``'s first value and ``s`` runs from the end of the warmup; its
      positions (``total``, milestones) count from step 0 of the run, so ``total`` includes
      the warmup (transformers' ``get_*_schedule_with_warmup``).
    - ``overlay``: the ramp goes from ``start`` to 1 and multiplies ``s(step)``, which runs
      from step 0 (detectron2's ``WarmupMultiStepLR`` before fvcore, and equal to
      ``bridge`` only while ``s`` is constant during the warmup).
    - ``replace``: the ramp goes from ``start`` to 1 and replaces ``s`` for the first
      ``steps`` steps; then ``s(step)`` on the run's clock, not restarted (timm's warmup with
      its default ``warmup_prefix=False``).
    - ``bridge``: the ramp goes from ``start * s(0)`` to ``s(steps)``, then ``s(step)`` on
      the run's clock (fvcore's ``WarmupParamScheduler``, which detectron2's solver puts in
      front of its schedules; ``start`` is its ``warmup_factor``).
    """

    name = "warmup"

    schedule: Schedule = _f.schedule()
    steps: int = _f.duration(position=False)
    start: float = _f.factor(0.0, ge=0.0)
    kind: str = _f.choice("linear", *WARMUP_KINDS[1:])
    mode: str = attrs.field(
        default="shift", converter=_mode, validator=_validate.one_of(WARMUP_MODES)
    )
    _after: Schedule = attrs.field(init=False, eq=False, repr=False)
    _target: float = attrs.field(init=False, eq=False, repr=False)
    _shift: bool = attrs.field(init=False, eq=False, repr=False)
    _from: float = attrs.field(init=False, eq=False, repr=False)
    _after_call: Callable[[float], float] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.kind == "exponential" and self.start <= 0:
            raise SpecError("an exponential warmup needs start > 0, got 0", "start")
        if self.kind == "log" and self.steps < 2:
            raise SpecError(
                f"a log warmup needs at least 2 steps (log(steps) divides), got {self.steps}",
                "steps",
            )
        after = self.schedule
        if self.mode == "shift":
            after = _shift(self.schedule, self.steps)
        object.__setattr__(self, "_after", after)
        object.__setattr__(self, "_shift", self.mode == "shift")
        object.__setattr__(self, "_after_call", after.__call__)
        if self.mode == "shift":
            target, start = after(0), self.start
        elif self.mode == "bridge":
            target, start = self.schedule(self.steps), self.start * self.schedule(0)
        else:
            target, start = 1.0, self.start
        if self.kind == "exponential" and min(target, start) <= 0:
            raise SpecError(
                "an exponential warmup needs a start and a target > 0, got "
                f"{start} and {target} (the schedule's values)",
                "kind",
            )
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_from", start)

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise shapes.bad_step(step)
        if step >= self.steps:
            if self._shift:
                return self._after_call(step - self.steps)
            return self.schedule(step)
        a = step / self.steps
        kind = self.kind
        start = self._from
        if kind == "exponential":
            r = float(start * (self._target / start) ** a)
        elif kind == "constant":
            r = start
        elif kind == "log":
            r = shapes.lerp(start, self._target, 1.0 / math.log(self.steps) * math.log(step + 1))
        elif kind == "quadratic":
            r = shapes.lerp(start, self._target, a * a)
        else:
            r = shapes.lerp(start, self._target, shapes.ramp(kind, a))
        return r * self.schedule(step) if self.mode == "overlay" else r

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        a = (t / self.steps).clamp(max=1.0)
        r: torch.Tensor
        start = self._from
        if self.kind == "exponential":
            r = start * (self._target / start) ** a
        elif self.kind == "constant":
            r = torch.full_like(t, start)
        elif self.kind == "log":
            g = 1.0 / math.log(self.steps) * torch.log(t.clamp(max=self.steps - 1) + 1)
            r = shapes.lerp(start, self._target, g)
        elif self.kind == "quadratic":
            r = shapes.lerp(start, self._target, a * a)
        else:
            r = shapes.lerp(start, self._target, shapes.ramp_t(self.kind, a))
        if self.mode == "shift":
            after = _values(self._after, (t - self.steps).clamp(min=0.0))
            return torch.where(t < self.steps, r, after)
        inner = _values(self.schedule, t)
        return torch.where(t < self.steps, r * inner if self.mode == "overlay" else r, inner)

    def spec(self) -> dict[str, Any]:
        inner = self.schedule.spec()
        if any(k in inner for k in _f.WARMUP_KEYS):
            return super().spec()
        return {
            **inner,
            "warmup": self.steps,
            "warmup_start": self.start,
            "warmup_kind": self.kind,
            "warmup_mode": self.mode,
        }

    @property
    def horizon(self) -> int | None:
        h = _horizon(self._after if self.mode == "shift" else self.schedule)
        if h is None:
            return None
        return h + self.steps if self.mode == "shift" else max(h, self.steps)

    def shifted(self, steps: int) -> Warmup:
        if steps:
            raise SpecError("a warmup cannot be put behind another warmup", "warmup")
        return self


def _values(s: Schedule, t: torch.Tensor) -> torch.Tensor:
    if isinstance(s, TensorValued):
        return s.values(t)
    return torch.tensor([s(x) for x in t.tolist()], dtype=torch.float64)


def _shift(s: Schedule, steps: int) -> Schedule:
    return s.shifted(steps) if isinstance(s, Shiftable) else s


def _pending(*values: Any) -> bool:
    return any(isinstance(v, Unresolved) for v in values)


def warmup(
    schedule: Schedule,
    steps: Duration,
    *,
    start: float = 0.0,
    kind: str = "linear",
    mode: str = "shift",
) -> Schedule:
    """Put a warmup of ``steps`` in front of ``schedule`` (see :class:`Warmup`).

    :param schedule: the schedule the warmup leads into.
    :param steps: the warmup's length: steps, or a duration (``"1ep"``, ``"5%"``).
    :param start: the factor the warmup starts from (0 by default).
    :param kind: the ramp's shape: ``linear``, ``constant``, ``exponential``, ``cosine``,
        ``1-sqrt``, ``log`` (DeepSpeed's) or ``quadratic``.
    :param mode: how the ramp meets the schedule: ``shift`` (a prefix; the schedule runs
        from the end of the warmup), ``overlay`` (the ramp multiplies it), ``replace``
        (timm's: the ramp, then the schedule on the run's clock) or ``bridge`` (fvcore's:
        the ramp rises to the schedule's value at its end).
    :returns: the schedule with its warmup (``schedule`` itself for ``steps=0``).
    :raises SpecError: an unknown ``kind`` or ``mode``, or a bad ``steps`` or ``start``.
    """
    if steps == 0 and not isinstance(steps, bool):
        return schedule
    if _pending(schedule) or not is_resolved(steps):
        params = {"schedule": schedule, "steps": steps, "start": start, "kind": kind, "mode": mode}
        return Unresolved("warmup", params)
    assert isinstance(steps, int)
    return Warmup(schedule, steps, start, kind, mode)


# -- sequence, chain, scale, stretch ----------------------------------------------------


@attrs.frozen
class Sequence(BaseSchedule):
    """Schedules one after another: ``schedules[i]`` runs from ``milestones[i-1]``.

    Each part sees its own time from 0 (like torch's ``SequentialLR`` and optax's
    ``join_schedules``); ``len(milestones) == len(schedules) - 1``.
    """

    name = "sequence"

    schedules: tuple[Schedule, ...] = _f.schedules()
    milestones: tuple[int, ...] = _f.durations()
    _starts: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
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

    def resumed(self, step: int, previous: Any) -> Sequence:
        # each part on its own clock; a part that has not started yet decides nothing
        same = type(previous) is type(self) and len(previous.schedules) == len(self.schedules)
        olds = previous.schedules if same else (None,) * len(self.schedules)
        parts = tuple(
            part if step < start else resume_part(part, step - start, before)
            for part, start, before in zip(self.schedules, self._starts, olds, strict=True)
        )
        if all(a is b for a, b in zip(parts, self.schedules, strict=True)):
            return self
        return attrs.evolve(self, schedules=parts)

    def shifted(self, steps: int) -> Sequence:
        if steps == 0:
            return self
        first = self.schedules[0]
        parts = (_shift(first, steps), *self.schedules[1:])
        return attrs.evolve(super().shifted(steps), schedules=parts)


@attrs.frozen
class Chain(BaseSchedule):
    """The product of schedules at every step (e.g. a decay times a periodic bump)."""

    name = "chain"

    schedules: tuple[Schedule, ...] = _f.schedules()

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


@attrs.frozen
class Scale(BaseSchedule):
    """A schedule times a constant ``factor``."""

    name = "scale"

    schedule: Schedule = _f.schedule()
    factor: float = _f.factor(ge=0.0)

    def __call__(self, step: float) -> float:
        return self.factor * self.schedule(step)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        return self.factor * _values(self.schedule, t)

    @property
    def horizon(self) -> int | None:
        return _horizon(self.schedule)

    def shifted(self, steps: int) -> Scale:
        return attrs.evolve(self, schedule=_shift(self.schedule, steps))


@attrs.frozen
class Stretch(BaseSchedule):
    """A schedule with time rescaled by ``factor``: ``value(step) = schedule(step / factor)``.

    Extends (factor > 1) or compresses a whole recipe, e.g. to train longer with the same
    shape; :func:`stretch` computes the factor from a new total.
    """

    name = "stretch"

    schedule: Schedule = _f.schedule()
    factor: float = _f.factor(gt=0.0)

    def __call__(self, step: float) -> float:
        return self.schedule(step / self.factor)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        return _values(self.schedule, t / self.factor)

    @property
    def horizon(self) -> int | None:
        h = _horizon(self.schedule)
        return None if h is None else math.ceil(h * self.factor)

    def resumed(self, step: int, previous: Any) -> Stretch:
        inner = math.floor(step / self.factor)  # the resumed step on the inner clock
        out: Stretch = resume_parts(
            self, lambda part, before: resume_part(part, inner, before), previous
        )
        return out

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
