"""Every Python and TOML block in README.md and docs/ works as written.

A page's Python blocks run top to bottom in one namespace (as a reader pastes them), in a
scratch directory holding the repository's ``examples/`` and the page's TOML blocks as
``train.toml``; TOML blocks parse, and a block with an ``[optimizer]`` table is a setup
that loads. A block that is deliberately partial says so on the line before its fence:

    <!-- partial: why -->

and is then only compiled (Python) or skipped (TOML). Pages whose blocks need a peer that
is not installed (Lightning, Accelerate) are skipped with its name.

What a reader already has in a training script is there before a page's first block:
``torch``, ``schedkit``, ``math``, ``model`` (a small ViT), ``loader`` (a few
``(x, y)`` batches for it) and ``opt`` / ``optimizer`` (AdamW over it). Everything else a
block uses, it defines.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import tomllib

import schedkit

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>python|toml)\n(?P<body>.*?)\n```", re.S)
MARKER = "<!-- partial"


def blocks(page: Path) -> list[tuple[str, str, bool, int]]:
    """(language, code, partial, line) of every Python and TOML block of a page."""
    text = "\n" + page.read_text()
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start("lang"))
        out.append((m["lang"], m["body"], m["before"].strip().startswith(MARKER), line))
    return out


def _prelude() -> dict[str, object]:
    import math

    import torch

    from schedkit._example import tiny_vit

    model = tiny_vit()
    loader = [model.example_batch(seed=i) for i in range(4)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return {
        "__name__": "__docs__",
        "torch": torch,
        "schedkit": schedkit,
        "math": math,
        "model": model,
        "loader": loader,
        "opt": opt,
        "optimizer": opt,
    }


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_marker_is_known():
    for page in PAGES:
        for match in re.finditer(r"<!-- *partial[^>]*-->", page.read_text()):
            assert match.group(0).startswith("<!-- partial: "), (page, match.group(0))


#: keys of a schedules table that only a setup resolves (transformers' call form, the
#: warmup ratio, absolute values): a fragment holding them is loaded inside a setup
SETUP_ONLY = {
    "num_warmup_steps",
    "num_training_steps",
    "scheduler_specific_kwargs",
    "warmup_ratio",
    "end_lr",
    "min_lr",
}
FRAGMENT_CONTEXT = {"run": {"total": 1000}, "optimizer": {"type": "AdamW", "lr": 1e-3}}


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(b[0] == "toml" for b in blocks(p))], ids=_id
)
def test_toml_blocks(page):
    for lang, body, partial, line in blocks(page):
        if lang != "toml" or partial:
            continue
        where = f"{_id(page)}:{line}"
        table = tomllib.loads(body)
        if "optimizer" in table or "optimizers" in table:
            schedkit.loads_setup(body)
            continue
        for spec in table.get("schedules", {}).values():
            spec = {k: v for k, v in spec.items() if k not in ("key", "tags")}
            if SETUP_ONLY & set(spec):  # resolved by a setup against its own tables
                schedkit.load_setup({**FRAGMENT_CONTEXT, "schedules": {"lr": spec}})
                continue
            try:
                schedkit.get_schedule(spec)
            except schedkit.SpecError as e:  # the setup's run.total would fill it in
                if not (e.path == "total" and "needs this parameter" in e.message):
                    raise
                schedkit.get_schedule({**spec, "total": 100})
        for spec in table.get("rules", []):
            schedkit.get_rule(spec)
        if "clip" in table:
            schedkit.get_clipper(table["clip"])
        assert table, where


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(b[0] == "python" for b in blocks(p))], ids=_id
)
def test_python_blocks(page, tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    tomls = [body for lang, body, partial, _ in blocks(page) if lang == "toml" and not partial]
    setups = [t for t in tomls if "[optimizer]" in t]
    (tmp_path / "train.toml").write_text(
        setups[0] if setups else (ROOT / "examples" / "quickstart.toml").read_text()
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "environ", dict(os.environ))
    namespace = _prelude()
    for lang, body, partial, line in blocks(page):
        if lang != "python":
            continue
        code = compile(body, f"{_id(page)}:{line}", "exec")
        if partial:
            continue
        try:
            exec(code, namespace)
        except ModuleNotFoundError as e:
            if e.name and e.name.split(".")[0] in ("lightning", "pytorch_lightning", "accelerate"):
                pytest.skip(f"needs {e.name}")
            raise


def test_every_page_is_reachable_from_the_home_page():
    index = (ROOT / "docs" / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w/.-]+\.md)(?:#[\w-]*)?\)", index))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md") if p.name} - {
        "index.md"
    }
    assert pages <= linked, sorted(pages - linked)
    for generated in (
        "reference/index.md",
        "reference/gallery.md",
        "reference/hooks.md",
        "examples.md",
    ):
        assert generated in linked


def test_the_home_page_sells():
    index = (ROOT / "docs" / "index.md").read_text()
    assert "pip install" in index
    assert "get_scheduler(" in index
    assert "[optimizer]" in index
    for picture in ("home-cosine", "home-wsd", "home-one-cycle", "home-layer-decay"):
        assert f"img/{picture}.png" in index
    assert "(migrating.md)" in index
    assert "(reference/gallery.md)" in index


def _gen():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_pages", ROOT / "docs" / "gen_pages.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_summaries_are_whole_sentences_and_the_gallery_is_ordered():
    gen = _gen()
    assert gen.summary("Cosine annealing from 1 down to\n``end`` over ``total``. More.") == (
        "Cosine annealing from 1 down to ``end`` over ``total``."
    )
    for info in schedkit.registered():
        assert gen.summary(info.doc).endswith((".", ":", ")")), info.name
    names = [i.name for i in gen.gallery_order(schedkit.registered("schedule"))]
    first_alias = next(i for i, n in enumerate(names) if "." in n)
    assert all("." not in n for n in names[:first_alias])
    assert all("." in n for n in names[first_alias:])
    assert names.index("cosine") < names.index("cerebras.CosineDecayLR")


def test_gallery_pictures_are_sharp_and_feed_plateaus_a_metric():
    pytest.importorskip("matplotlib")
    import io

    from PIL import Image

    gen = _gen()
    info = next(i for i in schedkit.registered("schedule") if i.name == "plateau")
    with Image.open(io.BytesIO(gen.plot_png(info))) as im:
        assert im.size[0] >= 1000
    sched = schedkit.get_schedule({"type": "plateau", **dict(info.examples[0])})
    values = gen._curve(sched, list(range(0, 600, 5)))
    assert min(values) < max(values)  # it reacted to the stalled metric


def test_schedules_page_links_every_family_it_names():
    text = (ROOT / "docs" / "schedules.md").read_text()
    rows = re.findall(r"^\| (.+?) \| .+ \|$", text, flags=re.M)[2:]
    assert rows
    for row in rows:
        for name in re.findall(r"`(\w+)`", row):
            assert f"[`{name}`](reference/schedules/{name}.md)" in row, name
            assert name in {i.name for i in schedkit.registered("schedule")}, name
