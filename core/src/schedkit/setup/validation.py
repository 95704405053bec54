"""Everything a setup's build checks that needs no model, run once: torch's checks of the
optimizer's options, each schedule resolved, bound and its values kept within float32."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from schedkit._numbers import show
from schedkit.durations import NeedsContextError, to_steps
from schedkit.errors import SpecError
from schedkit.protocols import Finite
from schedkit.schedule import per_update, resolve
from schedkit.scheduler import Scheduler
from schedkit.setup.optimizers import (
    check_option,
    optimizer_class,
    optimizer_options,
    parameters,
    trial_optimizer,
)
from schedkit.setup.problems import FLOAT32_MAX, is_number
from schedkit.setup.routing import OptimizerTable
from schedkit.setup.tables import ScheduleEntry


def group_values_out_of_range(groups: Any, where: str = "optimizer") -> list[SpecError]:
    """Hyperparameters the rules computed that no float32 update takes (a rule's factor of
    1e300): found at build time, before the first step fails on them. ``where``: the
    optimizer table, named in the messages."""
    out = []
    for i, g in enumerate(groups):
        for k, v in g.items():
            if is_number(v) and not (math.isfinite(v) and abs(v) <= FLOAT32_MAX):
                out.append(
                    SpecError(
                        f"the rules give param group {i} of [{where}] {k} = {show(v)}: more "
                        "than float32 parameters take",
                        "rules",
                    )
                )
    return out


def _check_values(sched: Scheduler) -> None:
    """The scheduled values stay finite and within float32 over the run (sampled, with the
    milestones the family knows), so no step fails on them: raises SpecError."""
    horizon = (sched.schedule.horizon if isinstance(sched.schedule, Finite) else None) or 10_000
    steps = torch.linspace(0.0, float(horizon) * 1.25, 513, dtype=torch.float64)
    try:
        values = sched.schedule.values(steps)  # type: ignore[attr-defined]
    except (SpecError, OverflowError, ValueError, TypeError, RuntimeError):
        return  # families without tensor values are checked by their own validators
    top = max(abs(b) for b in sched.base_values) if sched.base_values else 1.0
    scaled = values * top
    bad = ~(scaled.isfinite() & (scaled.abs() <= FLOAT32_MAX))
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise SpecError(
            f"the value reaches {float(scaled[i]):g} at step {int(steps[i])}: more than "
            "float32 parameters take"
        )


def dry_run(
    optimizers: Sequence[tuple[OptimizerTable, float | None]] | None,
    entries: tuple[ScheduleEntry, ...],
    total: int | str | None,
    spe: int | None,
    total_steps: int | None,
) -> list[SpecError]:
    """Everything a build checks that needs no model: each optimizer's options (torch's
    own checks, on a trial parameter, with its lr), each schedule resolved and bound to the
    keys of every optimizer it drives, its values within float32. Durations that
    need ``steps_per_epoch`` or the total are :class:`NeedsContextError` (see
    :func:`waiting`): problems at build time and for ``check``, not when a file loads."""
    problems: list[SpecError] = []

    def report(e: SpecError, prefix: str) -> None:
        problems.append(e.at(prefix) if prefix else e)

    if total_steps is None and total is not None:
        try:
            total_steps = to_steps(total, steps_per_epoch=spe)
        except SpecError as e:
            report(e, "run.total")
    trials: dict[str, torch.optim.Optimizer | None] = {}
    for table, lr in optimizers or ():
        try:
            trials[table.name] = trial_optimizer(
                table.options, lr if lr is not None else 1e-3, table.lr_key, table.path
            )
        except SpecError as e:
            problems.append(e)
            trials[table.name] = None
    for entry in entries:
        chosen = [trials[n] for n in entry.optimizers or trials if n in trials]
        try:
            schedule = per_update(entry.schedule, spe)
            if not chosen or any(opt is None for opt in chosen):
                resolve(schedule, steps_per_epoch=spe, total_steps=total_steps)
            for opt in chosen:
                if opt is not None:
                    _check_values(
                        Scheduler(
                            opt,
                            schedule,
                            key=entry.key,
                            steps_per_epoch=spe,
                            total_steps=total_steps,
                        )
                    )
        except SpecError as e:
            report(e, f"schedules.{entry.name}")
    return problems


def waiting(problem: SpecError) -> bool:
    """A problem only for want of the build's arguments (``steps_per_epoch``, the total):
    a file that loads may still get them at build time."""
    return isinstance(problem, NeedsContextError)


#: keys every setup's groups hold, whatever the optimizer (the builder's base values)
_BASE_KEYS = ("lr", "weight_decay")


def _rule_path(rules: Sequence[Any], label: str, key: str, value: Any) -> str:
    """The key path of what a rule set: ``rules[i].keys.<pattern>.<key>`` for a rule whose
    spec has the key under a table of patterns (``overrides``), else ``rules[i].<key>``."""
    index = label.rsplit("(rules[", 1)[-1].split("]", 1)[0]
    path = f"rules[{index}]"
    try:
        spec = rules[int(index)].spec()
    except (ValueError, IndexError, AttributeError):
        return f"{path}.{key}"
    patterns = spec.get("keys") if isinstance(spec, Mapping) else None
    if isinstance(patterns, Mapping):
        having = [p for p, v in patterns.items() if isinstance(v, Mapping) and key in v]
        same = [p for p in having if patterns[p][key] == value or list(patterns[p][key]) == value]
        for pattern in same or having:
            return f"{path}.keys.{pattern}.{key}"
    return f"{path}.{key}"


def group_keys_refused(
    groups: Any, cls: type[torch.optim.Optimizer], rules: Sequence[Any], where: str
) -> list[SpecError]:
    """What the rules set in a group that its optimizer does not take: a key of another
    optimizer (``betas`` on a Muon group), or a value its option refuses (judged as the
    ``[optimizer]`` table's options are), each with the rule's key path. Keys no torch
    optimizer has (a rule's own bookkeeping) are the rule's business. ``where``: the
    optimizer table, named in the messages."""
    sig = parameters(cls)
    out: list[SpecError] = []
    seen: set[tuple[str, str]] = set()
    for key, decision in groups._decided.items():
        group = groups[groups._index_of[key]]
        for label, effect in decision:
            for name in (*effect.values, *effect.multipliers):
                if name in _BASE_KEYS or name in ("params", "tags", "name"):
                    continue
                path = _rule_path(rules, label, name, group.get(name))
                if (path, name) in seen:
                    continue
                problem = None
                if name in sig:
                    problem = check_option(name, _plain(group.get(name)), sig[name])
                elif name in optimizer_options():
                    options = [n for n in sig if n not in ("self", "params", "lr")]
                    problem = (
                        f"torch.optim.{cls.__name__} ([{where}]) has no option {name!r} "
                        f"(its options: {', '.join(options)})"
                    )
                if problem is not None:
                    seen.add((path, name))
                    out.append(SpecError(problem, path))
    return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def rule_options_refused(tables: Sequence[OptimizerTable], rules: Sequence[Any]) -> list[SpecError]:
    """What a rule's table of patterns (``overrides``' ``keys``) sets that no optimizer of
    the setup takes, found without the model (``schedkit check``): an option none of their
    classes has, or a value every class having it refuses. Which optimizer a pattern's
    parameters go to needs the model (:func:`group_keys_refused` judges that at build)."""
    classes: list[tuple[type[torch.optim.Optimizer], str]] = []
    for table in tables:
        try:
            classes.append((optimizer_class(table.options["type"]), table.path))
        except (SpecError, KeyError, TypeError):
            return []  # the table's own problem, reported with it
    out: list[SpecError] = []
    for i, rule in enumerate(rules):
        try:
            spec = rule.spec()
        except Exception:  # a plugin's rule without a plain spec: its business
            continue
        patterns = spec.get("keys") if isinstance(spec, Mapping) else None
        if not isinstance(patterns, Mapping):
            continue
        for pattern, settings in patterns.items():
            if not isinstance(settings, Mapping):
                continue
            for name, value in settings.items():
                if name in _BASE_KEYS or name in ("params", "tags", "name"):
                    continue
                if name not in optimizer_options():
                    continue  # a rule's own bookkeeping
                having = [(cls, where) for cls, where in classes if name in parameters(cls)]
                if not having:
                    if len(classes) == 1:
                        cls, where = classes[0]
                        options = [n for n in parameters(cls) if n not in ("self", "params", "lr")]
                        problem = (
                            f"torch.optim.{cls.__name__} ([{where}]) has no option {name!r} "
                            f"(its options: {', '.join(options)})"
                        )
                    else:
                        problem = f"no optimizer of this setup has the option {name!r}"
                else:
                    refusals = [
                        check_option(name, _plain(value), parameters(cls)[name])
                        for cls, _ in having
                    ]
                    first = refusals[0]
                    if first is None or any(r is None for r in refusals):
                        continue
                    problem = first
                out.append(SpecError(problem, f"rules[{i}].keys.{pattern}.{name}"))
    return out
