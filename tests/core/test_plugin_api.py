"""The plugin-author API: one module (schedkit.plugin) that first-party plugins use as a
third party would, and a public, typed extension API for stateful clippers."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch

import schedkit
import schedkit.plugin as plugin
from schedkit.testing import check_registered, roundtrip

ROOT = Path(__file__).resolve().parents[2]
# schedkit.conversion is the converter-author API (Draft, Facts, Sourced)
ALLOWED = {"schedkit", "schedkit.plugin", "schedkit.conversion"}


def _schedkit_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "schedkit"]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "schedkit"
        ):
            found.append(str(node.module))
    return found


def test_first_party_plugins_import_schedkit_only_through_the_public_modules():
    files = sorted(ROOT.glob("plugins/*/src/**/*.py"))
    assert len(files) > 20
    bad = {
        f"{f.relative_to(ROOT)}: {m}"
        for f in files
        for m in _schedkit_imports(f)
        if m not in ALLOWED
    }
    assert not bad, "\n".join(sorted(bad))


def test_the_plugin_module_documents_and_exports_what_it_names():
    assert plugin.__doc__
    for name in plugin.__all__:
        obj = getattr(plugin, name)
        assert name in plugin.__doc__, f"schedkit.plugin does not describe {name}"
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"schedkit.plugin.{name} has no docstring"
    # the clipper extension API is public and documented
    for name in ("clip", "initial_state", "state", "upgrade_state", "finite", "global_norm"):
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


def test_a_clipper_still_implementing_the_former_private_name_works():
    class Legacy(plugin.BaseClipper, kw_only=True):
        """Halves every gradient, through the former private method."""

        name = "legacy_half"

        def _clip(self, target, factor, process_group):
            torch._foreach_mul_(target.grads, 0.5)
            return plugin.ClipResult()

    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    Legacy()([p])
    assert p.grad.tolist() == [0.5, 0.5]


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
