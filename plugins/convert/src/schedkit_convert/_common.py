"""What the converters share: reading a flat JSON/YAML file and taking its keys one by one."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schedkit import SpecError
from schedkit.conversion import Draft, Sourced
from schedkit.plugin import MAX_STEPS, as_real, show

_MISSING = object()


def read_mapping(path: Path) -> dict[str, Any]:
    """A JSON or YAML file holding one mapping (YAML is read with ``safe_load``: plain data)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"cannot read the file: {e}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError(f"JSON syntax error: {e}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SpecError(f"YAML syntax error: {e}") from None
    if not isinstance(data, Mapping):
        raise SpecError(f"expected a mapping of keys to values, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


class Keys:
    """The keys of a source file, taken one by one; what is left at the end was ignored.

    ``defaults`` are the source library's defaults for keys the file leaves out; a value
    taken from them is sourced as ``"<key> (default)"``.
    """

    def __init__(
        self, data: Mapping[str, Any], draft: Draft, defaults: Mapping[str, Any], prefix: str = ""
    ) -> None:
        self.data = dict(data)
        self.draft = draft
        self.defaults = dict(defaults)
        self.prefix = prefix
        self.taken: set[str] = set()

    def path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def given(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        """The value of ``key`` (the default when absent or null), marked as taken."""
        self.taken.add(key)
        value = self.data.get(key)
        if value is None:
            return self.defaults.get(key)
        return value

    def source(self, key: str) -> str:
        return self.path(key) if self.given(key) else f"{self.path(key)} (default)"

    def sourced(self, key: str, value: Any = _MISSING) -> Sourced:
        """``key``'s value (or ``value`` computed from it) with its source."""
        return Sourced(self.raw(key) if value is _MISSING else value, self.source(key))

    def number(self, key: str, *, integer: bool = False, ge: float | None = None) -> Any:
        """``key`` as a number; a problem (and ``None``) when it is not one."""
        value = self.raw(key)
        real = as_real(value)  # None for what no float holds (10**400), strings, bools
        bad = real is None or not math.isfinite(real)
        if not bad and integer and isinstance(value, float):
            bad = not value.is_integer()
            value = int(value) if not bad else value
        if not bad and integer and value > MAX_STEPS:
            what = "a whole number <= 2**62"
            self.draft.problems.append(
                SpecError(f"expected {what}, got {show(value)}", self.path(key))
            )
            return None
        if not bad and ge is not None and value < ge:
            bad = True
        if bad:
            what = "a whole number" if integer else "a number"
            if ge is not None:
                what += f" >= {ge:g}"
            self.draft.problems.append(
                SpecError(f"expected {what}, got {show(value)}", self.path(key))
            )
            return None
        return value

    def text(self, key: str) -> Any:
        value = self.raw(key)
        if not isinstance(value, str):
            self.draft.problems.append(
                SpecError(f"expected a string, got {value!r}", self.path(key))
            )
            return None
        return value

    def refuse_if(self, key: str, changed: bool, why: str) -> None:
        """A key that changes training in a way schedkit cannot express."""
        self.taken.add(key)
        if changed:
            self.draft.refuse(self.path(key), why)

    def ignore_rest(self) -> None:
        """Every key not taken is ignored (listed with ``--verbose``)."""
        self.draft.ignored += [self.path(k) for k in self.data if k not in self.taken]
