"""The generated reference: a page for every registered component, with its formula."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import schedkit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_pages", ROOT / "docs" / "gen_pages.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_component_gets_a_page_and_every_family_a_picture(gen, monkeypatch):
    monkeypatch.setattr(gen, "plot_png", lambda info: b"\x89PNG fake")
    files: dict[str, str | bytes] = {}
    gen.generate(files.__setitem__)
    for info in schedkit.registered():
        folder = gen.KIND_DIRS[info.kind]
        page = files[f"reference/{folder}/{info.name}.md"]
        assert isinstance(page, str)
        assert info.doc.splitlines()[0] in page
        assert "## Parameters" in page
        if info.kind == "schedule":
            assert f"reference/{folder}/{info.name}.png" in files
            assert f"![{info.name}]({info.name}.png)" in page
            assert f"]({folder}/{info.name}.png)" in files["reference/gallery.md"]
    cosine = files["reference/schedules/cosine.md"]
    assert "cos(2*pi*cycles*p)" in cosine  # the formula
    assert "| `total` | `duration` | required |" in cosine
    hooks = files["reference/hooks.md"]
    for name in ("schedkit_add_schedules", "schedkit_add_rules", "schedkit_add_clippers"):
        assert f"## `{name}(registry: Registrar) -> None`" in hooks


def test_docs_pages_in_the_nav_exist():
    import re

    nav = (ROOT / "mkdocs.yml").read_text()
    for page in re.findall(r":\s*([\w/-]+\.md)\s*$|^\s*-\s*([\w/-]+\.md)\s*$", nav, flags=re.M):
        name = page[0] or page[1]
        if not name.startswith("reference/"):
            assert (ROOT / "docs" / name).exists(), name


def test_the_migrating_pages_setup_snippets_build():
    import re

    import tomllib

    text = (ROOT / "docs" / "migrating.md").read_text()
    built = []
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        table = tomllib.loads(block)
        for spec in table.get("schedules", {}).values():
            built.append(schedkit.get_schedule(spec).spec()["type"])
        for spec in table.get("rules", []):
            built.append(schedkit.get_rule(spec).spec()["type"])
        if "clip" in table:
            built.append(schedkit.get_clipper(table["clip"]).spec()["type"])
    for name in (
        "cerebras.SequentialLR",
        "detectron2.WarmupMultiStepLR",
        "detectron2.default",
        "detectron2.norm",
        "mmpretrain.layer_decay",
        "torch.CosineAnnealingLR",
    ):
        assert name in built
