"""The field helpers components are declared with, plain data and specs, and
:class:`Unresolved` (a schedule whose durations wait for ``steps_per_epoch`` or the total).

The helpers are ``attrs.field`` with schedkit's validators (raising :class:`SpecError` that
names the field) and metadata: specs, key paths in errors, durations and warmup shifting
read it, so they work the same for every family without code of its own.

A spec given where a schedule is expected (``schedule={"type": "cosine", ...}``) and an
:class:`Unresolved` schedule are built by :mod:`schedkit._building`, which builds on this
module: it binds its builders here when it is imported (``import schedkit`` does), so
neither module imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from schedkit import validators as _validate
from schedkit._classes import fields, has
from schedkit.errors import SpecError
from schedkit.protocols import GroupSchedule, Schedule

_META = "schedkit"
#: Parameters every schedule accepts; they wrap it in :class:`schedkit.Warmup`.
WARMUP_KEYS = ("warmup", "warmup_start", "warmup_kind", "warmup_mode")
NOTHING: Any = attrs.NOTHING


class _Builders:
    """What :mod:`schedkit._building` binds here: a schedule from a spec mapping, and an
    :class:`Unresolved` schedule resolved (``(u, steps_per_epoch, total_steps)``)."""

    spec: Callable[[Mapping[str, Any]], Any] | None = None
    resolve: Callable[[Unresolved, int | None, int | None], Any] | None = None


def bind_builders(
    spec: Callable[[Mapping[str, Any]], Any],
    resolve: Callable[[Unresolved, int | None, int | None], Any],
) -> None:
    """Called once by :mod:`schedkit._building`."""
    _Builders.spec = spec
    _Builders.resolve = resolve


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
    return attrs.field(
        default=default,
        validator=_validate.steps(positive=positive),
        metadata={_META: {"duration": True, "position": position, "horizon": horizon}},
    )


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def durations(*, default: Any = NOTHING, position: bool = True) -> Any:
    """A field holding increasing step positions (milestones); lists become tuples."""
    return attrs.field(
        default=default,
        converter=_as_tuple,
        validator=_validate.increasing_steps,
        metadata={_META: {"duration": True, "position": position, "many": True}},
    )


def factor(default: Any = NOTHING, **bounds: float) -> Any:
    """A finite float field with optional bounds (``gt``, ``ge``, ``lt``, ``le``)."""
    return attrs.field(
        default=default, converter=_validate.to_float, validator=_validate.number(**bounds)
    )


def choice(default: str, *choices: str) -> Any:
    """A string field restricted to ``choices`` (``default`` included)."""
    return attrs.field(default=default, validator=_validate.one_of((default, *choices)))


def _to_schedule(value: Any) -> Any:
    if isinstance(value, Mapping):
        build = _Builders.spec
        assert build is not None, "schedkit._building is imported by schedkit"
        return build(value)
    return value


def _to_schedules(value: Any) -> tuple[Any, ...]:
    return tuple(_to_schedule(v) for v in value)


def _is_schedule(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Schedule):
        raise SpecError(f"expected a schedule, got {value!r}", attribute.name)


def _is_factor(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _is_schedule(inst, attribute, value)
    if isinstance(value, GroupSchedule):
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
    return attrs.field(
        converter=_to_schedule,
        validator=_is_schedule if per_group else _is_factor,
        metadata={_META: {"schedule": True}},
    )


def schedules(*, per_group: bool = False) -> Any:
    """A field holding a non-empty sequence of schedules (``per_group`` as :func:`schedule`)."""
    one = _is_schedule if per_group else _is_factor

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value:
            raise SpecError("expected at least one schedule, got none", attribute.name)
        for v in value:
            one(inst, attribute, v)

    return attrs.field(
        converter=_to_schedules, validator=check, metadata={_META: {"schedule": True, "many": True}}
    )


def _meta(field: attrs.Attribute[Any]) -> dict[str, Any]:
    return dict(field.metadata.get(_META, {}))


_SCALARS = frozenset({str, int, float, bool})


def plain(value: Any) -> Any:
    """``value`` as plain data: schedules become specs, tuples lists."""
    kind = type(value)
    if value is None or kind in _SCALARS:  # the common cases first: no Protocol check
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if isinstance(value, Schedule):
        return value.spec()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def record_spec(obj: Any) -> dict[str, Any]:
    """The spec of a component (a schedule, rule or clipper): its registered ``name`` and
    every init parameter (also named ``attrs_spec``)."""
    out: dict[str, Any] = {"type": type(obj).name}
    for f in attrs.fields(type(obj)):
        if f.init:
            out[f.alias or f.name] = plain(getattr(obj, f.name))
    return out


#: the name :func:`record_spec` had first
attrs_spec = record_spec


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

    def in_steps(
        self, *, tokens_per_step: float | None = None, samples_per_step: float | None = None
    ) -> Unresolved:
        """This schedule with its durations in tokens (``"2e9tok"``) and samples
        (``"500ksp"``) turned into steps, at these rates (one not given leaves its unit's
        durations as they are); nested schedules too. The others still wait for
        :meth:`resolve`."""
        return _in_steps(self, tokens_per_step, samples_per_step, "")

    def resolve(
        self, *, steps_per_epoch: int | None = None, total_steps: int | None = None
    ) -> Schedule:
        """Build the real schedule with every duration turned into steps."""
        resolve = _Builders.resolve
        assert resolve is not None, "schedkit._building is imported by schedkit"
        out: Schedule = resolve(self, steps_per_epoch, total_steps)
        return out


def _in_steps(u: Unresolved, tokens: float | None, samples: float | None, path: str) -> Unresolved:
    from schedkit.durations import amount, is_amount, to_steps

    def one(value: Any, where: str) -> Any:
        if isinstance(value, Unresolved):
            return _in_steps(value, tokens, samples, where)
        if is_amount(value):
            rate = tokens if amount(value)[1] == "tok" else samples
            if rate is None:
                return value
            try:
                return to_steps(value, tokens_per_step=tokens, samples_per_step=samples)
            except SpecError as e:
                raise e.at(where) from None
        return value

    params = {
        k: tuple(one(x, f"{_join(path, k)}[{i}]") for i, x in enumerate(v))
        if isinstance(v, tuple)
        else one(v, _join(path, k))
        for k, v in u.params.items()
    }
    return Unresolved(u.name, params)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _fields_of(cls: type) -> dict[str, attrs.Attribute[Any]]:
    """The constructor parameters of a component class by their names (its aliases)."""
    if not has(cls):
        return {}
    return {(f.alias or f.name): f for f in fields(cls) if f.init}
