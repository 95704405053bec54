"""Writing TOML with ``tomlkit``: setups, and converted setups with a comment beside every
value. It is imported on use: reading setups and scheduling never need it.

What this module adds to them: ``None`` values are left out (TOML has no null, and every
``None`` in a spec is a default), and every character that is not printable is escaped
(``\\u202e``, ``\\u2028``...), so that each string stays on its line and shows as it is; a
lone surrogate, which no TOML string can hold, is a :class:`TypeError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schedkit._text import escape

#: what to install for :meth:`schedkit.Setup.to_toml` and ``schedkit convert``
EXTRA = "pip install tomlkit (a dependency of schedkit-core)"


def printable(text: str) -> str:
    """``text`` (a TOML document or value) with every character that is not printable,
    other than line breaks, as a ``\\u`` escape. The writers quote every string with basic
    (double) quotes and escape what TOML requires, so what is left stands inside a string."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c.isprintable() or c == "\n":
            out.append(c)
        elif "\ud800" <= c <= "\udfff":
            raise TypeError(f"cannot write {text!r} as TOML: it holds a lone surrogate")
        else:  # TOML escapes are \uNNNN and \UNNNNNNNN only
            n = ord(c)
            out.append(f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
    return "".join(out)


def _tomlkit() -> Any:
    try:
        import tomlkit
    except ImportError:
        raise ImportError(f"writing TOML needs tomlkit: {EXTRA}") from None
    return tomlkit


def dumps(data: Mapping[str, Any]) -> str:
    """A setup's two-level document: top-level values first, then tables of values,
    tables of tables (``[name.sub]``) and arrays of tables, every value on one line (a
    mapping inside a table is an inline table)."""
    tomlkit = _tomlkit()
    doc = tomlkit.document()
    for name, table in data.items():  # top-level values first: TOML puts them before tables
        if table is not None and not isinstance(table, (Mapping, list)):
            doc.append(name, _item(tomlkit, table))
    for name, table in data.items():
        if isinstance(table, list):
            array = tomlkit.aot()
            for item in table:
                array.append(_table(tomlkit, item))
            doc.append(name, array)
        elif (
            isinstance(table, Mapping)
            and table
            and all(isinstance(v, Mapping) for v in table.values())
        ):
            outer = tomlkit.table(is_super_table=True)
            for sub, inner in table.items():
                outer.append(sub, _table(tomlkit, inner))
            doc.append(name, outer)
        elif isinstance(table, Mapping):
            doc.append(name, _table(tomlkit, table))
    return printable(tomlkit.dumps(doc))


def _table(tomlkit: Any, values: Mapping[str, Any]) -> Any:
    """``[name]``'s body: one value a line, a mapping as an inline table."""
    table = tomlkit.table()
    for k, v in values.items():
        if v is not None:
            table.append(k, _item(tomlkit, v))
    return table


def value(v: Any) -> str:
    """One TOML value (a mapping as an inline table); a value TOML cannot hold is a
    :class:`TypeError`."""
    return printable(_item(_tomlkit(), v).as_string())


def string(s: str) -> str:
    """A TOML basic string, every character that is not printable escaped."""
    return value(s)


def key(k: str) -> str:
    """A bare key when it can be one (ASCII letters, digits, ``_`` and ``-``), else quoted."""
    return printable(_tomlkit().key(k).as_string())


def comment(text: str) -> str:
    """A comment's text: one line, every character that is not printable escaped."""
    return escape(text)


def _item(tomlkit: Any, v: Any) -> Any:
    """A value as tomlkit writes it: ``None`` left out, a mapping as an inline table."""
    if isinstance(v, Mapping):
        table = tomlkit.inline_table()
        for k, x in v.items():
            if x is not None:
                table.append(k, _item(tomlkit, x))
        return table
    if isinstance(v, (list, tuple)):
        array = tomlkit.array()
        array.extend(_item(tomlkit, x) for x in v)
        return array
    # what a setup holds: no dates and times, which a setup never takes
    if not isinstance(v, (bool, int, float, str)):
        raise TypeError(f"cannot write {v!r} as TOML")
    if isinstance(v, str) and any("\ud800" <= c <= "\udfff" for c in v):
        raise TypeError(f"cannot write {v!r} as TOML: it holds a lone surrogate")
    return tomlkit.item(v)


class Commented:
    """A document whose every value has a comment beside it (a converted setup: the key
    each value came from)."""

    def __init__(self) -> None:
        self._tomlkit = _tomlkit()
        self._doc = self._tomlkit.document()

    def table(self, rows: list[tuple[str, Any, str]]) -> Any:
        """A table of ``(key, value, comment)`` rows; a value TOML cannot hold is a
        :class:`TypeError`."""
        table = self._tomlkit.table()
        for k, v, note in rows:
            item = _item(self._tomlkit, v)
            item.comment(comment(note))
            item.trivia.comment_ws = "  "
            table.append(k, item)
        return table

    def add(self, name: str, table: Any) -> None:
        """``[name]``."""
        self._doc.append(name, table)

    def add_array(self, name: str, tables: list[Any]) -> None:
        """``[[name]]``, once per table."""
        array = self._tomlkit.aot()
        for t in tables:
            array.append(t)
        self._doc.append(name, array)

    def add_tables(self, name: str, tables: Mapping[str, Any]) -> None:
        """``[name.key]`` for each table."""
        outer = self._tomlkit.table(is_super_table=True)
        for k, t in tables.items():
            outer.append(k, t)
        self._doc.append(name, outer)

    def dumps(self) -> str:
        """The document's text."""
        return printable(self._tomlkit.dumps(self._doc))
