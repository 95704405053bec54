"""Checking a state dict before anything of it is applied.

Every ``load_state_dict`` in schedkit reads the state through :class:`StateReader`: each
value is checked (type, finiteness, range) and a bad one raises :class:`StateError` naming
its key path, so a load either takes the whole state or changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from schedkit._numbers import MAX_STEPS, as_real, show
from schedkit.errors import StateError


class StateReader:
    """Typed, checked access to the entries of one state dict (``path`` names where it is)."""

    def __init__(self, state: Any, path: str = "", what: str = "state") -> None:
        if not isinstance(state, Mapping):
            raise StateError(f"expected a {what} (a dict), got {show(state)}", path)
        self.state = state
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Any:
        """The entry ``key``; a missing one is an error."""
        if key not in self.state:
            raise StateError("missing from the state", self.where(key))
        return self.state[key]

    def integer(self, key: str, *, ge: int = 0, le: int | None = MAX_STEPS) -> int:
        """A whole number (not a bool, not a float) within the bounds; at most
        :data:`~schedkit._numbers.MAX_STEPS` unless ``le`` says otherwise."""
        return check_integer(self.get(key), self.where(key), ge=ge, le=le)

    def number(
        self, key: str, *, ge: float | None = None, le: float | None = None, inf: bool = False
    ) -> float:
        """A real number, finite unless ``inf`` (never NaN), within the bounds."""
        return check_number(self.get(key), self.where(key), ge=ge, le=le, inf=inf)

    def mapping(self, key: str, what: str = "dict") -> StateReader:
        return StateReader(self.get(key), self.where(key), what)


def check_integer(value: Any, where: str, *, ge: int = 0, le: int | None = MAX_STEPS) -> int:
    """``value`` when it is a whole number (not a bool, not a float) within the bounds, else
    StateError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StateError(f"expected a whole number, got {show(value)}", where)
    if value < ge:
        raise StateError(f"expected a whole number >= {ge}, got {show(value)}", where)
    if le is not None and value > le:
        limit = "2**62" if le == MAX_STEPS else str(le)
        raise StateError(f"expected a whole number <= {limit}, got {show(value)}", where)
    return value


def check_number(
    value: Any, where: str, *, ge: float | None = None, le: float | None = None, inf: bool = False
) -> float:
    """``value`` as a float when it is a real number within the bounds, else StateError (an
    int beyond the float range included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StateError(f"expected a number, got {show(value)}", where)
    x = as_real(value)
    if x is None:
        raise StateError(
            f"expected a finite number, got {show(value)} (too large for a float)", where
        )
    if math.isnan(x) or (not inf and math.isinf(x)):
        raise StateError(f"expected a {'' if inf else 'finite '}number, got {x}", where)
    if (ge is not None and x < ge) or (le is not None and x > le):
        parts = [f">= {ge:g}"] if ge is not None else []
        parts += [f"<= {le:g}"] if le is not None else []
        raise StateError(f"expected a number {' and '.join(parts)}, got {x}", where)
    return x
