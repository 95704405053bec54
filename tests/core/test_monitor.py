"""schedkit.Monitor in a plain loop: its keys (Lightning's conventions), the values each
update used, the clipper's outcome, per-parameter gradient norms, logging and writing."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import schedkit
from schedkit._example import tiny_vit
from schedkit.monitor import group_keys, optimizer_prefixes

ROOT = Path(__file__).resolve().parents[2]
VIT = ROOT / "examples" / "vit-finetune.toml"

NAMES = [
    "embed/no_decay",
    "embed/decay",
    *[f"blocks.{i}/{d}" for i in range(4) for d in ("no_decay", "decay")],
    "head/no_decay",
    "head/decay",
]


def _train(built, model, steps, monitor, seen=None):
    for k in range(steps):
        x, y = model.example_batch(seed=k)
        F.cross_entropy(model(x), y).backward()
        built.step()
        if seen is not None:
            seen.append((monitor.step, monitor.due()))


def test_keys_are_lightnings_and_values_are_what_each_update_used():
    model = tiny_vit()
    built = schedkit.load_setup(VIT).build(model, steps_per_epoch=4)
    bases = [g["initial_lr"] for g in built.optimizer.param_groups]
    schedule = built.schedulers["lr"].schedule
    monitor = schedkit.Monitor(built, every=3)
    assert monitor.keys() == [f"lr-AdamW/{n}" for n in NAMES]
    # before any update: what the first update will use (step 0 of the warmup)
    assert list(monitor.values().values()) == [b * schedule(0) for b in bases]
    seen: list[tuple[int, bool]] = []
    _train(built, model, 7, monitor, seen)
    assert seen == [
        (1, False),
        (2, False),
        (3, True),
        (4, False),
        (5, False),
        (6, True),
        (7, False),
    ]
    values = monitor.values()  # update 6's, which used the lr of step 5
    lrs = {k: v for k, v in values.items() if k.startswith("lr-")}
    assert list(lrs.values()) == [b * schedule(5) for b in bases]
    norm = built.last_clip.total_norm  # update 7's: the monitor kept update 6's
    assert values["grad_2.0_norm_total"] != float(norm)
    assert set(values) - set(lrs) == {"grad_2.0_norm_total", "clip/clipped", "clip/skipped"}
    assert values["clip/skipped"] == 0.0


def test_the_clip_outcome_and_grad_norms_are_those_of_the_update():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    setup = schedkit.loads_setup(
        """
        [optimizer]
        type = "SGD"
        lr = 0.1
        weight_decay = 1e-4
        [[rules]]
        type = "no_weight_decay"
        [schedules.lr]
        type = "linear"
        total = 10
        [clip]
        type = "norm"
        max_norm = 0.5
        """
    )
    built = setup.build(model)
    monitor = schedkit.Monitor(built, grad_norms=True)
    expected: dict[str, float] = {}

    def record(opt, args, kwargs):  # after the monitor's hook: the clipped gradients
        for name, p in model.named_parameters():
            expected[f"grad_2.0_norm/{name}"] = float(torch.linalg.vector_norm(p.grad))

    built.optimizer.register_step_pre_hook(record)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    model(x).pow(2).mean().mul(100).backward()
    pre = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])))
    built.step()
    values = monitor.values()
    assert values["grad_2.0_norm_total"] == pytest.approx(pre, rel=1e-6)
    assert values["clip/clipped"] == 1.0
    assert {k: v for k, v in values.items() if k.startswith("grad_2.0_norm/")} == expected
    assert [k for k in values if k.startswith("lr-")] == ["lr-SGD/decay", "lr-SGD/no_decay"]
    assert values["lr-SGD/decay"] == 0.1  # step 0 of the linear decay
    # a small gradient is not clipped
    model(x).pow(2).mean().mul(1e-6).backward()
    built.step()
    assert monitor.values()["clip/clipped"] == 0.0
    monitor.close()
    model(x).pow(2).mean().backward()
    built.step()
    assert monitor.step == 2


def test_other_scheduled_keys_take_lightnings_suffixes():
    model = nn.Linear(3, 1)
    setup = schedkit.loads_setup(
        """
        [optimizer]
        type = "AdamW"
        lr = 0.01
        weight_decay = 0.1
        [schedules.lr]
        type = "torch.OneCycleLR"
        max_lr = 0.01
        total_steps = 10
        [schedules.weight_decay]
        type = "cosine"
        total = 10
        """
    )
    built = setup.build(model)
    values = schedkit.Monitor(built).values()
    assert sorted(values) == [
        "lr-AdamW/default",
        "lr-AdamW/default-momentum",
        "lr-AdamW/default-weight_decay",
    ]
    group = built.optimizer.param_groups[0]
    assert values["lr-AdamW/default-momentum"] == group["betas"][0]
    assert values["lr-AdamW/default-weight_decay"] == group["weight_decay"] == 0.1


def test_prefixes_and_group_keys_follow_lightning():
    sgd = lambda: torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)  # noqa: E731
    adam = torch.optim.AdamW([nn.Parameter(torch.zeros(1))])
    assert optimizer_prefixes([sgd(), adam, sgd(), sgd()]) == [
        "lr-SGD",
        "lr-AdamW",
        "lr-SGD-1",
        "lr-SGD-2",
    ]
    assert group_keys("lr-SGD", [{}]) == ["lr-SGD"]
    assert group_keys("lr-SGD", [{"name": "head"}]) == ["lr-SGD/head"]
    assert group_keys("lr-SGD", [{"name": "a"}, {}]) == ["lr-SGD/a", "lr-SGD/pg2"]


def test_log_and_write_every_n_steps(caplog, capsys):
    model = tiny_vit()
    built = schedkit.load_setup(VIT).build(model, steps_per_epoch=4)
    monitor = schedkit.Monitor(built, every=2)

    class Writer:
        def __init__(self) -> None:
            self.calls: list[tuple[str, float, int]] = []

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            self.calls.append((tag, value, step))

    writer = Writer()
    logger = logging.getLogger("schedkit.test.monitor")
    lines: list[str] = []
    with caplog.at_level(logging.INFO, logger="schedkit.test.monitor"):
        for k in range(4):
            _train(built, model, 1, monitor)
            assert monitor.write(writer) == (k % 2 == 1)
            monitor.log(logger)
            monitor.log(lines.append)
            monitor.log()
    assert [s for _, _, s in writer.calls] == [2] * 15 + [4] * 15
    assert writer.calls[0][0] == "lr-AdamW/embed/no_decay"
    assert [r.getMessage() for r in caplog.records] == lines
    assert len(lines) == 2
    assert lines[0].startswith("step 2: lr-AdamW/embed/no_decay=")
    assert capsys.readouterr().out.splitlines() == lines
    _train(built, model, 1, monitor)  # update 5: not recorded
    assert monitor.log(lines.append) is False
    assert monitor.write(writer) is False
    assert monitor.log(lines.append, force=True) is True
    assert lines[-1].startswith("step 5: ")


@pytest.mark.parametrize(("kwargs", "path"), [({"every": 0}, "every"), ({"start": 1.5}, "start")])
def test_bad_arguments_name_the_argument(kwargs, path):
    built = schedkit.load_setup(VIT).build(tiny_vit())
    with pytest.raises(schedkit.SpecError) as e:
        schedkit.Monitor(built, **kwargs)
    assert e.value.path == path


def test_import_schedkit_imports_no_trainer_and_no_tensorboard():
    code = (
        "import sys, schedkit; schedkit.Monitor; import schedkit.monitor; "
        "bad = [m for m in ('lightning', 'transformers', 'tensorboard', "
        "'torch.utils.tensorboard') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "thing", [None, "built", torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)]
)
def test_a_monitor_of_something_else_is_a_spec_error(thing):
    """``Monitor(optimizer)`` was a raw AttributeError."""
    with pytest.raises(schedkit.SpecError) as e:
        schedkit.Monitor(thing)
    assert e.value.path == "built"


def test_a_monitor_flag_must_be_a_bool():
    """``grad_norms="no"`` turned the gradient norms on."""
    built = schedkit.loads_setup(
        '[optimizer]\ntype = "SGD"\nlr = 0.1\n[schedules.lr]\ntype = "cosine"\ntotal = 10\n'
    ).build(torch.nn.Linear(2, 2))
    with pytest.raises(schedkit.SpecError) as e:
        schedkit.Monitor(built, grad_norms="no")
    assert e.value.path == "grad_norms"
