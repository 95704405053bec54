"""The plugin-author API: one module (schedkit.plugin) that first-party plugins use as a
third party would, and a public, typed extension API for stateful clippers."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
import torch

import schedkit
import schedkit.conversion as conversion
import schedkit.plugin as plugin
from schedkit.testing import check_registered, roundtrip

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FILES = sorted(ROOT.glob("plugins/*/src/schedkit_*/**/*.py"))
#: the first-party plugin packages (each may use its own modules, private ones included)
PLUGIN_PACKAGES = sorted({f.relative_to(ROOT).parts[3] for f in PLUGIN_FILES})
#: the modules of schedkit a plugin may use, with their public names; schedkit.conversion is
#: the converter-author API (Draft, Facts, Sourced...), for the converter plugin
PUBLIC = {
    "schedkit": set(schedkit.__all__),
    "schedkit.plugin": set(plugin.__all__),
    "schedkit.conversion": set(conversion.__all__),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _misuse(dotted: str, own: str) -> str | None:
    """Why a plugin of package ``own`` may not use ``dotted`` (a module, or a name reached
    through one), or None: schedkit only through its public modules' public names, another
    plugin only through public names."""
    parts = dotted.split(".")
    root = parts[0]
    if root == own or (root != "schedkit" and root not in PLUGIN_PACKAGES):
        return None
    if root != "schedkit":
        bad = [p for p in parts if _private(p)]
        return f"private name {bad[0]!r} of another plugin" if bad else None
    module, rest = "schedkit", parts[1:]
    while rest and f"{module}.{rest[0]}" in PUBLIC:
        module, rest = f"{module}.{rest[0]}", rest[1:]
    if not rest:
        return None if module in PUBLIC else f"{module} is not a public module"
    if rest[0] not in PUBLIC[module]:
        return f"{rest[0]!r} is not a public name of {module}"
    bad = [p for p in rest[1:] if _private(p)]
    return f"private attribute {bad[0]!r}" if bad else None


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"], or None for an expression that is not a name chain."""
    out: list[str] = []
    while isinstance(node, ast.Attribute):
        out.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(out)]


def _facade_misuses(path: Path, source: str | None = None) -> list[str]:
    """Every use in a first-party plugin module of schedkit or another plugin that goes
    around the public API: imports, attribute chains through imported names (``schedkit.
    validators.steps``, ``plugin._x``), private names."""
    own = path.relative_to(ROOT).parts[3]
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    bound: dict[str, str] = {}  # local name -> what it names ("schedkit.plugin.factor")
    found: list[str] = []

    def check(dotted: str, line: int) -> None:
        why = _misuse(dotted, own)
        if why:
            found.append(f"{path.relative_to(ROOT)}:{line}: {dotted}: {why}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                check(a.name, node.lineno)
                if a.asname:
                    bound[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                dotted = f"{node.module}.{a.name}"
                check(dotted, node.lineno)
                bound[a.asname or a.name] = dotted
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:  # whole chains only
            chain = _dotted(node)
            if chain and chain[0] in bound:
                check(".".join([bound[chain[0]], *chain[1:]]), node.lineno)
    return found


def _foreign_privates(path: Path) -> list[str]:
    """Private members of another package's base class that a plugin class overrides
    (``def _clip``) or reaches (``self._state``, ``super()._values``)."""
    rel = path.relative_to(ROOT)
    own = rel.parts[3]
    module = importlib.import_module(".".join(rel.with_suffix("").parts[3:]))
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not isinstance(cls, type):
            continue
        foreign = [c for c in cls.__mro__ if c.__module__.split(".")[0] not in (own, "builtins")]
        ours = {n for c in cls.__mro__ if c not in foreign for n in vars(c)}
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name, line = sub.name, sub.lineno
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, (ast.Name, ast.Call)):
                who = sub.value
                caller = who.id if isinstance(who, ast.Name) else getattr(who.func, "id", "")
                if caller not in ("self", "cls", "super") or sub.attr in ours:
                    continue
                name, line = sub.attr, sub.lineno
            else:
                continue
            if not _private(name):
                continue
            owner = next((c for c in foreign if name in vars(c)), None)
            if owner is not None:
                found.append(
                    f"{rel}:{line}: {node.name}.{name}: private to "
                    f"{owner.__module__}.{owner.__qualname__}"
                )
    return found


def test_first_party_plugins_use_schedkit_only_through_the_public_api():
    """Imports, attribute chains (``schedkit.validators.steps``) and private names: a
    first-party plugin uses schedkit as a third party would, and another plugin only
    through its public names."""
    assert len(PLUGIN_FILES) > 20
    bad = [m for f in PLUGIN_FILES for m in _facade_misuses(f)]
    assert not bad, "\n".join(sorted(set(bad)))


def test_first_party_plugins_neither_override_nor_reach_private_members_of_schedkit():
    """The documented hooks (``clip``, ``tensor_values``) are the ones implemented; no plugin
    class reaches a base class's private members."""
    bad = [m for f in PLUGIN_FILES for m in _foreign_privates(f)]
    assert not bad, "\n".join(sorted(set(bad)))


def test_the_facade_check_sees_attribute_access_and_private_names():
    """The checks above catch what reading import lines alone missed."""
    source = """
import schedkit
import schedkit.conversion as conversion
import schedkit.plugin as plugin
from schedkit.plugin import factor
from schedkit.validators import steps
from schedkit_schedules.one_cycle import _anneal
from schedkit_compat import _base
from schedkit_clipping.value import Value
from schedkit_demo._own import helper

a = schedkit.validators.number
b = schedkit._lazy
c = plugin._LAZY
d = schedkit.plugin.factor
e = schedkit.BaseSchedule.own_key
f = schedkit.BaseSchedule._private
g = Value.clip
h = factor
i = conversion.Draft
j = conversion.os
"""
    # a path as a first-party plugin module has; the file is never written
    found = _facade_misuses(ROOT / "plugins/demo/src/schedkit_demo/demo.py", source)
    text = "\n".join(found)
    for bad in (
        "schedkit.validators.steps",
        "_anneal",
        "schedkit_compat._base",
        "schedkit.validators.number",
        "schedkit._lazy",
        "schedkit.plugin._LAZY",
        "schedkit.BaseSchedule._private",
        "schedkit.conversion.os",
    ):
        assert bad in text, bad
    for good in (
        "schedkit.plugin.factor:",
        "own_key",
        "Value.clip",
        "schedkit_demo._own",
        "conversion.Draft",
    ):
        assert good not in text, good
    assert len(found) == 8, text


def test_the_plugin_module_documents_and_exports_what_it_names():
    assert plugin.__doc__
    for name in plugin.__all__:
        obj = getattr(plugin, name)
        assert name in plugin.__doc__, f"schedkit.plugin does not describe {name}"
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"schedkit.plugin.{name} has no docstring"
    # the clipper extension API is public and documented
    for name in (
        "clip",
        "initial_state",
        "state",
        "upgrade_state",
        "check_extra",
        "finite",
        "global_norm",
    ):
        assert inspect.getdoc(getattr(plugin.BaseClipper, name)), name
    assert plugin.BaseClipper.state_version == 1


class RunningMax(plugin.BaseClipper, kw_only=True):
    """Clip the global norm to ``factor`` times the largest norm of the earlier steps.

    Example: ``{type = "running_max", factor = 2.0}``.
    """

    name = "running_max"
    state_version = 2

    factor: float = plugin.factor(2.0, gt=0.0)

    def initial_state(self) -> dict:
        return {"peak": torch.tensor(0.0, dtype=torch.float64), "seen": 0}

    def clip(self, target, factor, process_group):
        total = self.global_norm(target, 2.0, process_group)
        if not self.finite(target, total):
            return plugin.ClipResult(total_norm=total, skipped=True)
        coef = torch.tensor(1.0)
        if self.state["seen"]:
            limit = self.state["peak"] * (self.factor * factor)
            coef = torch.clamp(limit / (total.double() + 1e-6), max=1.0).to(total.dtype)
            plugin.scale_(target.grads, coef)
        self.state["peak"] = torch.maximum(self.state["peak"], total.detach().double())
        self.state["seen"] += 1
        return plugin.ClipResult(total_norm=total, clip_coef=coef)

    def upgrade_state(self, state, version):
        if version == 1:  # version 1 kept the peak as a float
            return {
                "peak": torch.tensor(float(state["peak"]), dtype=torch.float64),
                **{"seen": state["seen"]},
            }
        return super().upgrade_state(state, version)


@plugin.hookimpl
def schedkit_add_clippers(registry: plugin.Registrar) -> None:
    registry.add(RunningMax, examples=[{}, {"factor": 1.5, "nonfinite": "skip"}])


class _Module:
    schedkit_add_clippers = staticmethod(schedkit_add_clippers)


def test_a_stateful_clipper_on_the_public_api_passes_the_kit(fresh_registry):
    fresh_registry().register(_Module(), name="running_max_plugin")
    check_registered("clipper", "running_max")


def test_the_declared_state_is_saved_versioned_checked_and_upgraded(fresh_registry):
    fresh_registry().register(_Module(), name="running_max_plugin")
    c = schedkit.get_clipper("running_max")
    assert c.state == {"peak": torch.tensor(0.0, dtype=torch.float64), "seen": 0}
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 4.0)
    c([p])
    state = c.state_dict()
    assert state["state_version"] == 2
    assert state["extra"]["seen"] == 1

    fresh = schedkit.get_clipper("running_max")
    fresh.load_state_dict(roundtrip(state))
    assert fresh.state["seen"] == 1
    assert float(fresh.state["peak"]) == pytest.approx(float(torch.linalg.vector_norm(p.grad)))

    old = {**state, "state_version": 1, "extra": {"peak": 6.5, "seen": 3}}
    fresh.load_state_dict(old)
    assert float(fresh.state["peak"]) == 6.5
    assert fresh.state["seen"] == 3

    with pytest.raises(schedkit.StateError, match="saved with state version 7"):
        fresh.load_state_dict({**state, "state_version": 7})
    with pytest.raises(
        schedkit.StateError,
        match=r"has the entries \['seen'\], this clipper declares \['peak', 'seen'\]",
    ):
        fresh.load_state_dict({**state, "extra": {"seen": 1}})
    with pytest.raises(schedkit.StateError, match="state entry 'peak' must be a tensor of shape"):
        fresh.load_state_dict({**state, "extra": {"peak": "high", "seen": 1}})
    # a refused state changes nothing
    assert fresh.state["seen"] == 3


def test_a_clipper_without_clip_says_so_when_called():
    class Idle(plugin.BaseClipper, kw_only=True):
        """Implements no clip()."""

        name = "idle_clip"

    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    with pytest.raises(NotImplementedError, match="Idle implements no clip"):
        Idle()([p])
    assert p.grad.tolist() == [1.0, 1.0]


def test_show_gives_a_duration_field_as_a_duration():
    from schedkit.cli import describe

    types = {p["name"]: p["type"] for p in describe("schedule", "cosine")["parameters"]}
    assert types["total"] == "duration"
    assert types["end"] == "float"
    types = {p["name"]: p["type"] for p in describe("schedule", "multistep")["parameters"]}
    assert types["milestones"] == "list[duration]"


def test_the_api_page_lists_the_plugin_author_api():
    text = (ROOT / "docs" / "api.md").read_text()
    for name in (
        "RuleEffect",
        "ClipResult",
        "ParamInfo",
        "duration",
        "durations",
        "factor",
        "choice",
        "hookimpl",
        "::: schedkit.plugin",
        "::: schedkit.testing",
        "check_distribution",
    ):
        lines = text.split("\n")
        headed = f"      heading: {name}" in lines  # a name griffe reads as a module
        assert (
            f"- {name}\n" in text or name in lines or f"::: schedkit.{name}" in lines or headed
        ), name


def _plugin_imports() -> dict[str, set[str]]:
    """Each first-party plugin module -> the plugin modules it imports, at any level (in a
    function, under ``TYPE_CHECKING``)."""
    modules = {
        ".".join(p for p in f.relative_to(ROOT).with_suffix("").parts[3:] if p != "__init__"): f
        for f in PLUGIN_FILES
    }
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            edges[name] |= {t for t in targets if t in modules and t != name}
    return edges


def test_no_first_party_plugin_module_imports_one_that_imports_it_back():
    edges = _plugin_imports()
    assert "schedkit_compat.mmengine_plateau" in edges["schedkit_compat.mmengine"]

    def reached(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in edges[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    circles = sorted(
        f"{a} -> {b} -> ... -> {a}" for a in edges for b in edges[a] if a in reached(b)
    )
    assert not circles, "\n".join(circles)
