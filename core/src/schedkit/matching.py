"""Matching parameter names, shared by rules: exact, glob, regex, and mmengine's substrings.

``substring`` follows mmengine's ``custom_keys``: a key matches when it is a substring of
the name, and among several matching keys the longest wins (ties: alphabetical order).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence

from schedkit.errors import SpecError

MODES = ("exact", "glob", "regex", "substring")
#: the same, as :mod:`schedkit.plugin` names it
MATCH_MODES = MODES


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


def closest_names(pattern: str, names: Sequence[str], n: int = 3) -> list[str]:
    """The names (parameter names, or the modules holding them) most like ``pattern``, its
    wildcards left out: what a mistyped pattern most likely meant."""
    bare = re.sub(r"[*?\[\]^$\\()+|{}]", "", pattern).strip(".")
    candidates: dict[str, None] = {}
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            candidates[".".join(parts[:i])] = None
    return difflib.get_close_matches(bare, list(candidates), n=n, cutoff=0.6)


def require_matches(
    patterns: Iterable[tuple[str, str]], names: Sequence[str], mode: str, where: str
) -> None:
    """Raise a :class:`SpecError` when a ``(pattern, key path)`` matches none of ``names``:
    at the first such pattern's key path, the others with it, each naming the closest
    names. ``where`` says whose names they are (``the parameters of ViT``). Rules call it in
    ``bind`` so a mistyped name fails the build, unless the rule says ``missing_ok``."""
    problems = []
    for pattern, path in patterns:
        match = matcher(mode, pattern)
        if any(match(n) for n in names):
            continue
        close = closest_names(pattern, names)
        hint = f"; closest: {', '.join(map(repr, close))}" if close else ""
        problems.append(
            SpecError(
                f"{pattern!r} ({mode}) matches none of {where}{hint} (a rule meant for models "
                "that may lack it says missing_ok = true)",
                path,
            )
        )
    if problems:
        raise SpecError(problems[0].message, problems[0].path, problems[1:])
