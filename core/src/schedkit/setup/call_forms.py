"""Values a ``[schedules.*]`` table resolves against the file's other tables: transformers'
call form, ``warmup_ratio``, and the lr an absolute end value (``end_lr``) is a share of."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from schedkit._numbers import show
from schedkit._scheduling.family import answers_transformers, transformers_schedule
from schedkit.durations import check_duration, to_steps
from schedkit.errors import SpecError
from schedkit.hooks import family_hooks
from schedkit.protocols import Schedule
from schedkit.setup.problems import SCALINGS, is_number

#: transformers' ``get_scheduler`` arguments, writable in a ``[schedules.*]`` table
TRANSFORMERS_KEYS = ("num_warmup_steps", "num_training_steps", "scheduler_specific_kwargs")


def _reference_lr(data: Mapping[str, Any]) -> float | None:
    """``[optimizer]``'s lr (``base_lr`` scaled by ``[run]``'s batch size), or None when it
    is not known before the build or not valid (its own problem is reported elsewhere)."""
    opt = data.get("optimizer")
    run = data.get("run")
    if not isinstance(opt, Mapping):
        return None
    lr: Any = opt.get("lr")
    if lr is None:
        base: Any = opt.get("base_lr")
        batch: Any = run.get("batch_size") if isinstance(run, Mapping) else None
        per: Any = opt.get("base_batch_size", 256)
        numbers = (base, batch, per)
        if not all(is_number(v) for v in numbers):
            return None
        if per <= 0 or batch < 0 or opt.get("lr_scaling") not in SCALINGS:
            return None
        ratio = batch / per
        lr = base * (ratio if opt.get("lr_scaling") == "linear" else math.sqrt(ratio))
    ok = is_number(lr) and math.isfinite(lr)
    return float(lr) if ok and lr > 0 else None


def _run_steps(data: Mapping[str, Any], value: Any) -> int | None:
    """A duration (``[run]`` total or a table's) in steps, when the file alone says it."""
    run = data.get("run")
    spe = run.get("steps_per_epoch") if isinstance(run, Mapping) else None
    try:
        steps = to_steps(check_duration(value), steps_per_epoch=spe)
    except SpecError:
        return None
    return steps


def absolute_base_lr(
    cls: type, params: Mapping[str, Any], data: Mapping[str, Any], path: str
) -> float | None:
    """The base an absolute argument (``end_lr``, ``min_lr``) is a share of: ``[optimizer]``'s
    lr. Each group then gets its own base times that share, so under layer decay the end
    value is scaled per group, as timm scales ``lr_min`` by each group's ``lr_scale``."""
    absolute = [k for k in family_hooks(cls).absolute if k in params]
    if not absolute:
        return None
    lr = _reference_lr(data)
    if lr is None:
        raise SpecError(
            f"{show(absolute[0])} is an absolute value, resolved against [optimizer] lr; with "
            "base_lr scaling that needs [run] batch_size (or give the factor instead)",
            f"{path}.{absolute[0]}",
        )
    return lr


def _ratio_steps(ratio: Any, total: int, where: str) -> int:
    """transformers' ``get_warmup_steps``: ``ceil(total * ratio)``, in float as transformers
    computes it (``0.07`` of 200 steps is 15, where ``"7%"`` rounds to 14)."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise SpecError(f"expected a ratio in [0, 1), got {show(ratio)}", where)
    return math.ceil(total * ratio)


def warmup_from_ratio(params: dict[str, Any], data: Mapping[str, Any], path: str) -> None:
    """Turn ``warmup_ratio`` (transformers' ``TrainingArguments.warmup_ratio``) into
    ``warmup`` steps of the table's ``total`` (by default ``[run]``'s)."""
    if "warmup_ratio" not in params:
        return
    where = f"{path}.warmup_ratio"
    if "warmup" in params:
        raise SpecError("give warmup or warmup_ratio, not both", where)
    run = data.get("run")
    total = params.get("total", run.get("total") if isinstance(run, Mapping) else None)
    steps = None if total is None else _run_steps(data, total)
    if steps is None:
        raise SpecError(
            "warmup_ratio needs the total in steps ([run] total, with steps_per_epoch for epochs)",
            where,
        )
    params["warmup"] = _ratio_steps(params.pop("warmup_ratio"), steps, where)


class _Defaults(dict[str, Any]):
    """``optimizer.defaults`` for transformers' call form in a file: the lr, when known."""

    def __missing__(self, key: str) -> Any:
        raise SpecError(
            f"needs [optimizer] {key} (with base_lr scaling, [run] batch_size) before the build"
        )


def transformers_form(
    name: str, cls: type, params: dict[str, Any], data: Mapping[str, Any], path: str
) -> Schedule | None:
    """A table in transformers' call form (``num_warmup_steps``, ``num_training_steps``,
    ``warmup_ratio``, the scheduler-specific keys flat or in ``scheduler_specific_kwargs``)
    for one of transformers' names: the schedule ``get_scheduler`` gives for it."""
    if not answers_transformers(cls) or not any(k in params for k in TRANSFORMERS_KEYS):
        return None
    rest = dict(params)
    warmup = rest.pop("num_warmup_steps", None)
    total = rest.pop("num_training_steps", None)
    specific = rest.pop("scheduler_specific_kwargs", {})
    if not isinstance(specific, Mapping):
        raise SpecError(
            f"expected a table, got {show(specific)}", f"{path}.scheduler_specific_kwargs"
        )
    if total is None:
        run = data.get("run")
        run_total = run.get("total") if isinstance(run, Mapping) else None
        total = None if run_total is None else _run_steps(data, run_total)
    for key, value in (("num_warmup_steps", warmup), ("num_training_steps", total)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise SpecError(f"expected a whole number of steps, got {show(value)}", f"{path}.{key}")
    if "warmup_ratio" in rest:
        where = f"{path}.warmup_ratio"
        if warmup is not None:
            raise SpecError("give num_warmup_steps or warmup_ratio, not both", where)
        if total is None:
            raise SpecError("warmup_ratio needs num_training_steps or [run] total", where)
        warmup = _ratio_steps(rest.pop("warmup_ratio"), total, where)
    both = set(rest) & set(specific)
    if both:
        raise SpecError(f"given both flat and in scheduler_specific_kwargs: {sorted(both)}", path)
    kwargs = {**rest, **specific}
    lr = _reference_lr(data)
    optimizer = SimpleNamespace(defaults=_Defaults({} if lr is None else {"lr": lr}))
    try:
        schedule = transformers_schedule(cls, name, optimizer, warmup, total, kwargs)
    except SpecError as e:
        raise e.at(path) from None
    return schedule
