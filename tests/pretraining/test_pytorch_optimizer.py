"""``pytorch_optimizer.CosineAnnealingWarmupRestarts`` against pytorch-optimizer's own
scheduler, stepped as its users step it (built, then ``step()`` after each update), on
three param groups; and the native ``cosine_restarts`` with ``cycle_warmup`` against it."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_optimizer.lr_scheduler.cosine_anealing import CosineAnnealingWarmupRestarts

import schedkit
from schedkit import SpecError

LRS = (1e-3, 3e-4, 0.02)


def _optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in LRS]
    return torch.optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)], lr=0.1
    )


def _run(make: Any, steps: int) -> list[list[float]]:
    opt = _optimizer()
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return out


def _both(params: dict[str, Any], steps: int) -> tuple[list[list[float]], list[list[float]]]:
    want = _run(lambda opt: CosineAnnealingWarmupRestarts(opt, **params), steps)
    got = _run(
        lambda opt: schedkit.get_scheduler(
            "pytorch_optimizer.CosineAnnealingWarmupRestarts", opt, **params
        ),
        steps,
    )
    return got, want


@pytest.mark.parametrize(
    "params",
    [
        {"first_cycle_steps": 20},
        {"first_cycle_steps": 20, "max_lr": 0.1, "min_lr": 1e-4, "warmup_steps": 5},
        {"first_cycle_steps": 25, "cycle_mult": 1.7, "max_lr": 0.1, "warmup_steps": 4},
        {"first_cycle_steps": 30, "cycle_mult": 0.5, "max_lr": 0.1, "warmup_steps": 3},
        {"first_cycle_steps": 12, "cycle_mult": 2.0, "gamma": 0.5, "max_lr": 1.0, "min_lr": 0.0},
    ],
)
def test_the_alias_gives_pytorch_optimizers_floats(params: dict[str, Any]) -> None:
    got, want = _both(params, 150)
    assert got == want


@settings(max_examples=40, deadline=None)
@given(
    first=st.integers(2, 40),
    mult=st.sampled_from([0.3, 0.5, 1.0, 1.3, 2.0, 2.5]),
    warm=st.integers(0, 39),
    gamma=st.floats(0.1, 1.0),
    low=st.sampled_from([0.0, 1e-6, 1e-3]),
)
def test_drawn_cycles_give_pytorch_optimizers_floats(
    first: int, mult: float, warm: int, gamma: float, low: float
) -> None:
    params = {
        "first_cycle_steps": first,
        "cycle_mult": mult,
        "max_lr": 0.05,
        "min_lr": low,
        "warmup_steps": warm % first,
        "gamma": gamma,
    }
    got, want = _both(params, 200)
    assert got == want


def test_the_native_cycle_warmup_is_the_same_curve() -> None:
    """``cosine_restarts`` with ``cycle_warmup`` (factors of each group's lr): the same
    curve as pytorch-optimizer's with ``max_lr`` = the group's lr (from step 1 on: the
    original writes ``min_lr`` when it is built)."""
    opt = _optimizer()
    peer = CosineAnnealingWarmupRestarts(
        opt, first_cycle_steps=20, max_lr=1.0, min_lr=0.05, warmup_steps=6, gamma=0.8
    )
    native = schedkit.get_schedule(
        "cosine_restarts", period=20, cycle_warmup=6, decay=0.8, end=0.05
    )
    for k in range(1, 100):
        peer.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(native(k), rel=1e-12, abs=1e-15)


def test_a_warmup_as_long_as_the_cycle_is_refused_as_the_original_refuses_it() -> None:
    with pytest.raises(ValueError, match="warmup_steps must be smaller than first_cycle_steps"):
        CosineAnnealingWarmupRestarts(_optimizer(), first_cycle_steps=10, warmup_steps=10)
    with pytest.raises(
        SpecError, match=r"warmup_steps: warmup_steps must be smaller than first_cycle_steps"
    ):
        schedkit.get_schedule(
            "pytorch_optimizer.CosineAnnealingWarmupRestarts",
            first_cycle_steps=10,
            warmup_steps=10,
        )


def test_a_resume_continues_with_the_same_floats() -> None:
    params = {"first_cycle_steps": 25, "cycle_mult": 1.7, "max_lr": 0.1, "warmup_steps": 4}
    name = "pytorch_optimizer.CosineAnnealingWarmupRestarts"
    want = _run(lambda opt: schedkit.get_scheduler(name, opt, **params), 120)
    opt = _optimizer()
    sched = schedkit.get_scheduler(name, opt, **params)
    for _ in range(61):
        opt.step()
        sched.step()
    opt2 = _optimizer()
    sched2 = schedkit.get_scheduler(name, opt2, **params)
    sched2.load_state_dict(sched.state_dict())
    got = []
    for _ in range(61, 120):
        got.append([g["lr"] for g in opt2.param_groups])
        opt2.step()
        sched2.step()
    assert got == want[61:]
