"""``deepspeed.*`` against DeepSpeed's own ``lr_schedules``: three param groups with
different lrs, every step, lr and betas."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import schedkit

lr_schedules = pytest.importorskip("deepspeed.runtime.lr_schedules")

LRS = (0.1, 0.05, 0.01)

CASES: list[tuple[str, dict[str, Any]]] = [
    ("WarmupLR", {"warmup_num_steps": 10}),
    (
        "WarmupLR",
        {
            "warmup_min_lr": 1e-4,
            "warmup_max_lr": 2e-3,
            "warmup_num_steps": 7,
            "warmup_type": "linear",
        },
    ),
    ("WarmupLR", {"warmup_min_lr": [0.0, 1e-4, 1e-5], "warmup_num_steps": 1}),
    ("WarmupDecayLR", {"total_num_steps": 50, "warmup_num_steps": 10}),
    (
        "WarmupDecayLR",
        {
            "total_num_steps": 40,
            "warmup_min_lr": [0.0, 1e-5, 2e-5],
            "warmup_max_lr": [1e-3, 2e-3, 3e-3],
            "warmup_num_steps": 8,
            "warmup_type": "linear",
        },
    ),
    ("WarmupCosineLR", {"total_num_steps": 50, "warmup_num_steps": 10}),
    (
        "WarmupCosineLR",
        {
            "total_num_steps": 30,
            "warmup_min_ratio": 0.1,
            "warmup_num_steps": 5,
            "cos_min_ratio": 0.02,
            "warmup_type": "linear",
        },
    ),
    ("OneCycle", {"cycle_min_lr": 1e-4, "cycle_max_lr": 1e-3, "cycle_first_step_size": 10}),
    (
        "OneCycle",
        {
            "cycle_min_lr": [1e-4, 2e-4, 3e-4],
            "cycle_max_lr": 1e-3,
            "cycle_first_step_size": 12,
            "cycle_second_step_size": 8,
            "cycle_first_stair_count": 4,
            "cycle_second_stair_count": 2,
            "decay_step_size": 3,
            "decay_lr_rate": 0.2,
            "decay_mom_rate": 0.01,
            "cycle_min_mom": 0.85,
            "cycle_max_mom": 0.95,
        },
    ),
    (
        "OneCycle",
        {
            "cycle_min_lr": 1e-4,
            "cycle_max_lr": 1e-3,
            "cycle_first_step_size": 5,
            "decay_step_size": 2,
            "decay_lr_rate": 0.5,
            "cycle_momentum": False,
        },
    ),
    (
        "LRRangeTest",
        {
            "lr_range_test_min_lr": 1e-4,
            "lr_range_test_step_size": 5,
            "lr_range_test_step_rate": 3.0,
        },
    ),
    (
        "LRRangeTest",
        {
            "lr_range_test_min_lr": [1e-4, 1e-3, 1e-2],
            "lr_range_test_step_size": 4,
            "lr_range_test_staircase": True,
        },
    ),
]


def test_every_scheduler_of_deepspeed_has_its_alias() -> None:
    names = {
        "deepspeed.WarmupLR",
        "deepspeed.WarmupDecayLR",
        "deepspeed.WarmupCosineLR",
        "deepspeed.OneCycle",
        "deepspeed.LRRangeTest",
    }
    assert {f"deepspeed.{name}" for name, _ in CASES} == names
    for name in names:
        assert hasattr(lr_schedules, name.split(".")[1])
        assert schedkit.default_registry().get("schedule", name).doc


def adam() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in LRS]
    return torch.optim.Adam(
        [{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)], betas=(0.9, 0.999)
    )


def values(opt: torch.optim.Optimizer) -> list[tuple[float, float, float]]:
    return [(g["lr"], g["betas"][0], g["betas"][1]) for g in opt.param_groups]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_alias_gives_deepspeeds_values(name: str, params: dict[str, Any]) -> None:
    theirs = adam()
    ours = adam()
    peer = getattr(lr_schedules, name)(theirs, **params)
    sched = schedkit.get_scheduler(f"deepspeed.{name}", ours, **params)
    for step in range(70):
        assert values(ours) == values(theirs), (step, values(ours), values(theirs))
        peer.step()
        sched.step()


def test_spec_round_trip_and_errors() -> None:
    spec = schedkit.get_schedule("deepspeed.WarmupDecayLR", total_num_steps=10).spec()
    assert spec["type"] == "deepspeed.WarmupDecayLR"
    assert spec["warmup_max_lr"] == 0.001
    assert schedkit.get_schedule(spec).spec() == spec
    with pytest.raises(schedkit.SpecError, match="warmup_num_steps"):
        schedkit.get_schedule("deepspeed.WarmupLR", warmup_num_steps=0)
    with pytest.raises(schedkit.SpecError, match="warmup: 'deepspeed.OneCycle' reproduces"):
        schedkit.get_schedule("deepspeed.OneCycle", cycle_min_lr=0.1, cycle_max_lr=1.0, warmup=3)
