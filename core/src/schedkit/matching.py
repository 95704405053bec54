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


def any_glob(patterns: Iterable[str]) -> Callable[[str], object] | None:
    """One predicate for several fnmatch patterns (``None`` for none), case-sensitive; its
    result is truthy for a name that matches one of them.

    Rules ask it once per parameter, so it is kept cheap, a C-level callable in the usual
    cases: names without wildcards are a set look-up, ``*word*`` patterns a substring
    search, anything else one compiled regex.
    """
    exact: set[str] = set()
    inner: list[str] = []
    rest: list[str] = []
    for p in patterns:
        if not any(c in p for c in "*?["):
            exact.add(p)
        elif len(p) > 2 and p[0] == p[-1] == "*" and not any(c in p[1:-1] for c in "*?["):
            inner.append(p[1:-1])
        else:
            rest.append(p)
    if not (exact or inner or rest):
        return None
    if not (inner or rest):
        return frozenset(exact).__contains__
    words = re.compile("|".join(re.escape(w) for w in inner)).search if inner else None
    if not (exact or rest):
        return words
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in rest)) if rest else None

    def match(name: str) -> bool:
        return (
            name in exact
            or (words is not None and words(name) is not None)
            or (regex is not None and regex.match(name) is not None)
        )

    return match


def first_match(mode: str, patterns: Iterable[str], name: str) -> str | None:
    """The pattern that decides for ``name``: the first that matches in declaration order,
    or for ``substring`` the longest (then alphabetically first) key contained in it."""
    keys = list(patterns)
    if mode == "substring":
        ordered = sorted(sorted(keys), key=len, reverse=True)
        return next((k for k in ordered if k in name), None)
    return next((k for k in keys if matcher(mode, k)(name)), None)
