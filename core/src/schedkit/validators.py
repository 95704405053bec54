"""Validators and converters for plugin authors: messages say what was expected.

They raise :class:`schedkit.SpecError` with the field name as the key path, so a setup
reports ``schedules.lr.end: expected a finite number >= 0, got -1.0``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection
from typing import Any

import attrs

from schedkit._numbers import MAX_STEPS, as_real, show, too_large
from schedkit.errors import SpecError

#: ``validator(instance, attribute, value)``: raises :class:`SpecError` for a bad value
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _fail(attribute: attrs.Attribute[Any], expected: str, value: Any, why: str = "") -> SpecError:
    return SpecError(f"expected {expected}, got {show(value)}{why}", attribute.name)


def to_float(value: Any) -> Any:
    """Convert ints (not bools) to float so that ``end=0`` and ``end=0.0`` are one spec; an
    int no float can hold is left for the validator to refuse."""
    if isinstance(value, int) and not isinstance(value, bool):
        x = as_real(value)
        return value if x is None else x
    return value


def number(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> Validator:
    """A finite real number within the given bounds."""
    parts = []
    if gt is not None:
        parts.append(f"> {gt:g}")
    if ge is not None:
        parts.append(f">= {ge:g}")
    if lt is not None:
        parts.append(f"< {lt:g}")
    if le is not None:
        parts.append(f"<= {le:g}")
    expected = "a finite number" + (" " + " and ".join(parts) if parts else "")

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        x = as_real(value)
        ok = (
            x is not None
            and math.isfinite(x)
            and (gt is None or value > gt)
            and (ge is None or value >= ge)
            and (lt is None or value < lt)
            and (le is None or value <= le)
        )
        if not ok:
            why = " (too large for a float)" if too_large(value) else ""
            raise _fail(attribute, expected, value, why)

    return check


def steps(*, positive: bool = False) -> Validator:
    """A whole number of steps (resolved duration), at most ``2**62``
    (:data:`~schedkit._numbers.MAX_STEPS`)."""
    expected = "a positive whole number of steps" if positive else "a whole number of steps >= 0"

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, str):
            raise SpecError(
                f"{value!r} is a duration that needs resolving (steps_per_epoch or the total); "
                "build through schedkit.get_schedule or a Scheduler",
                attribute.name,
            )
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if positive else 0):
            raise _fail(attribute, expected, value)
        if value > MAX_STEPS:
            raise _fail(attribute, "a whole number of steps <= 2**62", value)

    return check


def one_of(choices: Collection[str]) -> Validator:
    """One of a fixed set of strings (:func:`in_` for choices of any type)."""
    return in_(choices)


def increasing_steps(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A tuple of step counts, each >= 0 and strictly increasing."""
    check = steps()
    for v in value:
        check(inst, attribute, v)
    if any(b <= a for a, b in itertools.pairwise(value)):
        raise _fail(attribute, "strictly increasing steps", list(value))


def to_pair(value: Any) -> Any:
    """A two-item list (from TOML) as a tuple of floats; anything else is left for the validator."""
    if isinstance(value, (list, tuple)):
        return tuple(to_float(v) for v in value)
    return value


def optional_pair(
    *, ge: float | None = None, le: float | None = None, names: str = "[low, high]"
) -> Validator:
    """``None`` or a pair of finite numbers within the bounds."""
    check = number(ge=ge, le=le)

    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if not (isinstance(value, tuple) and len(value) == 2):
            raise _fail(attribute, f"{names} values", value)
        for v in value:
            check(inst, attribute, v)

    return validate


def to_strings(value: Any) -> Any:
    """A list (from TOML) as a tuple; a bare string is left for :func:`strings` to refuse
    (read character by character, ``"head.*"`` would be five patterns, one of them ``*``)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def strings(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A list of strings; a bare string is refused with a hint to put it in a list."""
    if isinstance(value, str):
        raise SpecError(
            f"expected a list of strings, got the string {show(value)}: write [{show(value)}]",
            attribute.name,
        )
    if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
        raise _fail(attribute, "a list of strings", value)


def instance_of(kind: type | tuple[type, ...]) -> Validator:
    """A value of ``kind`` (a type or a tuple of types)."""
    names = kind if isinstance(kind, tuple) else (kind,)
    expected = "an instance of " + " or ".join(getattr(k, "__name__", repr(k)) for k in names)

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind):
            raise _fail(attribute, expected, value)

    return check


def optional(validator: Validator) -> Validator:
    """None, or what ``validator`` accepts."""

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            validator(inst, attribute, value)

    return check


def in_(choices: Collection[Any]) -> Validator:
    """One of ``choices``, of any type; an unhashable value is refused like any other."""
    expected = "one of " + ", ".join(repr(c) for c in choices)

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        try:
            ok = value in choices
        except TypeError:  # an unhashable value looked up in a set
            ok = False
        if not ok:
            raise _fail(attribute, expected, value)

    return check
