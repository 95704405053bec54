"""Setups: every error class with its path, round trips, the examples, lr scaling, state."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from schedkit.setup import SetupError, load_setup, loads_setup
from schedkit.testing import assert_plain, roundtrip

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def tiny():
    from schedkit._example import tiny_vit

    return tiny_vit()


def problems(text: str) -> dict[str, str]:
    with pytest.raises(SetupError) as e:
        loads_setup(text)
    return {p.path: p.message for p in e.value.problems}


BASE = '[optimizer]\ntype = "AdamW"\nlr = 1e-3\n'


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_build_step_save_and_round_trip(path):
    setup = load_setup(path)
    again = loads_setup(setup.to_toml())
    assert again == setup
    assert again.to_toml() == setup.to_toml()
    model = tiny()
    built = setup.build(model)
    for step in range(3):
        x, y = model.example_batch(seed=step)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        built.step()
    state = built.state_dict()
    assert state["format"] == "schedkit.built"
    assert_plain(state["setup"])
    loaded = roundtrip(state)
    other = setup.build(tiny())
    other.load_state_dict(loaded)
    for a, b in zip(built.schedulers.values(), other.schedulers.values(), strict=True):
        assert a.get_last_lr() == b.get_last_lr()
        assert a.steps == b.steps == 3


def test_the_examples_cite_their_recipe():
    for path in EXAMPLES:
        first = path.read_text().splitlines()[0]
        assert first.startswith("#"), path.name


def test_unknown_tables_keys_and_types_with_suggestions():
    found = problems(
        BASE
        + '[run]\ntotl = 3\n[schedule.lr]\ntype = "cosine"\n[schedules.lr]\ntype = "cosin"\ntotal = 10\n'
        '[[rules]]\ntype = "layer_decy"\n[clip]\ntype = "norm"\nmax_nrm = 1.0\n'
    )
    assert found["run.totl"].startswith("unknown key; did you mean 'total'?")
    assert found["schedule"].startswith("unknown key; did you mean 'schedules'?")
    assert found["schedules.lr.type"] == "unknown schedule 'cosin'; did you mean 'cosine'?"
    assert found["rules[0].type"].startswith(
        "unknown rule 'layer_decy'; did you mean 'layer_decay'"
    )
    assert found["clip.max_nrm"].startswith(
        "'norm' has no parameter 'max_nrm'; did you mean 'max_norm'?"
    )
    assert found["clip.max_norm"] == "'norm' needs this parameter"  # listed too, not hidden
    assert len(found) == 6  # every problem, not just the first


def test_wrong_types_and_ranges():
    found = problems(
        '[optimizer]\ntype = "SGD"\nlr = -1.0\nmomentum = "high"\n'
        '[schedules.lr]\ntype = "cosine"\ntotal = 100\nend = -0.5\n'
        '[[rules]]\ntype = "layer_decay"\nrate = 2.0\n'
        "[run]\nsteps_per_epoch = 0\n"
    )
    assert found == {
        "optimizer.momentum": "expected a finite number, got 'high'",
        "optimizer.lr": "expected a learning rate >= 0, got -1.0",
        "schedules.lr.end": "expected a finite number >= 0, got -0.5",
        "rules[0].rate": "expected a finite number > 0 and <= 1, got 2.0",
        "run.steps_per_epoch": "expected a positive whole number, got 0",
    }


def test_problems_found_only_at_build_have_paths_too():
    # durations in epochs with no steps_per_epoch anywhere
    setup = loads_setup(BASE + '[run]\ntotal = "10ep"\n[schedules.lr]\ntype = "cosine"\n')
    with pytest.raises(SetupError) as e:
        setup.build(tiny())
    paths = [p.path for p in e.value.problems]
    assert "run.total" in paths
    assert "schedules.lr.total" in paths
    # warmup longer than the run: found at load when the durations are steps, else at build
    found = problems(BASE + '[run]\ntotal = 100\n[schedules.lr]\ntype = "cosine"\nwarmup = 150\n')
    assert found == {"schedules.lr.total": "expected more than the warmup (150 steps), got 100"}
    setup = loads_setup(
        BASE + '[run]\ntotal = "2ep"\n[schedules.lr]\ntype = "cosine"\nwarmup = "3ep"\n'
    )
    with pytest.raises(
        SetupError, match="schedules.lr.total: expected more than the warmup \\(30 steps\\), got 20"
    ):
        setup.build(tiny(), steps_per_epoch=10)
    # tags that match no group
    setup = loads_setup(BASE + '[schedules.lr]\ntype = "constant"\ntags = ["neck"]\n')
    with pytest.raises(
        SetupError, match="schedules.lr.tags: tags \\['neck'\\] match no param group"
    ):
        setup.build(tiny())


def test_nothing_can_be_imported_or_executed_from_a_file():
    found = problems(BASE + '[schedules.lr]\ntype = "lambda"\nfn = "os.system"\n')
    assert found["schedules.lr.type"].startswith(
        "'lambda' holds a Python callable and cannot be declared"
    )
    found = problems('[optimizer]\ntype = "torch.optim.AdamW"\nlr = 1.0\n')
    assert found["optimizer.type"].startswith("unknown optimizer 'torch.optim.AdamW'")


def test_toml_syntax_error_reports_line_and_column():
    with pytest.raises(SetupError, match=r"TOML syntax error: .*\(at line 4, column 5\)"):
        loads_setup(BASE + "[run\n")


class _Where:
    """An os.PathLike that is not a pathlib.Path."""

    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return str(self.path)


@pytest.mark.parametrize("suffix", ["setup.cfg", "setup", "train.ini"])
def test_a_path_is_a_path_whatever_its_suffix(tmp_path, suffix):
    path = tmp_path / suffix
    path.write_text(BASE + '[schedules.lr]\ntype = "cosine"\ntotal = 10\n')
    want = loads_setup(path.read_text())
    assert load_setup(str(path)) == want
    assert load_setup(path) == want
    assert load_setup(_Where(path)) == want


def test_a_missing_file_is_named_and_text_is_sent_to_loads_setup(tmp_path):
    missing = tmp_path / "setup.cfg"
    with pytest.raises(SetupError) as e:
        load_setup(str(missing))
    (problem,) = e.value.problems
    assert problem.message == "cannot read the file: No such file or directory"
    assert str(e.value).startswith(f"{missing}: 1 problem in the setup:")
    with pytest.raises(SetupError) as e:
        load_setup(BASE)
    (problem,) = e.value.problems
    assert problem.message.endswith(
        "; TOML text is read by schedkit.loads_setup(text), a path by load_setup"
    )
    assert str(e.value).startswith("<path>: 1 problem in the setup:")


def test_a_file_name_with_a_null_character_cannot_be_read():
    """The old code raised the raw ValueError ``embedded null byte``."""
    with pytest.raises(SetupError) as e:
        load_setup("a\x00b.toml")
    (problem,) = e.value.problems
    assert (problem.path, problem.message) == ("", "cannot read the file: embedded null byte")
    assert str(e.value).startswith("a\\x00b.toml: 1 problem in the setup:")


@pytest.mark.parametrize(
    ("call", "value", "message"),
    [
        (load_setup, 42, "expected a path or a dict, got int: 42"),
        (load_setup, b"x.toml", "expected a path or a dict, got bytes: b'x.toml'"),
        (loads_setup, Path("x.toml"), "expected TOML text (a str), got PosixPath"),
    ],
)
def test_each_entry_point_refuses_the_others_input(call, value, message):
    with pytest.raises(SetupError) as e:
        call(value)
    (problem,) = e.value.problems
    assert problem.message.startswith(message)


def test_lr_scaling_rules_are_recorded():
    text = '[optimizer]\ntype = "AdamW"\nbase_lr = 1.5e-4\nlr_scaling = "linear"\n[run]\nbatch_size = 4096\n'
    setup = loads_setup(text)
    built = setup.build(tiny())
    assert built.optimizer.param_groups[0]["lr"] == pytest.approx(1.5e-4 * 16)
    assert built.resolved["optimizer"]["lr"] == pytest.approx(2.4e-3)
    assert built.resolved["optimizer"]["base_lr"] == 1.5e-4
    sqrt = loads_setup(text.replace('"linear"', '"sqrt"')).build(tiny(), batch_size=1024)
    assert sqrt.optimizer.param_groups[0]["lr"] == pytest.approx(1.5e-4 * math.sqrt(4))
    no_batch = loads_setup(text.replace("[run]\nbatch_size = 4096\n", ""))
    with pytest.raises(
        SetupError, match="optimizer.base_lr: lr scaling needs the effective batch size"
    ):
        no_batch.build(tiny())
    found = problems(
        '[optimizer]\ntype = "AdamW"\nlr = 1e-3\nbase_lr = 1e-4\nlr_scaling = "cubic"\n'
    )
    assert found["optimizer.base_lr"] == "give lr, or base_lr with lr_scaling, not both"
    assert found["optimizer.lr_scaling"] == "expected one of 'linear', 'sqrt', got 'cubic'"


def test_to_toml_fills_in_defaults():
    text = loads_setup(BASE + '[schedules.lr]\ntype = "cosine"\ntotal = 10\n').to_toml()
    assert "eps = 1e-08" in text  # the optimizer's default
    assert "k_decay = 1.0" in text  # the schedule's default
    assert "warmup" not in text


def test_built_step_clips_and_schedules():
    setup = loads_setup(
        BASE
        + '[run]\ntotal = 10\n[schedules.lr]\ntype = "linear"\n[clip]\ntype = "norm"\nmax_norm = 0.01\n'
    )
    model = tiny()
    built = setup.build(model)
    x, y = model.example_batch()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    built.step(zero_grad=False)
    assert built.last_clip is not None
    total = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert total.item() == pytest.approx(0.01, rel=1e-4)
    assert built.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.9)


def test_a_setup_is_validated_once_and_without_torchs_compiler(monkeypatch):
    import schedkit.setup.recipe as recipe

    calls = []
    real = recipe.dry_run
    monkeypatch.setattr(recipe, "dry_run", lambda *a, **k: calls.append(1) or real(*a, **k))
    setup = load_setup(ROOT / "examples" / "vit-finetune.toml")
    assert setup.problems() == []
    setup.build(tiny())
    assert len(calls) == 1  # the load's validation; check and build find it done
    setup.build(tiny(), steps_per_epoch=100)  # another run length: validated for it, once
    setup.build(tiny(), steps_per_epoch=100)
    assert len(calls) == 2


def test_check_does_not_import_torchs_compiler():
    import subprocess
    import sys

    code = (
        "import sys, schedkit\n"
        f"s = schedkit.load_setup({str(ROOT / 'examples' / 'vit-finetune.toml')!r})\n"
        "assert s.problems() == []\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "False"


def test_torch_still_refuses_an_option_at_load():
    found = problems('[optimizer]\ntype = "SGD"\nlr = 0.1\nnesterov = true\n')
    assert "nesterov" in found["optimizer.nesterov"].lower()
    found = problems('[optimizer]\ntype = "Adam"\nlr = 0.1\nfused = true\nforeach = true\n')
    assert list(found) == ["optimizer.fused"]


def test_to_toml_keeps_a_mapping_inside_a_table_on_one_line():
    from schedkit import _toml_out

    text = _toml_out.dumps(
        {
            "optimizer": {"type": "AdamW", "lr": 1e-3},
            "rules": [{"type": "overrides", "keys": {"head.*": {"lr_mult": 10.0}}, "x": None}],
            "schedules": {"lr": {"type": "cosine", "total": 100}},
        }
    )
    assert text == (
        '[optimizer]\ntype = "AdamW"\nlr = 0.001\n\n'
        '[[rules]]\ntype = "overrides"\nkeys = {"head.*" = {lr_mult = 10.0}}\n\n'
        '[schedules.lr]\ntype = "cosine"\ntotal = 100\n'
    )
