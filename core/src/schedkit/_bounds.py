"""The bounds of what a converter reads (docs/guarantees.md, "Bounds"): :class:`Reading`
reads a conversion's files within :data:`MAX_BYTES` and :data:`MAX_FILES`, and
:func:`bounded` checks the data read from one of them against :data:`MAX_VALUES`,
:data:`MAX_DEPTH`, :data:`MAX_INT_DIGITS` and :data:`MAX_TEXT`, each failure a
:class:`~schedkit.SpecError` naming the file and the key path. Converters take them from
:mod:`schedkit.conversion`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schedkit.errors import SpecError

#: the bytes one conversion reads: the file and its base files together
MAX_BYTES = 1 << 18
#: the files one conversion reads: the file and its base files, each read counted
MAX_FILES = 64
#: the values of one file's data (lists and mappings, their keys and their items), a
#: value counted each time it is used (a YAML alias as often as it appears)
MAX_VALUES = 10_000
#: how deeply lists and mappings nest in one file's data
MAX_DEPTH = 32
#: the digits of an integer
MAX_INT_DIGITS = 1_000
#: the characters of a string
MAX_TEXT = 1 << 16

_INT_LIMIT = 10**MAX_INT_DIGITS


class Reading:
    """The files one conversion reads, within :data:`MAX_FILES` and :data:`MAX_BYTES`
    together (a converter makes one and reads the file and its bases through it)."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def text(self, path: Path, key: str = "") -> str:
        """The text of ``path`` (UTF-8); ``key`` is the source key that named the file
        (``_BASE_``), for the error."""
        self.files += 1
        if self.files > MAX_FILES:
            raise SpecError(
                f"{path.name}: more than {MAX_FILES} files to read (bases included)", key
            )
        left = MAX_BYTES - self.bytes
        try:
            with path.open("rb") as f:
                raw = f.read(left + 1)
        except OSError as e:
            raise SpecError(f"cannot read {path.name}: {e.strerror or e}", key) from None
        if len(raw) > left:
            raise SpecError(
                f"{path.name}: more than {MAX_BYTES:,} bytes to read (bases included)", key
            )
        self.bytes += len(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError(f"cannot read {path.name}: not UTF-8 ({e.reason})", key) from None


class TooLong:
    """A number with more than :data:`MAX_INT_DIGITS` digits, as a parser hands it to
    :func:`bounded` (which names its key) instead of converting its digits."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<a number of {self.digits:,} digits>"


def _label(path: str, key: Any) -> str:
    text = key if isinstance(key, str) else repr(key)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{path}.{text}" if path else text


def bounded(data: Any, file: str) -> Any:
    """``data`` (read from ``file``), or a :class:`SpecError` naming the file and the key
    path where it exceeds a bound: more than :data:`MAX_VALUES` values (each shared value
    counted where it is used, so YAML aliases cannot multiply), nesting deeper than
    :data:`MAX_DEPTH`, a list or mapping inside itself, an integer of more than
    :data:`MAX_INT_DIGITS` digits, a string of more than :data:`MAX_TEXT` characters.

    It walks at most :data:`MAX_VALUES` values, without recursion."""
    count = 1
    stack: list[tuple[Any, str, int, tuple[int, ...]]] = [(data, "", 0, ())]
    while stack:
        value, path, depth, above = stack.pop()
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if id(value) in above:
                raise SpecError(
                    f"{file}: the value contains itself (a YAML alias inside its own anchor)", path
                )
            if depth >= MAX_DEPTH:
                raise SpecError(f"{file}: lists and mappings nested deeper than {MAX_DEPTH}", path)
            count += len(value) * (2 if isinstance(value, dict) else 1)
            if count > MAX_VALUES:
                raise SpecError(
                    f"{file}: more than {MAX_VALUES:,} values (a shared value, such as a "
                    "YAML alias or a name used twice, counts each time it is used)",
                    path,
                )
            inner = (*above, id(value))
            if isinstance(value, dict):
                for k, v in value.items():
                    where = _label(path, k)
                    stack += [(k, where, depth + 1, inner), (v, where, depth + 1, inner)]
            else:
                stack += [(v, f"{path}[{i}]", depth + 1, inner) for i, v in enumerate(value)]
        elif isinstance(value, TooLong) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT_LIMIT
        ):
            raise SpecError(f"{file}: an integer of more than {MAX_INT_DIGITS:,} digits", path)
        elif isinstance(value, (str, bytes)) and len(value) > MAX_TEXT:
            raise SpecError(f"{file}: a string of more than {MAX_TEXT:,} characters", path)
    return data
