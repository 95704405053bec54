"""Checking a state dict before anything of it is applied.

Every ``load_state_dict`` in schedkit reads the state through :class:`StateReader`: each
value is checked (type, finiteness, range) and a bad one raises :class:`StateError` naming
its key path, so a load either takes the whole state or changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from schedkit.errors import StateError


class StateReader:
    """Typed, checked access to the entries of one state dict (``path`` names where it is)."""

    def __init__(self, state: Any, path: str = "", what: str = "state") -> None:
        if not isinstance(state, Mapping):
            raise StateError(f"expected a {what} (a dict), got {_short(state)}", path)
        self.state = state
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Any:
        """The entry ``key``; a missing one is an error."""
        if key not in self.state:
            raise StateError("missing from the state", self.where(key))
        return self.state[key]

    def integer(self, key: str, *, ge: int = 0, le: int | None = None) -> int:
        """A whole number (not a bool, not a float) within the bounds."""
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise StateError(f"expected a whole number, got {_short(value)}", self.where(key))
        if value < ge or (le is not None and value > le):
            bound = f">= {ge}" + (f" and <= {le}" if le is not None else "")
            raise StateError(f"expected a whole number {bound}, got {value}", self.where(key))
        return value

    def number(
        self, key: str, *, ge: float | None = None, le: float | None = None, inf: bool = False
    ) -> float:
        """A real number, finite unless ``inf`` (never NaN), within the bounds."""
        return check_number(self.get(key), self.where(key), ge=ge, le=le, inf=inf)

    def mapping(self, key: str, what: str = "dict") -> StateReader:
        return StateReader(self.get(key), self.where(key), what)


def check_number(
    value: Any, where: str, *, ge: float | None = None, le: float | None = None, inf: bool = False
) -> float:
    """``value`` as a float when it is a real number within the bounds, else StateError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StateError(f"expected a number, got {_short(value)}", where)
    try:
        x = float(value)
    except OverflowError:  # an int beyond any float
        raise StateError(f"expected a finite number, got {_short(value)}", where) from None
    if math.isnan(x) or (not inf and math.isinf(x)):
        raise StateError(f"expected a {'' if inf else 'finite '}number, got {x}", where)
    if (ge is not None and x < ge) or (le is not None and x > le):
        parts = [f">= {ge:g}"] if ge is not None else []
        parts += [f"<= {le:g}"] if le is not None else []
        raise StateError(f"expected a number {' and '.join(parts)}, got {x}", where)
    return x


def _short(value: Any) -> str:
    """A value for an error message, cut short (a state may hold large tensors)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
