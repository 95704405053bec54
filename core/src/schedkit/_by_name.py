"""``get_scheduler``: a scheduler by name, in schedkit's call form or in transformers' (its
positional warmup and training steps, ``scheduler_specific_kwargs``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from torch.optim import Optimizer

from schedkit._scheduling.family import resolve_family, transformers_schedule
from schedkit.errors import SpecError
from schedkit.protocols import Schedule
from schedkit.schedule import _fields_of
from schedkit.scheduler import Scheduler


def get_scheduler(
    name: Schedule | str | Mapping[str, Any],
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    tags: Iterable[str | None] | str | None = None,
    steps_per_epoch: int | None = None,
    total_steps: int | None = None,
    follow_optimizer: bool = False,
    last_epoch: int = -1,
    **params: Any,
) -> Scheduler:
    """A :class:`Scheduler` for a registered schedule name (with its ``params``) or a schedule.

    ``name`` may be given by keyword, as transformers' ``get_scheduler(name=..., optimizer=...)``.

    :param name: a registered schedule name (its parameters in ``params``), a spec dict
        with a ``type`` key, or a schedule.
    :param optimizer: any ``torch.optim.Optimizer``; its groups' current values are the bases.
    :param num_warmup_steps: transformers' call form: the warmup's length in steps.
    :param num_training_steps: transformers' call form: the run's length in steps.
    :param scheduler_specific_kwargs: transformers' call form: the schedule's other arguments
        (``num_cycles``, ``power``, ``lr_end``...), under transformers' names.
    :param key: the hyperparameter: ``"lr"`` (default), ``"weight_decay"``, ``"betas[0]"``...;
        a family that picks its own (mmengine's momentum schedulers) takes it by default.
    :param tags: only the groups whose ``tags`` share one of these (default: every group).
    :param steps_per_epoch: resolves durations given in epochs (``"5ep"``).
    :param total_steps: the run's total, for durations given as shares (``"10%"``).
    :param follow_optimizer: advance from the optimizer's step post-hook (skip-aware).
    :param last_epoch: torch's resume by construction: the scheduler starts at step
        ``last_epoch + 1``.
    :param params: the schedule's parameters when ``name`` is a registered name
        (``total``, ``warmup``, ``min_lr``...; ``schedkit show NAME`` lists them).
    :returns: a :class:`Scheduler`; step it once per optimizer step.
    :raises SpecError: an unknown name or a bad parameter, naming its key path.

    >>> sched = get_scheduler("cosine", optimizer, warmup=100, total=1000)  # doctest: +SKIP

    transformers' call form is accepted too and then reproduces transformers' lr at every
    step up to ``num_training_steps``, quirks included:

    >>> get_scheduler(
    ...     "cosine", optimizer, num_warmup_steps=100, num_training_steps=1000
    ... )  # doctest: +SKIP
    """
    options: dict[str, Any] = {
        "key": key,
        "tags": tags,
        "follow_optimizer": follow_optimizer,
        "last_epoch": last_epoch,
    }
    calls = (num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
    if calls == (None, None, None):
        return Scheduler(
            optimizer,
            name,
            steps_per_epoch=steps_per_epoch,
            total_steps=total_steps,
            **options,
            **params,
        )
    if isinstance(name, Enum):  # transformers' SchedulerType
        name = name.value
    info = resolve_family(name, strict=False)  # the one look-up of the name
    # a family whose own parameters carry transformers' names (``transformers.polynomial``
    # has ``num_warmup_steps``) takes them as its parameters: no transformers call form there
    own = _fields_of(info.cls) if info is not None else {}
    if num_warmup_steps is not None and "num_warmup_steps" in own:
        params["num_warmup_steps"], num_warmup_steps = num_warmup_steps, None
    if num_training_steps is not None and "num_training_steps" in own:
        params["num_training_steps"], num_training_steps = num_training_steps, None
    if (num_warmup_steps, num_training_steps, scheduler_specific_kwargs) == (None, None, None):
        sched: Scheduler = Scheduler._allocate(info, name)
        sched.__init__(  # type: ignore[misc]  # made by _allocate, built once here
            optimizer,
            name,
            steps_per_epoch=steps_per_epoch,
            total_steps=total_steps,
            **options,
            **params,
        )
        return sched
    if not isinstance(name, str):
        raise TypeError("transformers' call form takes a schedule name, e.g. 'cosine'")
    if params:
        raise TypeError(
            f"{sorted(params)} given with transformers' call form; pass them in "
            "scheduler_specific_kwargs, or use schedkit's own parameters alone"
        )
    specific = scheduler_specific_kwargs
    if specific is not None and not isinstance(specific, Mapping):
        raise SpecError(
            f"expected a mapping of the schedule's own arguments, got {specific!r}",
            "scheduler_specific_kwargs",
        )
    family = (info or resolve_family(name)).cls  # type: ignore[union-attr]
    schedule = transformers_schedule(
        family, name, optimizer, num_warmup_steps, num_training_steps, specific or {}
    )
    return Scheduler(optimizer, schedule, **options)
