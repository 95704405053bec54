"""Numbers from users, converted once and checked before anything uses them.

Python's ints have no limit, and ``float(10**400)`` raises ``OverflowError``; a string
of an int past 4300 digits raises ``ValueError``. Every place where a number enters
schedkit (parameters, state entries, metrics, steps, setup and converter values) reads it
through :func:`as_real` and writes it into messages through :func:`show`, so such a value
is refused with schedkit's error naming its key path, never a raw exception halfway.
"""

from __future__ import annotations

import math
from typing import Any

#: The largest step count schedkit takes (a parameter, a duration, a state's step): every
#: schedule is finite up to it, and it and any product of it with a factor fit a float.
MAX_STEPS = 2**62


def as_real(value: Any) -> float | None:
    """``value`` as a float when it is a real number a float can hold (an int or a float,
    not a bool); ``None`` for anything else, ints beyond the float range included.
    NaN and infinities are floats: they come back as they are, for the caller to judge."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond +-1.8e308
        return None


def too_large(value: Any) -> bool:
    """Whether ``value`` is an int (not a bool) that no float can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and as_real(value) is None


def show(value: Any, limit: int = 80) -> str:
    """``value`` for an error message: its repr cut to ``limit`` characters; an int too
    long to print (more than 64 bits) named by its order of magnitude, which also avoids
    Python's limit on converting very long ints to text."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        exponent = math.floor(math.log10(abs(value)))
        sign = "-" if value < 0 else ""
        return f"an integer of about {sign}10**{exponent}"
    try:
        text = repr(value)
    except ValueError:  # a container holding an int too long to print
        return f"a {type(value).__name__} holding a number too long to print"
    return text if len(text) <= limit else text[: limit - 3] + "..."
