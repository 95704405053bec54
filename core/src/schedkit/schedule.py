"""The base class of schedules, the field helpers plugins declare them with, and building
schedules from specs (with durations that wait for ``steps_per_epoch`` or the total).

A family is a subclass of :class:`BaseSchedule` with a ``name`` and a
``__call__``. Its fields are declared with :func:`duration`, :func:`factor` and friends, so
that specs, key paths in errors, duration resolution and warmup shifting work the same for
every family without code of its own.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from schedkit import validators as _validate
from schedkit._record import NOTHING, Field, Record, evolve, field, fields, has
from schedkit.durations import check_duration, is_resolved, needs_total, to_steps
from schedkit.errors import SpecError
from schedkit.hooks import ScheduleHooks, family_hooks
from schedkit.protocols import Schedule

if TYPE_CHECKING:
    import torch

    from schedkit.registry import Registry

_META = "schedkit"
#: Parameters every schedule accepts; they wrap it in :class:`schedkit.compose.Warmup`.
WARMUP_KEYS = ("warmup", "warmup_start", "warmup_kind", "warmup_mode")


# -- field helpers --------------------------------------------------------------------


def duration(
    *,
    default: Any = NOTHING,
    positive: bool = False,
    horizon: bool = False,
    position: bool = True,
) -> Any:
    """A field holding a number of steps, declarable as ``"5ep"`` or ``"10%"`` in specs.

    ``position``: the value is a position in the run (measured from step 0), so a warmup in
    front of the schedule moves it (transformers' convention: ``total`` includes the
    warmup). ``horizon``: the step from which the curve no longer changes.
    """
    return field(
        default=default,
        validator=_validate.steps(positive=positive),
        metadata={_META: {"duration": True, "position": position, "horizon": horizon}},
    )


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def durations(*, default: Any = NOTHING, position: bool = True) -> Any:
    """A field holding increasing step positions (milestones); lists become tuples."""
    return field(
        default=default,
        converter=_as_tuple,
        validator=_validate.increasing_steps,
        metadata={_META: {"duration": True, "position": position, "many": True}},
    )


def factor(default: Any = NOTHING, **bounds: float) -> Any:
    """A finite float field with optional bounds (``gt``, ``ge``, ``lt``, ``le``)."""
    return field(
        default=default, converter=_validate.to_float, validator=_validate.number(**bounds)
    )


def choice(default: str, *choices: str) -> Any:
    """A string field restricted to ``choices`` (``default`` included)."""
    return field(default=default, validator=_validate.one_of((default, *choices)))


def _to_schedule(value: Any) -> Any:
    if isinstance(value, Mapping):
        return get_schedule(value)
    return value


def _to_schedules(value: Any) -> tuple[Any, ...]:
    return tuple(_to_schedule(v) for v in value)


def _is_schedule(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, Schedule):
        raise SpecError(f"expected a schedule, got {value!r}", attribute.name)


def _is_factor(inst: Any, attribute: Field, value: Any) -> None:
    _is_schedule(inst, attribute, value)
    if getattr(value, "per_group", None) is not None:
        raise SpecError(
            f"{value.spec().get('type')!r} gives each param group its own values (another "
            "library's, not factors of the group's lr); it cannot be composed, use it alone",
            attribute.name,
        )


def schedule(*, per_group: bool = False) -> Any:
    """A field holding another schedule (a spec dict is built through the registry).

    ``per_group``: it may be a schedule with per-group curves (the drop-in aliases, which
    compose their own kind); native composition takes factors only.
    """
    return field(
        converter=_to_schedule,
        validator=_is_schedule if per_group else _is_factor,
        metadata={_META: {"schedule": True}},
    )


def schedules(*, per_group: bool = False) -> Any:
    """A field holding a non-empty sequence of schedules (``per_group`` as :func:`schedule`)."""
    one = _is_schedule if per_group else _is_factor

    def check(inst: Any, attribute: Field, value: Any) -> None:
        if not value:
            raise SpecError("expected at least one schedule, got none", attribute.name)
        for v in value:
            one(inst, attribute, v)

    return field(
        converter=_to_schedules, validator=check, metadata={_META: {"schedule": True, "many": True}}
    )


def _meta(field: Field) -> dict[str, Any]:
    return dict(field.metadata.get(_META, {}))


def plain(value: Any) -> Any:
    """``value`` as plain data: schedules become specs, tuples lists."""
    if isinstance(value, Schedule):
        return value.spec()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def record_spec(obj: Any) -> dict[str, Any]:
    """The spec of a record component (a schedule, rule or clipper): its registered
    ``name`` and every init parameter."""
    out: dict[str, Any] = {"type": type(obj).name}
    for f in fields(type(obj)):
        if f.init:
            out[f.alias or f.name] = plain(getattr(obj, f.name))
    return out


# -- the base class -------------------------------------------------------------------
class BaseSchedule(ScheduleHooks, Record):
    """Base class of schedule families: spec, horizon, warmup shifting and ``values``.

    **Writing a family** (a subclass with a ``name`` and a docstring; its fields are
    annotated class attributes, as in a dataclass):

    - implement ``__call__(step) -> float``: the factor at ``step`` (a dimensionless curve,
      usually peaking at 1.0), in closed form, finite and non-negative at every step up to
      ``2**62``;
    - declare fields with the helpers of :mod:`schedkit.plugin` (``duration``,
      ``durations``, ``factor``, ``choice``, ``schedule``, ``schedules``): specs, key paths
      in errors, ``"5ep"``/``"10%"`` durations, the :attr:`horizon` and warmup shifting
      then work without code of their own;
    - optionally implement ``tensor_values(t)``: the factors at the steps of a float64
      tensor, equal to calls, for fast whole curves (plots, the gallery);
    - class attributes: ``accepts_warmup = False`` for a family that must not be wrapped by
      the ``warmup`` keys, ``in_process_only = True`` for one holding Python code
      (refused in specs and TOML);
    - a family that observes a metric (reduce-on-plateau) also implements
      ``observe(metric, step)``, ``state_dict()`` and ``load_state_dict(state)``
      (:class:`schedkit.StatefulSchedule`): plain data (a ``version`` entry lets a later
      release convert older states); loading checks everything before changing anything
      and raises :class:`schedkit.StateError` for a state it cannot take.
    """

    name: ClassVar[str] = ""
    #: whether the ``warmup`` keys may wrap it (the drop-in aliases keep their original's)
    accepts_warmup: ClassVar[bool] = True

    def __call__(self, step: float) -> float:
        raise NotImplementedError

    @classmethod
    def own_key(cls, optimizer: Any) -> str | None:
        """The hyperparameter the family schedules by itself on ``optimizer`` (mmengine's
        momentum schedulers: ``momentum``, or ``betas[0]`` of the Adam family), or None: the
        scheduler's ``key`` (``lr`` by default). A scheduler given another key refuses it."""
        return None

    def check_groups(self, count: int) -> None:
        """Called when a scheduler binds ``count`` param groups: a family holding one
        value per group (``eta_max=[...]``) refuses a list of another length."""

    def spec(self) -> dict[str, Any]:
        """Plain-data description, every parameter included, that rebuilds this schedule."""
        return record_spec(self)

    @property
    def horizon(self) -> int | None:
        """The step from which the value no longer changes (None: it never settles)."""
        for f in fields(type(self)):
            if _meta(f).get("horizon"):
                value = getattr(self, f.name)
                return int(value)
        return None

    def shifted(self: S, steps: int) -> S:
        """This schedule with its positions measured from ``steps`` instead of 0.

        What a warmup of ``steps`` in front of it needs: a cosine of ``total=1000`` behind a
        100-step warmup is a cosine of ``total=900`` that starts at step 100.
        """
        if steps == 0:
            return self
        changes: dict[str, Any] = {}
        for f in fields(type(self)):
            meta = _meta(f)
            if not (f.init and meta.get("duration") and meta.get("position")):
                continue
            value = getattr(self, f.name)
            if meta.get("many"):
                if value and value[0] < steps:
                    raise SpecError(
                        f"expected positions after the warmup ({steps} steps), got {list(value)}",
                        f.name,
                    )
                changes[f.name] = tuple(v - steps for v in value)
            else:
                if value <= steps:
                    raise SpecError(
                        f"expected more than the warmup ({steps} steps), got {value}", f.name
                    )
                changes[f.name] = value - steps
        return evolve(self, **changes) if changes else self

    def resolve(
        self: S, *, steps_per_epoch: int | None = None, total_steps: int | None = None
    ) -> S:
        """Resolved already: returns itself (see :class:`Unresolved`)."""
        return self

    def per_update(self: S, steps_per_epoch: int | None) -> S:
        """This schedule as a setup steps it: once per optimizer update (``Built.step()``),
        ``steps_per_epoch`` updates an epoch (``None``: not given). Itself by default; a
        schedule that counts epochs of its own (timm's ``t_in_epochs``) takes its updates
        per epoch from it, or raises :class:`NeedsContextError` when it is not given."""
        return self

    def values(self, steps: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """The factor at each of ``steps`` as a float64 tensor (for plots and checks).

        Families make this fast by implementing ``tensor_values(t)`` (formerly
        ``_values(t)``) on a float64 tensor; the fallback calls the schedule once per step.
        """
        import torch

        from schedkit.shapes import as_steps

        t = as_steps(steps)
        fast = getattr(self, "tensor_values", None) or getattr(self, "_values", None)
        if fast is not None:
            out: torch.Tensor = fast(t)
            return out
        return torch.tensor([self(s) for s in t.tolist()], dtype=torch.float64)


S = TypeVar("S", bound=BaseSchedule)


# -- unresolved schedules -------------------------------------------------------------


class Unresolved:
    """A schedule declared with durations in epochs or shares of the total.

    It has a spec but no values until :meth:`resolve` is given what the durations need;
    a :class:`schedkit.Scheduler` does that when it is built.
    """

    def __init__(self, name: str, params: Mapping[str, Any]) -> None:
        self.name = name
        self.params = dict(params)

    def __call__(self, step: float) -> float:
        raise SpecError(
            f"{self.name!r} has durations that need resolving ({self._pending()}); call "
            ".resolve(steps_per_epoch=..., total_steps=...) or give it to a Scheduler"
        )

    def _pending(self) -> str:
        return ", ".join(
            f"{k}={v!r}" for k, v in self.params.items() if isinstance(v, (str, Unresolved))
        )

    def spec(self) -> dict[str, Any]:
        return {"type": self.name, **plain(self.params)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unresolved) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(json.dumps(self.spec(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return f"Unresolved({self.spec()!r})"

    @property
    def horizon(self) -> int | None:
        return None

    def resolve(
        self, *, steps_per_epoch: int | None = None, total_steps: int | None = None
    ) -> Schedule:
        """Build the real schedule with every duration turned into steps."""
        from schedkit.registry import default_registry

        return _resolve(self, default_registry(), steps_per_epoch, total_steps)


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
    fn = getattr(sched, "resolve", None)
    if fn is None:
        return sched
    out: Schedule = fn(steps_per_epoch=steps_per_epoch, total_steps=total_steps)
    return out


def per_update(sched: Schedule, steps_per_epoch: int | None) -> Schedule:
    """``sched`` as a setup steps it, once per update (see :meth:`BaseSchedule.per_update`)."""
    fn = getattr(sched, "per_update", None)
    if fn is None:
        return sched
    out: Schedule = fn(steps_per_epoch)
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
        if key == "warmup" or meta.get("duration"):
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
        if isinstance(s, Schedule) and (h := getattr(s, "horizon", None))
    ]
    return max(horizons) if horizons else None


# -- building from specs --------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fields_of(cls: type) -> dict[str, Field]:
    if not has(cls):
        return {}
    return {(f.alias or f.name): f for f in fields(cls) if f.init}


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
    default 0), ``warmup_kind`` (``linear``, ``constant``, ``exponential``, ``cosine``) and
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
    warm = {k: params.pop(k) for k in WARMUP_KEYS if k in params}
    if warm and not hooks.accepts_warmup:
        key = sorted(warm)[0]
        raise SpecError(
            f"{info.name!r} reproduces another library's values and takes its own arguments "
            f"only; it has no {key!r} (compose the native families for that)",
            _join(path, key),
        )
    fields = _fields_of(cls)
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
    fields: Mapping[str, Field],
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
    fields: Mapping[str, Field],
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
        if f.required and key not in params:
            problems.append(SpecError(f"{name!r} needs this parameter", _join(path, key)))
    if problems:  # every one of them, not only the first
        raise SpecError(problems[0].message, problems[0].path, problems[1:])
