"""Families against torch.optim.lr_scheduler where the semantics coincide."""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler as tl

import schedkit
from schedkit import get_schedule

N = 120


def _opt(cls=torch.optim.SGD, **kw):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in (0.1, 0.02)]
    return cls(groups, lr=0.1, **kw)


def _get(group, key):
    return group["betas"][0] if key == "momentum" and "momentum" not in group else group[key]


def _run(make, schedule, n=N, keys=("lr",), cls=torch.optim.SGD, **kw):
    o1, o2 = _opt(cls, **kw), _opt(cls, **kw)
    theirs = make(o1)
    ours = schedkit.Scheduler(o2, schedule)
    rows1, rows2 = [], []
    for _ in range(n):
        rows1.extend(_get(g, k) for g in o1.param_groups for k in keys)
        rows2.extend(_get(g, k) for g in o2.param_groups for k in keys)
        o1.step()
        o2.step()
        theirs.step()
        ours.step()
    return rows1, rows2


def test_step_is_torch_step_lr_exactly():
    a, b = _run(
        lambda o: tl.StepLR(o, step_size=7, gamma=0.5), get_schedule("step", step_size=7, gamma=0.5)
    )
    assert a == pytest.approx(b, rel=1e-15)


def test_multistep_is_torch_multistep_lr():
    a, b = _run(
        lambda o: tl.MultiStepLR(o, milestones=[10, 40, 41], gamma=0.3),
        get_schedule("multistep", milestones=[10, 40, 41], gamma=0.3),
    )
    assert a == pytest.approx(b, rel=1e-14)


def test_exponential_is_torch_exponential_lr():
    a, b = _run(lambda o: tl.ExponentialLR(o, gamma=0.97), get_schedule("exponential", rate=0.97))
    assert a == pytest.approx(b, rel=1e-12)


def test_polynomial_is_torch_polynomial_lr():
    a, b = _run(
        lambda o: tl.PolynomialLR(o, total_iters=80, power=2.0),
        get_schedule("polynomial", total=80, power=2.0),
    )
    assert a == pytest.approx(b, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("t0", "mult"), [(10, 1), (7, 2), (5, 3)])
def test_cosine_restarts_is_torch_warm_restarts(t0, mult):
    a, b = _run(
        lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=mult, eta_min=0.0),
        get_schedule("cosine_restarts", period=t0, period_mult=mult),
    )
    assert a == pytest.approx(b, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(
    ("mode", "extra"),
    [("triangular", {}), ("triangular2", {}), ("exp_range", {"gamma": 0.99})],
)
def test_cyclic_is_torch_cyclic_lr_with_momentum(mode, extra):
    def make(o):
        return tl.CyclicLR(
            o,
            base_lr=[0.1, 0.02],
            max_lr=[0.4, 0.08],
            step_size_up=9,
            step_size_down=5,
            mode=mode,
            base_momentum=0.8,
            max_momentum=0.9,
            **extra,
        )

    sched = get_schedule(
        "cyclic",
        high=4.0,
        step_size_up=9,
        step_size_down=5,
        mode=mode,
        momentum=[0.8, 0.9],
        **extra,
    )
    a, b = _run(make, sched, keys=("lr", "momentum"), momentum=0.9)
    assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize(
    ("kw", "cls", "keys"),
    [
        ({}, torch.optim.SGD, ("lr", "momentum")),
        (
            {"anneal_strategy": "linear", "three_phase": True, "pct_start": 0.25},
            torch.optim.SGD,
            ("lr", "momentum"),
        ),
        ({"div_factor": 10.0, "final_div_factor": 100.0}, torch.optim.AdamW, ("lr",)),
    ],
)
def test_one_cycle_is_torch_one_cycle_lr(kw, cls, keys):
    total = 100

    def make(o):
        return tl.OneCycleLR(o, max_lr=[0.1, 0.02], total_steps=total, **kw)

    params = {"total": total}
    params.update(
        {
            k: v
            for k, v in kw.items()
            if k in ("div_factor", "final_div_factor", "three_phase", "pct_start")
        }
    )
    if "anneal_strategy" in kw:
        params["anneal"] = kw["anneal_strategy"]
    extra = {"momentum": 0.9} if cls is torch.optim.SGD else {}
    a, b = _run(make, get_schedule("one_cycle", **params), n=total, keys=keys, cls=cls, **extra)
    assert a == pytest.approx(b, rel=1e-12)
    if cls is torch.optim.AdamW:
        o = _opt(cls)
        schedkit.Scheduler(o, get_schedule("one_cycle", **params))
        assert o.param_groups[0]["betas"][0] == 0.95  # beta1 cycles where there is no momentum
