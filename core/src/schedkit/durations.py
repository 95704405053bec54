"""Durations: an int of steps, ``"5ep"`` (epochs), ``"10%"`` (of the run's total steps),
``"2e9tok"`` (tokens) or ``"500ksp"`` (samples).

A schedule may be declared with unresolved durations; the scheduler resolves them once,
when it is built and knows ``steps_per_epoch`` and the total. Fractions are rounded to the
nearest step (half to even, as Python's ``round``).

Tokens and samples: a number (``2e9``, ``1.5``) with an optional magnitude (``k`` = 1e3,
``M`` = 1e6, ``B`` or ``G`` = 1e9, ``T`` = 1e12), then ``tok`` or ``sp``: ``"2Btok"``,
``"2e9tok"``, ``"500ksp"``. They resolve with ``tokens_per_step`` / ``samples_per_step``
(a run with a constant batch), or count on a token or sample clock
(:class:`schedkit.ClockedScheduler`).
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
#: tokens and samples: a number, maybe in scientific notation, a magnitude, the unit
_AMOUNT = re.compile(
    r"\s*(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?)\s*(?P<mag>[kMBGT]?)"
    r"\s*(?P<unit>tok|sp)\s*"
)
#: the magnitudes a token or sample count may carry
MAGNITUDES = {"": 1, "k": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
#: the units of a token or sample count, by their words in messages
AMOUNT_UNITS = {"tok": "tokens", "sp": "samples"}
_EXPECTED = (
    "expected steps (1000), epochs ('5ep'), a share of the total ('10%'), tokens ('2e9tok', "
    "'2Btok') or samples ('500ksp')"
)


def _split(value: str) -> tuple[float, str]:
    m = _PATTERN.fullmatch(value)
    if m is None:
        m = _AMOUNT.fullmatch(value)
        if m is None:
            raise SpecError(f"{show(value)} is not a duration; {_EXPECTED}")
        number = float(m.group("num")) * MAGNITUDES[m.group("mag")]
        if not math.isfinite(number) or number > MAX_STEPS:
            raise SpecError(f"{show(value)}: more {AMOUNT_UNITS[m.group('unit')]} than 2**62")
        return number, m.group("unit")
    return float(m.group("num")), m.group("unit") or ""


def is_amount(value: Any) -> bool:
    """True when ``value`` is a duration in tokens or samples (``"2e9tok"``, ``"500ksp"``)."""
    return isinstance(value, str) and _AMOUNT.fullmatch(value) is not None


def amount(value: str) -> tuple[float, str]:
    """A duration in tokens or samples as (count, ``"tok"`` or ``"sp"``).

    >>> amount("2Btok")
    (2000000000.0, 'tok')
    """
    number, unit = _split(value)
    if unit not in AMOUNT_UNITS:
        raise SpecError(f"{show(value)} is not in tokens or samples")
    return number, unit


def check_duration(value: Any) -> Duration:
    """Validate ``value`` as a duration without resolving it; return it (normalised)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        if isinstance(value, float) and value.is_integer() and 0 <= value <= MAX_STEPS:
            return int(value)
        if isinstance(value, float) and value.is_integer() and value > MAX_STEPS:
            raise SpecError(f"expected a whole number of steps <= 2**62, got {show(value)}")
        raise SpecError(
            f"{show(value)} is not a duration; expected a whole number of steps, 'Nep', 'N%', "
            "'Ntok' or 'Nsp'"
        )
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"{show(value)} must be >= 0 steps")
        if value > MAX_STEPS:
            raise SpecError(f"expected a whole number of steps <= 2**62, got {show(value)}")
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
    value: Duration,
    *,
    steps_per_epoch: int | None = None,
    total_steps: int | None = None,
    tokens_per_step: float | None = None,
    samples_per_step: float | None = None,
) -> int:
    """Resolve a duration to whole steps.

    :param value: steps, epochs (``"5ep"``), a share of the run (``"10%"``), tokens
        (``"2e9tok"``) or samples (``"500ksp"``).
    :param steps_per_epoch: what an epoch is, for durations in epochs.
    :param total_steps: the run's length, for shares.
    :param tokens_per_step: the tokens one step consumes, for durations in tokens.
    :param samples_per_step: the samples one step consumes (the global batch size), for
        durations in samples.
    :returns: the duration in steps.
    :raises SpecError: a malformed duration, or one whose context was not given.

    >>> to_steps("5ep", steps_per_epoch=100)
    500
    >>> to_steps("10%", total_steps=1000)
    100
    >>> to_steps("2Btok", tokens_per_step=1024 * 2048)
    954
    """
    value = check_duration(value)
    if isinstance(value, int):
        return value
    number, unit = _split(value)
    if unit in AMOUNT_UNITS:
        per = tokens_per_step if unit == "tok" else samples_per_step
        name = "tokens_per_step" if unit == "tok" else "samples_per_step"
        if per is None:  # not waiting for a build's arguments: a run's table gives it
            raise SpecError(
                f"{show(value)} is in {AMOUNT_UNITS[unit]}, but {name} was not given"
                + (" ([run] tokens_per_step, or batch_size and seq_len)" if unit == "tok" else "")
            )
        if as_real(per) is None or not per > 0 or not math.isfinite(per):
            raise SpecError(f"{name}={show(per)} must be a positive number")
        return _round(number / per)
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
