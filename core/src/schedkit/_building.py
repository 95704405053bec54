"""Building schedules from specs (:func:`get_schedule`) and resolving the durations that
wait for ``steps_per_epoch`` or the total (:func:`resolve`).

Every problem of a spec is found before any is raised, each with its key path. This module
builds on :mod:`schedkit._fields` and binds its builders there (a nested spec in a field,
:meth:`Unresolved.resolve`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from schedkit._fields import (
    WARMUP_KEYS,
    Unresolved,
    _fields_of,
    _join,
    _meta,
    bind_builders,
)
from schedkit.durations import check_duration, is_resolved, needs_total, to_steps
from schedkit.errors import SpecError
from schedkit.hooks import family_hooks
from schedkit.protocols import Finite, Resolvable, Schedule, SteppedPerUpdate

if TYPE_CHECKING:
    from schedkit.registry import Registry


def resolve(
    sched: Schedule, *, steps_per_epoch: int | None = None, total_steps: int | None = None
) -> Schedule:
    """``sched`` with every duration in steps (itself when nothing needs resolving).

    :param sched: a schedule, possibly :class:`Unresolved`.
    :param steps_per_epoch: what an epoch is, for durations in epochs.
    :param total_steps: the run's length, for shares and a missing ``total``.
    :returns: the schedule in steps.
    :raises SpecError: a duration whose context was not given.
    """
    if not isinstance(sched, Resolvable):
        return sched
    out: Schedule = sched.resolve(steps_per_epoch=steps_per_epoch, total_steps=total_steps)
    return out


def per_update(sched: Schedule, steps_per_epoch: int | None) -> Schedule:
    """``sched`` as a setup steps it, once per update (see :meth:`BaseSchedule.per_update`)."""
    if not isinstance(sched, SteppedPerUpdate):
        return sched
    out: Schedule = sched.per_update(steps_per_epoch)
    return out


def _resolve(
    u: Unresolved,
    registry: Registry,
    spe: int | None,
    total: int | None,
    path: str = "",
) -> Schedule:
    fields = _fields_of(registry.get("schedule", u.name).cls)
    params = dict(u.params)
    for key, value in params.items():
        if isinstance(value, Unresolved):
            params[key] = _resolve(value, registry, spe, total, _join(path, key))
        elif isinstance(value, tuple) and any(isinstance(v, Unresolved) for v in value):
            params[key] = tuple(
                _resolve(v, registry, spe, total, f"{_join(path, key)}[{i}]")
                if isinstance(v, Unresolved)
                else v
                for i, v in enumerate(value)
            )
    if total is None:
        try:
            total = _own_total(params, fields, spe)
        except SpecError as e:
            raise e.at(_join(path, "total")) from None
    for key, value in params.items():
        meta = _meta(fields[key]) if key in fields else {}
        if (key == "warmup" and key not in fields) or meta.get("duration"):
            try:
                if meta.get("many"):
                    params[key] = tuple(
                        to_steps(v, steps_per_epoch=spe, total_steps=total) for v in value
                    )
                else:
                    params[key] = to_steps(value, steps_per_epoch=spe, total_steps=total)
            except SpecError as e:
                raise e.at(_join(path, key)) from None
    return _build(registry, u.name, params, path)


def _own_total(params: Mapping[str, Any], fields: Mapping[str, Any], spe: int | None) -> int | None:
    value = params.get("total")
    if "total" in fields and value is not None and not needs_total(value):
        return to_steps(value, steps_per_epoch=spe)
    horizons = [
        h
        for v in params.values()
        for s in (v if isinstance(v, tuple) else (v,))
        if isinstance(s, Finite) and (h := s.horizon)
    ]
    return max(horizons) if horizons else None


# -- building from specs --------------------------------------------------------------


def get_schedule(
    name_or_spec: str | Mapping[str, Any],
    /,
    *,
    _path: str = "",
    _base: float | None = None,
    _from_data: bool = False,
    _info: Any = None,
    **params: Any,
) -> Schedule:
    """Build a registered schedule by name, or from a spec dict with a ``type`` key.

    Every schedule accepts ``warmup`` (a duration), ``warmup_start`` (the starting factor,
    default 0), ``warmup_kind`` (``linear``, ``constant``, ``exponential``, ``cosine``,
    ``1-sqrt``, ``log``, ``quadratic``) and
    ``warmup_mode`` (``shift`` or ``prefix``: the curve runs from the end of warmup to
    ``total``, as in transformers; ``overlay``: the warmup multiplies the curve; ``replace``:
    the warmup rises to 1, then the curve on the run's clock, as in timm; ``bridge``: the
    warmup rises to the curve's value at its end, as fvcore's ``WarmupParamScheduler``).

    :param name_or_spec: a registered schedule name, or a spec dict with a ``type`` key and
        the parameters.
    :param params: the schedule's parameters (``total``, ``warmup``...), with a name.
    :returns: the schedule: a callable from step to factor, with ``spec()`` as plain data.
    :raises SpecError: an unknown name or a bad parameter, naming its key path.

    >>> get_schedule("cosine", total=1000, warmup=100)(100)
    1.0
    """
    from schedkit.registry import default_registry

    if isinstance(name_or_spec, Mapping):
        spec = dict(name_or_spec)
        if "type" not in spec:
            raise SpecError("a schedule spec needs a 'type' key", _path)
        name = spec.pop("type")
        overlap = set(spec) & set(params)
        if overlap:
            raise SpecError(f"given both in the spec and as arguments: {sorted(overlap)}", _path)
        params = {**spec, **params}
        _from_data = True
    else:
        name = name_or_spec
    return _build(
        default_registry(), name, params, _path, base=_base, from_data=_from_data, info=_info
    )


def _build(
    registry: Registry,
    name: str,
    params: Mapping[str, Any],
    path: str,
    *,
    base: float | None = None,
    from_data: bool = False,
    info: Any = None,
) -> Schedule:
    try:
        # ``info``: the entry of ``name`` a scheduler has looked up already
        info = info or registry.get("schedule", name)
    except SpecError as e:
        raise e.at(_join(path, "type")) from None
    cls = info.cls
    hooks = family_hooks(cls)
    if from_data and hooks.in_process_only:
        raise SpecError(
            f"{info.name!r} holds a Python callable and cannot be declared in a spec or a "
            "TOML file; build it in Python",
            _join(path, "type"),
        )
    translate = hooks.translate
    if translate is not None:
        # a family may rename or convert its arguments first (an alias's ``epochs``)
        try:
            params = translate(dict(params))
        except SpecError as e:
            raise e.at(path) if path else e from None
    params = _absolute_to_factors(info.name, cls, dict(params), base, path)
    fields = _fields_of(cls)
    # a family with a parameter of its own named like a warmup key (OLMo-core's ``warmup``)
    # keeps it
    warm = {k: params.pop(k) for k in WARMUP_KEYS if k in params and k not in fields}
    if warm and not hooks.accepts_warmup:
        key = sorted(warm)[0]
        raise SpecError(
            f"{info.name!r} reproduces another library's values and takes its own arguments "
            f"only; it has no {key!r} (compose the native families for that)",
            _join(path, key),
        )
    # every problem of the table is found before any is raised: unknown or missing keys,
    # then each value (a bad warmup is not hidden by a missing total)
    found: list[SpecError] = []
    if fields:
        try:
            _check_keys(info.name, params, fields, path)
        except SpecError as e:
            found += e.all()
            params = {k: v for k, v in params.items() if k in fields}
    if "warmup" in warm:
        try:
            check_duration(warm["warmup"])
        except SpecError as e:
            found.append(e.at(_join(path, "warmup")))
    try:
        return _build_checked(registry, info.name, cls, params, fields, warm, path, found)
    except SpecError as e:
        if not found:
            raise
        others = [o for o in e.all() if o.path not in {f.path for f in found}]
        raise SpecError(found[0].message, found[0].path, [*found[1:], *others]) from None


def _build_checked(
    registry: Registry,
    name: str,
    cls: type,
    params: dict[str, Any],
    fields: Mapping[str, attrs.Attribute[Any]],
    warm: dict[str, Any],
    path: str,
    found: list[SpecError],
) -> Schedule:
    pending = False
    for key, value in list(params.items()):
        meta = _meta(fields[key]) if key in fields else {}
        where = _join(path, key)
        if meta.get("schedule") and meta.get("many"):
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise SpecError(f"expected a list of schedules, got {value!r}", where)
            value = tuple(_nested(registry, v, f"{where}[{i}]") for i, v in enumerate(value))
        elif meta.get("schedule"):
            value = _nested(registry, value, where)
        elif meta.get("duration"):
            try:
                if not meta.get("many"):
                    value = check_duration(value)
                elif isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                    raise SpecError(f"expected a list of durations, got {value!r}")
                else:
                    value = tuple(check_duration(v) for v in value)
            except SpecError as e:
                raise e.at(where) from None
        params[key] = value
        items = value if isinstance(value, tuple) else (value,)
        pending = pending or any(
            isinstance(v, Unresolved) or (meta.get("duration") and not is_resolved(v))
            for v in items
        )
    if "warmup" in warm:
        try:
            warm["warmup"] = check_duration(warm["warmup"])
        except SpecError as e:
            raise e.at(_join(path, "warmup")) from None
        pending = pending or not is_resolved(warm["warmup"])
    if found:
        raise SpecError(found[0].message, found[0].path, found[1:])
    if pending:
        return Unresolved(name, {**params, **warm})
    try:
        sched: Schedule = cls(**params)
    except SpecError as e:
        raise e.at(path) if path else e from None
    except TypeError as e:
        raise SpecError(f"cannot build {name!r}: {e}", path) from None
    if warm and "warmup" not in warm:
        raise SpecError(f"{sorted(warm)} given without 'warmup'", _join(path, sorted(warm)[0]))
    if warm:
        from schedkit.compose import warmup

        try:
            sched = warmup(sched, warm.pop("warmup", 0), **{k[7:]: v for k, v in warm.items()})
        except SpecError as e:
            own = {
                "steps": "warmup",
                "start": "warmup_start",
                "kind": "warmup_kind",
                "mode": "warmup_mode",
            }
            raise SpecError(e.message, _join(path, own.get(e.path, e.path))) from None
    return sched


def _absolute_to_factors(
    name: str, cls: type, params: dict[str, Any], base: float | None, path: str
) -> dict[str, Any]:
    """Turn absolute arguments (``end_lr``, ``min_lr``) into the factors the family takes.

    A family lists them as ``absolute = {"end_lr": "end"}``; the factor is the value divided
    by the base value of the scheduled groups, which only a scheduler knows.
    """
    absolute: Mapping[str, str] = family_hooks(cls).absolute
    for arg, factor_name in absolute.items():
        if arg not in params:
            continue
        where = _join(path, arg)
        if factor_name in params:
            raise SpecError(
                f"give {arg!r} (absolute) or {factor_name!r} (a factor), not both", where
            )
        if base is None:
            raise SpecError(
                f"{arg!r} is an absolute value; it needs the base value of the scheduled groups, "
                f"which only a scheduler knows (use get_scheduler), or give {factor_name!r} as a "
                "factor of the base",
                where,
            )
        value = params.pop(arg)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"expected a number, got {value!r}", where)
        if base == 0:
            raise SpecError("cannot convert an absolute value against a base value of 0", where)
        params[factor_name] = value / base
    return params


def _nested(registry: Registry, value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        spec = dict(value)
        if "type" not in spec:
            raise SpecError("a schedule spec needs a 'type' key", path)
        return _build(registry, spec.pop("type"), spec, path, from_data=True)
    if not isinstance(value, Schedule):
        raise SpecError(f"expected a schedule or a spec with a 'type', got {value!r}", path)
    return value


def _check_keys(
    name: str,
    params: Mapping[str, Any],
    fields: Mapping[str, attrs.Attribute[Any]],
    path: str,
    extra: Sequence[str] = WARMUP_KEYS,
) -> None:
    accepted = [*fields, *extra]
    problems = []
    for key in params:
        if key not in fields:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                SpecError(
                    f"{name!r} has no parameter {key!r}{hint} (it takes: {', '.join(accepted)})",
                    _join(path, key),
                )
            )
    for key, f in fields.items():
        if f.default is attrs.NOTHING and key not in params:
            problems.append(SpecError(f"{name!r} needs this parameter", _join(path, key)))
    if problems:  # every one of them, not only the first
        raise SpecError(problems[0].message, problems[0].path, problems[1:])


def _resolve_default(u: Unresolved, spe: int | None, total: int | None) -> Schedule:
    from schedkit.registry import default_registry

    return _resolve(u, default_registry(), spe, total)


bind_builders(get_schedule, _resolve_default)
