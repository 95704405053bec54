"""Writing setups back as TOML: the small subset a resolved setup needs.

Tables, arrays of tables, inline tables, arrays, strings, numbers and booleans; ``None``
values are left out (TOML has no null, and every ``None`` in a spec is a default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from schedkit._text import escape, escape_char

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


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
        return string(v)
    if isinstance(v, Mapping):
        items = [f"{key(k)} = {value(x)}" for k, x in v.items() if x is not None]
        return "{" + ", ".join(items) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def string(s: str) -> str:
    """A TOML basic string: every character that is not printable escaped (``\\n``,
    ``\\u202e``...), so the string stays on its line and shows as it is; a lone surrogate
    (which no TOML string can hold) is a :class:`TypeError`."""
    out = []
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        elif "\ud800" <= c <= "\udfff":
            raise TypeError(f"cannot write {s!r} as TOML: it holds a lone surrogate")
        elif c in "\n\t\r":
            out.append(escape_char(c))
        else:  # TOML escapes are \uNNNN and \UNNNNNNNN only
            n = ord(c)
            out.append(f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
    return '"' + "".join(out) + '"'


def comment(text: str) -> str:
    """A comment's text: one line, every character that is not printable escaped."""
    return escape(text)


def key(k: str) -> str:
    """A bare key when it can be one (ASCII letters, digits, ``_`` and ``-``), else quoted."""
    if k and all(c in _BARE for c in k):
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
