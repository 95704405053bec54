"""The resuming page: its figure is two real replans of one WSD run, drawn by the code of
``schedkit replan -o``, and the page shows it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import schedkit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_pages", ROOT / "docs" / "gen_pages.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_figure_is_two_replans_that_continue_the_run(gen):
    plans = gen.replan_plans()
    cooldown, longer = plans.values()
    for c in (cooldown, longer):
        assert c["step"] == 5000
        at = c["steps"].index(5000)
        assert c["new"][at] == c["old"][at] == 3e-4
        # the run so far is the old plan's, to the resume step
        assert c["old"][: at + 1] == [
            3e-4 * schedkit.get_schedule("wsd", total=10_000, warmup=500, decay=2000)(s)
            for s in c["steps"][: at + 1]
        ]
    decided = schedkit.get_schedule("wsd", total=10_000, warmup=500, decay=2000, decay_start=5000)
    assert cooldown["new"] == [3e-4 * decided(s) for s in cooldown["steps"]]
    assert cooldown["new"][cooldown["steps"].index(7000)] == 0.0
    assert longer["steps"][-1] == 16_000
    assert longer["new"][longer["steps"].index(14_000)] == 3e-4


def test_the_page_draws_it_with_the_replan_commands_figure(gen, monkeypatch):
    pytest.importorskip("matplotlib")
    figures = []
    monkeypatch.setattr(gen, "_png", lambda fig: figures.append(fig) or b"\x89PNG")
    gen.replan_png()
    (fig,) = figures
    assert [ax.get_title() for ax in fig.axes] == list(gen.replan_plans())
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            "old plan",
            "run so far",
            "new plan",
        ]
    page = (ROOT / "docs" / "resuming.md").read_text()
    assert "](img/replan.png)" in page
    assert "resuming.md" in (ROOT / "mkdocs.yml").read_text()
