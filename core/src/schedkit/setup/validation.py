"""Everything a setup's build checks that needs no model, run once: torch's checks of the
optimizer's options, each schedule resolved, bound and its values kept within float32."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from schedkit._numbers import show
from schedkit.durations import NeedsContextError, to_steps
from schedkit.errors import SpecError
from schedkit.protocols import Finite
from schedkit.schedule import per_update, resolve
from schedkit.scheduler import Scheduler
from schedkit.setup.optimizers import trial_optimizer
from schedkit.setup.problems import FLOAT32_MAX, is_number
from schedkit.setup.tables import ScheduleEntry


def group_values_out_of_range(groups: Any) -> list[SpecError]:
    """Hyperparameters the rules computed that no float32 update takes (a rule's factor of
    1e300): found at build time, before the first step fails on them."""
    out = []
    for i, g in enumerate(groups):
        for k, v in g.items():
            if is_number(v) and not (math.isfinite(v) and abs(v) <= FLOAT32_MAX):
                out.append(
                    SpecError(
                        f"the rules give param group {i} {k} = {show(v)}: more than float32 "
                        "parameters take",
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
    optimizer: Mapping[str, Any] | None,
    lr: float | None,
    entries: tuple[ScheduleEntry, ...],
    total: int | str | None,
    spe: int | None,
    total_steps: int | None,
    lr_key: str = "lr",
) -> list[SpecError]:
    """Everything a build checks that needs no model: the optimizer's options (torch's own
    checks, on a trial parameter: ``lr_key`` names the lr in its refusals), each schedule
    resolved and bound to the optimizer's keys, its values within float32. Durations that
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
    opt = None
    if optimizer is not None:
        try:
            opt = trial_optimizer(optimizer, lr if lr is not None else 1e-3, lr_key)
        except SpecError as e:
            problems.append(e)
    for entry in entries:
        try:
            schedule = per_update(entry.schedule, spe)
            if opt is None:
                resolve(schedule, steps_per_epoch=spe, total_steps=total_steps)
            else:
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
