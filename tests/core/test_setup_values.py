"""Values a setup resolves against its own tables: absolute ``end_lr``/``min_lr`` against
``[optimizer]``'s lr, transformers' ``warmup_ratio`` and call form in a ``[schedules.*]``
table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import TrainingArguments, get_scheduler

import schedkit
from schedkit import SetupError


def _setup(schedule: str, optimizer: str = 'type = "SGD"\nlr = 0.001', run: str = "") -> str:
    return f"[run]\n{run}\n[optimizer]\n{optimizer}\n[schedules.lr]\n{schedule}\n"


def test_absolute_end_lr_is_a_share_of_the_optimizers_lr():
    setup = schedkit.loads_setup(_setup('type = "cosine"\ntotal = 100\nend_lr = 1e-5'))
    (entry,) = setup.schedules
    assert entry.schedule.spec()["end"] == 1e-5 / 1e-3
    assert schedkit.loads_setup(setup.to_toml()) == setup


def test_absolute_values_scale_per_group_as_timm_scales_lr_min():
    # a group at a tenth of the lr ends at a tenth of end_lr, as timm's lr_scale does
    setup = schedkit.loads_setup(
        _setup(
            'type = "cosine"\ntotal = 10\nmin_lr = 1e-5',
            optimizer='type = "SGD"\nlr = 0.001',
        )
        + '[[rules]]\ntype = "overrides"\nkeys = {"0.bias" = {lr_mult = 0.1}}\n'
    )
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    built = setup.build(model)
    for _ in range(10):
        built.step()
    lrs = sorted(g["lr"] for g in built.optimizer.param_groups)
    assert lrs == pytest.approx([1e-6, 1e-5], rel=1e-12)


def test_absolute_values_with_base_lr_use_the_run_batch_size():
    opt = 'type = "SGD"\nbase_lr = 0.001\nlr_scaling = "linear"'
    setup = schedkit.loads_setup(
        _setup('type = "cosine"\ntotal = 10\nend_lr = 1e-5', opt, "batch_size = 512")
    )
    assert setup.schedules[0].schedule.spec()["end"] == pytest.approx(1e-5 / 2e-3, rel=1e-15)
    with pytest.raises(SetupError, match=r"schedules\.lr\.end_lr: 'end_lr' is an absolute value"):
        schedkit.loads_setup(_setup('type = "cosine"\ntotal = 10\nend_lr = 1e-5', opt))


@pytest.mark.parametrize(("ratio", "total"), [(0.07, 200), (0.06, 1000), (0.1, 37), (0.0, 50)])
def test_warmup_ratio_is_transformers_rule(ratio, total):
    want = TrainingArguments.get_warmup_steps(SimpleNamespace(warmup_steps=ratio), total)
    setup = schedkit.loads_setup(
        _setup(f'type = "cosine"\nwarmup_ratio = {ratio}', run=f"total = {total}")
    )
    got = setup.schedules[0].schedule.spec().get("warmup", 0)
    assert got == want


def test_warmup_ratio_differs_from_a_percentage_where_documented():
    ratio = schedkit.loads_setup(_setup('type = "cosine"\nwarmup_ratio = 0.07', run="total = 200"))
    share = schedkit.loads_setup(_setup('type = "cosine"\nwarmup = "7%"', run="total = 200"))
    assert ratio.schedules[0].schedule.spec()["warmup"] == 15
    model = torch.nn.Linear(1, 1)
    assert share.build(model).schedulers["lr"].schedule.spec()["warmup"] == 14


def test_warmup_ratio_errors_name_the_key():
    with pytest.raises(SetupError, match=r"schedules\.lr\.warmup_ratio: warmup_ratio needs"):
        schedkit.loads_setup(_setup('type = "cosine"\ntotal = "10ep"\nwarmup_ratio = 0.1'))
    with pytest.raises(SetupError, match=r"schedules\.lr\.warmup_ratio: expected a ratio"):
        schedkit.loads_setup(_setup('type = "cosine"\nwarmup_ratio = 1.5', run="total = 10"))
    with pytest.raises(SetupError, match="give warmup or warmup_ratio, not both"):
        schedkit.loads_setup(
            _setup('type = "cosine"\nwarmup = 3\nwarmup_ratio = 0.1', run="total = 10")
        )


def _transformers_lrs(name, n, **kw):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.001)
    sched = get_scheduler(name, opt, **kw)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _setup_lrs(text, n):
    built = schedkit.loads_setup(text).build(torch.nn.Linear(1, 1, bias=False))
    out = [built.optimizer.param_groups[0]["lr"]]
    for _ in range(n - 1):  # the value of step n - 1 without a step past it (a HorizonWarning)
        built.step()
        out.append(built.optimizer.param_groups[0]["lr"])
    return out


@pytest.mark.parametrize(
    ("table", "name", "kw"),
    [
        (
            'type = "cosine"\nnum_warmup_steps = 10\nnum_training_steps = 100',
            "cosine",
            {"num_warmup_steps": 10, "num_training_steps": 100},
        ),
        (
            'type = "cosine"\nwarmup_ratio = 0.07\nnum_training_steps = 200\nnum_cycles = 0.4',
            "cosine",
            {
                "num_warmup_steps": 15,
                "num_training_steps": 200,
                "scheduler_specific_kwargs": {"num_cycles": 0.4},
            },
        ),
        (
            'type = "cosine_with_min_lr"\nnum_warmup_steps = 5\nnum_training_steps = 60\n'
            "scheduler_specific_kwargs = {min_lr = 1e-5}",
            "cosine_with_min_lr",
            {
                "num_warmup_steps": 5,
                "num_training_steps": 60,
                "scheduler_specific_kwargs": {"min_lr": 1e-5},
            },
        ),
        (
            'type = "polynomial"\nnum_warmup_steps = 5\nnum_training_steps = 60\n'
            "lr_end = 1e-5\npower = 2.0",
            "polynomial",
            {
                "num_warmup_steps": 5,
                "num_training_steps": 60,
                "scheduler_specific_kwargs": {"lr_end": 1e-5, "power": 2.0},
            },
        ),
    ],
)
def test_transformers_call_form_in_a_table_gives_transformers_lr(table, name, kw):
    n = kw["num_training_steps"] + 1
    assert _setup_lrs(_setup(table), n) == _transformers_lrs(name, n, **kw)


def test_transformers_call_form_takes_the_run_total():
    text = _setup('type = "linear"\nnum_warmup_steps = 4', run="total = 40")
    kw = {"num_warmup_steps": 4, "num_training_steps": 40}
    assert _setup_lrs(text, 41) == _transformers_lrs("linear", 41, **kw)


def test_transformers_call_form_errors_name_the_key():
    with pytest.raises(SetupError, match=r"schedules\.lr: .*requires `num_training_steps`"):
        schedkit.loads_setup(_setup('type = "cosine"\nnum_warmup_steps = 4'))
    with pytest.raises(SetupError, match=r"schedules\.lr\.num_warmup_steps: expected a whole"):
        schedkit.loads_setup(
            _setup('type = "cosine"\nnum_warmup_steps = 0.5\nnum_training_steps = 9')
        )
    with pytest.raises(SetupError, match=r"schedules\.lr: .*does not take \['bogus'\]"):
        schedkit.loads_setup(
            _setup('type = "cosine"\nnum_warmup_steps = 1\nnum_training_steps = 9\nbogus = 1')
        )
