"""Recipe equivalence: each peer's real recipe trained 200 steps in float64, once with the
peer's own functions and once from a schedkit setup (native names, then the aliases, and
for detectron2 the setup `schedkit convert` writes from model-zoo style config files):
every parameter's lr and weight decay at every step, and the final parameters, agree to a
relative 1e-12; a setup resumed halfway in a fresh process continues bit for bit."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.peers import recipes

ROOT = Path(__file__).resolve().parents[2]
REL = 1e-12
CASES = [(name, variant) for name, r in recipes.RECIPES.items() for variant in r.setups]


@functools.cache
def _peer(name: str) -> recipes.Record:
    return recipes.run_peer(name)


@functools.cache
def _setup(name: str, variant: str) -> recipes.Record:
    record, _ = recipes.run_setup(name, variant)
    return record


def _close_rows(got: list[list[float]], want: list[list[float]], what: str) -> None:
    assert len(got) == len(want) == recipes.STEPS
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == pytest.approx(b, rel=REL, abs=0.0), f"{what} at step {step}"


def _close_params(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a.dtype == b.dtype == torch.float64
        scale = float(b.abs().max())
        torch.testing.assert_close(a, b, rtol=REL, atol=REL * scale, msg=f"parameter {i}")


#: the setups that give the peer's floats exactly (docs/migrating.md says which)
EXACT = {(name, "aliases") for name in recipes.RECIPES} | {("transformers-trainer", "native")}
#: a model-zoo style detectron2 config converted by `schedkit convert` gives them too
EXACT |= {(name, "converted") for name in recipes.RECIPES if name.startswith("detectron2")}


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_setup_trains_as_the_peer(name, variant):
    want, got = _peer(name), _setup(name, variant)
    if (name, variant) in EXACT:
        assert got.lr == want.lr
        assert got.weight_decay == want.weight_decay
        assert all(torch.equal(a, b) for a, b in zip(got.params, want.params, strict=True))
    _close_rows(got.lr, want.lr, "lr")
    _close_rows(got.weight_decay, want.weight_decay, "weight_decay")
    _close_params(got.params, want.params)
    # the recipes do vary what they check: several lrs and weight decays per step
    assert len({round(v, 15) for v in want.lr[recipes.STEPS // 2]}) > 1 or name.startswith(
        "transformers"
    )
    assert len(set(want.weight_decay[0])) > 1


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_resume_halfway_in_a_fresh_process(name, variant, tmp_path):
    first, state = recipes.run_setup(name, variant, stop=recipes.HALF)
    torch.save(state, tmp_path / "state.pt")
    out = tmp_path / "rest.pt"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.peers.recipes",
            name,
            variant,
            str(tmp_path / "state.pt"),
            str(out),
        ],
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    rest = recipes.Record.from_data(torch.load(out, weights_only=True))
    whole = _setup(name, variant)
    assert first.lr + rest.lr == whole.lr
    assert first.weight_decay + rest.weight_decay == whole.weight_decay
    for a, b in zip(rest.params, whole.params, strict=True):
        assert torch.equal(a, b)


def _toml_blocks(section: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```toml\n(.*?)```", section, flags=re.S)]


@pytest.mark.parametrize("heading", ["## timm", "## detectron2", "## transformers"])
def test_every_setup_migrating_md_shows_is_a_recipe_here(heading):
    page = (ROOT / "docs" / "migrating.md").read_text(encoding="utf-8")
    start = page.index(f"\n{heading}\n")
    end = page.find("\n## ", start + 1)
    blocks = _toml_blocks(page[start : end if end > 0 else None])
    setups = {s.strip() for r in recipes.RECIPES.values() for s in r.setups.values()}
    assert blocks
    for block in blocks:
        assert block in setups, block
