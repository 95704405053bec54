"""The docstrings' one style, made to render: reST field lists, inline roles and doctests.

The docstrings are written in reST's field-list style (``:param name:``, ``:returns:``,
``:raises Error:``), which mkdocstrings' ``sphinx`` parser turns into parameter, return and
exception tables (``docstring_style: sphinx`` in mkdocs.yml). Two things the parser leaves
as text, and Markdown then garbles, are rewritten here at build time, as a griffe extension
listed in mkdocs.yml (nothing is rewritten in the sources):

- inline roles (``:class:`Scheduler```, ``:meth:`~schedkit.Built.step```) become code spans;
- doctest examples (``>>>`` lines, which Markdown reads as nested quotes) become ``pycon``
  code blocks, without their ``# doctest:`` directives.

The sphinx parser reads everything after the first field up to the next one as that
field's description, so a paragraph or an example after the last field (``:raises:``
usually) would land in the last table's last row. :func:`split_tail` cuts it off: prose
joins the description above the tables, examples render as an "Examples" section below
them.

Private parameters (``_path``-style, for internal callers) are dropped from signatures. An
attrs class or named tuple has no ``__init__`` in its source, so its heading would show no
signature: the extension gives it the constructor's signature from its fields.
The hook reference (docs/gen_pages.py) and the meta-tests (tests/test_api_docs.py) use
:func:`clean` and :func:`leaks` too, so what the tests check is what the site shows.
"""

from __future__ import annotations

import inspect
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


_FIELD_START = re.compile(
    r"^:(param|parameter|arg|argument|key|keyword|type|returns?|rtype|raises?|except|exception"
    r"|var|ivar|cvar|vartype)\b[^:]*:"
)


def split_tail(text: str) -> tuple[str, str, str]:
    """A docstring cut into its description, its field list and what follows the list.

    The field list starts at the first ``:param``-style line; it ends at the first line after
    it that is neither blank, nor indented (a field's continuation), nor another field.
    """
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _FIELD_START.match(line)), None)
    if start is None:
        return text, "", ""
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line[0].isspace() and not _FIELD_START.match(line):
            end = i
            break
    head = "\n".join(lines[:start]).strip("\n")
    fields = "\n".join(lines[start:end]).strip("\n")
    tail = "\n".join(lines[end:]).strip("\n")
    return head, fields, tail


def has_examples(text: str) -> bool:
    """Whether ``text`` holds a doctest example (before or after :func:`clean`)."""
    return any(_PROMPT.match(line) for line in text.splitlines()) or "```pycon" in text


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

    def _generated_init(runtime: Any) -> bool:
        """An attrs class's or named tuple's constructor, which its source does not spell
        out."""
        if not isinstance(runtime, type):
            return False
        from schedkit.plugin import fields

        try:
            fields(runtime)  # an attrs class, or a component declared without the decorator
        except Exception:
            return issubclass(runtime, tuple) and hasattr(runtime, "_fields")
        return True

    def _annotation(value: Any) -> str | None:
        if value is inspect.Parameter.empty:
            return None
        if isinstance(value, str):
            return value
        if hasattr(value, "__forward_arg__"):
            return str(value.__forward_arg__)
        return inspect.formatannotation(value)

    def _attrs_parameters(runtime: type) -> list[Any]:
        """An attrs class's constructor from its fields: the annotations as written and a
        factory's value as the default (the generated ``__init__`` shows ``NOTHING``)."""
        import attrs

        from schedkit.plugin import fields

        out = []
        for f in fields(runtime):
            if not f.init:
                continue
            if isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
                default: str | None = repr(f.default.factory())
            else:
                default = None if f.default is attrs.NOTHING else repr(f.default)
            kind = "keyword_only" if f.kw_only else "positional_or_keyword"
            out.append(
                griffe.Parameter(
                    f.alias,
                    annotation=_annotation(f.type),
                    kind=griffe.ParameterKind[kind],
                    default=default,
                )
            )
        return out

    def _parameters(runtime: type) -> Any:
        params = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
        import attrs

        if attrs.has(runtime):
            return griffe.Parameters(*params, *_attrs_parameters(runtime))
        for p in inspect.signature(runtime).parameters.values():
            if p.name.startswith("_"):
                continue
            params.append(
                griffe.Parameter(
                    p.name,
                    annotation=_annotation(p.annotation),
                    kind=griffe.ParameterKind[p.kind.name.lower()],
                    default=None if p.default is inspect.Parameter.empty else repr(p.default),
                )
            )
        return griffe.Parameters(*params)

    class _WithExamples(griffe.Docstring):  # type: ignore[misc]
        """A docstring whose examples, cut off after its field list, follow its tables."""

        examples: str = ""

        def parse(self, parser: Any = None, **options: Any) -> list[Any]:
            sections: list[Any] = super().parse(parser, **options)
            if self.examples:
                kind = griffe.DocstringSectionKind.text
                sections.append(griffe.DocstringSectionExamples([(kind, self.examples)]))
            return sections

    class RenderDocstrings(griffe.Extension):  # type: ignore[misc]
        """Rewrite every docstring with :func:`clean`, text after the field list out of the
        last field; hide private parameters."""

        def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
            doc = obj.docstring
            if doc is None:
                return
            head, fields, tail = split_tail(doc.value)
            if not tail:
                doc.value = clean(doc.value)
                return
            if not has_examples(tail):  # prose: it reads as part of the description
                doc.value = clean("\n\n".join(p for p in (head, tail, fields) if p))
                return
            new = _WithExamples(
                clean("\n\n".join(p for p in (head, fields) if p)),
                lineno=doc.lineno,
                endlineno=doc.endlineno,
                parent=doc.parent,
                parser=doc.parser,
                parser_options=doc.parser_options,
            )
            new.examples = clean(tail)
            obj.docstring = new

        def on_class_members(self, *, cls: Any, **kwargs: Any) -> None:
            if "__init__" in cls.members:
                return
            try:
                runtime = griffe.dynamic_import(cls.path)
            except ImportError:  # pragma: no cover - every API object imports
                return
            if not _generated_init(runtime):
                return
            init = griffe.Function("__init__", parent=cls, parameters=_parameters(runtime))
            init.labels.add("generated")
            cls.set_member("__init__", init)

        def on_function_instance(self, *, func: Any, **kwargs: Any) -> None:
            for name in [p.name for p in func.parameters if p.name.startswith("_")]:
                del func.parameters[name]
