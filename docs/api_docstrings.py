"""The docstrings' one style, made to render: reST field lists, inline roles and doctests.

The docstrings are written in reST's field-list style (``:param name:``, ``:returns:``,
``:raises Error:``), which mkdocstrings' ``sphinx`` parser turns into parameter, return and
exception tables (``docstring_style: sphinx`` in mkdocs.yml). Two things the parser leaves
as text, and Markdown then garbles, are rewritten here at build time, as a griffe extension
listed in mkdocs.yml (nothing is rewritten in the sources):

- inline roles (``:class:`Scheduler```, ``:meth:`~schedkit.Built.step```) become code spans;
- doctest examples (``>>>`` lines, which Markdown reads as nested quotes) become ``pycon``
  code blocks, without their ``# doctest:`` directives.

Private parameters (``_path``-style, for internal callers) are dropped from signatures.
The hook reference (docs/gen_pages.py) and the meta-tests (tests/test_api_docs.py) use
:func:`clean` and :func:`leaks` too, so what the tests check is what the site shows.
"""

from __future__ import annotations

import re
from typing import Any

ROLES = ("class", "meth", "func", "data", "mod", "attr", "exc", "obj", "param", "const")
_ROLE = re.compile(r":(?:py:)?(" + "|".join(ROLES) + r"):`([^`]+)`")
_ANY_ROLE = re.compile(r":(?:[a-z]+:)?[a-z]+:`")
_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")
_PROMPT = re.compile(r"^(\s*)(>>>|\.\.\.)( |$)")


def _role(match: re.Match[str]) -> str:
    target = match.group(2).strip()
    if "<" in target and target.endswith(">"):  # :class:`title <target>`
        target = target[: target.index("<")].strip()
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    if match.group(1) in ("meth", "func") and not target.endswith(")"):
        target += "()"
    return f"`{target}`"


def _doctests(text: str) -> str:
    """Wrap each run of doctest lines (prompts and their output) in a ``pycon`` block."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        prompt = _PROMPT.match(line)
        if in_fence or not prompt:
            out.append(line)
            i += 1
            continue
        indent = prompt.group(1)
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            out.append(_DIRECTIVE.sub("", lines[i]))
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


def clean(text: str) -> str:
    """A docstring as Markdown: roles as code spans, doctests as code blocks."""
    return _doctests(_ROLE.sub(_role, text))


_FIELD = re.compile(r"^:(param|returns?|raises|rtype)\s*([^:]*):\s*(.*)$")
_LABELS = {"param": "", "return": "Returns", "returns": "Returns", "raises": "Raises"}


def markdown(text: str) -> str:
    """:func:`clean`, and the field lists as a list, for pages mkdocstrings does not render
    (the hook reference, the component pages)."""
    out: list[str] = []
    for line in clean(text).split("\n"):
        field = _FIELD.match(line)
        if field is None:
            out.append(line)
            continue
        kind, name, rest = field.groups()
        if out and out[-1].strip() and not out[-1].startswith("- "):
            out.append("")
        label = f"`{name.strip()}`" if kind == "param" else _LABELS.get(kind, kind)
        if kind == "raises" and name.strip():
            label = f"Raises `{name.strip()}`"
        out.append(f"- {label}: {rest}")
    return "\n".join(out)


def leaks(text: str) -> list[str]:
    """What would still show as raw markup once :func:`clean` ran (empty when nothing)."""
    cleaned = clean(text)
    found = [m.group(0) for m in _ANY_ROLE.finditer(cleaned)]
    found += [line.strip() for line in cleaned.splitlines() if "doctest:" in line]
    return found


try:  # the docs build has griffe; the test environment may not
    import griffe
except ImportError:  # pragma: no cover - only without the docs requirements
    griffe = None  # type: ignore[assignment]

if griffe is not None:

    class RenderDocstrings(griffe.Extension):  # type: ignore[misc]
        """Rewrite every docstring with :func:`clean`; hide private parameters."""

        def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
            if obj.docstring is not None:
                obj.docstring.value = clean(obj.docstring.value)

        def on_function_instance(self, *, func: Any, **kwargs: Any) -> None:
            for name in [p.name for p in func.parameters if p.name.startswith("_")]:
                del func.parameters[name]
