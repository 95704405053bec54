"""``torch.*`` aliases against torch.optim.lr_scheduler itself: equal floats, every group."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as tl

import schedkit
from schedkit import SpecError

LRS = (0.1, 0.03, 0.007)


def _opt(cls=torch.optim.SGD, **kw):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in LRS]
    return cls(groups, lr=0.1, **kw)


def _values(opt, keys):
    out = []
    for g in opt.param_groups:
        for k in keys:
            out.append(g["betas"][0] if k == "momentum" and "momentum" not in g else g[k])
    return out


def _run(cls_name, n=60, keys=("lr",), opt_cls=torch.optim.SGD, opt_kw=None, **params):
    opt_kw = {"momentum": 0.9} if opt_kw is None else opt_kw
    o1, o2 = _opt(opt_cls, **opt_kw), _opt(opt_cls, **opt_kw)
    theirs = getattr(tl, cls_name.removeprefix("torch."))(o1, **params)
    ours = schedkit.get_scheduler(cls_name, o2, **params)
    a, b = [], []
    for _ in range(n):
        a.append(_values(o1, keys))
        b.append(_values(o2, keys))
        o1.step()
        o2.step()
        theirs.step()
        ours.step()
    return a, b


CASES = [
    ("torch.StepLR", {"step_size": 7, "gamma": 0.5}),
    ("torch.StepLR", {"step_size": 1, "gamma": 0.9}),
    ("torch.MultiStepLR", {"milestones": [10, 20, 20, 41], "gamma": 0.3}),
    ("torch.MultiStepLR", {"milestones": [30, 5], "gamma": 0.1}),
    ("torch.ConstantLR", {"factor": 0.3, "total_iters": 7}),
    ("torch.ConstantLR", {"factor": 0.5, "total_iters": 0}),
    ("torch.LinearLR", {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 13}),
    ("torch.LinearLR", {"start_factor": 1.0, "end_factor": 0.05, "total_iters": 40}),
    ("torch.ExponentialLR", {"gamma": 0.93}),
    ("torch.PolynomialLR", {"total_iters": 25, "power": 2.0}),
    ("torch.PolynomialLR", {"total_iters": 9, "power": 0.5}),
    ("torch.CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("torch.CosineAnnealingLR", {"T_max": 17}),
    ("torch.CosineAnnealingWarmRestarts", {"T_0": 7, "T_mult": 2, "eta_min": 0.0005}),
    ("torch.CosineAnnealingWarmRestarts", {"T_0": 5}),
]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_the_same_floats_as_torch(name, params):
    a, b = _run(name, n=70, **params)
    assert a == b


def test_cosine_annealing_is_periodic_past_t_max_as_torch():
    a, b = _run("torch.CosineAnnealingLR", n=45, T_max=10)
    assert a == b
    assert b[20][0] == pytest.approx(0.1)  # back at the top after 2 * T_max
    assert b[10][0] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(
    "params",
    [
        {"base_lr": 0.001, "max_lr": 0.1, "step_size_up": 5},
        {
            "base_lr": [0.001, 0.002, 0.003],
            "max_lr": 0.05,
            "step_size_up": 4,
            "step_size_down": 7,
            "mode": "triangular2",
        },
        {
            "base_lr": 0.01,
            "max_lr": 0.1,
            "step_size_up": 3,
            "mode": "exp_range",
            "gamma": 0.97,
            "base_momentum": 0.7,
            "max_momentum": 0.95,
        },
    ],
)
def test_cyclic_lr_and_momentum_as_torch(params):
    a, b = _run("torch.CyclicLR", n=40, keys=("lr", "momentum"), **params)
    assert a == b


def test_cyclic_lr_cycles_adams_beta1():
    params = {"base_lr": 0.001, "max_lr": 0.1, "step_size_up": 5}
    a, b = _run(
        "torch.CyclicLR",
        n=30,
        keys=("lr", "momentum"),
        opt_cls=torch.optim.Adam,
        opt_kw={},
        **params,
    )
    assert a == b


def test_cyclic_lr_with_a_scale_fn_in_process():
    params = {
        "base_lr": 0.001,
        "max_lr": 0.1,
        "step_size_up": 4,
        "scale_fn": lambda x: 1 / (x + 1),
        "scale_mode": "iterations",
        "cycle_momentum": False,
    }
    a, b = _run("torch.CyclicLR", n=30, **params)
    assert a == b


@pytest.mark.parametrize(
    "params",
    [
        {"max_lr": 0.1, "total_steps": 50},
        {
            "max_lr": [0.1, 0.2, 0.3],
            "total_steps": 40,
            "three_phase": True,
            "anneal_strategy": "linear",
            "pct_start": 0.25,
        },
        {
            "max_lr": 0.05,
            "total_steps": 31,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
            "base_momentum": 0.8,
            "max_momentum": 0.9,
        },
    ],
)
def test_one_cycle_lr_and_momentum_as_torch(params):
    a, b = _run("torch.OneCycleLR", n=params["total_steps"], keys=("lr", "momentum"), **params)
    assert a == b


def test_one_cycle_takes_epochs_with_the_schedulers_steps_per_epoch():
    o1, o2 = _opt(), _opt()
    theirs = tl.OneCycleLR(o1, max_lr=0.1, epochs=3, steps_per_epoch=10)
    ours = schedkit.get_scheduler("torch.OneCycleLR", o2, max_lr=0.1, epochs=3, steps_per_epoch=10)
    assert ours.schedule.total_steps == 30
    for _ in range(29):
        o1.step(), o2.step(), theirs.step(), ours.step()
        assert [g["lr"] for g in o1.param_groups] == [g["lr"] for g in o2.param_groups]
    with pytest.raises(SpecError, match="either total_steps OR"):
        schedkit.get_scheduler("torch.OneCycleLR", _opt(), max_lr=0.1)


def test_one_cycle_holds_its_minimum_where_torch_runs_past_it():
    o1, o2 = _opt(), _opt()
    theirs = tl.OneCycleLR(o1, max_lr=0.1, total_steps=10, anneal_strategy="linear")
    ours = schedkit.get_scheduler(
        "torch.OneCycleLR", o2, max_lr=0.1, total_steps=10, anneal_strategy="linear"
    )
    for _ in range(9):
        o1.step(), theirs.step(), ours.step()
    low = [g["lr"] for g in o1.param_groups]
    assert low[0] == pytest.approx(0.1 / 25 / 1e4)
    assert [g["lr"] for g in o2.param_groups] == low
    o1.step(), theirs.step()  # torch's step total_steps: one step past the minimum
    assert o1.param_groups[0]["lr"] < 0
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        o1.step(), theirs.step()
    for _ in range(5):
        ours.step()
    assert [g["lr"] for g in o2.param_groups] == low


def test_lambda_and_multiplicative_lr_in_process():
    fns = [lambda t: 0.9**t, lambda t: 1.0 / (t + 1), lambda t: 0.5]
    a, b = _run("torch.LambdaLR", n=20, lr_lambda=fns)
    assert a == b
    a, b = _run("torch.MultiplicativeLR", n=20, lr_lambda=lambda t: 0.95)
    assert a == b
    with pytest.raises(SpecError, match="cannot be declared in a spec"):
        schedkit.get_schedule({"type": "torch.LambdaLR", "lr_lambda": "x"})


def test_reduce_lr_on_plateau_as_torch_with_floors_per_group():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.99, 1.0, 1.0, 0.5] + [0.6] * 40
    kw = {
        "mode": "min",
        "factor": 0.5,
        "patience": 1,
        "cooldown": 1,
        "min_lr": [0.01, 0.001, 0.0065],
        "eps": 1e-4,
    }
    o1, o2 = _opt(), _opt()
    theirs = tl.ReduceLROnPlateau(o1, **kw)
    ours = schedkit.get_scheduler("torch.ReduceLROnPlateau", o2, **kw)
    for m in metrics:
        o1.step(), o2.step()
        theirs.step(m)
        ours.step(m)
        assert [g["lr"] for g in o1.param_groups] == [g["lr"] for g in o2.param_groups]
    assert [g["lr"] for g in o2.param_groups] == [0.01, 0.001, 0.0065]


def _resume(name, params, stop, n):
    o1, o2 = _opt(), _opt()
    full = schedkit.get_scheduler(name, o1, **params)
    part = schedkit.get_scheduler(name, o2, **params)
    for _ in range(stop):
        part.step()
    buf = io.BytesIO()
    torch.save(part.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    o3 = _opt()
    resumed = schedkit.get_scheduler(name, o3, **params)
    resumed.load_state_dict(state)
    for _ in range(n):
        full.step()
    for _ in range(n - stop):
        resumed.step()
    return [g["lr"] for g in o1.param_groups], [g["lr"] for g in o3.param_groups]


@settings(max_examples=25, deadline=None)
@given(
    case=st.sampled_from(CASES),
    stop=st.integers(0, 60),
    extra=st.integers(0, 40),
)
def test_resuming_a_recursive_alias_gives_the_same_floats(case, stop, extra):
    name, params = case
    a, b = _resume(name, params, stop, stop + extra)
    assert a == b


def test_arguments_are_checked_with_their_names():
    with pytest.raises(SpecError, match="step_size"):
        schedkit.get_schedule("torch.StepLR", step_size=0)
    with pytest.raises(SpecError, match="factor"):
        schedkit.get_schedule("torch.ConstantLR", factor=1.5)
    with pytest.raises(SpecError, match="did you mean 'T_max'"):
        schedkit.get_schedule("torch.CosineAnnealingLR", t_max=10)
    with pytest.raises(SpecError, match="has 2 values, but group 2"):
        schedkit.get_scheduler("torch.CyclicLR", _opt(), base_lr=[0.1, 0.2], max_lr=1.0)
    with pytest.raises(SpecError, match="has no 'warmup'"):
        schedkit.get_schedule("torch.StepLR", step_size=3, warmup=5)
    with pytest.raises(SpecError, match="cannot be composed"):
        schedkit.get_schedule(
            {
                "type": "sequence",
                "milestones": [5],
                "schedules": [{"type": "constant"}, {"type": "torch.StepLR", "step_size": 3}],
            }
        )


def test_an_alias_is_declarable_in_toml(tmp_path):
    spec = {"type": "torch.MultiStepLR", "milestones": [3, 6], "gamma": 0.5}
    sched = schedkit.get_schedule(spec)
    assert sched.spec() == spec
    assert [sched(t) for t in (0, 3, 6)] == [1.0, 0.5, 0.25]
