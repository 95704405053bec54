"""Reading a setup's file or text: the bytes, UTF-8, TOML, a bound on nesting; every
problem a :class:`SetupError` naming the file."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schedkit.errors import SpecError
from schedkit.setup.problems import SetupError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_path(source: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The data of the TOML file at ``source`` (any suffix), and its name for messages."""
    path = Path(source)
    where = str(path)
    try:
        raw = path.read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a name with a null character
        reason = e.strerror if isinstance(e, OSError) else str(e)
        hint = ""
        if isinstance(source, str) and ("\n" in source or "=" in source):
            hint = "; TOML text is read by schedkit.loads_setup(text), a path by load_setup"
            where = "<path>"  # the text itself is no name to print
        raise SetupError([SpecError(f"cannot read the file: {reason}{hint}")], where) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark some editors write is dropped
    except UnicodeDecodeError as e:
        raise SetupError(
            [SpecError(f"not UTF-8 text (byte {e.start}: {raw[e.start : e.start + 1]!r})")],
            where,
        ) from None
    return parse_toml(text, where), where


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """TOML text as data, every problem a :class:`SetupError` naming ``where``."""
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as e:
        raise SetupError([SpecError(f"TOML syntax error: {e}")], where) from None
    except ValueError as e:  # an integer of more digits than Python converts from text
        raise SetupError([SpecError(f"TOML value not read: {e}")], where) from None
    except RecursionError:
        raise SetupError([SpecError("TOML nested too deeply to read")], where) from None
    if _depth(data) > _MAX_DEPTH:
        raise SetupError([SpecError(f"nested more than {_MAX_DEPTH} levels deep")], where)
    return data


#: no setup needs more; deeper data would only make the checks recurse
_MAX_DEPTH = 32


def _depth(value: Any, limit: int = _MAX_DEPTH + 1) -> int:
    """How deeply ``value`` nests (counted up to ``limit``), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d >= limit:
            return d
        if isinstance(v, Mapping):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest
