"""Binding a scheduler to its optimizer's param groups: the groups it targets, their base
values, the writers, the per-group curves and the companions (one-cycle's momentum).

Each function takes the scheduler (:class:`schedkit.Scheduler`, not imported: it imports
this module) and sets its binding; a refused binding changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from schedkit.errors import SpecError
from schedkit.hooks import Stepping, hooks_of
from schedkit.protocols import CurveWithState, GroupCompanion, GroupSettingsCompanion
from schedkit.schedule import BaseSchedule

from .groups import as_float, no_group, parse_key, selected
from .writers import group_writer, offers, writer

#: a companion's curve and the writer of its key
Companion = tuple[Callable[[float], float], Callable[[float], None]]


def bind(s: Any) -> None:
    """(Re)find the target groups: after ``optimizer.load_state_dict`` they are new dicts."""
    groups = s.optimizer.param_groups
    chosen = selected(groups, s.tags)
    if not chosen:
        raise no_group(groups, s.tags or ())
    field, index, init_key = s._field, s._index, f"initial_{s.key}"
    bases = []
    missing: list[tuple[dict[str, Any], Any]] = []  # groups without their initial value
    position = {id(g): i for i, g in enumerate(groups)}
    for i, g in enumerate(chosen):
        where = f"param_groups[{position[id(g)]}].{s.key}"
        if field not in g:
            raise SpecError(
                f"the group has no {field!r} (its keys: {sorted(set(g) - {'params'})})", where
            )
        value = g[field]
        if index is not None:
            if not isinstance(value, (tuple, list)) or index >= len(value):
                raise SpecError(f"expected a sequence with an item {index}, got {value!r}", where)
            value = value[index]
        if i < len(s.base_values):
            bases.append(s.base_values[i])
            continue
        initial = g.get(init_key)
        if initial is None:
            initial = value.clone() if isinstance(value, torch.Tensor) else value
            missing.append((g, initial))
        bases.append(as_float(initial, where))
    # everything checked before anything is set: a refused rebind (a group added that
    # a per-group list has no value for) leaves the scheduler and the groups as they
    # were, and refuses the next step the same way
    if s._per_group is not None and isinstance(s.schedule, BaseSchedule):
        s.schedule.check_groups(len(chosen))
    companions = companions_for(s, chosen) if s._companions else []
    for g, initial in missing:
        g[init_key] = initial
    s.base_values = bases
    s._groups = chosen
    s._bound = groups
    s._n_groups = len(groups)
    s._write = writer(chosen, bases, s._field, s._index)
    if s._per_group is not None:
        bind_curves(s)
    s._companions = companions
    if s.key == "lr":
        s.base_lrs = list(bases)


def bind_curves(s: Any) -> None:
    """One curve per selected group, for schedules whose values are not base * factor.

    A rebind (new group dicts after ``optimizer.load_state_dict``) hands each curve
    that keeps a state (:func:`curve_states`) on to its successor, so a recurrence
    continues where it was instead of replaying from the start.
    """
    if isinstance(s.schedule, BaseSchedule):
        s.schedule.check_groups(len(s._groups))
    old = s._curves
    s._curves = [
        s._per_group(g, b, i) for i, (g, b) in enumerate(zip(s._groups, s.base_values, strict=True))
    ]
    for prev, new in zip(old, s._curves, strict=False):
        if offers(prev, CurveWithState) and offers(new, CurveWithState):
            new.load_curve_state(s._step, prev.curve_state(s._step))
    s._write = group_writer(s._groups, s._curves, s._field, s._index)


def curve_states(s: Any) -> bool:
    """Whether the groups' curves keep a state of their own, saved with the scheduler's.

    A curve computed from the one before (mmengine's recurrences) is a
    :class:`~schedkit.protocols.CurveWithState`: a resume then continues from the saved
    values, as the original library continues from the optimizer's restored ones,
    instead of replaying every step.
    """
    return bool(s._curves) and all(offers(c, CurveWithState) for c in s._curves)


def companions_for(s: Any, groups: list[dict[str, Any]]) -> list[Companion]:
    """Keys a schedule drives besides its own (one-cycle's momentum), as absolute values:
    (value, writer) pairs for ``groups``, set nowhere.

    A schedule offers them through :meth:`~schedkit.hooks.ScheduleHooks.companions` (a
    :class:`~schedkit.protocols.GroupCompanion` gives each group its own curve, a
    :class:`~schedkit.protocols.GroupSettingsCompanion` one from the group's settings);
    ``momentum`` is written to ``betas[0]`` on optimizers that have betas instead (Adam),
    as torch does.
    """
    out: list[Companion] = []
    companions: dict[str, Any] = dict(hooks_of(s.schedule).companions())
    for name, curve in companions.items():
        key = name
        if name == "momentum" and all("momentum" not in g and "betas" in g for g in groups):
            key = "betas[0]"
        field, index = parse_key(key)
        for g in groups:
            if field not in g:
                raise SpecError(
                    f"the schedule drives {name!r} too, but a scheduled group has no {field!r}",
                    "schedule",
                )
        if isinstance(curve, GroupSettingsCompanion):
            # one curve per group, from the settings each group carries (Megatron's wd)
            curves = [curve.for_group(g, i) for i, g in enumerate(groups)]
            out.append((float, group_writer(groups, curves, field, index, None)))
            continue
        if isinstance(curve, GroupCompanion):
            # one curve per group (torch's per-group momentum lists), given the step
            curves = [curve.per_group(i) for i in range(len(groups))]
            out.append((float, group_writer(groups, curves, field, index, None)))
            continue
        out.append((curve, writer(groups, [1.0] * len(groups), field, index)))
    return out


def own_tags(s: Any, own: frozenset[str | None] | None) -> None:
    """Use the tags a schedule names itself (Cerebras' ``param_group_tags``)."""
    if own is None:
        return
    if s.tags is not None and s.tags != own:
        raise SpecError(
            f"the schedule targets tags {sorted(own, key=str)}, the scheduler "
            f"{sorted(s.tags, key=str)}: give them once",
            "tags",
        )
    s.tags = frozenset(own)
    s.base_values = []
    bind(s)


def adopt_stepping(s: Any, policy: Stepping) -> None:
    """Take the schedule's stepping policy: its methods become the scheduler's own (timm's
    ``step_update``), and its ``step``, when it has one, the scheduler's ``step``."""
    methods = dict(policy.methods(s))
    if type(policy).step is not Stepping.step:
        methods["step"] = functools.partial(policy.step, s)
    for name, method in methods.items():  # past a PeerScheduler's __setattr__
        object.__setattr__(s, name, method)
