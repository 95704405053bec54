"""The schedule family a scheduler is asked for, resolved in the registry once, and what
it declares: the options it shares with the scheduler, the base of its absolute
arguments, transformers' call form."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from torch.optim import Optimizer

from schedkit.errors import SchedkitError, SpecError
from schedkit.hooks import family_hooks
from schedkit.protocols import Schedule
from schedkit.registry import ComponentInfo, default_registry
from schedkit.schedule import _fields_of

from .groups import as_float


def family_name(schedule: Any) -> str | None:
    """The registered name ``schedule`` gives (a name, or a spec's ``type``), or None."""
    name = schedule.get("type") if isinstance(schedule, Mapping) else schedule
    return name if isinstance(name, str) else None


def resolve_family(schedule: Any, *, strict: bool = True) -> ComponentInfo | None:
    """The registry's entry for a name or a spec, looked up once per scheduler; None for a
    built schedule (or, not ``strict``, for a name the registry does not know)."""
    name = family_name(schedule)
    if name is None:
        return None
    if strict:
        return default_registry().get("schedule", name)
    try:
        return default_registry().get("schedule", name)
    except SchedkitError:
        return None


def shared_options(
    family: type,
    schedule: str | Mapping[str, Any],
    params: dict[str, Any],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The scheduler's options that the family takes as parameters of its own too
    (:data:`schedkit.registry.SHARED_OPTIONS`: the same meaning for both).

    ``total_steps`` is the run's length for the scheduler (durations given as shares) and,
    for aliases such as ``torch.OneCycleLR``, the schedule's own argument: it goes to both;
    so does ``steps_per_epoch``, mmengine's epoch length.
    """
    fields = _fields_of(family)
    out = dict(params)
    for key, value in options.items():
        own = isinstance(schedule, Mapping) and key in schedule
        if value is not None and key in fields and key not in out and not own:
            out[key] = value
    return out


def absolute_base_of_groups(
    family: type, optimizer: Optimizer, key: str, base: float | None
) -> float | None:
    """The value a family's absolute arguments are converted against, in a scheduler.

    The scheduled groups' common base value (``base``) by default; a family declaring
    ``absolute_base = "optimizer"`` (detectron2, whose ``base_lr_end`` is divided by
    ``SOLVER.BASE_LR``) takes the optimizer's constructor value (``optimizer.defaults``),
    which is there even when the groups' values differ (bias factors, overrides).
    """
    if family_hooks(family).absolute_base != "optimizer":
        return base
    default = optimizer.defaults.get(key)
    if default is None:
        return base
    return as_float(default, f"optimizer.defaults.{key}")


def transformers_schedule(
    family: type,
    name: Any,
    optimizer: Any,
    num_warmup_steps: int | None,
    num_training_steps: int | None,
    kwargs: Mapping[str, Any],
) -> Schedule:
    """transformers' ``get_scheduler(name, optimizer, num_warmup_steps, num_training_steps,
    **kwargs)`` as a schedule, through the family's :attr:`~schedkit.hooks.ScheduleHooks.
    from_transformers`: the one translation :func:`schedkit.get_scheduler` and setups use.
    ``name`` may be transformers' ``SchedulerType`` enum; a family without the call form
    is a :class:`SpecError`."""
    if isinstance(name, Enum):  # transformers' SchedulerType
        name = name.value
    translate = family_hooks(family).from_transformers
    if translate is None:
        raise SpecError(
            f"{name!r} is not one of transformers' schedules; use schedkit's parameters"
        )
    schedule: Schedule = translate(
        name, optimizer, num_warmup_steps, num_training_steps, **dict(kwargs)
    )
    return schedule


def answers_transformers(family: Any) -> bool:
    """Whether a family answers transformers' call form (declares ``from_transformers``)."""
    return family_hooks(family).from_transformers is not None


def group_keys_read() -> frozenset[str]:
    """Every param-group entry a registered schedule family reads from its groups
    (:attr:`~schedkit.hooks.ScheduleHooks.group_keys`): what a rule may set beside the
    optimizers' options. Loads every plugin (once)."""
    keys: set[str] = set()
    for info in default_registry().components("schedule"):
        keys.update(family_hooks(info.cls).group_keys)
    return frozenset(keys)
