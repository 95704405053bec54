"""Composition of schedules, for every family alike: the warmup (this module) and
sequence, chain, scale, stretch (:mod:`schedkit.combine`, imported when first used: a
scheduler with a warmup, the common case, needs only this one).

Each composite is itself a schedule: pure, immutable, with a spec that nests the specs of
its parts, so composed curves resume exactly and never drift.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch

from schedkit import shapes
from schedkit import validators as _validate
from schedkit._record import field
from schedkit.durations import Duration, is_resolved
from schedkit.errors import SpecError
from schedkit.protocols import Schedule
from schedkit.schedule import BaseSchedule, Unresolved

# the module (the package's name ``schedule`` is the function)
_s = sys.modules["schedkit.schedule"]

WARMUP_KINDS = ("linear", "constant", "exponential", "cosine", "1-sqrt")
#: How a warmup meets the schedule (see :class:`Warmup`); "prefix" is "shift" by another name.
WARMUP_MODES = ("shift", "overlay", "replace", "bridge")
_MODE_SPELLINGS = {"prefix": "shift"}


def _mode(value: Any) -> Any:
    return _MODE_SPELLINGS.get(value, value) if isinstance(value, str) else value


def _horizon(s: Schedule) -> int | None:
    h = getattr(s, "horizon", None)
    return h if isinstance(h, int) else None


class Warmup(BaseSchedule):
    """A warmup of ``steps`` in front of (or laid over) a schedule.

    With ``a = step / steps`` during the warmup, the ramp ``r(a)`` goes from a starting
    value to a target: ``linear`` ``from*(1-a) + target*a``, ``cosine`` and ``1-sqrt`` the
    same with ``(1 - cos(pi*a)) / 2`` or ``1 - sqrt(1-a)`` in place of ``a``, ``exponential``
    ``from * (target/from)**a``, ``constant`` ``from``. ``mode`` says how the ramp meets the
    schedule ``s``:

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

    schedule: Schedule = _s.schedule()
    steps: int = _s.duration(position=False)
    start: float = _s.factor(0.0, ge=0.0)
    kind: str = _s.choice("linear", *WARMUP_KINDS[1:])
    mode: str = field(default="shift", converter=_mode, validator=_validate.one_of(WARMUP_MODES))
    _after: Schedule = field(init=False, eq=False, repr=False)
    _target: float = field(init=False, eq=False, repr=False)
    _shift: bool = field(init=False, eq=False, repr=False)
    _from: float = field(init=False, eq=False, repr=False)
    _after_call: Callable[[float], float] = field(init=False, eq=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind == "exponential" and self.start <= 0:
            raise SpecError("an exponential warmup needs start > 0, got 0", "start")
        after = self.schedule
        if self.mode == "shift":
            shifted = getattr(self.schedule, "shifted", None)
            if shifted is not None:
                after = shifted(self.steps)
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
        else:
            r = shapes.lerp(start, self._target, shapes.ramp_t(self.kind, a))
        if self.mode == "shift":
            after = _values(self._after, (t - self.steps).clamp(min=0.0))
            return torch.where(t < self.steps, r, after)
        inner = _values(self.schedule, t)
        return torch.where(t < self.steps, r * inner if self.mode == "overlay" else r, inner)

    def spec(self) -> dict[str, Any]:
        inner = self.schedule.spec()
        if any(k in inner for k in _s.WARMUP_KEYS):
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
    fn = getattr(s, "values", None)
    if fn is not None:
        out: torch.Tensor = fn(t)
        return out
    return torch.tensor([s(x) for x in t.tolist()], dtype=torch.float64)


def _shift(s: Schedule, steps: int) -> Schedule:
    fn = getattr(s, "shifted", None)
    return fn(steps) if fn is not None else s


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
    :param kind: the ramp's shape: ``linear``, ``constant``, ``exponential``, ``cosine``
        or ``1-sqrt``.
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
