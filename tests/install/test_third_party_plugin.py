"""examples/third-party-plugin installs with pip into a fresh virtual environment, and its
schedule, rule and clipper are found through the registry, a TOML file and `schedkit list`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "third-party-plugin"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    py = where / "bin" / "python"
    site = subprocess.check_output(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    # The fresh environment shares only the heavy, already-installed dependencies (torch,
    # schedkit-core and its first-party plugins) with this one, through a .pth file; the
    # plugin itself is installed into it by pip, like a user would.
    shared = [
        p
        for p in sys.path
        if p and Path(p).is_dir() and ("site-packages" in p or Path(p).is_relative_to(ROOT))
    ]
    Path(site, "_shared_with_tests.pth").write_text("\n".join(shared) + "\n")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", str(PLUGIN)],
        check=True,
        timeout=600,
        env=env,
    )
    return where


def python(venv: Path, code: str, cwd: Path | None = None) -> str:
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_found_through_get_scheduler(venv):
    out = python(
        venv,
        """
        import json, torch, schedkit
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = schedkit.get_scheduler("sawtooth", opt, period=4, low=0.2)
        lrs = []
        for _ in range(5):
            lrs.append(opt.param_groups[0]["lr"])
            sched.step()
        info = schedkit.default_registry().get("schedule", "sawtooth")
        print(json.dumps({"lrs": lrs, "dist": info.distribution, "version": info.version}))
        """,
    )
    data = json.loads(out)
    assert data["lrs"] == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.2])
    assert (data["dist"], data["version"]) == ("schedkit-plateau-bump", "0.1.0")


def test_found_through_a_toml_file(venv, tmp_path):
    setup = tmp_path / "plugin.toml"
    setup.write_text(
        textwrap.dedent(
            """
            [run]
            total = 20

            [optimizer]
            type = "SGD"
            lr = 0.1

            [[rules]]
            type = "embeddings_lr"
            lr_mult = 0.5

            [schedules.lr]
            type = "sawtooth"
            period = 5

            [clip]
            type = "spike"
            ratio = 2.0
            """
        )
    )
    out = python(
        venv,
        f"""
        import json, torch, schedkit
        model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
        built = schedkit.load_setup({str(setup)!r}).build(model)
        model(torch.tensor([1, 2])).sum().backward()
        built.step()
        print(json.dumps([[g["lr"], g.get("tags", [])] for g in built.optimizer.param_groups]))
        """,
    )
    assert json.loads(out) == [
        [pytest.approx(0.05 * 0.2), ["embeddings"]],
        [pytest.approx(0.1 * 0.2), []],
    ]


def test_listed_by_schedkit_list(venv):
    out = python(
        venv, "import sys; from schedkit.cli import main; sys.exit(main(['list', '--json']))"
    )
    comps = {c["name"]: c for c in json.loads(out)["components"]}
    for name, kind in (("sawtooth", "schedule"), ("embeddings_lr", "rule"), ("spike", "clipper")):
        assert comps[name]["kind"] == kind
        assert comps[name]["distribution"] == "schedkit-plateau-bump"


def test_its_own_tests_pass_with_the_conformance_kit(venv):
    r = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(PLUGIN / "tests"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PLUGIN,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "5 passed" in r.stdout
