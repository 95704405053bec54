"""A scheduler's saved state: written as plain data, checked whole before any of it is
applied (:class:`~schedkit.StateError` naming the first bad key)."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from schedkit._numbers import MAX_STEPS, as_real, show
from schedkit.errors import StateError
from schedkit.hooks import hooks_of
from schedkit.protocols import GroupCompanion, GroupSchedule, GroupSettingsCompanion, Schedule
from schedkit.state_checks import StateReader, check_number

from .binding import bind, curve_states
from .writers import group_writer

FORMAT = "schedkit.scheduler"
VERSION = 1


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
    }
    if curve_states(s):
        state["curves"] = [c.curve_state(s._step) for c in s._curves]
    return state


def check_state(s: Any, state_dict: Any) -> tuple[int, list[float], Any]:
    """Check a state against scheduler ``s`` without applying it: (step, bases, schedule
    state), or :class:`StateError` naming the first bad key."""
    state = StateReader(state_dict, what="scheduler state")
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
    if state.get("schedule") != mine:
        from schedkit._diff import spec_diff

        raise StateError(
            "the state was written by a different schedule:\n  "
            + "\n  ".join(spec_diff(state.get("schedule"), mine))
            + "\nbuild the scheduler with the state's schedule, or start the new one fresh"
        )
    tags = None if s.tags is None else sorted(s.tags, key=str)
    saved_tags = state.state.get("tags")
    if saved_tags is not None and (
        not isinstance(saved_tags, (list, tuple)) or sorted(saved_tags, key=str) != tags
    ):
        raise StateError(
            f"the state targets tags {show(saved_tags)}, this scheduler {tags!r}", "tags"
        )
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
    step = state.integer("step")
    if step > MAX_STEPS:
        raise StateError("expected a whole number <= 2**62 (the farthest step)", "step")
    _check_curves(s, state, step, bases)
    schedule_state = state.state.get("schedule_state")
    trial = s.schedule
    if s._stateful:
        # a copy takes the schedule's state first: a bad one leaves ours untouched
        trial = copy.deepcopy(s.schedule)
        try:
            trial.load_state_dict(schedule_state)
        except StateError as e:
            raise e.at("schedule_state") from None
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as e:
            raise StateError(f"cannot be loaded: {show(e)}", "schedule_state") from None
    elif schedule_state is not None:
        raise StateError(
            f"expected None ({s.schedule.spec()['type']!r} keeps no history)", "schedule_state"
        )
    _check_values(s, trial, step, bases, state.state.get("curves"))
    return step, bases, schedule_state


def _check_values(s: Any, schedule: Schedule, step: int, bases: list[float], curves: Any) -> None:
    """Compute, on trial objects, every value loading the state would write: one that
    cannot be computed (an overflow at a far step) or is not finite is a StateError at
    ``step``, raised before anything is changed."""
    values: list[Any] = []
    try:
        if isinstance(schedule, GroupSchedule):
            for i, (g, b) in enumerate(zip(s._groups, bases, strict=True)):
                curve: Any = schedule.per_group(g, b, i)
                if curve_states(s):
                    curve.load_curve_state(step, curves[i])
                values.append(curve(step))
        else:
            factor = schedule(step)
            values += [b * factor for b in bases]
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
    for v in values:
        x = as_real(v) if not isinstance(v, torch.Tensor) else float(v)
        if x is None or not math.isfinite(x):
            raise StateError(
                f"the schedule's value at step {step} is {show(v)}, not a finite number", "step"
            )


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
