"""``megatron.OptimizerParamScheduler`` on its own (megatron-core itself is compared in
``tests/pretraining/test_megatron_aliases.py``): values at the steps where megatron's
formulas are known by hand, its stepping, its state, and a setup."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

import schedkit
from schedkit import SpecError, StateError

NAME = "megatron.OptimizerParamScheduler"
ARGS: dict[str, Any] = {
    "init_lr": 0.0,
    "max_lr": 1.0,
    "min_lr": 0.0,
    "lr_warmup_steps": 10,
    "lr_decay_steps": 110,
    "lr_decay_style": "cosine",
    "start_wd": 0.0,
    "end_wd": 0.1,
    "wd_incr_steps": 100,
    "wd_incr_style": "linear",
}


def _opt(*groups: dict[str, Any]) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in groups or ({},)]
    return torch.optim.SGD(
        [{"params": [p], **g} for p, g in zip(params, groups or ({},), strict=True)], lr=0.5
    )


def _at(sched: schedkit.Scheduler, step: int) -> list[tuple[float, float]]:
    sched.step(step - sched.last_epoch)
    return [(g["lr"], g["weight_decay"]) for g in sched.optimizer.param_groups]


@pytest.mark.parametrize(
    ("style", "at_60"),
    [
        ({"lr_decay_style": "linear"}, 0.5),
        ({"lr_decay_style": "cosine"}, 0.5),
        ({"lr_decay_style": "constant"}, 1.0),
        ({"lr_decay_style": "inverse-square-root"}, math.sqrt(10 / 60)),
        ({"lr_decay_style": "WSD", "wsd_decay_steps": 100, "lr_wsd_decay_style": "linear"}, 0.5),
        ({"lr_decay_style": "WSD", "wsd_decay_steps": 20, "lr_wsd_decay_style": "cosine"}, 1.0),
        (
            {"lr_decay_style": "WSD", "wsd_decay_steps": 100, "lr_wsd_decay_style": "exponential"},
            2 * 0.5**0.5 - 1,
        ),
        (
            {"lr_decay_style": "WSD", "wsd_decay_steps": 100, "lr_wsd_decay_style": "minus_sqrt"},
            1 - math.sqrt(0.5),
        ),
    ],
)
def test_each_style_at_the_warmup_the_middle_and_the_end(
    style: dict[str, Any], at_60: float
) -> None:
    sched = schedkit.get_scheduler(NAME, _opt(), **{**ARGS, **style})
    assert _at(sched, 0) == [(0.0, 0.0)]
    assert _at(sched, 5)[0][0] == 0.5  # halfway up the warmup
    assert _at(sched, 10)[0][0] == 1.0
    assert _at(sched, 60)[0] == pytest.approx((at_60, 0.06), abs=1e-15)
    end = 1.0 if style["lr_decay_style"] == "constant" else 0.0
    assert _at(sched, 111) == [(end, 0.1)]


def test_the_groups_own_settings_and_the_weight_decay_styles() -> None:
    opt = _opt({}, {"max_lr": 2.0, "min_lr": 1.0, "wd_mult": 0.0}, {"start_wd": 0.2, "end_wd": 0.4})
    sched = schedkit.get_scheduler(NAME, opt, **{**ARGS, "wd_incr_style": "cosine"})
    coeff = 0.5 * (math.cos(math.pi * 0.4) + 1.0)  # 60 of 100 steps, along a cosine
    got = [v for pair in _at(sched, 60) for v in pair]
    want = [0.5, 0.1 * coeff, 1.5, 0.0, 0.5, 0.2 + 0.2 * coeff]
    assert got == pytest.approx(want, abs=1e-15)
    assert sched.get_wd() == pytest.approx(0.1 * coeff, abs=1e-15)


def test_step_takes_an_increment() -> None:
    sched = schedkit.get_scheduler(NAME, _opt(), **ARGS)
    sched.step(5)
    assert (sched.num_steps, sched.optimizer.param_groups[0]["lr"]) == (5, 0.5)
    sched.step(0)
    sched.step()
    assert sched.num_steps == 6
    sched.num_steps = 3
    sched.step()
    assert sched.optimizer.param_groups[0]["lr"] == 0.4


def test_a_megatron_state_and_the_override_switch() -> None:
    saved = {
        "max_lr": 1.0, "lr_warmup_steps": 10, "num_steps": 60, "lr_decay_style": "cosine",
        "lr_decay_steps": 110, "min_lr": 0.0, "start_wd": 0.0, "end_wd": 0.1,
        "wd_incr_style": "linear", "wd_incr_steps": 100,
    }  # fmt: skip
    sched = schedkit.get_scheduler(NAME, _opt(), **ARGS)
    sched.load_state_dict(saved)
    assert sched.num_steps == 60
    other = schedkit.get_scheduler(NAME, _opt(), **{**ARGS, "lr_decay_steps": 200})
    with pytest.raises(StateError, match="lr_decay_steps = 110, this scheduler 200"):
        other.load_state_dict(saved)
    over = {**ARGS, "lr_decay_steps": 200, "override_opt_param_scheduler": True}
    over["use_checkpoint_opt_param_scheduler"] = False
    kept = schedkit.get_scheduler(NAME, _opt(), **over)
    kept.load_state_dict(saved)
    assert kept.num_steps == 60
    with pytest.raises(StateError, match="num_steps"):
        kept.load_state_dict({**saved, "num_steps": -1})


def test_a_setup_drives_lr_and_weight_decay() -> None:
    toml = """
[optimizer]
type = "AdamW"
lr = 1.0

[schedules.lr]
type = "megatron.OptimizerParamScheduler"
init_lr = 0.0
max_lr = 1e-3
min_lr = 0.0
lr_warmup_steps = 2
lr_decay_steps = 10
lr_decay_style = "linear"
start_wd = 0.0
end_wd = 0.1
wd_incr_steps = 10
wd_incr_style = "linear"
"""
    model = torch.nn.Linear(2, 1)
    built = schedkit.loads_setup(toml).build(model)
    for _ in range(6):
        model(torch.ones(1, 2)).sum().backward()
        built.step()
    group = built.optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(5e-4, abs=1e-18)
    assert group["weight_decay"] == pytest.approx(0.06, abs=1e-15)


def test_show_describes_every_argument(capsys: pytest.CaptureFixture[str]) -> None:
    from schedkit import cli

    assert cli.main(["show", NAME]) == 0
    out = capsys.readouterr().out
    for name in (*ARGS, "wsd_decay_steps", "lr_wsd_decay_style", "override_opt_param_scheduler"):
        assert name in out
    assert "step(increment)" in out


def test_unknown_styles_name_the_argument() -> None:
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler(NAME, _opt(), **{**ARGS, "wd_incr_style": "exponential"})
    assert e.value.path.endswith("wd_incr_style")
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler(
            NAME, _opt(), **{**ARGS, "lr_decay_style": "WSD", "wsd_decay_steps": 5,
                             "lr_wsd_decay_style": "square"}
        )  # fmt: skip
    assert e.value.path.endswith("lr_wsd_decay_style")


@pytest.mark.parametrize("key", ["init_lr", "max_lr", "min_lr", "start_wd", "end_wd"])
def test_an_int_no_float_holds_is_refused_naming_the_argument(key: str) -> None:
    """float(10**400) in the converter was a raw OverflowError."""
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler(NAME, _opt(), **{**ARGS, key: 10**400})
    assert e.value.path.endswith(key)
