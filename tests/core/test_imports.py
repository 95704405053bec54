"""No import circles: no module of core or of a first-party plugin imports a module that,
directly or through others, imports it back.

Every import statement counts, wherever it stands: at the top, under ``if TYPE_CHECKING:``,
inside a function. A circle held together by a type-only or a deferred import is still one
design (two modules that each need the other), and the next top-level import closes it.

An import names one module: ``import a.b.c`` and ``from a.b import c`` (when ``a.b.c`` is a
module) lead to ``a.b.c``, ``from a.b import name`` to ``a.b``. The packages above it, which
Python runs first, are not counted: a package's ``__init__`` may re-export its modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sources() -> dict[str, Path]:
    """Every module of core and the plugins by dotted name."""
    roots = [ROOT / "core" / "src", *sorted(ROOT.glob("plugins/*/src"))]
    out: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The known modules ``module`` imports, with the line of each import."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    yield full, node.lineno
                elif base in known:
                    yield base, node.lineno


def _graph() -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    known = _sources()
    graph: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        edges = graph.setdefault(module, {})
        for target, line in _imports(module, path, known):
            if target != module:
                edges.setdefault(target, line)
    return graph, known


def _circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_every_kind_of_import():
    graph, known = _graph()
    assert len(known) > 80
    assert {"schedkit", "schedkit.plugin", "schedkit_schedules", "schedkit_convert"} <= set(known)
    # a type-only import and a function-level one are edges too
    assert "schedkit.registry" in graph["schedkit"]  # under TYPE_CHECKING
    assert "schedkit.plugin" in graph["schedkit_schedules.cosine"]


def test_no_import_circles():
    graph, known = _graph()
    report = []
    for component in _circles(graph):
        inside = set(component)
        lines = [
            f"  {a} -> {b}  ({known[a].relative_to(ROOT)}:{graph[a][b]})"
            for a in component
            for b in sorted(graph[a])
            if b in inside
        ]
        report.append(" <-> ".join(component) + "\n" + "\n".join(lines))
    assert not report, "import circles:\n" + "\n".join(report)
