"""Durations: an int of steps, ``"5ep"`` (epochs) or ``"10%"`` (of the run's total steps).

A schedule may be declared with unresolved durations; the scheduler resolves them once,
when it is built and knows ``steps_per_epoch`` and the total. Fractions are rounded to the
nearest step (half to even, as Python's ``round``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from schedkit._numbers import MAX_STEPS, as_real, show
from schedkit.errors import SpecError

Duration = int | str
"""What a duration field accepts: steps, or a string such as ``"5ep"`` or ``"10%"``."""


class NeedsContextError(SpecError):
    """A duration that cannot be resolved yet: it needs ``steps_per_epoch`` or the total."""


#: matched whole (``fullmatch``), as every pattern that validates
_PATTERN = re.compile(r"\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ep|%)?\s*")


def _split(value: str) -> tuple[float, str]:
    m = _PATTERN.fullmatch(value)
    if m is None:
        raise SpecError(
            f"{show(value)} is not a duration; expected steps (1000), epochs ('5ep') or a share "
            "of the total ('10%')"
        )
    return float(m.group("num")), m.group("unit") or ""


def check_duration(value: Any) -> Duration:
    """Validate ``value`` as a duration without resolving it; return it (normalised)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        raise SpecError(
            f"{show(value)} is not a duration; expected a whole number of steps, 'Nep' or 'N%'"
        )
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"{show(value)} must be >= 0 steps")
        return value
    number, unit = _split(value)
    if unit == "":
        if not number.is_integer():
            raise SpecError(f"{show(value)}: steps must be a whole number")
        return int(number)
    if unit == "%" and number > 100:
        raise SpecError(f"{show(value)} is more than the whole run")
    return value.strip()


def is_resolved(value: Any) -> bool:
    """True when ``value`` is already a number of steps."""
    return isinstance(value, int) and not isinstance(value, bool)


def needs_total(value: Any) -> bool:
    """True when ``value`` is a share of the total (``"10%"``)."""
    return isinstance(value, str) and value.strip().endswith("%")


def to_steps(
    value: Duration, *, steps_per_epoch: int | None = None, total_steps: int | None = None
) -> int:
    """Resolve a duration to whole steps.

    :param value: steps, epochs (``"5ep"``) or a share of the run (``"10%"``).
    :param steps_per_epoch: what an epoch is, for durations in epochs.
    :param total_steps: the run's length, for shares.
    :returns: the duration in steps.
    :raises SpecError: a malformed duration, or one whose context was not given.

    >>> to_steps("5ep", steps_per_epoch=100)
    500
    >>> to_steps("10%", total_steps=1000)
    100
    """
    value = check_duration(value)
    if isinstance(value, int):
        return value
    number, unit = _split(value)
    if unit == "ep":
        if steps_per_epoch is None:
            raise NeedsContextError(
                f"{show(value)} is in epochs, but steps_per_epoch was not given"
            )
        _check_count(steps_per_epoch, "steps_per_epoch")
        return _round(number * steps_per_epoch)
    if total_steps is None:
        raise NeedsContextError(
            f"{show(value)} is a share of the total, but the total number of steps is unknown"
        )
    _check_count(total_steps, "total_steps")
    return _round(number / 100.0 * total_steps)


def _check_count(value: Any, name: str) -> None:
    """``steps_per_epoch`` or ``total_steps``: a number from 1 (0 for the total) to
    ``2**62``, so a duration computed from it fits a float."""
    low = 0 if name == "total_steps" else 1
    if as_real(value) is None:
        raise SpecError(f"{name}={show(value)} must be a whole number")
    if value < low:
        raise SpecError(f"{name}={show(value)} must be positive")
    if value > MAX_STEPS:
        raise SpecError(f"{name}={show(value)} must be at most 2**62")


def _round(x: float) -> int:
    if not math.isfinite(x):
        raise SpecError(f"{x} steps is not finite")
    return round(x)
