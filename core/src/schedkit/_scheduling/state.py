"""A scheduler's saved state: written as plain data, checked whole before any of it is
applied (:class:`~schedkit.StateError` naming the first bad key)."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import attrs
import torch

from schedkit._numbers import MAX_STEPS, as_real, show
from schedkit.errors import SchedkitError, SpecError, StateError
from schedkit.hooks import hooks_of
from schedkit.protocols import (
    CurveWithState,
    GroupCompanion,
    GroupSchedule,
    GroupSettingsCompanion,
    Schedule,
    StatefulSchedule,
)
from schedkit.state_checks import StateReader, check_number

from .binding import bind, companions_for, curve_states
from .writers import group_writer, offers

FORMAT = "schedkit.scheduler"
VERSION = 1
#: the relative change of the value at the resumed step a replan accepts by default: the
#: new plan must continue the old one up to rounding
REPLAN_RTOL = 1e-6


def state_dict(s: Any) -> dict[str, Any]:
    """The scheduler's state as plain data (see :meth:`schedkit.Scheduler.state_dict`)."""
    state = {
        "format": FORMAT,
        "version": VERSION,
        "step": s._step,
        "key": s.key,
        "tags": None if s.tags is None else sorted(s.tags, key=str),
        "base_values": list(s.base_values),
        "schedule": s.schedule.spec(),
        "schedule_state": s.schedule.state_dict() if s._stateful else None,
        # what the groups hold: the value a replanned resume must continue from
        "values": s.get_last_lr(),
    }
    if curve_states(s):
        state["curves"] = [c.curve_state(s._step) for c in s._curves]
    return state


def check_state(s: Any, state_dict: Any) -> tuple[int, list[float], Any]:
    """Check a state against scheduler ``s`` without applying it: (step, bases, schedule
    state), or :class:`StateError` naming the first bad key."""
    state = StateReader(state_dict, what="scheduler state")
    _check_header(s, state, same_schedule=True)
    bases = _check_bases(s, state)
    step = _check_step(state)
    _check_curves(s, state, step, bases)
    schedule_state = state.state.get("schedule_state")
    trial = s.schedule
    if s._stateful:
        # a copy takes the schedule's state first: a bad one leaves ours untouched
        trial = _with_state(s.schedule, schedule_state)
    elif schedule_state is not None:
        raise StateError(
            f"expected None ({s.schedule.spec()['type']!r} keeps no history)", "schedule_state"
        )
    _check_values(s, trial, step, bases, state.state.get("curves"))
    return step, bases, schedule_state


def _check_header(s: Any, state: StateReader, *, same_schedule: bool = False) -> None:
    """The format, version, key and tags of a scheduler state, against scheduler ``s``;
    with ``same_schedule``, its schedule too."""
    if state.state.get("format") != FORMAT:
        raise StateError(
            f"not a schedkit scheduler state (format {show(state.state.get('format'))})"
        )
    version = state.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise StateError(f"expected a version >= 1, got {show(version)}", "version")
    if version > VERSION:
        raise StateError(
            f"scheduler state version {show(version)} is newer than this schedkit reads "
            f"({VERSION})",
            "version",
        )
    if state.get("key") != s.key:
        raise StateError(
            f"the state schedules {show(state.get('key'))}, this scheduler {s.key!r}", "key"
        )
    mine = s.schedule.spec()
    if same_schedule and state.get("schedule") != mine:
        from schedkit._diff import spec_diff

        raise StateError(
            "the state was written by a different schedule:\n  "
            + "\n  ".join(spec_diff(state.get("schedule"), mine))
            + "\nbuild the scheduler with the state's schedule, load it with replan=True "
            "to continue on this one (its value at the resumed step must match), or start "
            "the new one fresh"
        )
    tags = None if s.tags is None else sorted(s.tags, key=str)
    saved_tags = state.state.get("tags")
    if saved_tags is not None and (
        not isinstance(saved_tags, (list, tuple)) or sorted(saved_tags, key=str) != tags
    ):
        raise StateError(
            f"the state targets tags {show(saved_tags)}, this scheduler {tags!r}", "tags"
        )


def _check_bases(s: Any, state: StateReader) -> list[float]:
    """The state's base values, one per group ``s`` schedules."""
    raw = state.get("base_values")
    if not isinstance(raw, (list, tuple)):
        raise StateError(f"expected a list of numbers, got {show(raw)}", "base_values")
    bases = [check_number(b, f"base_values[{i}]", ge=0.0) for i, b in enumerate(raw)]
    if len(bases) != len(s._groups):
        raise StateError(
            f"the state has base values for {len(bases)} groups, this scheduler targets "
            f"{len(s._groups)}",
            "base_values",
        )
    return bases


def _check_step(state: StateReader) -> int:
    step = state.integer("step")
    if step > MAX_STEPS:
        raise StateError("expected a whole number <= 2**62 (the farthest step)", "step")
    return step


def _with_state(schedule: Any, schedule_state: Any) -> Any:
    """A copy of a stateful ``schedule`` that took ``schedule_state`` (checked whole by the
    schedule: a bad one leaves ``schedule`` untouched)."""
    trial = copy.deepcopy(schedule)
    try:
        trial.load_state_dict(schedule_state)
    except StateError as e:
        raise e.at("schedule_state") from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as e:
        raise StateError(f"cannot be loaded: {show(e)}", "schedule_state") from None
    return trial


def _check_values(
    s: Any, schedule: Schedule, step: int, bases: list[float], curves: Any
) -> list[float]:
    """Compute, on trial objects, every value loading the state would write: one that
    cannot be computed (an overflow at a far step) or is not finite is a StateError at
    ``step``, raised before anything is changed. Returns the values of the scheduled key,
    one per group (the companions' are checked, not returned)."""
    values: list[Any] = []
    try:
        if isinstance(schedule, GroupSchedule):
            for i, (g, b) in enumerate(zip(s._groups, bases, strict=True)):
                curve: Any = schedule.per_group(g, b, i)
                if curves is not None and offers(curve, CurveWithState):
                    curve.load_curve_state(step, curves[i])
                values.append(curve(step))
        else:
            factor = schedule(step)
            values += [b * factor for b in bases]
        main = len(values)
        companions: list[Any] = list(hooks_of(schedule).companions().values())
        for companion in companions:
            if isinstance(companion, GroupSettingsCompanion):
                for i, g in enumerate(s._groups):
                    values.append(companion.for_group(g, i)(float(step)))
            elif isinstance(companion, GroupCompanion):
                values += [companion.per_group(i)(float(step)) for i in range(len(s._groups))]
            else:
                values.append(companion(step))
    except (ArithmeticError, ValueError) as e:
        raise StateError(
            f"the schedule cannot be computed at step {step}: {show(e)}", "step"
        ) from None
    out: list[float] = []
    for v in values:
        x = as_real(v) if not isinstance(v, torch.Tensor) else float(v)
        if x is None or not math.isfinite(x):
            raise StateError(
                f"the schedule's value at step {step} is {show(v)}, not a finite number", "step"
            )
        out.append(x)
    return out[:main]


def _check_curves(s: Any, state: StateReader, step: int, bases: list[float]) -> None:
    """Check the groups' curve states (:func:`curve_states`) on trial curves."""
    curves = state.state.get("curves")
    if not curve_states(s):
        if curves is not None:
            raise StateError(
                f"expected None ({s.schedule.spec()['type']!r} keeps no curve state)", "curves"
            )
        return
    if not isinstance(curves, (list, tuple)) or len(curves) != len(s._groups):
        raise StateError(
            f"expected a list of {len(s._groups)} curve states (one per group), got {show(curves)}",
            "curves",
        )
    for i, (g, b, data) in enumerate(zip(s._groups, bases, curves, strict=True)):
        try:
            s._per_group(g, b, i).load_curve_state(step, data)
        except StateError as e:
            raise e.at(f"curves[{i}]") from None


def load_state(s: Any, state_dict: Any) -> None:
    """Apply a state to scheduler ``s`` once :func:`check_state` found it whole."""
    step, bases, schedule_state = s.check_state(state_dict)
    if s._stateful:
        s.schedule.load_state_dict(schedule_state)
    s.base_values = bases
    s._step = step
    s._bound = None
    saved = curve_states(s)
    s._curves = []  # the new curves take the state's values, not the old curves'
    bind(s)
    if saved:
        for curve, data in zip(s._curves, state_dict["curves"], strict=True):
            curve.load_curve_state(step, data)
    if s._curves:  # from the start, not from the groups' values
        group_writer(s._groups, s._curves, s._field, s._index, None)(s._step)
    else:
        s._write(s._value(s._step))
    for value, write in s._companions:
        write(value(s._step))


# -- replanning: the step from the state, the curve from the new schedule ----------------


@attrs.frozen
class Replan:
    """What loading a state with ``replan=True`` does (:meth:`schedkit.Scheduler.check_replan`).

    :param step: the step the run resumes at (the state's).
    :param old: the values the state's scheduler last wrote, one per scheduled group (None:
        a state written before schedkit saved them, whose schedule cannot be rebuilt here).
    :param new: the values the new plan writes at ``step``, one per group.
    :param schedule: the new plan as resumed at ``step`` (a decay decided at the resume
        starts there: :meth:`~schedkit.hooks.ScheduleHooks.resumed`).
    :param rtol: the relative change accepted at ``step``.
    :param jumps: the groups (their positions among the scheduled ones) whose value
        changes by more than ``rtol``.
    :param carried: what the new plan takes over from the old one's state: ``"schedule_state"``
        (a metric-driven schedule's history), ``"curves"`` (per-group curve states).
    :param groups: each scheduled group's position in the optimizer's ``param_groups``.
    """

    step: int
    old: tuple[float, ...] | None
    new: tuple[float, ...]
    schedule: Schedule = attrs.field(eq=False, repr=False)
    rtol: float
    jumps: tuple[int, ...]
    carried: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()
    _schedule_state: Any = attrs.field(default=None, eq=False, repr=False)
    _curves: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def accepted(self) -> bool:
        """Whether the values at :attr:`step` continue (no group jumps)."""
        return not self.jumps

    def describe(self, key: str) -> list[str]:
        """One line per group that jumps: the step, both values, the relative change."""
        out = []
        for i in self.jumps:
            old = None if self.old is None else self.old[i]
            new = self.new[i]
            where = f"param_groups[{self.groups[i]}]" if self.groups else f"group {i}"
            if old is None:
                out.append(
                    f"{key} at step {self.step} ({where}): unknown in the state, {new!r} now"
                )
                continue
            out.append(
                f"{key} at step {self.step} ({where}): {old!r} in the state, {new!r} in the new "
                f"plan (a relative change of {_relative(old, new):.3g})"
            )
        return out


def check_flag(value: Any, name: str) -> None:
    """``value`` is True or False (a string such as ``"no"`` would be truthy): SpecError
    at ``name``."""
    if not isinstance(value, bool):
        raise SpecError(f"expected True or False, got {show(value)}", name)


def _relative(old: float, new: float) -> float:
    scale = max(abs(old), abs(new))
    return abs(new - old) / scale if scale else 0.0


def check_replan(
    s: Any, state_dict: Any, *, rtol: float = REPLAN_RTOL, allow_jump: bool = False
) -> Replan:
    """Check loading a state into scheduler ``s`` with its own schedule as the new plan:
    the :class:`Replan`, or :class:`StateError` (a bad state, or a jump at the resumed step
    beyond ``rtol`` unless ``allow_jump``). Nothing is changed."""
    real = as_real(rtol)
    if real is None or not math.isfinite(real) or not real >= 0:
        raise SpecError(f"expected a relative tolerance >= 0, got {show(rtol)}", "rtol")
    rtol = real
    check_flag(allow_jump, "allow_jump")
    state = StateReader(state_dict, what="scheduler state")
    _check_header(s, state)
    saved_bases = _check_bases(s, state)
    step = _check_step(state)
    old_spec = state.get("schedule")
    previous = _rebuilt(old_spec)
    if previous is not None and isinstance(previous, StatefulSchedule):
        try:
            previous = _with_state(previous, state.state.get("schedule_state"))
        except StateError:
            previous = None
    old = _saved_values(s, state, previous, step, saved_bases)
    schedule = _resumed(s.schedule, step, previous)
    same_kind = isinstance(old_spec, Mapping) and old_spec.get("type") == schedule.spec()["type"]
    carried: list[str] = []
    schedule_state = None
    if isinstance(schedule, StatefulSchedule):
        saved = state.state.get("schedule_state")
        if same_kind and saved is not None:
            schedule = _with_state(schedule, saved)
            schedule_state = saved
            carried.append("schedule_state")
        else:  # a history of its own, fresh: never the scheduler's, which the load replaces
            schedule = copy.deepcopy(schedule)
    curves = None
    if same_kind and curve_states(s) and state.state.get("curves") is not None:
        _check_curves(s, state, step, list(s.base_values))
        curves = state.state.get("curves")
        carried.append("curves")
    new = _check_values(s, schedule, step, list(s.base_values), curves)
    if old is None:
        jumps = tuple(range(len(new)))
    else:
        jumps = tuple(
            i
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            if not math.isclose(a, b, rel_tol=float(rtol), abs_tol=0.0)
        )
    positions = {id(g): i for i, g in enumerate(s.optimizer.param_groups)}
    plan = Replan(
        step,
        None if old is None else tuple(old),
        tuple(new),
        schedule,
        float(rtol),
        jumps,
        tuple(carried),
        tuple(positions.get(id(g), i) for i, g in enumerate(s._groups)),
        schedule_state,
        curves,
    )
    if jumps and not allow_jump:
        lines = plan.describe(s.key)
        raise StateError(
            f"the new plan jumps at the resumed step (rtol={float(rtol):g}):\n  "
            + "\n  ".join(lines)
            + "\npass allow_jump=True to accept the jump (a setup: [resume] allow_jump = true), "
            "a larger rtol, or give a plan that continues the old one (a decay that starts "
            "at the resume)",
            "step",
        )
    return plan


def _rebuilt(spec: Any) -> Schedule | None:
    """The schedule a state was written by, rebuilt from its spec (None when this
    installation cannot: a family not installed, a spec it refuses)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
        raise StateError(f"expected a schedule spec with a 'type', got {show(spec)}", "schedule")
    from schedkit.schedule import get_schedule

    try:
        return get_schedule(spec)
    except (SchedkitError, TypeError, ValueError, ArithmeticError):
        return None


def _saved_values(
    s: Any, state: StateReader, previous: Schedule | None, step: int, bases: list[float]
) -> list[float] | None:
    """The values the state's scheduler last wrote: saved in the state since schedkit
    replans (``values``), else computed from the state's schedule when it can be rebuilt."""
    raw = state.state.get("values")
    if raw is not None:
        if not isinstance(raw, (list, tuple)) or len(raw) != len(bases):
            raise StateError(
                f"expected a list of {len(bases)} numbers (one per group), got {show(raw)}",
                "values",
            )
        return [check_number(v, f"values[{i}]") for i, v in enumerate(raw)]
    if previous is None:
        return None
    curves = state.state.get("curves")
    try:
        if isinstance(previous, GroupSchedule):
            out = []
            for i, (g, b) in enumerate(zip(s._groups, bases, strict=True)):
                curve: Any = previous.per_group(g, b, i)
                if isinstance(curves, (list, tuple)) and offers(curve, CurveWithState):
                    curve.load_curve_state(step, curves[i])
                out.append(float(curve(step)))
            return out
        factor = previous(step)
        return [float(b * factor) for b in bases]
    except (SchedkitError, ArithmeticError, ValueError, TypeError, IndexError):
        return None


def _resumed(schedule: Schedule, step: int, previous: Schedule | None) -> Schedule:
    """The new plan as a run resumed at ``step`` takes it (its own decisions at the resume,
    :meth:`~schedkit.hooks.ScheduleHooks.resumed`)."""
    try:
        out: Schedule = hooks_of(schedule).resumed(step, previous)
    except SpecError as e:
        raise StateError(
            f"the new plan cannot resume at step {step}: {e}", e.at("schedule").path
        ) from None
    if type(out) is not type(schedule):
        raise TypeError(
            f"{type(schedule).__name__}.resumed returned a {type(out).__name__}: a replanned "
            "schedule keeps its family"
        )
    return out


def load_replanned(
    s: Any, state_dict: Any, *, rtol: float = REPLAN_RTOL, allow_jump: bool = False
) -> Replan:
    """Apply a state to scheduler ``s`` on its own (new) plan once :func:`check_replan`
    accepted it: the state's step, the new plan's curve and base values."""
    plan = check_replan(s, state_dict, rtol=rtol, allow_jump=allow_jump)
    schedule = plan.schedule
    s.schedule = schedule
    s._hooks = hooks_of(schedule)
    if isinstance(schedule, GroupSchedule):
        s._per_group = schedule.per_group
    else:
        s._value = schedule.__call__
    s._step = plan.step
    s._bound = None
    s._curves = []
    bind(s)
    s._companions = companions_for(s, s._groups)
    if plan._curves is not None:
        for curve, data in zip(s._curves, plan._curves, strict=True):
            curve.load_curve_state(plan.step, data)
    if s._curves:
        group_writer(s._groups, s._curves, s._field, s._index, None)(s._step)
    else:
        s._write(s._value(s._step))
    for value, write in s._companions:
        write(value(s._step))
    return plan
