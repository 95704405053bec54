"""Matching parameter names, shared by rules: exact, glob, regex, and mmengine's substrings.

``substring`` follows mmengine's ``custom_keys``: a key matches when it is a substring of
the name, and among several matching keys the longest wins (ties: alphabetical order).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

from schedkit.errors import SpecError

MODES = ("exact", "glob", "regex", "substring")


def matcher(mode: str, pattern: str) -> Callable[[str], bool]:
    """A predicate on names for one pattern."""
    if mode == "exact":
        return lambda name: name == pattern
    if mode == "glob":
        return lambda name: fnmatch.fnmatchcase(name, pattern)
    if mode == "regex":
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            raise SpecError(f"{pattern!r} is not a regular expression: {e}") from None
        return lambda name: compiled.search(name) is not None
    if mode == "substring":
        return lambda name: pattern in name
    raise SpecError(f"expected a match mode among {', '.join(MODES)}, got {mode!r}", "mode")


def first_match(mode: str, patterns: Iterable[str], name: str) -> str | None:
    """The pattern that decides for ``name``: the first that matches in declaration order,
    or for ``substring`` the longest (then alphabetically first) key contained in it."""
    keys = list(patterns)
    if mode == "substring":
        ordered = sorted(sorted(keys), key=len, reverse=True)
        return next((k for k in ordered if k in name), None)
    return next((k for k in keys if matcher(mode, k)(name)), None)
