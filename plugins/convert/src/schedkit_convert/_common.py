"""What the converters share: reading a flat JSON/YAML file and taking its keys one by one."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from schedkit import SpecError
from schedkit.conversion import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_VALUES,
    Draft,
    NotThisSource,
    Reading,
    Sourced,
    TooLong,
    bounded,
    reads,
)
from schedkit.plugin import MAX_STEPS, as_real, show

_MISSING = object()


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no types here
    """PyYAML's safe loader, bounded while it composes: at most ``MAX_VALUES`` nodes
    (aliases not counted: :func:`bounded` counts them), at most ``MAX_DEPTH`` nested
    lists and mappings (so composing never recurses deeply), integers of at most
    ``MAX_INT_DIGITS`` digits (longer ones are handed to :func:`bounded` as
    :class:`TooLong`), no mapping merged into itself. Aliases are kept as PyYAML keeps
    them, one shared object; :func:`bounded` then counts their values each time they are
    used, walking at most ``MAX_VALUES`` of them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.keys: list[str] = []
        self.merging: set[int] = set()
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if parent is None:
            label = ""  # the document
        elif isinstance(index, yaml.ScalarNode):
            label = str(index.value)
        elif isinstance(index, int):
            label = f"[{index}]"
        else:
            label = "(a key)"
        self.keys.append(label)
        self.nodes += 1
        if self.nodes > MAX_VALUES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_VALUES:,} values", self.peek_event().start_mark
            )
        if len(self.keys) > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"lists and mappings nested deeper than {MAX_DEPTH}",
                self.peek_event().start_mark,
            )
        node: yaml.Node = super().compose_node(parent, index)
        self.keys.pop()
        return node

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        if id(node) in self.merging:
            raise yaml.constructor.ConstructorError(
                None, None, "a merge key (<<) merges a mapping into itself", node.start_mark
            )
        self.merging.add(id(node))
        try:
            super().flatten_mapping(node)
        finally:
            self.merging.discard(id(node))

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        if len(node.value) > MAX_INT_DIGITS:
            return TooLong(len(node.value))
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _key_path(keys: list[str]) -> str:
    path = ""
    for k in keys:
        path += k if k.startswith("[") or not path else f".{k}"
    return path


def _json_int(text: str) -> Any:
    return TooLong(len(text)) if len(text) > MAX_INT_DIGITS + 1 else int(text)


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


def _json_deep(text: str) -> str:
    """The key path where JSON ``text`` nests deeper than ``MAX_DEPTH`` (a scan of its
    brackets, for the error once ``json`` gave up)."""
    stack: list[list[Any]] = []  # [the bracket, the index or key inside it]
    last = ""
    for m in _JSON_TOKENS.finditer(text):
        t = m.group()
        if t in "[{":
            if len(stack) >= MAX_DEPTH:
                break
            stack.append([t, 0 if t == "[" else ""])
        elif t in "]}":
            if stack:
                stack.pop()
        elif t == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif t == ":":
            if stack:
                stack[-1][1] = last
        else:
            last = t[1:-1]
    path = ""
    for bracket, at in stack:
        path += f"[{at}]" if bracket == "[" else (f".{at}" if path else at)
    return path


def parse_json(text: str, file: str, key: str = "") -> Any:
    """JSON ``text`` (from ``file``; ``key`` names the string value holding it, if one
    does) as data within the bounds of :func:`schedkit.conversion.bounded`, or a
    :class:`SpecError` naming the file and the key path."""
    try:
        data = json.loads(text, parse_int=_json_int)
    except RecursionError:
        where = ".".join(p for p in (key, _json_deep(text)) if p).replace(".[", "[")
        raise SpecError(
            f"{file}: lists and mappings nested deeper than {MAX_DEPTH}", where
        ) from None
    except ValueError as e:  # JSONDecodeError
        raise SpecError(f"{file}: JSON syntax error: {e}", key) from None
    try:
        return bounded(data, file)
    except SpecError as e:
        if not key:
            raise
        raise SpecError(e.message, f"{key}.{e.path}" if e.path else key) from None


def parse_yaml(text: str, file: str) -> Any:
    """YAML ``text`` (from ``file``) read by PyYAML's safe loader (plain data, bounded:
    :class:`_Loader` and :func:`schedkit.conversion.bounded`), or a :class:`SpecError`."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise SpecError(
            f"{file}{line}: YAML error: {e.problem or e.context}", _key_path(loader.keys)
        ) from None
    except yaml.YAMLError as e:
        raise SpecError(f"{file}: YAML error: {e}", _key_path(loader.keys)) from None
    except (ValueError, RecursionError) as e:  # a scalar PyYAML's constructors cannot convert
        raise SpecError(f"{file}: YAML error: {e}", _key_path(loader.keys)) from None
    finally:
        loader.dispose()
    return bounded(data, file)


def read_mapping(path: Path, reading: Reading | None = None, key: str = "") -> dict[str, Any]:
    """A JSON or YAML file holding one mapping (YAML is read with PyYAML's safe loader:
    plain data), within the bounds of :mod:`schedkit.conversion` (``reading`` counts the
    files and bytes of one conversion; ``key`` is the key that named a base file)."""
    reads(path)  # never written over by the command
    text = (reading or Reading()).text(path, key)
    if path.suffix.lower() == ".json":
        data = parse_json(text, path.name)
    else:
        data = parse_yaml(text, path.name)
    if not isinstance(data, Mapping):
        raise SpecError(
            f"{path.name}: expected a mapping of keys to values, got {type(data).__name__}", key
        )
    return {str(k): v for k, v in data.items()}


def expect_any(data: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    """Refuse a file holding none of ``keys`` (those that set the converter's optimizer or
    schedule): it is another library's config, given with the wrong ``--from``."""
    if not any(k in data for k in keys):
        raise NotThisSource(
            f"none of the keys that set the optimizer or the schedule ({', '.join(keys)})"
        )


class Keys:
    """The keys of a source file, taken one by one; what is left at the end was ignored.

    ``defaults`` are the source library's defaults for keys the file leaves out; a value
    taken from them is sourced as ``"<key> (default)"``.
    """

    def __init__(
        self, data: Mapping[str, Any], draft: Draft, defaults: Mapping[str, Any], prefix: str = ""
    ) -> None:
        self.data = dict(data)
        self.draft = draft
        self.defaults = dict(defaults)
        self.prefix = prefix
        self.taken: set[str] = set()

    def path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def given(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        """The value of ``key`` (the default when absent or null), marked as taken."""
        self.taken.add(key)
        value = self.data.get(key)
        if value is None:
            return self.defaults.get(key)
        return value

    def source(self, key: str) -> str:
        return self.path(key) if self.given(key) else f"{self.path(key)} (default)"

    def sourced(self, key: str, value: Any = _MISSING) -> Sourced:
        """``key``'s value (or ``value`` computed from it) with its source."""
        return Sourced(self.raw(key) if value is _MISSING else value, self.source(key))

    def number(self, key: str, *, integer: bool = False, ge: float | None = None) -> Any:
        """``key`` as a number; a problem (and ``None``) when it is not one."""
        value = self.raw(key)
        real = as_real(value)  # None for what no float holds (10**400), strings, bools
        bad = real is None or not math.isfinite(real)
        if not bad and integer and isinstance(value, float):
            bad = not value.is_integer()
            value = int(value) if not bad else value
        if not bad and integer and value > MAX_STEPS:
            what = "a whole number <= 2**62"
            self.draft.problems.append(
                SpecError(f"expected {what}, got {show(value)}", self.path(key))
            )
            return None
        if not bad and ge is not None and value < ge:
            bad = True
        if bad:
            what = "a whole number" if integer else "a number"
            if ge is not None:
                what += f" >= {ge:g}"
            self.draft.problems.append(
                SpecError(f"expected {what}, got {show(value)}", self.path(key))
            )
            return None
        return value

    def text(self, key: str) -> Any:
        value = self.raw(key)
        if not isinstance(value, str):
            self.draft.problems.append(
                SpecError(f"expected a string, got {value!r}", self.path(key))
            )
            return None
        return value

    def flag(self, key: str) -> bool | None:
        """``key`` as a boolean; a problem (and ``None``) when it is anything else (a string
        ``'false'`` is not false: a converter decodes strings first where its source does)."""
        value = self.raw(key)
        if not isinstance(value, bool):
            self.draft.problems.append(
                SpecError(f"expected true or false, got {value!r}", self.path(key))
            )
            return None
        return value

    def refuse_if(self, key: str, changed: bool, why: str) -> None:
        """A key that changes training in a way schedkit cannot express."""
        self.taken.add(key)
        if changed:
            self.draft.refuse(self.path(key), why)

    def ignore_rest(self) -> None:
        """Every key not taken is ignored (listed with ``--verbose``)."""
        self.draft.ignored += [self.path(k) for k in self.data if k not in self.taken]
