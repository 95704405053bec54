"""mmengine's parameter schedulers as ``mmengine.*`` aliases: the replay of its recurrences
(:class:`Part`, ``_Run``), the aliases, the momentum schedulers, ``mmengine.param_scheduler``
(:class:`ParamSchedulerList`) and the ``paramwise_cfg`` rule (:class:`Paramwise`).

What they do is told in :mod:`schedkit_compat.mmengine`, the plugin module that registers
them with the ``ReduceOnPlateau*`` ones of :mod:`schedkit_compat.mmengine_plateau`.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect, SpecError, StateError
from schedkit.plugin import (
    Field,
    StateReader,
    Stepping,
    fields,
    instance_of,
    number,
    optional,
    record_spec,
    steps,
    to_float,
)
from schedkit_compat._base import (
    check_one_cycle_warmup,
    count,
    each_group,
    pick,
    settings_table,
    step_list,
    table_spec,
)
from schedkit_compat.mmpretrain import NORM_TYPES

#: mmengine's "no end"
INF = int(1e9)
#: mmengine's schedulers are recurrences without closed forms: a value is replayed from
#: the last one computed, and one call replays at most this many updates (about a second
#: of CPU; stepping forward costs one update per step and is never refused)
MAX_REPLAY = 1_000_000
#: how many steps are stepped plainly where the value changes before looking for a skip
_STRETCH = 64


def _bound(default: int, *, kw_only: bool = True) -> Any:
    return schedkit.field(default=default, validator=steps(), kw_only=kw_only)


def _flag(default: bool, *, kw_only: bool = True) -> Any:
    return schedkit.field(default=default, validator=instance_of(bool), kw_only=kw_only)


def _whole_from_minus_one(inst: Any, attribute: Field, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise SpecError(f"expected a whole number >= -1, got {value!r}", attribute.name)


def _last_step(*, kw_only: bool = True) -> Any:
    return schedkit.field(default=-1, validator=_whole_from_minus_one, kw_only=kw_only)


# mmengine's arguments common to every scheduler, in its positional order after the
# scheduler's own (each alias declares them there, so its signature is mmengine's):
#     begin: int = _bound(0, kw_only=False)
#     end: int = _bound(INF, kw_only=False)
#     last_step: int = _last_step(kw_only=False)
#     by_epoch: bool = _flag(True, kw_only=False)
#     verbose: bool = _flag(False, kw_only=False)


def _optional_steps() -> Any:
    return schedkit.field(default=None, validator=optional(steps(positive=True)), kw_only=True)


def _optional_number(**bounds: float) -> Any:
    check = number(**bounds)

    def validate(inst: Any, attribute: Field, value: Any) -> None:
        if value is not None:
            check(inst, attribute, value)

    return schedkit.field(
        default=None, converter=lambda v: v if v is None else to_float(v), validator=validate
    )


class MMEngineStepping(Stepping):
    """mmengine's scheduler methods on the scheduler of an ``mmengine.*`` alias:
    ``get_last_value()`` (the values last applied, one per scheduled group)."""

    def methods(self, scheduler: Any) -> dict[str, Callable[..., Any]]:
        return {"get_last_value": scheduler.get_last_lr}


#: the policy of every ``mmengine.*`` schedule
MMENGINE_STEPPING = MMEngineStepping()


#: the arguments mmengine multiplies by the epoch length in ``build_iter_from_epoch``
_SCALED = ("step_size", "milestones", "T_max", "periods", "total_steps")


@attrs.frozen(cache_hash=True)
class Part(schedkit.BaseSchedule):
    """What every mmengine scheduler takes: its range, its unit, and the conversion.

    Its scheduler has mmengine's methods (:class:`MMEngineStepping`) and attributes:
    ``sched.last_step``, ``sched.begin``, ``sched.end``, ``sched.T_max``... as mmengine's
    object holds them (converted to iterations with ``convert_to_iter_based``)."""

    stepping: ClassVar[Stepping] = MMENGINE_STEPPING
    #: mmengine's attributes of the scheduler object, read through the alias's scheduler
    peer_attributes: ClassVar[tuple[str, ...]] = (
        "begin",
        "end",
        "by_epoch",
        "last_step",
        "verbose",
    )

    accepts_warmup: ClassVar[bool] = False
    #: the most updates one call replays past the last value computed (:data:`MAX_REPLAY`)
    max_replay: ClassVar[int] = MAX_REPLAY
    #: the keyword arguments scaled by ``steps_per_epoch`` in ``convert_to_iter_based``
    scaled: ClassVar[tuple[str, ...]] = ()
    #: the argument mmengine divides by from the second step of the range on (0 refused)
    divisor: ClassVar[str | None] = None
    #: the arguments that may hold one value per param group (a list of another length
    #: than the optimizer's groups is refused, as mmengine refuses it)
    per_group_lists: ClassVar[tuple[str, ...]] = ()

    begin: int = _bound(0)
    end: int = _bound(INF)
    #: mmengine's resume by construction: the counter of the last step taken
    last_step: int = _last_step()
    by_epoch: bool = _flag(True)
    #: mmengine prints each update; accepted, and the alias prints nothing
    verbose: bool = _flag(False)
    convert_to_iter_based: bool = _flag(False)
    steps_per_epoch: int | None = _optional_steps()

    def __attrs_post_init__(self) -> None:
        if self.end <= self.begin:
            raise SpecError(
                f"end should be larger than begin, but got begin={self.begin}, end={self.end}",
                "end",
            )
        if self.convert_to_iter_based and not self.by_epoch:
            raise SpecError(
                "only epoch-based schedulers (by_epoch = true) can be converted to iteration-based",
                "convert_to_iter_based",
            )
        # a range of one step never reaches the division (unless converted to iterations)
        reaches = self.end - self.begin > 1 or self.convert_to_iter_based
        if self.divisor is not None and getattr(self, self.divisor) == 0.0 and reaches:
            raise SpecError(
                f"expected > 0: mmengine's {type(self).__name__} divides by {self.divisor} from "
                "its second step on (a ZeroDivisionError with 0)",
                self.divisor,
            )

    def check_groups(self, count: int) -> None:
        for name in self.per_group_lists:
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != count:
                raise SpecError(
                    f"expected {count} values (one per param group), got {len(value)}", name
                )

    # -- mmengine's attributes ---------------------------------------------------------

    def peer_get(self, name: str, scheduler: Any) -> Any:
        """mmengine's attribute ``name`` of the scheduler object at the scheduler's step."""
        act = self.setup(_Group(1.0), 0, self.steps_per_epoch)
        if name in ("begin", "end", "by_epoch"):
            return getattr(act, name)
        if name == "last_step":
            act.at(scheduler.last_epoch)
            return act.last_step
        if name == "total_iters":
            return self.total_iters(act)
        value = getattr(self, name)
        if name in _SCALED:
            value = self.scale(name, value, act)
        if isinstance(value, tuple):
            return list(value)
        return value

    def peer_set(self, name: str, value: Any, scheduler: Any) -> None:
        raise SpecError(
            f"{name!r} is fixed when the scheduler is built (its schedule is immutable data); "
            "build a new scheduler with the new value",
            name,
        )

    # -- what each scheduler computes -------------------------------------------------

    def setup(self, state: _Group, index: int, spe: int | None) -> _Active:
        """The scheduler as mmengine builds it (converted with ``spe`` if asked)."""
        begin, end = self.begin, self.end
        by_epoch = self.by_epoch
        if self.convert_to_iter_based:
            if spe is None:
                raise SpecError(
                    "convert_to_iter_based needs steps_per_epoch (mmengine's epoch_length)",
                    "steps_per_epoch",
                )
            begin = int(begin * spe)
            if end != INF:
                end = int(end * spe)
            by_epoch = False
        return _Active(self, begin, end, by_epoch, state.initial, index, spe)

    def value(self, act: _Active, current: float) -> float:
        """mmengine's ``_get_value`` for one group at ``act.last_step``."""
        raise NotImplementedError

    def next_change(self, act: _Active, last: int, current: float) -> int | None:
        """The first ``last_step`` after ``last`` at which :meth:`value` may differ from
        ``current`` (``None``: none while the value stays ``current``); by default the
        next one. Every step skipped before it must leave the very same float."""
        return last + 1

    def scale(self, name: str, value: Any, act: _Active) -> Any:
        """An argument, multiplied by the epoch length when converted to iterations."""
        if not self.convert_to_iter_based or value is None:
            return value
        spe = act.spe or 1
        if isinstance(value, tuple):
            return tuple(v * spe for v in value)
        return value * spe

    def total_iters(self, act: _Active) -> int:
        return act.end - act.begin - 1

    # -- the curve --------------------------------------------------------------------

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return _Run((self,), base, index, self.steps_per_epoch)

    def __call__(self, step: float) -> float:
        return _curve(self)(step)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        run = _Run((self,), 1.0, 0, self.steps_per_epoch)
        return torch.tensor([run(s) for s in t.tolist()], dtype=torch.float64)

    def spec(self) -> dict[str, Any]:
        """Every argument, but those left as mmengine's defaults that describe the call
        rather than the schedule (``last_step``, ``verbose``, ``steps_per_epoch``)."""
        out = record_spec(self)
        for name, default in (("last_step", -1), ("verbose", False), ("steps_per_epoch", None)):
            if out.get(name) == default and type(out.get(name)) is type(default):
                out.pop(name, None)
        return out


class _Group:
    """One group's shared state: its value and ``initial_<param>`` (which OneCycle sets)."""

    __slots__ = ("initial", "value")

    def __init__(self, base: float) -> None:
        self.initial = base
        self.value = base


class _Active:
    """One scheduler of the list on one group: mmengine's counters and arguments.

    The counters are a function of the schedkit step (:meth:`at`): a scheduler counts
    every step, or (epoch-based, with ``steps_per_epoch``) every epoch's last one.
    """

    __slots__ = (
        "base_value",
        "begin",
        "by_epoch",
        "end",
        "every",
        "global_step",
        "index",
        "last_step",
        "offset",
        "part",
        "spe",
    )

    def __init__(
        self,
        part: Part,
        begin: int,
        end: int,
        by_epoch: bool,
        base_value: float,
        index: int,
        spe: int | None,
    ) -> None:
        self.part = part
        self.begin = begin
        self.end = end
        self.by_epoch = by_epoch
        self.base_value = base_value
        self.index = index
        self.spe = spe
        self.every = spe is None or not by_epoch
        self.global_step = -1
        #: mmengine's ``last_step`` counts on from the constructor's (``last_step=k``)
        self.offset = part.last_step + 1
        self.last_step = part.last_step

    def step(self, current: float) -> float:
        """mmengine's ``_ParamScheduler.step()`` on the group's value ``current``."""
        self.global_step += 1
        if self.begin <= self.global_step < self.end:
            self.last_step += 1
            return self.part.value(self, current)
        return current

    def at(self, step: int) -> None:
        """Set the counters as they are after schedkit step ``step``."""
        g = step if self.every else step // self.spe  # type: ignore[operator]
        self.global_step = g
        last = min(g, self.end - 1) - self.begin if g >= self.begin else -1
        self.last_step = last + self.offset

    def next_change(self, current: float) -> int | None:
        """The first schedkit step after the counters' at which this scheduler may change
        ``current`` (``None``: never, as long as the value stays ``current``)."""
        last = self.part.next_change(self, self.last_step, current)
        if last is None or self.begin + last - self.offset >= self.end:
            return None
        g = self.begin + last - self.offset
        return g if self.every else g * self.spe  # type: ignore[operator]


class _Run:
    """One group's value under a list of schedulers, replayed as mmengine steps them.

    Going forward costs one update per scheduler and step at which one of them may change
    the value; the steps where none can (outside every range, between milestones, after
    a scheduler's effect, or at a fixed point such as 0.0 under a decay) are skipped, with
    the same floats. An earlier step replays from the start; one call replays at most
    :data:`MAX_REPLAY` updates. A checkpoint carries each group's value
    (:meth:`curve_state`), so resuming costs nothing, as mmengine resumes from the
    optimizer's restored value.
    """

    __slots__ = ("active", "base", "index", "parts", "spe", "step", "value")

    def __init__(self, parts: tuple[Part, ...], base: float, index: int, spe: int | None):
        self.parts = parts
        self.base = base
        self.index = index
        self.spe = spe
        self._start()

    def _start(self, current: float | None = None) -> None:
        """Build the schedulers on the group as mmengine's constructors do: each applies
        its first step, from ``current`` (the group's value) or the base."""
        state = _Group(self.base)
        if current is not None:
            state.value = current
        self.active: list[_Active] = []
        for part in self.parts:
            act = part.setup(state, self.index, self.spe)
            if isinstance(part, OneCycleLR):
                act.base_value = state.initial = part.initial(self.index)
            self.active.append(act)
            state.value = act.step(state.value)
        self.value = state.value
        self.step = 0

    def initial(self, step: float, current: float) -> float:
        """The value the constructor writes at ``step``: at 0, its first step from the
        group's value ``current`` (another scheduler's, when two share the optimizer)."""
        if int(step) != 0:
            return self(step)
        self._start(current)
        return self.value

    def follow(self, step: float, current: float) -> float:
        """The value one step on from the group's value ``current``, as mmengine's
        ``step()`` updates what is in the group: two schedulers on one optimizer then
        compose, each reading what the other wrote (any other step: :meth:`__call__`)."""
        k = int(step)
        if k != self.step + 1:
            return self(k)
        self.value = self._plain(k, current)
        self.step = k
        return self.value

    def __call__(self, step: float) -> float:
        k = int(step)
        if k == self.step + 1:  # the next step (a scheduler stepping): no skip to look for
            self.value = self._plain(k, self.value)
            self.step = k
        elif k != self.step:
            if k < self.step:
                self._start()
            self._advance(k)
        return self.value

    def _plain(self, step: int, value: float) -> float:
        """Step every scheduler as mmengine's runner does at ``step``."""
        acts = self.active
        for act in acts:
            if act.every:
                value = act.step(value)
        if self.spe is not None and step % self.spe == 0:
            for act in acts:
                if not act.every:
                    value = act.step(value)
        return value

    def _advance(self, k: int) -> None:
        """Replay from ``self.step`` to ``k``, skipping the steps that change nothing.

        Where some scheduler changes the value at the next step, a stretch of up to
        :data:`_STRETCH` steps is stepped plainly before looking for a skip again (plain
        steps are mmengine's own; looking costs more than a step).
        """
        s, value, acts, plain = self.step, self.value, self.active, self._plain
        start, budget = s, MAX_REPLAY
        try:
            while s < k:
                nxt = k + 1
                for act in acts:
                    at = act.next_change(value)
                    if at is not None and at < nxt:
                        nxt = at
                if nxt > k:
                    s = k
                    for act in acts:
                        act.at(k)
                    break
                if budget == 0:
                    raise SpecError(
                        f"step {k:,}: mmengine's schedulers have no closed form, and reaching "
                        f"it from step {start:,} (the last one computed) takes more than "
                        f"{MAX_REPLAY:,} updates, the most one call replays (it stopped at "
                        f"step {s:,}, kept): step forward to it, or load a scheduler state "
                        "saved there (it carries each group's value)",
                        "step",
                    )
                if nxt > s + 1:
                    for act in acts:
                        act.at(nxt - 1)
                    s = nxt - 1
                    n = 1
                else:
                    n = min(_STRETCH, k - s, budget)
                budget -= n
                for t in range(s + 1, s + n + 1):
                    value = plain(t, value)
                    s = t
        finally:
            self.step, self.value = s, value  # what was replayed stays computed

    def curve_state(self, step: int) -> dict[str, float]:
        """The state at ``step``: the group's value there (the counters follow from it)."""
        return {"value": self(step)}

    def _own_value(self, step: int, value: float) -> bool:
        """Whether ``value`` is what the schedulers themselves reach at ``step`` (their
        recurrence may round a value to just below 0, which a state then holds)."""
        try:
            return _Run(self.parts, self.base, self.index, self.spe)(step) == value
        except SpecError:
            return False

    def load_curve_state(self, step: int, state: Any) -> None:
        """Continue from ``state`` (of :meth:`curve_state`) at ``step``, checked first."""
        value = StateReader(state, what="curve state").number("value")
        if value < 0.0 and not self._own_value(step, value):
            raise StateError(
                f"expected a value >= 0 (a learning rate or momentum), got {value}", "value"
            )
        self._start()
        for act in self.active:
            act.at(step)
        self.step, self.value = step, value


@functools.lru_cache(maxsize=64)
def _curve(sched: Part | ParamSchedulerList) -> _Run:
    """The curve for a base of 1.0, kept so that stepping forward costs one update."""
    if isinstance(sched, Part):
        return _Run((sched,), 1.0, 0, sched.steps_per_epoch)
    return _Run(tuple(sched.schedulers), 1.0, 0, sched.steps_per_epoch)


def _factor(default: float) -> Any:
    return schedkit.factor(default, ge=0.0, le=1.0)


def _kept(current: float, gamma: float) -> bool:
    """Whether multiplying by ``gamma`` (or a power of it) gives ``current`` back, exactly:
    ``gamma`` is 1, or the value is zero and ``gamma`` no more than 1 (no overflow)."""
    return gamma == 1.0 or (current == 0.0 and gamma <= 1.0)


@attrs.frozen(cache_hash=True)
class StepLR(Part):
    """mmengine's ``StepLR`` (``StepMomentum``): the value times ``gamma`` every
    ``step_size`` steps of its range.

    Example: ``{type = "mmengine.StepLR", step_size = 30, gamma = 0.1, by_epoch = false}``.
    """

    name = "mmengine.StepLR"
    peer_attributes = (*Part.peer_attributes, "step_size", "gamma")
    scaled = ("step_size",)

    step_size: int = count(positive=True)
    gamma: float = schedkit.factor(0.1, ge=0.0)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def value(self, act: _Active, current: float) -> float:
        size = self.scale("step_size", self.step_size, act)
        if act.last_step == 0 or act.last_step % size != 0:
            return current
        return current * self.gamma

    def next_change(self, act: _Active, last: int, current: float) -> int | None:
        if _kept(current, self.gamma):
            return None
        size: int = self.scale("step_size", self.step_size, act)
        return (max(last, 0) // size + 1) * size


@attrs.frozen(cache_hash=True)
class MultiStepLR(Part):
    """mmengine's ``MultiStepLR`` (``MultiStepMomentum``): the value times ``gamma`` at
    each of ``milestones`` (counted from ``begin``; a repeated milestone multiplies again).

    Example: ``{type = "mmengine.MultiStepLR", milestones = [8, 11], by_epoch = true}``.
    """

    name = "mmengine.MultiStepLR"
    peer_attributes = (*Part.peer_attributes, "milestones", "gamma")

    milestones: tuple[int, ...] = step_list()
    gamma: float = schedkit.factor(0.1, ge=0.0)
    last_step: int = _last_step(kw_only=False)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def peer_get(self, name: str, scheduler: Any) -> Any:
        value = super().peer_get(name, scheduler)
        return Counter(value) if name == "milestones" else value  # mmengine's is a Counter

    def value(self, act: _Active, current: float) -> float:
        found = Counter(self.scale("milestones", self.milestones, act))
        if act.last_step not in found:
            return current
        return float(current * self.gamma ** found[act.last_step])

    def next_change(self, act: _Active, last: int, current: float) -> int | None:
        if _kept(current, self.gamma):
            return None
        return min((m for m in self.scale("milestones", self.milestones, act) if m > last),
                   default=None)  # fmt: skip


@attrs.frozen(cache_hash=True)
class ConstantLR(Part):
    """mmengine's ``ConstantLR`` (``ConstantMomentum``): the value times ``factor`` from
    ``begin`` until the last step of the range, then back.

    Example: ``{type = "mmengine.ConstantLR", factor = 0.1, begin = 0, end = 5}``.
    """

    name = "mmengine.ConstantLR"
    peer_attributes = (*Part.peer_attributes, "factor", "total_iters")
    divisor = "factor"  # divided by when the value is restored

    factor: float = _factor(1.0 / 3)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def value(self, act: _Active, current: float) -> float:
        total = self.total_iters(act)
        if act.last_step == 0:
            return current * self.factor
        if act.last_step > total or act.last_step != total:
            return current
        return current * (1.0 / self.factor)

    def next_change(self, act: _Active, last: int, current: float) -> int | None:
        total = self.total_iters(act)
        return 0 if last < 0 else total if last < total else None


@attrs.frozen(cache_hash=True)
class LinearLR(Part):
    """mmengine's ``LinearLR`` (``LinearMomentum``): the value's factor goes linearly from
    ``start_factor`` to ``end_factor`` over the range ``[begin, end)`` (the usual warmup).

    Example: ``{type = "mmengine.LinearLR", start_factor = 0.001, by_epoch = false,
    begin = 0, end = 500}``.
    """

    name = "mmengine.LinearLR"
    peer_attributes = (*Part.peer_attributes, "start_factor", "end_factor", "total_iters")
    divisor = "start_factor"  # torch's LinearLR refuses 0 too; a warmup starts at e.g. 1e-3

    start_factor: float = _factor(1.0 / 3)
    end_factor: float = _factor(1.0)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def value(self, act: _Active, current: float) -> float:
        if act.last_step == 0:
            return current * self.start_factor
        d = self.end_factor - self.start_factor
        return current * (
            1.0 + d / (self.total_iters(act) * self.start_factor + (act.last_step - 1) * d)
        )


@attrs.frozen(cache_hash=True)
class ExponentialLR(Part):
    """mmengine's ``ExponentialLR`` (``ExponentialMomentum``): the value times ``gamma``
    every step of its range.

    Example: ``{type = "mmengine.ExponentialLR", gamma = 0.95}``.
    """

    name = "mmengine.ExponentialLR"
    peer_attributes = (*Part.peer_attributes, "gamma")

    gamma: float = schedkit.factor(ge=0.0)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def value(self, act: _Active, current: float) -> float:
        if act.last_step == 0:
            return current
        return current * self.gamma

    def next_change(self, act: _Active, last: int, current: float) -> int | None:
        return None if _kept(current, self.gamma) else max(last + 1, 1)


@attrs.frozen(cache_hash=True)
class PolyLR(Part):
    """mmengine's ``PolyLR`` (``PolyMomentum``): a polynomial decay of ``power`` to
    ``eta_min`` (absolute) over the range.

    Example: ``{type = "mmengine.PolyLR", eta_min = 1e-4, power = 0.9, begin = 0,
    end = 160000, by_epoch = false}``.
    """

    name = "mmengine.PolyLR"
    peer_attributes = (*Part.peer_attributes, "eta_min", "power", "total_iters")

    eta_min: float = schedkit.factor(0.0)
    power: float = schedkit.factor(1.0)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def value(self, act: _Active, current: float) -> float:
        if act.last_step == 0:
            return current
        total = self.total_iters(act)
        return float(
            (current - self.eta_min) * (1 - 1 / (total - act.last_step + 1)) ** self.power
            + self.eta_min
        )


@attrs.frozen(cache_hash=True)
class CosineAnnealingLR(Part):
    """mmengine's ``CosineAnnealingLR`` (``CosineAnnealingMomentum``): a half cosine from
    the group's value to ``eta_min`` (absolute) or ``eta_min_ratio`` (of the group's
    initial value) over ``T_max`` steps (default: the range's length).

    Example: ``{type = "mmengine.CosineAnnealingLR", eta_min = 1e-6, by_epoch = true,
    begin = 5, end = 100}``.
    """

    name = "mmengine.CosineAnnealingLR"
    peer_attributes = (*Part.peer_attributes, "T_max", "eta_min", "eta_min_ratio")

    T_max: int | None = schedkit.field(default=None, validator=optional(steps(positive=True)))
    eta_min: float | None = _optional_number()
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)
    eta_min_ratio: float | None = _optional_number(ge=0.0)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.eta_min is not None and self.eta_min_ratio is not None:
            raise SpecError("give eta_min or eta_min_ratio, not both", "eta_min_ratio")

    def peer_get(self, name: str, scheduler: Any) -> Any:
        value = super().peer_get(name, scheduler)
        if name == "T_max" and value is None:
            act = self.setup(_Group(1.0), 0, self.steps_per_epoch)
            return act.end - act.begin  # mmengine's T_max: the range's length by default
        if name == "eta_min" and value is None and self.eta_min_ratio is None:
            return 0.0  # mmengine's eta_min when neither is given
        return value

    def _eta_min(self, base: float) -> float:
        if self.eta_min_ratio is not None:
            return base * self.eta_min_ratio
        return 0.0 if self.eta_min is None else self.eta_min

    def value(self, act: _Active, current: float) -> float:
        t_max = self.scale("T_max", self.T_max, act) or (act.end - act.begin)
        k = act.last_step
        base = act.base_value
        low = self._eta_min(base)
        if k == 0:
            return current
        if (k - 1 - t_max) % (2 * t_max) == 0:
            return current + (base - low) * (1 - math.cos(math.pi / t_max)) / 2
        return (1 + math.cos(math.pi * k / t_max)) / (1 + math.cos(math.pi * (k - 1) / t_max)) * (
            current - low
        ) + low


def _weights(value: Any) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)):
        raise SpecError(f"expected a list of numbers, got {value!r}", "restart_weights")
    return tuple(to_float(x) for x in value)


@attrs.frozen(cache_hash=True)
class CosineRestartLR(Part):
    """mmengine's ``CosineRestartLR`` (``CosineRestartMomentum``): cosine periods of
    ``periods`` steps, each restarting at the initial value times its ``restart_weights``
    and annealing to ``eta_min`` (absolute) or ``eta_min_ratio`` (of the initial value);
    after the last period the value is kept.

    Example: ``{type = "mmengine.CosineRestartLR", periods = [100, 200],
    restart_weights = [1.0, 0.5], eta_min_ratio = 0.01, by_epoch = false}``.
    """

    name = "mmengine.CosineRestartLR"
    peer_attributes = (
        *Part.peer_attributes,
        "periods",
        "restart_weights",
        "eta_min",
        "eta_min_ratio",
        "cumulative_periods",
    )

    periods: tuple[int, ...] = step_list()
    restart_weights: tuple[float, ...] = schedkit.field(default=(1.0,), converter=_weights)
    eta_min: float | None = _optional_number()
    eta_min_ratio: float | None = _optional_number(ge=0.0)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if (self.eta_min is None) == (self.eta_min_ratio is None):
            raise SpecError("give one of eta_min and eta_min_ratio", "eta_min")
        if len(self.periods) != len(self.restart_weights):
            raise SpecError(
                "periods and restart_weights should have the same length", "restart_weights"
            )
        if any(p <= 0 for p in self.periods):
            raise SpecError(f"expected positive periods, got {list(self.periods)}", "periods")

    def peer_get(self, name: str, scheduler: Any) -> Any:
        if name == "cumulative_periods":
            periods = super().peer_get("periods", scheduler)
            return [sum(periods[: i + 1]) for i in range(len(periods))]
        return super().peer_get(name, scheduler)

    def next_change(self, act: _Active, last: int, current: float) -> int | None:
        # after the last period the value is kept
        return last + 1 if last + 1 < sum(self.scale("periods", self.periods, act)) else None

    def value(self, act: _Active, current: float) -> float:
        periods = self.scale("periods", self.periods, act)
        cumulative = [sum(periods[: i + 1]) for i in range(len(periods))]
        k = act.last_step
        idx = next((i for i, p in enumerate(cumulative) if k < p), None)
        if idx is None:
            return current
        weight = self.restart_weights[idx]
        restart = 0 if idx == 0 else cumulative[idx - 1]
        period = periods[idx]
        t = k - restart
        base = act.base_value
        eta_max = base * weight
        low = self.eta_min if self.eta_min_ratio is None else base * self.eta_min_ratio
        assert low is not None
        if t == 0:
            return eta_max
        return (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period)) * (
            current - low
        ) + low


@attrs.frozen(cache_hash=True)
class OneCycleLR(Part):
    """mmengine's ``OneCycleLR``: from ``eta_max / div_factor`` up to ``eta_max``
    (absolute; a list per group) over ``pct_start`` of ``total_steps`` (default: the
    range's length), then down to ``eta_max / div_factor / final_div_factor``
    (``three_phase``: back to the start first), along a cosine or a line. Learning rate
    only (mmengine's momentum cycling is not part of it). Past ``total_steps`` mmengine
    raises; the alias holds the cycle's minimum, as the ``torch.OneCycleLR`` alias does.

    Example: ``{type = "mmengine.OneCycleLR", eta_max = 0.01, total_steps = 1000,
    by_epoch = false}``.
    """

    name = "mmengine.OneCycleLR"
    peer_attributes = (
        *Part.peer_attributes,
        "eta_max",
        "total_steps",
        "div_factor",
        "final_div_factor",
    )
    per_group_lists = ("eta_max",)

    eta_max: float | tuple[float, ...] = each_group(0.0, ge=0.0)
    total_steps: int | None = schedkit.field(default=None, validator=optional(steps(positive=True)))
    pct_start: float = _factor(0.3)
    anneal_strategy: str = schedkit.choice("cos", "linear")
    div_factor: float = schedkit.factor(25.0, gt=0.0)
    final_div_factor: float = schedkit.factor(1e4, gt=0.0)
    three_phase: bool = schedkit.field(default=False, validator=instance_of(bool))
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)

    def initial(self, index: int) -> float:
        return pick(self.eta_max, index, "eta_max") / self.div_factor

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.convert_to_iter_based or self.steps_per_epoch is not None:
            self.check_phases(self.steps_per_epoch)  # in a list, the list's counts too

    def check_phases(self, spe: int | None) -> None:
        """Refuse a warmup phase of no length (``pct_start * total == 1``), where mmengine
        divides by zero at the first step; checked when built (so ``schedkit check``
        sees it) and again when bound, where the epoch length is known."""
        total = self.total_steps or (self.end - self.begin)
        if self.convert_to_iter_based and spe is not None:
            total = (
                int(total * spe)
                if self.total_steps
                else int(self.end * spe) - int(self.begin * spe)
            )
        check_one_cycle_warmup(self.pct_start, total, "mmengine")

    def setup(self, state: _Group, index: int, spe: int | None) -> _Active:
        act = super().setup(state, index, spe)
        self.check_phases(spe)
        return act

    def peer_get(self, name: str, scheduler: Any) -> Any:
        if name == "total_steps":
            return self._total(self.setup(_Group(1.0), 0, self.steps_per_epoch))
        return super().peer_get(name, scheduler)

    def _total(self, act: _Active) -> int:
        return int(self.scale("total_steps", self.total_steps, act) or (act.end - act.begin))

    def next_change(self, act: _Active, last: int, current: float) -> int | None:
        total = self._total(act)
        if last + 1 <= total:
            return last + 1
        # past the cycle every step writes the same value: kept once it is there
        held = self._at(act, total + 1)
        same = held == current and math.copysign(1.0, held) == math.copysign(1.0, current)
        return None if same else last + 1

    def value(self, act: _Active, current: float) -> float:
        return self._at(act, act.last_step)

    def _at(self, act: _Active, k: int) -> float:
        total = self._total(act)
        if k > total:
            k = total - 1  # past the cycle mmengine raises; the alias holds its minimum
        start = pick(self.eta_max, act.index, "eta_max") / self.div_factor
        high = pick(self.eta_max, act.index, "eta_max")
        low = start / self.final_div_factor
        pct = self.pct_start
        if self.three_phase:
            phases = [
                (float(pct * total) - 1, start, high),
                (float(2 * pct * total) - 2, high, start),
                (total - 1, start, low),
            ]
        else:
            phases = [(float(pct * total) - 1, start, high), (total - 1, high, low)]
        begin = 0.0
        for i, (end_step, a, b) in enumerate(phases):
            if k <= end_step or i == len(phases) - 1:
                p = (k - begin) / (end_step - begin)
                if self.anneal_strategy == "cos":
                    return b + (a - b) / 2.0 * (math.cos(math.pi * p) + 1)
                return (b - a) * p + a
            begin = end_step
        raise AssertionError("unreachable")  # pragma: no cover


#: the aliases by mmengine class name; the momentum schedulers are the same arithmetic
SCHEDULES: dict[str, type[Part]] = {
    c.name.split(".", 1)[1]: c
    for c in (
        StepLR,
        MultiStepLR,
        ConstantLR,
        LinearLR,
        ExponentialLR,
        PolyLR,
        CosineAnnealingLR,
        CosineRestartLR,
        OneCycleLR,
    )
}


# -- the momentum schedulers: the same arithmetic on momentum (or betas[0]) ----------------
class Momentum:
    """What mmengine's momentum schedulers share: they pick the hyperparameter themselves,
    ``momentum``, or ``betas[0]`` of the Adam family, from the optimizer's defaults."""

    @classmethod
    def own_key(cls, optimizer: Any) -> str | None:
        defaults = getattr(optimizer, "defaults", None) or {}
        if "momentum" in defaults:
            return "momentum"
        if "betas" in defaults:
            return "betas[0]"
        raise SpecError(
            f"mmengine's momentum schedulers need an optimizer with momentum or betas; "
            f"{type(optimizer).__name__} has neither",
            "key",
        )


@attrs.frozen(cache_hash=True)
class StepMomentum(Momentum, StepLR):
    """mmengine's ``StepMomentum``: ``mmengine.StepLR``'s values for the momentum
    (``momentum``, or ``betas[0]`` for the Adam family, picked as mmengine picks it).

    Example: ``{type = "mmengine.StepMomentum", step_size = 10, gamma = 0.9}``.
    """

    name = "mmengine.StepMomentum"


@attrs.frozen(cache_hash=True)
class MultiStepMomentum(Momentum, MultiStepLR):
    """mmengine's ``MultiStepMomentum``: ``mmengine.MultiStepLR``'s values for the momentum.

    Example: ``{type = "mmengine.MultiStepMomentum", milestones = [8, 11], gamma = 0.9}``.
    """

    name = "mmengine.MultiStepMomentum"


@attrs.frozen(cache_hash=True)
class ConstantMomentum(Momentum, ConstantLR):
    """mmengine's ``ConstantMomentum``: ``mmengine.ConstantLR``'s values for the momentum.

    Example: ``{type = "mmengine.ConstantMomentum", factor = 0.9, end = 5}``.
    """

    name = "mmengine.ConstantMomentum"


@attrs.frozen(cache_hash=True)
class LinearMomentum(Momentum, LinearLR):
    """mmengine's ``LinearMomentum``: ``mmengine.LinearLR``'s values for the momentum.

    Example: ``{type = "mmengine.LinearMomentum", start_factor = 0.9, end = 10}``.
    """

    name = "mmengine.LinearMomentum"


@attrs.frozen(cache_hash=True)
class ExponentialMomentum(Momentum, ExponentialLR):
    """mmengine's ``ExponentialMomentum``: ``mmengine.ExponentialLR``'s values for the
    momentum.

    Example: ``{type = "mmengine.ExponentialMomentum", gamma = 0.99}``.
    """

    name = "mmengine.ExponentialMomentum"


@attrs.frozen(cache_hash=True)
class PolyMomentum(Momentum, PolyLR):
    """mmengine's ``PolyMomentum``: ``mmengine.PolyLR``'s values for the momentum.

    Example: ``{type = "mmengine.PolyMomentum", eta_min = 0.85, end = 100}``.
    """

    name = "mmengine.PolyMomentum"


@attrs.frozen(cache_hash=True)
class CosineAnnealingMomentum(Momentum, CosineAnnealingLR):
    """mmengine's ``CosineAnnealingMomentum``: ``mmengine.CosineAnnealingLR``'s values for
    the momentum.

    Example: ``{type = "mmengine.CosineAnnealingMomentum", eta_min = 0.85, end = 100}``.
    """

    name = "mmengine.CosineAnnealingMomentum"


@attrs.frozen(cache_hash=True)
class CosineRestartMomentum(Momentum, CosineRestartLR):
    """mmengine's ``CosineRestartMomentum``: ``mmengine.CosineRestartLR``'s values for the
    momentum.

    Example: ``{type = "mmengine.CosineRestartMomentum", periods = [50, 50],
    restart_weights = [1.0, 1.0], eta_min = 0.85}``.
    """

    name = "mmengine.CosineRestartMomentum"


#: mmengine's momentum schedulers by class name
MOMENTUM: dict[str, type[Part]] = {
    c.name.split(".", 1)[1]: c
    for c in (
        StepMomentum,
        MultiStepMomentum,
        ConstantMomentum,
        LinearMomentum,
        ExponentialMomentum,
        PolyMomentum,
        CosineAnnealingMomentum,
        CosineRestartMomentum,
    )
}


def _parts(inst: Any, attribute: Field, value: Any) -> None:
    for i, sub in enumerate(value):
        if not isinstance(sub, Part):
            what = sub.spec().get("type") if hasattr(sub, "spec") else repr(sub)
            raise SpecError(f"expected an mmengine.* scheduler, got {what!r}", f"schedulers[{i}]")


@attrs.frozen(cache_hash=True)
class ParamSchedulerList(schedkit.BaseSchedule):
    """An mmengine ``param_scheduler`` list: every scheduler (an ``mmengine.*`` alias)
    acts on its own ``[begin, end)``, in list order, each from the value the ones before
    it wrote, so two active at once multiply, as mmengine's runner steps them.
    ``steps_per_epoch`` (mmengine's epoch length) makes one step an iteration: the
    epoch-based schedulers then step once an epoch, after the iteration-based ones.

    Example: ``{type = "mmengine.param_scheduler", steps_per_epoch = 100, schedulers = [
    {type = "mmengine.LinearLR", start_factor = 0.001, by_epoch = false, end = 500},
    {type = "mmengine.CosineAnnealingLR", begin = 5, end = 100, by_epoch = true,
    convert_to_iter_based = true}]}``.
    """

    name = "mmengine.param_scheduler"
    accepts_warmup: ClassVar[bool] = False
    stepping: ClassVar[Stepping] = MMENGINE_STEPPING
    max_replay: ClassVar[int] = MAX_REPLAY

    schedulers: tuple[Any, ...] = schedkit.schedules(per_group=True)
    steps_per_epoch: int | None = _optional_steps()

    def __attrs_post_init__(self) -> None:
        _parts(self, fields(type(self)).schedulers, self.schedulers)
        if self.steps_per_epoch is None:
            for i, sub in enumerate(self.schedulers):
                if sub.convert_to_iter_based:
                    raise SpecError(
                        "convert_to_iter_based needs steps_per_epoch (mmengine's epoch length)",
                        f"schedulers[{i}].convert_to_iter_based",
                    )
        for i, sub in enumerate(self.schedulers):
            if isinstance(sub, OneCycleLR):
                try:
                    sub.check_phases(self.steps_per_epoch)
                except SpecError as e:
                    raise e.at(f"schedulers[{i}]") from None

    def check_groups(self, count: int) -> None:
        for i, sub in enumerate(self.schedulers):
            try:
                sub.check_groups(count)
            except SpecError as e:
                raise e.at(f"schedulers[{i}]") from None

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return _Run(tuple(self.schedulers), base, index, self.steps_per_epoch)

    def __call__(self, step: float) -> float:
        return _curve(self)(step)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        run = _Run(tuple(self.schedulers), 1.0, 0, self.steps_per_epoch)
        return torch.tensor([run(s) for s in t.tolist()], dtype=torch.float64)

    def spec(self) -> dict[str, Any]:
        out = record_spec(self)
        if out.get("steps_per_epoch") is None:
            out.pop("steps_per_epoch", None)
        return out


# -- DefaultOptimWrapperConstructor's paramwise_cfg ---------------------------------------


def _mult() -> Any:
    return schedkit.field(
        default=None,
        converter=lambda v: v if v is None else to_float(v),
        validator=optional(number(ge=0.0)),
        kw_only=True,
    )


@attrs.frozen(cache_hash=True)
class Paramwise(schedkit.BaseRule):
    """mmengine's ``DefaultOptimWrapperConstructor`` with a ``paramwise_cfg``.

    A parameter whose name contains a ``custom_keys`` key (the longest first, ties
    alphabetical; a top-level parameter is matched as ``".name"``, as mmengine matches
    ``prefix + "." + name``) gets that key's ``lr_mult`` and ``decay_mult`` and nothing
    else. Otherwise: ``bias_lr_mult`` for biases outside norm layers; the weight decay
    times the first that applies of ``norm_decay_mult`` (parameters of norm layers),
    ``bias_decay_mult`` (biases), ``dwconv_decay_mult`` (depth-wise ``Conv2d``),
    ``flat_decay_mult`` (other 1-D parameters). Any other setting of a ``custom_keys``
    key that is an option of a ``torch.optim`` optimizer (``betas``, ``eps``,
    ``momentum``...) is written into the parameter's group as it is, as mmengine writes
    it. ``bypass_duplicate`` keeps a shared
    parameter in its first group, which schedkit always does (mmengine without it
    refuses shared parameters).

    Example: ``{type = "mmengine.paramwise", norm_decay_mult = 0.0, bias_decay_mult = 0.0,
    custom_keys = {backbone = {lr_mult = 0.1}}}``.
    """

    name = "mmengine.paramwise"

    custom_keys: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = settings_table(
        ("lr_mult", "decay_mult"),
        "expected lr_mult, decay_mult or an option of a torch.optim optimizer (betas, "
        "eps, momentum...)",
        options=True,
    )
    bias_lr_mult: float | None = _mult()
    bias_decay_mult: float | None = _mult()
    norm_decay_mult: float | None = _mult()
    dwconv_decay_mult: float | None = _mult()
    flat_decay_mult: float | None = _mult()
    bypass_duplicate: bool = _flag(False)

    def spec(self) -> dict[str, Any]:
        out = record_spec(self)
        out["custom_keys"] = table_spec(self.custom_keys)
        return {k: v for k, v in out.items() if v is not None}

    def _decay(self, info: ParamInfo, local: str) -> float | None:
        module = info.module
        if self.norm_decay_mult is not None and isinstance(module, NORM_TYPES):
            return self.norm_decay_mult
        if self.bias_decay_mult is not None and local == "bias":
            return self.bias_decay_mult
        dwconv = isinstance(module, torch.nn.Conv2d) and module.in_channels == module.groups
        if self.dwconv_decay_mult is not None and dwconv:
            return self.dwconv_decay_mult
        if self.flat_decay_mult is not None and info.param.ndim == 1:
            return self.flat_decay_mult
        return None

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        table = {k: dict(v) for k, v in self.custom_keys}
        ordered = sorted(sorted(table), key=len, reverse=True)
        effects = {
            key: RuleEffect(
                values={n: v for n, v in s.items() if n not in ("lr_mult", "decay_mult")},
                multipliers={
                    "lr": float(s.get("lr_mult", 1.0)),
                    "weight_decay": float(s.get("decay_mult", 1.0)),
                },
            )
            for key, s in table.items()
        }

        def decide(info: ParamInfo) -> RuleEffect | None:
            full = info.name if "." in info.name else f".{info.name}"
            mults: dict[str, float] = {}
            for key in ordered:
                if key in full:
                    return effects[key]
            local = info.name.rsplit(".", 1)[-1]
            norm = isinstance(info.module, NORM_TYPES)
            if local == "bias" and not norm and self.bias_lr_mult is not None:
                mults["lr"] = self.bias_lr_mult
            decay = self._decay(info, local)
            if decay is not None:
                mults["weight_decay"] = decay
            return RuleEffect(multipliers=mults) if mults else None

        return decide
