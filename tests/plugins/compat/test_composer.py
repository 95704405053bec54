"""The ``composer.*`` aliases on their own (Composer itself is compared in
``tests/pretraining/test_composer_aliases.py``): Composer's time strings, their
conversions (epochs, samples, tokens, shares of the run, the scale schedule ratio), values
known by hand, and a setup."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

import schedkit
from schedkit import SpecError


def _sched(name: str, **params: Any) -> schedkit.Scheduler:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return schedkit.get_scheduler(f"composer.{name}", opt, **params)


def _curve(name: str, steps: int, **params: Any) -> list[float]:
    schedule = schedkit.get_schedule(f"composer.{name}", **params)
    return [schedule(k) for k in range(steps)]


@pytest.mark.parametrize(
    ("time", "context"),
    [
        ("2ep", {"dataloader_len": 5}),
        ("10ba", {}),
        ("40sp", {"samples_per_batch": 4}),
        ("1e3tok", {"tokens_per_batch": 100}),
        ("0.5dur", {"max_duration": "20ba"}),
        ("0.25dur", {"max_duration": 4, "dataloader_len": 10}),  # 4 epochs, as the Trainer
        ("5ba", {"scale_schedule_ratio": 2.0}),
    ],
)
def test_every_unit_is_ten_batches_here(time: str, context: dict[str, Any]) -> None:
    values = _curve("LinearScheduler", 12, alpha_i=1.0, alpha_f=0.0, t_max=time, **context)
    assert values == [1.0 - k / 10 for k in range(11)] + [0.0]


def test_the_values_known_by_hand() -> None:
    assert _curve("StepScheduler", 7, step_size="3ba", gamma=0.5) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert _curve("MultiStepScheduler", 6, milestones=["2ba", "4ba"]) == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    assert _curve("ConstantScheduler", 4, alpha=0.5, t_max="2ba") == [0.5, 0.5, 1.0, 1.0]
    assert _curve("ExponentialScheduler", 3, gamma=0.25, decay_period="2ba") == [1.0, 0.5, 0.25]
    cos = _curve("CosineAnnealingWarmRestartsScheduler", 7, t_0="2ba", t_mult=2.0)
    assert cos == pytest.approx([1.0, 0.5, 1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5,
                                 0.5 * (1 + math.cos(3 * math.pi / 4)), 1.0])  # fmt: skip
    warm = _curve("CosineAnnealingWithWarmupScheduler", 12, t_warmup="2ba", max_duration="10ba")
    assert warm[:3] == [0.0, 0.5, 1.0]
    assert warm[6] == pytest.approx(0.5)
    assert warm[10:] == [0.0, 0.0]
    poly = _curve("PolynomialWithWarmupScheduler", 11, t_warmup="0ba", max_duration="10ba")
    assert poly[5] == pytest.approx(0.25)


def test_scale_warmup_scales_only_the_warmups_slope() -> None:
    """Composer leaves the warmup's end where it was and scales its slope."""
    args = {"t_warmup": "4ba", "max_duration": "10ba", "scale_schedule_ratio": 2.0}
    plain = _curve("LinearWithWarmupScheduler", 5, **args)
    scaled = _curve("LinearWithWarmupScheduler", 5, scale_warmup=True, **args)
    assert plain[:4] == [0.0, 0.25, 0.5, 0.75]
    assert scaled[:4] == [0.0, 0.125, 0.25, 0.375]
    assert plain[4] == scaled[4] == 1.0


@pytest.mark.parametrize(
    ("name", "params", "path", "message"),
    [
        ("LinearScheduler", {"t_max": "1.5ba"}, "t_max", "whole numbers"),
        ("LinearScheduler", {"t_max": "10iter"}, "t_max", "iterations"),
        ("LinearScheduler", {"t_max": "0h5m0s"}, "t_max", "wall-clock"),
        ("LinearScheduler", {"t_max": "-3ba"}, "t_max", ">= 0"),
        ("LinearScheduler", {"t_max": "0ba"}, "t_max", "converts to 0"),
        ("LinearScheduler", {"t_max": "0.5dur"}, "t_max", "needs max_duration"),
        ("LinearScheduler", {"t_max": "1ep"}, "t_max", "needs dataloader_len"),
        ("StepScheduler", {"step_size": "3sp"}, "step_size", "samples_per_batch"),
        ("MultiStepScheduler", {"milestones": ["3ba", "9tok"]}, "milestones[1]", "tokens_per"),
        ("LinearScheduler", {"t_max": "1dur", "max_duration": "0.5dur"}, "max_duration", "ep, ba"),
        (
            "LinearWithWarmupScheduler",
            {"t_warmup": "2ba", "t_max": "5ba", "max_duration": "10ba"},
            "t_max",
            "at least max_duration",
        ),
        (
            "LinearWithWarmupScheduler",
            {
                "t_warmup": "2ba",
                "t_max": "1000tok",
                "max_duration": "10ba",
                "tokens_per_batch": 100,
            },
            "t_max",
            "same unit",
        ),
        (
            "ConstantWithWarmupScheduler",
            {"t_warmup": "2ba", "t_max": "50ba"},
            "t_warmup",
            "a warmup scheduler needs max_duration",
        ),
        (
            "LinearScheduler",
            {"max_duration": "3ba", "scale_schedule_ratio": 0.1},
            "scale_schedule_ratio",
            "reduces max_duration to 0",
        ),
    ],
)
def test_refused_when_built_naming_the_argument(
    name: str, params: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message) as e:
        _sched(name, **params)
    assert e.value.path.endswith(path)


def test_a_setup_and_a_resume() -> None:
    toml = """
[optimizer]
type = "SGD"
lr = 0.1

[schedules.lr]
type = "composer.CosineAnnealingWithWarmupScheduler"
t_warmup = "0.1dur"
alpha_f = 0.1
max_duration = "2ep"
dataloader_len = 10
"""
    model = torch.nn.Linear(2, 1)
    built = schedkit.loads_setup(toml).build(model)
    seen = []
    for _ in range(20):
        model(torch.ones(1, 2)).sum().backward()
        built.step()
        seen.append(built.optimizer.param_groups[0]["lr"])
    assert seen[1] == 0.1  # the warmup of 2 batches is over
    assert seen[-1] == pytest.approx(0.01)
    sched = _sched("CosineAnnealingWithWarmupScheduler", t_warmup="2ba", max_duration="20ba")
    for _ in range(7):
        sched.step()
    again = _sched("CosineAnnealingWithWarmupScheduler", t_warmup="2ba", max_duration="20ba")
    again.load_state_dict(sched.state_dict())
    assert again.get_last_lr() == sched.get_last_lr()


#: every scheduler class of ``composer.optim.scheduler`` that has an alias, by its name
COMPOSER_ALIASES = (
    "composer.StepScheduler",
    "composer.MultiStepScheduler",
    "composer.ConstantScheduler",
    "composer.LinearScheduler",
    "composer.ExponentialScheduler",
    "composer.CosineAnnealingScheduler",
    "composer.CosineAnnealingWarmRestartsScheduler",
    "composer.PolynomialScheduler",
    "composer.MultiStepWithWarmupScheduler",
    "composer.ConstantWithWarmupScheduler",
    "composer.LinearWithWarmupScheduler",
    "composer.CosineAnnealingWithWarmupScheduler",
    "composer.PolynomialWithWarmupScheduler",
)


def test_every_composer_scheduler_class_is_registered_under_its_own_name() -> None:
    registered = {c.name: c for c in schedkit.registered() if c.name.startswith("composer.")}
    assert sorted(registered) == sorted(COMPOSER_ALIASES)
    for name in COMPOSER_ALIASES:
        assert registered[name].kind == "schedule"
        assert registered[name].examples, name


@pytest.mark.parametrize("ratio", [1e308, 1e30])
def test_a_ratio_past_the_step_limit_is_refused_naming_the_argument(ratio: float) -> None:
    """``int(value * ratio)`` of an infinite product was a raw OverflowError."""
    with pytest.raises(SpecError, match="2\\*\\*62") as e:
        _sched("LinearScheduler", max_duration="3ba", scale_schedule_ratio=ratio)
    assert e.value.path.endswith("scale_schedule_ratio")
