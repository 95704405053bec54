"""What ``schedkit plot``, ``preview`` and ``groups`` show: every group, every key, sampled
curves, honest explanations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from schedkit._curves import POINTS, curves, sample_steps
from schedkit._example import tiny_vit
from schedkit.setup import load_setup, loads_setup

ROOT = Path(__file__).resolve().parents[2]
VIT = ROOT / "examples" / "vit-finetune.toml"
ONE_CYCLE = ROOT / "examples" / "resnet-one-cycle.toml"
WSD = ROOT / "examples" / "llm-pretrain-wsd.toml"


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(capsys, monkeypatch):
    """The command, in this process (a subprocess would import torch again each time)."""
    from schedkit.cli import main

    monkeypatch.setattr(sys, "path", list(sys.path))

    def call(*args: str, cwd: Path | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


def _data(path: Path) -> dict:
    built = load_setup(path).build(tiny_vit())
    return curves(built, built.total_steps)


def test_sampled_steps_are_bounded_and_keep_the_milestones():
    assert sample_steps(10) == list(range(11))
    steps = sample_steps(10**13, [7, 10**12 + 3])
    assert len(steps) <= POINTS + 2
    assert steps[0] == 0
    assert steps[-1] == 10**13
    assert 7 in steps
    assert 10**12 + 3 in steps
    assert steps == sorted(set(steps))


def test_every_group_and_key_is_a_curve():
    data = _data(VIT)
    lr = data["keys"]["lr"]
    assert len(lr["groups"]) == 12  # 6 depths x (decay, no decay)
    peaks = sorted(max(g["values"]) for g in lr["groups"])
    assert peaks[-1] == pytest.approx(2e-3)  # the head's full lr is on the plot
    assert peaks[0] == pytest.approx(2e-3 * 0.65**5)
    assert lr["milestones"]["warmup end"] == 5 * 1251
    assert any("layer_decay" in g["label"] for g in lr["groups"])
    assert any("no_weight_decay" in g["label"] for g in lr["groups"])
    keys = _data(ONE_CYCLE)["keys"]
    assert set(keys) == {"lr", "momentum"}
    momentum = keys["momentum"]["groups"][0]["values"]
    assert momentum[0] == pytest.approx(0.95)
    assert min(momentum) == pytest.approx(0.85, abs=1e-4)
    keys = _data(WSD)["keys"]
    assert set(keys) == {"lr", "weight_decay"}
    assert keys["lr"]["milestones"]["decay start"] == 80_000


def test_figure_has_an_axis_per_key_a_line_per_group_and_a_legend():
    pytest.importorskip("matplotlib")
    from schedkit._plot import figure

    fig = figure(_data(VIT))
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len([line for line in lines if line.get_gid().startswith("group")]) == 12
    assert [line.get_gid() for line in lines].count("milestone") == 1  # the warmup end
    assert ax.get_ylabel() == "lr (absolute)"
    assert ax.get_xlabel() == "step"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(legend) == 12
    assert any(t.startswith("0: ") and "layer_decay" in t for t in legend)
    assert ax.get_yscale() == "linear"
    assert figure(_data(VIT), log=True).axes[0].get_yscale() == "log"
    fig = figure(_data(ONE_CYCLE))
    assert [a.get_ylabel() for a in fig.axes] == ["lr (absolute)", "momentum"]
    assert [t.get_text() for t in ax.texts] == ["warmup end"]


def test_cli_plot_png_of_every_group(run, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    out = tmp_path / "vit.png"
    r = run("plot", str(VIT), "-o", str(out))
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        width, height = im.size
    assert width >= 1400
    assert height >= 500
    svg = tmp_path / "one-cycle.svg"
    r = run("plot", str(ONE_CYCLE), "-o", str(svg), "--log")
    assert r.returncode == 0, r.stderr
    assert svg.read_text().count('<g id="axes_') == 2  # lr and momentum


def test_cli_plot_json_is_sampled_even_for_a_huge_run(run, tmp_path):
    huge = tmp_path / "huge.toml"
    huge.write_text(
        '[run]\ntotal = 10000000000000\n[optimizer]\ntype = "SGD"\nlr = 0.1\n'
        '[schedules.lr]\ntype = "cosine"\nwarmup = 1000\n'
    )
    r = run("plot", str(huge), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["steps"] == 10**13
    assert len(d["at"]["lr"]) <= POINTS + 4
    assert 1000 in d["at"]["lr"]
    assert d["curves"]["lr"][d["at"]["lr"].index(1000)] == pytest.approx(0.1)
    assert len(r.stdout) < 1_000_000
    r = run("preview", str(huge), "--simulate", "3", "--json")
    assert r.returncode == 0, r.stderr


def test_cli_preview_shows_every_group_and_key(run):
    r = run("preview", str(VIT), "--simulate", "2")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("schedules (every scheduled group)")[1]
    for i in range(12):
        assert f"group {i}: " in section
    assert "g11" in section
    r = run("preview", str(ONE_CYCLE), "--simulate", "2", "--json")
    d = json.loads(r.stdout)
    assert set(d["schedules"]) == {"lr", "momentum"}
    assert len(d["schedules"]["lr"]["milestones"][0]["values"]) == 2


def test_cli_explain_only_what_was_asked_with_the_base_values(run):
    r = run("groups", str(VIT), "--explain", "cls_token")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("cls_token: group ")
    assert "params" not in r.stdout.splitlines()[0]
    lr = next(line for line in lines if line.strip().startswith("lr = "))
    assert "lr = 0.0:" not in lr
    assert "default 0.002" in lr
    assert "x0.116" in lr
    wd = next(line for line in lines if line.strip().startswith("weight_decay = "))
    assert wd.startswith("  weight_decay = 0.0:")


class MLP(__import__("torch").nn.Module):
    def __init__(self) -> None:
        import torch

        super().__init__()
        self.embed = torch.nn.Linear(4, 8)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(3))
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Linear(8, 2)


def make_mlp() -> MLP:
    return MLP()


def test_auto_layout_says_what_it_chose_and_what_fell_to_the_rest(run, tmp_path):
    import schedkit

    groups = schedkit.build_param_groups(MLP(), [{"type": "layer_decay", "rate": 0.5}], lr=1.0)
    notes = groups.notes
    assert "layer_decay: layout 'auto' chose 'vit'" in notes
    rest = next(n for n in notes if "on top" in n)
    assert "embed.weight" in rest
    assert "head.weight" in rest
    assert "layout 'auto' chose 'vit'" in groups.explain("embed.weight")
    (tmp_path / "mlp_models.py").write_text(
        "import torch\n"
        "class MLP(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.embed = torch.nn.Linear(4, 8)\n"
        "        self.blocks = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(3))\n"
        "        self.head = torch.nn.Linear(8, 2)\n"
        "def make():\n"
        "    return MLP()\n"
    )
    setup = tmp_path / "s.toml"
    setup.write_text(
        '[optimizer]\ntype = "SGD"\nlr = 0.1\n[[rules]]\ntype = "layer_decay"\nrate = 0.5\n'
    )
    r = run("groups", str(setup), "--model", "mlp_models:make", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "note: layer_decay: layout 'auto' chose 'vit'" in r.stdout
    assert "embed.weight" in r.stdout.split("note:")[-1]
    r = run("preview", str(setup), "--model", "mlp_models:make", "--simulate", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "layout 'auto' chose 'vit'" in r.stdout


def test_patterns_null_depth_is_expressible_and_negative_refused():
    import schedkit

    rule = schedkit.get_rule(
        {
            "type": "layer_decay",
            "rate": 0.5,
            "layout": "patterns",
            "rest": "top",
            "patterns": [["^embed", 0], ["^blocks\\.(\\d+)\\."]],
        }
    )
    assert rule.patterns[1] == ("^blocks\\.(\\d+)\\.", None)
    assert rule.spec()["patterns"] == [["^embed", 0], ["^blocks\\.(\\d+)\\."]]
    same = schedkit.get_rule(
        {
            "type": "layer_decay",
            "rate": 0.5,
            "layout": "patterns",
            "rest": "top",
            "patterns": [["^embed", 0], ["^blocks\\.(\\d+)\\.", "auto"]],
        }
    )
    assert same == rule
    groups = schedkit.build_param_groups(MLP(), [rule], lr=1.0)
    lrs = {n: groups[groups.group_of(n)]["lr"] for n in ("embed.weight", "blocks.2.weight")}
    assert lrs["blocks.2.weight"] == pytest.approx(0.5)  # depth 3 of 5: 0.5 ** (5 - 3 - 1)
    assert lrs["embed.weight"] == pytest.approx(0.5**4)
    with pytest.raises(schedkit.SpecError, match=r"patterns\[0\]: a depth counts from 0"):
        schedkit.get_rule(
            {"type": "layer_decay", "rate": 0.5, "layout": "patterns", "patterns": [["x", -1]]}
        )
    setup = (
        '[optimizer]\ntype = "SGD"\nlr = 0.1\n[[rules]]\ntype = "layer_decay"\nrate = 0.5\n'
        'layout = "patterns"\nrest = "top"\npatterns = [["^embed", 0], ["^blocks\\\\.(\\\\d+)\\\\."]]\n'
    )
    assert loads_setup(setup).to_toml().count('["^blocks') == 1


def test_check_takes_many_files_and_reports_each(run, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[optimizer]\ntype = "AdamW"\nlr = 1e-3\nwarmup = 3\n')
    good = [str(p) for p in sorted((ROOT / "examples").glob("*.toml"))]
    r = run("check", *good)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok") == len(good)
    r = run("check", good[0], str(bad), good[1])
    assert r.returncode == 1
    assert r.stdout.count(": ok") == 2
    assert "bad.toml" in r.stderr
    assert "2 of 3 setups ok" in r.stderr
    r = run("check", "--json", good[0], str(bad))
    d = json.loads(r.stdout)
    assert d["ok"] is False
    assert [f["ok"] for f in d["files"]] == [True, False]


def test_base_lr_without_lr_scaling_says_it_is_missing():
    from schedkit.setup import SetupError, loads_setup

    with pytest.raises(SetupError) as e:
        loads_setup('[optimizer]\ntype = "AdamW"\nbase_lr = 1e-3\n')
    (problem,) = e.value.problems
    assert problem.path == "optimizer.lr_scaling"
    assert problem.message.startswith("missing:")
    assert "None" not in problem.message


def test_version_module_and_completion(run):
    from importlib.metadata import version

    r = subprocess.run(
        [sys.executable, "-m", "schedkit", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"schedkit {version('schedkit-core')}"
    assert "Warning" not in r.stderr  # e.g. torch's "Failed to initialize NumPy"
    r = run("completion", "bash")
    assert r.returncode == 0
    assert "complete -o filenames -F _schedkit schedkit" in r.stdout
    for command in ("check", "preview", "plot", "groups", "show", "list", "completion"):
        assert command in r.stdout
    assert "--steps-per-epoch" in r.stdout
    assert run("completion", "zsh").stdout.startswith("autoload -U +X bashcompinit")
    assert "complete -c schedkit" in run("completion", "fish").stdout
    names = run("completion", "--names").stdout.split()
    assert "cosine" in names
    assert "layer_decay" in names


def test_bash_completion_script_completes(run, tmp_path):
    import shutil

    if shutil.which("bash") is None:
        pytest.skip("no bash")
    script = tmp_path / "c.sh"
    script.write_text(run("completion", "bash").stdout)
    r = subprocess.run(
        [
            "bash",
            "-c",
            f"source {script}; COMP_WORDS=(schedkit pre); COMP_CWORD=1; _schedkit; "
            'echo "${COMPREPLY[@]}"; COMP_WORDS=(schedkit plot --l); COMP_CWORD=2; _schedkit; '
            'echo "${COMPREPLY[@]}"',
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.stdout.splitlines() == ["preview", "--log"]


def test_numpy_is_a_dependency_so_torch_does_not_warn():
    from importlib.metadata import requires

    assert any(r.startswith("numpy") for r in requires("schedkit-core") or [])


def test_text_plot_labels_its_x_axis_in_steps(run):
    """The terminal chart of a 125,100-step run ends at step 125100, not at its sample count."""
    r = run("plot", str(VIT))
    assert r.returncode == 0, r.stderr
    first = r.stdout.split("\n\n")[0].splitlines()
    assert first[0].startswith("lr over 125100 steps")
    axis = first[-1].split()
    assert axis == ["0", "step", "125100"]


def test_the_terminal_chart_places_samples_at_their_steps():
    from schedkit.cli import chart

    # samples bunched at the start: the columns follow the steps, not the sample index
    steps = [0, 1, 2, 3, 100]
    values = [0.0, 0.0, 0.0, 0.0, 1.0]
    rows = chart(values, width=11, height=2, steps=steps).splitlines()
    top = rows[0].split("|", 1)[1]
    bottom = rows[2].split("|", 1)[1]
    # each column shows the sample nearest its step: steps 60 to 100 are nearest step 100
    assert top == "      *****"
    assert bottom == "******     "
    assert rows[-1].split() == ["0", "step", "100"]
    with pytest.raises(ValueError, match="3 values for 2 steps"):
        chart([1.0, 2.0, 3.0], steps=[0, 1])


def test_preview_measures_the_loss_on_the_same_batch_before_and_after():
    import torch

    from schedkit.cli import preview

    n = 3
    d = preview(str(VIT), None, None, n)
    model = tiny_vit()
    built = load_setup(VIT).build(model)
    x, y = model.example_batch(seed=0)
    with torch.no_grad():
        before = float(torch.nn.functional.cross_entropy(model(x), y))
    for step in range(n):
        xb, yb = model.example_batch(seed=step % 4)
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        built.step()
    with torch.no_grad():
        after = float(torch.nn.functional.cross_entropy(model(x), y))
    assert d["loss_first"] == pytest.approx(before, rel=1e-4)
    assert d["loss_last"] == pytest.approx(after, rel=1e-4)
    assert d["loss_last"] < d["loss_first"]


def test_preview_runs_a_small_model_on_one_thread_and_restores_the_count(monkeypatch):
    import torch

    from schedkit._example import TinyViT
    from schedkit.cli import preview

    seen: list[int] = []
    forward = TinyViT.forward

    def spy(self, x):
        seen.append(torch.get_num_threads())
        return forward(self, x)

    monkeypatch.setattr(TinyViT, "forward", spy)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        preview(str(VIT), None, None, 2)
        assert seen
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
