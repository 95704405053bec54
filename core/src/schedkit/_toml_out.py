"""Writing setups back as TOML: the small subset a resolved setup needs.

Tables, arrays of tables, inline tables, arrays, strings, numbers and booleans; ``None``
values are left out (TOML has no null, and every ``None`` in a spec is a default).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def value(v: Any) -> str:
    """One TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if math.isnan(v):
            return "nan"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON string escapes are TOML's
    if isinstance(v, Mapping):
        items = [f"{key(k)} = {value(x)}" for k, x in v.items() if x is not None]
        return "{" + ", ".join(items) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def key(k: str) -> str:
    """A bare key when it can be one, else quoted."""
    if k and all(c.isalnum() or c in "_-" for c in k):
        return k
    return value(k)


def dumps(data: Mapping[str, Any]) -> str:
    """A two-level document: top-level tables of scalars, tables of tables, arrays of tables."""
    lines: list[str] = []
    for name, table in data.items():
        if isinstance(table, list):
            for item in table:
                lines += ["", f"[[{key(name)}]]"]
                lines += [f"{key(k)} = {value(v)}" for k, v in item.items() if v is not None]
        elif (
            isinstance(table, Mapping)
            and table
            and all(isinstance(v, Mapping) for v in table.values())
        ):
            for sub, inner in table.items():
                lines += ["", f"[{key(name)}.{key(sub)}]"]
                lines += [f"{key(k)} = {value(v)}" for k, v in inner.items() if v is not None]
        elif isinstance(table, Mapping):
            lines += ["", f"[{key(name)}]"]
            lines += [f"{key(k)} = {value(v)}" for k, v in table.items() if v is not None]
        else:
            lines.insert(0, f"{key(name)} = {value(table)}")
    return "\n".join(lines).lstrip("\n") + "\n"
