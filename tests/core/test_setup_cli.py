"""Setups from TOML and the schedkit command (through a subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from schedkit.setup import SetupError, loads_setup

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.toml"

GOOD = """
[run]
total = "4ep"
steps_per_epoch = 25

[optimizer]
type = "SGD"
lr = 0.5
momentum = 0.9

[schedules.lr]
type = "cosine"
warmup = 10
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_setup_builds_and_steps():
    setup = loads_setup(GOOD)
    model = torch.nn.Linear(3, 1)
    built = setup.build(model)
    assert built.total_steps == 100
    assert built.schedulers["lr"].schedule.spec()["total"] == 100  # filled from run.total
    assert built.optimizer.param_groups[0]["lr"] == 0.0
    for _ in range(10):
        model(torch.randn(2, 3)).sum().backward()
        built.step()
    assert built.optimizer.param_groups[0]["lr"] == 0.5
    assert all(p.grad is None for p in model.parameters())
    state = built.state_dict()
    assert state["schedulers"]["lr"]["step"] == 10


def test_every_problem_is_reported_with_its_path():
    text = """
[run]
totl = 5

[optimiser]
type = "AdamW"

[optimizer]
type = "AdamW"
lr = "fast"
betas2 = 0.9

[schedules.lr]
type = "cosin"

[schedules.weight_decay]
type = "linear"
total = -2
"""
    with pytest.raises(SetupError) as e:
        loads_setup(text)
    paths = [p.path for p in e.value.problems]
    assert paths == [
        "optimiser",
        "run.totl",
        "optimizer.betas2",
        "optimizer.lr",
        "schedules.lr.type",
        "schedules.weight_decay.total",
    ]
    msg = str(e.value)
    assert "6 problems in the setup" in msg
    assert "run.totl: unknown key; did you mean 'total'?" in msg
    assert "optimiser: unknown key; did you mean 'optimizer'?" in msg
    assert "optimizer.lr: expected a learning rate >= 0, got 'fast'" in msg
    assert "schedules.lr.type: unknown schedule 'cosin'; did you mean 'cosine'?" in msg
    assert "schedules.weight_decay.total: -2 must be >= 0 steps" in msg


def test_toml_syntax_error_has_line_and_column():
    with pytest.raises(SetupError, match=r"TOML syntax error: .*\(at line 2, column \d+\)"):
        loads_setup("[run]\ntotal = = 3\n")


def test_cli_list_and_show():
    r = run("list", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    names = {c["name"]: c for c in data["components"]}
    assert names["cosine"]["distribution"] == "schedkit-schedules"
    assert names["fixture_step_down"]["version"] == "1.2.3"
    r = run("show", "cosine")
    assert r.returncode == 0, r.stderr
    assert "Cosine annealing from 1 down to end" in r.stdout  # no reST markup
    assert "``" not in r.stdout
    assert re.search(r"^total +duration +required$", r.stdout, re.M)  # it takes "10ep" too
    r = run("show", "cosin")
    assert r.returncode == 1
    assert "did you mean 'cosine'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_check(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[schedules.lr]\ntype = 'cosine'\n")
    r = run("check", str(bad))
    assert r.returncode == 1
    assert "optimizer: expected a table with a 'type'" in r.stderr
    assert "schedules.lr.total: 'cosine' needs this parameter" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("check", str(QUICKSTART))
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        f"{QUICKSTART}: ok",
        "  horizon 1000 steps = 10ep x 100 steps per epoch",
    ]


def test_cli_preview_of_the_readme_example():
    r = run("preview", str(QUICKSTART), "--simulate", "30", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["total_steps"] == 1000
    assert d["value_mismatches"] == 0
    lr = d["schedules"]["lr"]
    assert lr["warmup_end"] == 100
    marks = {m["step"]: m["value"] for m in lr["milestones"]}
    assert marks[0] == 0.0
    assert marks[100] == pytest.approx(3e-4)
    assert marks[1000] == pytest.approx(3e-6)
    assert d["simulated_steps"] == 30


VIT = ROOT / "examples" / "vit-finetune.toml"


def test_cli_groups_and_explain():
    r = run("groups", str(VIT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == [
        "group",
        "name",
        "params",
        "numel",
        "lr",
        "weight_decay",
        "tags",
        "e.g.",
    ]
    r = run("groups", str(VIT), "--explain", "blocks.1.mlp.0.weight")
    assert "layer_decay (rules[0]) x0.274625" in r.stdout
    r = run("groups", str(VIT), "--json")
    data = json.loads(r.stdout)
    assert len(data["groups"]) == 12  # 6 depths x (decay, no decay)
    names = [g["name"] for g in data["groups"]]
    assert names[:4] == ["embed/no_decay", "embed/decay", "blocks.0/no_decay", "blocks.0/decay"]
    assert names[-2:] == ["head/no_decay", "head/decay"]
    r = run("groups", str(VIT), "--explain", "nope")
    assert r.returncode == 1
    assert "no trainable parameter named 'nope'" in r.stderr
    r = run("groups", str(VIT), "--model", "nomodule:factory")
    assert r.returncode == 1
    assert "--model nomodule:factory: No module named 'nomodule'" in r.stderr


def test_cli_plot_terminal_json_and_png_without_matplotlib():
    r = run("plot", str(QUICKSTART))
    assert r.returncode == 0, r.stderr
    assert "lr over 1000 steps" in r.stdout
    assert "*" in r.stdout
    r = run("plot", str(QUICKSTART), "--json")
    curves = json.loads(r.stdout)["curves"]
    assert len(curves["lr"]) == 1001
    assert curves["lr"][100] == pytest.approx(3e-4)
    r = run("plot", str(QUICKSTART), "-o", "out.png")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert r.returncode == 1
        assert "-o needs matplotlib" in r.stderr
    else:
        assert r.returncode == 0


def test_cli_help_and_usage_errors():
    r = run("--help")
    assert r.returncode == 0
    for command in ("list", "show", "check", "plot", "groups", "preview"):
        assert command in r.stdout
    r = run("preview", "--help")
    assert r.returncode == 0
    assert "--simulate" in r.stdout
    r = run("frobnicate")
    assert r.returncode == 2
    r = run("preview", "missing.toml")
    assert r.returncode == 1
    assert (
        "missing.toml: 1 problem in the setup:\n  cannot read the file: No such file or directory"
        in r.stderr
    )
    assert "Traceback" not in r.stderr


def test_cli_preview_reports_groups_milestones_and_clipping():
    r = run("preview", str(ROOT / "examples" / "llm-pretrain-wsd.toml"), "--simulate", "10")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "param groups (base values)" in out
    assert "<- warmup end" in out
    assert "<- decay start" in out
    assert "<- final" in out
    assert "clipping   norm: pre-clip norm min" in out
    assert "applied values all match the schedules" in out
