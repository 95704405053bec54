"""One table of public names per public module: ``schedkit`` and ``schedkit.plugin`` each
list every name once, in ``_EXPORTS``, and the imports type checkers read are that table
written out."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "core" / "src" / "schedkit"
MODULES = {"schedkit": SRC / "__init__.py", "schedkit.plugin": SRC / "plugin.py"}


def _written(path: Path) -> tuple[set[str], set[str]]:
    """The ``from schedkit.m import a as b`` lines of a module: at the top, and under
    TYPE_CHECKING."""
    top: set[str] = set()
    typing_only: set[str] = set()

    def lines(nodes: list[ast.stmt], into: set[str]) -> None:
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("schedkit."):
                into.update(
                    f"from {node.module} import {a.name} as {a.asname or '(none)'}"
                    for a in node.names
                )

    tree = ast.parse(path.read_text())
    lines(tree.body, top)
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines(node.body, typing_only)
    return top, typing_only


def _expected(module: str) -> tuple[set[str], set[str]]:
    mod = importlib.import_module(module)
    top: set[str] = set()
    typing_only: set[str] = set()
    for name, where in mod._EXPORTS.items():
        line = f"from {where} import {name} as {name}"
        (top if where in mod._EAGER else typing_only).add(line)
    return top, typing_only


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_imports_are_the_table_written_out(module):
    (top, typing_only), (want_top, want_typing) = _written(MODULES[module]), _expected(module)
    problems = [f"add at the top: {x}" for x in sorted(want_top - top)]
    problems += [f"add under TYPE_CHECKING: {x}" for x in sorted(want_typing - typing_only)]
    problems += [f"remove: {x}" for x in sorted((top - want_top) | (typing_only - want_typing))]
    assert not problems, f"{MODULES[module].name} does not match its _EXPORTS:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_name_of_the_table_is_public_and_found(module):
    mod = importlib.import_module(module)
    assert set(mod.__all__) - {"__version__"} == set(mod._EXPORTS)
    assert len(mod.__all__) == len(set(mod.__all__))
    for name, where in mod._EXPORTS.items():
        assert getattr(mod, name) is getattr(importlib.import_module(where), name)
    # the modules imported at once are the ones the table names
    assert set(mod._EAGER) <= set(mod._EXPORTS.values())


def test_the_table_is_one_name_a_line():
    """So that adding or removing a name is a one-line change that merges cleanly."""
    for path in MODULES.values():
        text = path.read_text()
        body = text[text.index("_EXPORTS: dict[str, str] = {") :].split("\n}", 1)[0]
        entries = body.splitlines()[1:]
        assert entries, path
        assert all(line.count('": "') == 1 for line in entries), path
        assert entries == sorted(entries, key=str.lower) or entries == sorted(entries), path
