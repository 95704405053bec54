"""The fields in which two specs differ, for refusals that would otherwise print both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schedkit._numbers import show


def spec_diff(saved: Any, current: Any, path: str = "") -> list[str]:
    """One line per differing field: ``path: <saved> in the state, <current> here``."""
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        out: list[str] = []
        for k in [*saved, *(k for k in current if k not in saved)]:
            where = f"{path}.{k}" if path else str(k)
            if k not in current:
                out.append(f"{where}: {show(saved[k])} in the state, absent here")
            elif k not in saved:
                out.append(f"{where}: absent in the state, {show(current[k])} here")
            else:
                out += spec_diff(saved[k], current[k], where)
        return out
    if (
        isinstance(saved, (list, tuple))
        and isinstance(current, (list, tuple))
        and len(saved) == len(current)
    ):
        out = []
        for i, (a, b) in enumerate(zip(saved, current, strict=True)):
            out += spec_diff(a, b, f"{path}[{i}]")
        return out
    if saved == current:
        return []
    return [f"{path or 'spec'}: {show(saved)} in the state, {show(current)} here"]
