"""``mmengine.*`` against mmengine's own parameter schedulers: three param groups with
different lrs and momenta, every step, stepped through mmengine's API (``step()`` on each
scheduler, or as its runner's ``ParamSchedulerHook`` steps a ``param_scheduler`` list)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import schedkit
from tests.convert.groups import adamw, lrs, sgd

scheduler = pytest.importorskip("mmengine.optim.scheduler")


#: one scheduler at a time: mmengine class, its arguments
SINGLE: list[tuple[str, dict[str, Any]]] = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("StepLR", {"step_size": 4, "begin": 2, "end": 20}),
    ("MultiStepLR", {"milestones": [3, 7, 7, 12], "gamma": 0.3}),
    ("MultiStepLR", {"milestones": [2, 5], "begin": 4, "end": 30}),
    ("ConstantLR", {"factor": 0.25, "end": 6}),
    ("ConstantLR", {"factor": 0.5, "begin": 3, "end": 9}),
    ("LinearLR", {"start_factor": 0.001, "end": 10}),
    ("LinearLR", {"start_factor": 0.2, "end_factor": 0.7, "begin": 5, "end": 17}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("ExponentialLR", {"gamma": 0.8, "begin": 3, "end": 12}),
    ("PolyLR", {"eta_min": 1e-4, "power": 0.9, "end": 40}),
    ("PolyLR", {"power": 2.0, "begin": 5, "end": 25}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 1e-4}),
    ("CosineAnnealingLR", {"eta_min_ratio": 0.01, "begin": 5, "end": 35}),
    ("CosineAnnealingLR", {"T_max": 7, "begin": 2, "end": 60}),
    ("CosineRestartLR", {"periods": [10, 15], "restart_weights": [1.0, 0.5], "eta_min": 1e-5}),
    ("CosineRestartLR", {"periods": [6, 6, 9], "restart_weights": [1, 0.7, 0.3],
                         "eta_min_ratio": 0.1, "begin": 3}),
    ("OneCycleLR", {"eta_max": 0.2, "total_steps": 50, "end": 50}),
    ("OneCycleLR", {"eta_max": [0.2, 0.1, 0.05], "end": 45, "pct_start": 0.25,
                    "three_phase": True, "anneal_strategy": "linear"}),
]  # fmt: skip


def test_every_scheduler_of_mmengine_has_its_alias() -> None:
    names = {name for name, _ in SINGLE}
    assert names == {
        n for n in scheduler.__all__ if n.endswith("LR") and not n.startswith("ReduceOnPlateau")
    }
    assert set(MOMENTUM) == {
        n
        for n in scheduler.__all__
        if n.endswith("Momentum") and not n.startswith("ReduceOnPlateau")
    }
    for name in names | set(MOMENTUM):
        assert schedkit.default_registry().get("schedule", f"mmengine.{name}").doc


@pytest.mark.parametrize(("name", "params"), SINGLE)
def test_alias_gives_mmengines_values(name: str, params: dict[str, Any]) -> None:
    theirs, ours = sgd(), sgd()
    peer = getattr(scheduler, name)(theirs, **params)
    sched = schedkit.get_scheduler(f"mmengine.{name}", ours, **params)
    for step in range(60):
        assert lrs(ours) == lrs(theirs), (step, lrs(ours), lrs(theirs))
        theirs.step()
        peer.step()
        sched.step()


MOMENTUM = ["LinearMomentum", "CosineAnnealingMomentum", "StepMomentum", "ConstantMomentum",
            "ExponentialMomentum", "MultiStepMomentum", "PolyMomentum", "CosineRestartMomentum"]  # fmt: skip


def _momentum_args(name: str) -> dict[str, Any]:
    base = name.replace("Momentum", "LR")
    return next(p for n, p in SINGLE if n == base)


@pytest.mark.parametrize("name", MOMENTUM)
def test_momentum_schedulers_on_sgd_and_on_adams_beta1(name: str) -> None:
    params = _momentum_args(name)
    for make, key, read in (
        (sgd, "momentum", lambda g: g["momentum"]),
        (adamw, "betas[0]", lambda g: g["betas"][0]),
    ):
        theirs, ours = make(), make()
        peer = getattr(scheduler, name)(theirs, **params)
        spec = {"type": f"mmengine.{name}", **params}
        sched = schedkit.get_scheduler(spec, ours, key=key)
        for step in range(40):
            want = [read(g) for g in theirs.param_groups]
            got = [read(g) for g in ours.param_groups]
            assert got == want, (key, step, got, want)
            theirs.step()
            peer.step()
            sched.step()


#: param_scheduler lists as configs write them, with the epoch length of the run
LISTS: list[tuple[int, list[dict[str, Any]]]] = [
    # warmup by iterations, then a cosine by epochs, converted to iterations
    (7, [
        {"type": "LinearLR", "start_factor": 1e-3, "by_epoch": False, "begin": 0, "end": 10},
        {"type": "CosineAnnealingLR", "T_max": 8, "eta_min": 1e-5, "by_epoch": True,
         "begin": 2, "end": 10, "convert_to_iter_based": True},
    ]),
    # an epoch-based step schedule beside an iteration warmup: both active at once
    (5, [
        {"type": "LinearLR", "start_factor": 0.1, "by_epoch": False, "begin": 0, "end": 12},
        {"type": "MultiStepLR", "milestones": [1, 3, 6], "gamma": 0.5, "by_epoch": True,
         "begin": 0, "end": 10},
    ]),
    # overlapping ranges multiply: constant, exponential and poly at once
    (4, [
        {"type": "ConstantLR", "factor": 0.5, "by_epoch": True, "begin": 0, "end": 3},
        {"type": "ExponentialLR", "gamma": 0.97, "by_epoch": False, "begin": 2, "end": 30},
        {"type": "PolyLR", "power": 1.5, "eta_min": 1e-4, "by_epoch": True, "begin": 1,
         "end": 12, "convert_to_iter_based": True},
    ]),
    # restarts and a step schedule converted to iterations
    (3, [
        {"type": "CosineRestartLR", "periods": [2, 4], "restart_weights": [1.0, 0.6],
         "eta_min_ratio": 0.05, "by_epoch": True, "convert_to_iter_based": True, "end": 6},
        {"type": "StepLR", "step_size": 2, "gamma": 0.8, "by_epoch": True, "begin": 6,
         "end": 14, "convert_to_iter_based": True},
    ]),
    # OneCycle first: the later schedulers start from the initial_lr it writes
    (6, [
        {"type": "OneCycleLR", "eta_max": 0.3, "total_steps": 5, "by_epoch": True,
         "convert_to_iter_based": True, "end": 5},
        {"type": "LinearLR", "start_factor": 0.5, "by_epoch": False, "begin": 30, "end": 40},
        {"type": "CosineAnnealingLR", "by_epoch": True, "begin": 7, "end": 9},
    ]),
]  # fmt: skip


def _build_mmengine(opt: torch.optim.Optimizer, items: list[dict[str, Any]], spe: int) -> list[Any]:
    """What mmengine's runner builds from a ``param_scheduler`` list."""
    out = []
    for item in items:
        cfg = dict(item)
        cls = getattr(scheduler, cfg.pop("type"))
        if cfg.pop("convert_to_iter_based", False):
            out.append(cls.build_iter_from_epoch(opt, epoch_length=spe, **cfg))
        else:
            out.append(cls(opt, **cfg))
    return out


@pytest.mark.parametrize(("spe", "items"), LISTS)
def test_param_scheduler_list_steps_as_mmengines_runner(
    spe: int, items: list[dict[str, Any]]
) -> None:
    theirs, ours = sgd(), sgd()
    peers = _build_mmengine(theirs, items, spe)
    spec = {
        "type": "mmengine.param_scheduler",
        "steps_per_epoch": spe,
        "schedulers": [{**i, "type": f"mmengine.{i['type']}"} for i in items],
    }
    sched = schedkit.get_scheduler(spec, ours)
    for it in range(1, 12 * spe):
        assert lrs(ours) == lrs(theirs), (it, lrs(ours), lrs(theirs))
        theirs.step()
        # ParamSchedulerHook: after_train_iter, then after_train_epoch at an epoch's end
        for p in peers:
            if not p.by_epoch:
                p.step()
        if it % spe == 0:
            for p in peers:
                if p.by_epoch:
                    p.step()
        sched.step()


def test_a_resumed_scheduler_reaches_the_same_floats() -> None:
    spe, items = LISTS[1]
    spec = {
        "type": "mmengine.param_scheduler",
        "steps_per_epoch": spe,
        "schedulers": [{**i, "type": f"mmengine.{i['type']}"} for i in items],
    }
    a, b = sgd(), sgd()
    first = schedkit.get_scheduler(spec, a)
    for _ in range(23):
        first.step()
    second = schedkit.get_scheduler(spec, b)
    second.load_state_dict(first.state_dict())
    assert lrs(b) == lrs(a)
    first.step()
    second.step()
    assert lrs(b) == lrs(a)


def test_a_resume_far_into_a_long_run_continues_as_mmengine() -> None:
    # a 8,000,000-iteration run (epochs of 5,000): warmup and cosine by iterations, steps
    # by epoch. mmengine resumes from its schedulers' state (their counters) and the
    # optimizer's restored lrs; the alias from its state, which carries each group's value
    spe, at, restored = 5_000, 5_004_980, [0.0371, 0.0185, 0.0037]
    items = [
        {"type": "LinearLR", "start_factor": 1e-3, "by_epoch": False, "end": 1_000},
        {"type": "CosineAnnealingLR", "eta_min": 1e-6, "by_epoch": False, "begin": 1_000,
         "end": 8_000_000},
        {"type": "MultiStepLR", "milestones": [1_001, 1_200], "gamma": 0.5, "by_epoch": True},
    ]  # fmt: skip
    theirs = sgd()
    peers = _build_mmengine(theirs, items, spe)
    for p in peers:
        g = at // spe if p.by_epoch else at
        last = min(g, p.end - 1) - p.begin if g >= p.begin else -1
        p.load_state_dict({**p.state_dict(), "_global_step": g, "last_step": last})
    for group, lr in zip(theirs.param_groups, restored, strict=True):
        group["lr"] = lr
    spec = {
        "type": "mmengine.param_scheduler",
        "steps_per_epoch": spe,
        "schedulers": [{**i, "type": f"mmengine.{i['type']}"} for i in items],
    }
    state = schedkit.get_scheduler(spec, sgd()).state_dict()
    state.update(step=at, curves=[{"value": lr} for lr in restored])
    ours = sgd()
    sched = schedkit.get_scheduler(spec, ours)
    sched.load_state_dict(state)
    for it in range(at + 1, at + 60):  # the epoch ends at 5,005,000: the milestone 1,001
        theirs.step()
        for p in peers:
            if not p.by_epoch:
                p.step()
        if it % spe == 0:
            for p in peers:
                if p.by_epoch:
                    p.step()
        sched.step()
        assert lrs(ours) == lrs(theirs), (it, lrs(ours), lrs(theirs))
    assert lrs(ours)[0] < restored[0] / 2
