"""Durations: an int of steps, ``"5ep"`` (epochs) or ``"10%"`` (of the run's total steps).

A schedule may be declared with unresolved durations; the scheduler resolves them once,
when it is built and knows ``steps_per_epoch`` and the total. Fractions are rounded to the
nearest step (half to even, as Python's ``round``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from schedkit.errors import SpecError

Duration = int | str
"""What a duration field accepts: steps, or a string such as ``"5ep"`` or ``"10%"``."""


class NeedsContextError(SpecError):
    """A duration that cannot be resolved yet: it needs ``steps_per_epoch`` or the total."""


_PATTERN = re.compile(r"^\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ep|%)?\s*$")


def _split(value: str) -> tuple[float, str]:
    m = _PATTERN.match(value)
    if m is None:
        raise SpecError(
            f"{value!r} is not a duration; expected steps (1000), epochs ('5ep') or a share "
            "of the total ('10%')"
        )
    return float(m.group("num")), m.group("unit") or ""


def check_duration(value: Any) -> Duration:
    """Validate ``value`` as a duration without resolving it; return it (normalised)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        if isinstance(value, float) and value.is_integer() and value >= 0:
            return int(value)
        raise SpecError(
            f"{value!r} is not a duration; expected a whole number of steps, 'Nep' or 'N%'"
        )
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"{value} must be >= 0 steps")
        return value
    number, unit = _split(value)
    if unit == "":
        if not number.is_integer():
            raise SpecError(f"{value!r}: steps must be a whole number")
        return int(number)
    if unit == "%" and number > 100:
        raise SpecError(f"{value!r} is more than the whole run")
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
            raise NeedsContextError(f"{value!r} is in epochs, but steps_per_epoch was not given")
        if steps_per_epoch <= 0:
            raise SpecError(f"steps_per_epoch={steps_per_epoch} must be positive")
        return _round(number * steps_per_epoch)
    if total_steps is None:
        raise NeedsContextError(
            f"{value!r} is a share of the total, but the total number of steps is unknown"
        )
    return _round(number / 100.0 * total_steps)


def _round(x: float) -> int:
    if not math.isfinite(x):
        raise SpecError(f"{x} steps is not finite")
    return round(x)
