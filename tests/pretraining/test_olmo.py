"""``olmo.*`` against OLMo-core's own schedulers (ai2-olmo-core), driven as its trainer
drives them: before update ``k`` (``trainer.global_step == k``, from 1) the train module
calls ``scheduler.set_lr(group, trainer)`` on every param group. schedkit's scheduler, in a
plain loop (``optimizer.step(); scheduler.step()``), must give every group of every update
the same float."""

from __future__ import annotations

import dataclasses
import types
import warnings
from typing import Any

import attrs
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, get_schedule
from schedkit_compat.olmo import CLASS_NAMES, SCHEDULES

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from olmo_core.exceptions import OLMoConfigurationError
    from olmo_core.optim import scheduler as olmo

LRS = (1e-3, 3e-4, 0.02)


def _optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in LRS]
    return torch.optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)], lr=0.1
    )


def _olmo_lrs(peer: Any, max_steps: int, steps: int) -> list[list[float]]:
    """The lr of each group at each update 1..steps, set by OLMo-core's ``set_lr``."""
    groups: list[dict[str, Any]] = [{"params": [], "lr": lr} for lr in LRS]
    trainer = types.SimpleNamespace(global_step=0, max_steps=max_steps)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # composable / sequential warn that t_max is ignored
        for k in range(1, steps + 1):
            trainer.global_step = k
            for g in groups:
                peer.set_lr(g, trainer)
            out.append([float(g["lr"]) for g in groups])
    return out


def _schedkit_lrs(
    name: str, params: dict[str, Any], max_steps: int, steps: int
) -> list[list[float]]:
    opt = _optimizer()
    sched = schedkit.get_scheduler(name, opt, total_steps=max_steps, **params)
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in opt.param_groups])  # the lr this update uses
        opt.step()
        sched.step()
    return out


def _check(cls: type, name: str, params: dict[str, Any], max_steps: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OLMo-core's deprecation warnings
        peer = cls(**params)
    want = _olmo_lrs(peer, max_steps, max_steps)
    got = _schedkit_lrs(name, params, max_steps, max_steps)
    assert got == want


CASES: list[tuple[type, str, dict[str, Any], int]] = [
    (olmo.ConstantScheduler, "olmo.constant", {}, 20),
    (olmo.ConstantWithWarmup, "olmo.constant_with_warmup", {"warmup": 7}, 30),
    (olmo.ConstantWithWarmup, "olmo.ConstantWithWarmup", {"warmup_fraction": 0.15}, 41),
    (olmo.ConstantWithWarmup, "olmo.constant_with_warmup", {"warmup_steps": 5}, 20),
    (olmo.WSD, "olmo.wsd", {"warmup": 10}, 100),
    (olmo.WSD, "olmo.WSD", {"warmup_fraction": 0.1, "decay_fraction": 0.25}, 87),
    (
        olmo.WSD,
        "olmo.wsd",
        {"warmup": 5, "decay": 13, "decay_fraction": None, "warmup_min_lr": 1e-5},
        60,
    ),
    (
        olmo.WSD,
        "olmo.wsd",
        {"warmup": 5, "decay": 13, "decay_fraction": None, "decay_min_lr": 1e-5},
        60,
    ),
    (olmo.PowerLR, "olmo.power_lr", {"warmup": 10}, 120),
    (
        olmo.PowerLR,
        "olmo.PowerLR",
        {"warmup_fraction": 0.05, "b": -0.3, "decay_fraction": 0.2},
        200,
    ),
    (olmo.LinearWithWarmup, "olmo.linear_with_warmup", {"warmup": 10}, 80),
    (
        olmo.LinearWithWarmup,
        "olmo.linear_with_warmup",
        {"warmup": 4, "t_max": 50, "alpha_f": 0.0},
        80,
    ),
    (olmo.InvSqrtWithWarmup, "olmo.inv_sqrt_with_warmup", {"warmup": 10}, 80),
    (
        olmo.InvSqrtWithWarmup,
        "olmo.inv_sqrt_with_warmup",
        {"warmup_fraction": 0.3, "alpha_f": 0.2},
        50,
    ),
    (olmo.CosWithWarmup, "olmo.cos_with_warmup", {"warmup": 10}, 100),
    (
        olmo.CosWithWarmup,
        "olmo.cos_with_warmup",
        {"warmup": 10, "t_max": 70, "warmup_min_lr": 1e-6},
        100,
    ),
    (olmo.HalfCosWithWarmup, "olmo.half_cos_with_warmup", {"warmup": 10}, 100),
    (
        olmo.HalfCosWithWarmup,
        "olmo.half_cos_with_warmup",
        {"warmup_fraction": 0.2, "alpha_f": 0.0},
        64,
    ),
    (
        olmo.CosWithWarmupAndLinearDecay,
        "olmo.cos_with_warmup_and_linear_decay",
        {"warmup": 10},
        100,
    ),
    (
        olmo.CosWithWarmupAndLinearDecay,
        "olmo.cos_with_warmup_and_linear_decay",
        {"warmup": 6, "decay": 25, "decay_fraction": None, "t_max": 90, "decay_min_lr": 1e-6},
        100,
    ),
    (olmo.ExponentialScheduler, "olmo.exponential", {}, 50),
    (olmo.ExponentialScheduler, "olmo.exponential", {"lr_min": 1e-6}, 33),
    (
        olmo.WSDS,
        "olmo.wsds",
        {"period_lengths": [40, 30, 50], "warmup": 8, "decay_fraction": 0.2},
        130,
    ),
    (
        olmo.WSDS,
        "olmo.WSDS",
        {
            "period_lengths": [40, 30],
            "period_lr_multipliers": [1.0, 0.5],
            "warmup_fraction": 0.1,
            "decay": 7,
            "warmup_min_lr": 1e-6,
            "decay_min_lr": 1e-6,
        },
        80,
    ),
]


@pytest.mark.parametrize(("cls", "name", "params", "max_steps"), CASES)
def test_olmo_aliases_give_olmo_cores_floats(
    cls: type, name: str, params: dict[str, Any], max_steps: int
) -> None:
    _check(cls, name, params, max_steps)


def test_composable_with_an_override_gives_olmo_cores_floats() -> None:
    stages = [
        {"duration": 10, "start_lr_fraction": 0.0, "end_lr_fraction": 1.0},
        {"duration": 30, "shape": "cosine", "end_lr_fraction": 0.5},
        {"duration": 30, "end_lr": 1e-5},
    ]
    override = {"start": 50, "duration": 15, "shape": "cosine", "end_lr_fraction": 0.01}
    for with_override in (False, True):
        peer = olmo.ComposableScheduler(
            stages=[olmo.ComposableSchedulerStage(**s) for s in stages],  # type: ignore[arg-type]
            override_decay=olmo.OverrideDecay(**override) if with_override else None,  # type: ignore[arg-type]
        )
        params: dict[str, Any] = {"stages": stages}
        if with_override:
            params["override_decay"] = override
        want = _olmo_lrs(peer, 90, 90)
        opt = _optimizer()
        sched = schedkit.get_scheduler("olmo.composable", opt, **params)
        got = []
        for _ in range(90):
            got.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
        assert got == want


def test_sequential_gives_olmo_cores_floats() -> None:
    peer = olmo.SequentialScheduler(
        schedulers=[olmo.ConstantWithWarmup(warmup=5), olmo.CosWithWarmup(warmup=0, alpha_f=0.2)],
        schedulers_max=[30],
    )
    params = {
        "schedulers": [
            {"type": "olmo.constant_with_warmup", "warmup": 5},
            {"type": "olmo.cos_with_warmup", "warmup": 0, "alpha_f": 0.2},
        ],
        "schedulers_max": [30],
    }
    want = _olmo_lrs(peer, 100, 100)
    assert _schedkit_lrs("olmo.sequential", params, 100, 100) == want


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_steps=st.integers(20, 300),
    warmup_share=st.floats(0.0, 0.4),
    decay_share=st.floats(0.01, 0.5),
    kind=st.sampled_from(["wsd", "cos_with_warmup", "linear_with_warmup", "power_lr"]),
    low=st.sampled_from([0.0, 1e-6]),
)
def test_drawn_plans_give_olmo_cores_floats(
    max_steps: int, warmup_share: float, decay_share: float, kind: str, low: float
) -> None:
    warmup = max(1, int(max_steps * warmup_share))
    params: dict[str, Any] = {"warmup": warmup, "warmup_min_lr": low}
    if kind in ("wsd", "power_lr"):
        decay = max(1, int(max_steps * decay_share))
        if warmup + decay >= max_steps:
            return
        params.update(decay=decay, decay_fraction=None, decay_min_lr=low)
    cls = {
        "wsd": olmo.WSD,
        "cos_with_warmup": olmo.CosWithWarmup,
        "linear_with_warmup": olmo.LinearWithWarmup,
        "power_lr": olmo.PowerLR,
    }[kind]
    _check(cls, f"olmo.{kind}", params, max_steps)


def test_a_resumed_olmo_scheduler_continues_with_the_same_floats() -> None:
    params: dict[str, Any] = {"period_lengths": [40, 30, 50], "warmup": 8, "decay_fraction": 0.2}
    want = _schedkit_lrs("olmo.wsds", params, 120, 120)
    opt = _optimizer()
    sched = schedkit.get_scheduler("olmo.wsds", opt, **params)
    for _ in range(57):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = _optimizer()
    sched2 = schedkit.get_scheduler("olmo.wsds", opt2, **params)
    sched2.load_state_dict(state)
    got = []
    for _ in range(57, 120):
        got.append([g["lr"] for g in opt2.param_groups])
        opt2.step()
        sched2.step()
    assert got == want[57:]


def test_a_setup_gives_the_run_total_as_max_steps() -> None:
    from schedkit.setup import loads_setup

    setup = loads_setup(
        """
[run]
total = 120

[optimizer]
type = "SGD"
lr = 0.01

[schedules.lr]
type = "olmo.wsd"
warmup = 10
decay_fraction = 0.2
"""
    )
    built = setup.build(torch.nn.Linear(2, 1))
    peer = olmo.WSD(warmup=10, decay_fraction=0.2)
    for k in range(120):
        # update k + 1 of OLMo-core's trainer
        assert built.optimizer.param_groups[0]["lr"] == _olmo_single(peer, 0.01, k + 1, 120)
        built.optimizer.zero_grad()
        built.step()


def _olmo_single(peer: Any, lr: float, k: int, max_steps: int) -> float:
    group: dict[str, Any] = {"params": [], "lr": lr}
    peer.set_lr(group, types.SimpleNamespace(global_step=k, max_steps=max_steps))
    return float(group["lr"])


def test_olmo_aliases_refuse_what_olmo_core_refuses() -> None:
    opt = _optimizer()
    with pytest.raises(SpecError, match="Either 'warmup_fraction' or 'warmup' must be specified"):
        schedkit.get_scheduler("olmo.wsd", opt, total_steps=100)
    # the trainer's max_steps is the run's total: unknown here
    with pytest.raises(
        SpecError, match="total_steps: '100%' is a share of the total, but the total number"
    ):
        schedkit.get_scheduler("olmo.cos_with_warmup", opt, warmup=10)
    # not read with a t_max of its own
    schedkit.get_scheduler("olmo.cos_with_warmup", opt, warmup=10, t_max=50)
    # built directly, without the registry's translation
    from schedkit_compat.olmo import CosWithWarmup

    with pytest.raises(SpecError, match="total_steps: olmo.cos_with_warmup reads the trainer's"):
        CosWithWarmup(warmup=10)
    with pytest.raises(SpecError, match="units: expected 'steps', got 'tokens'"):
        schedkit.get_scheduler("olmo.wsd", opt, warmup=10, total_steps=100, units="tokens")
    with pytest.raises(
        SpecError, match=r"First period: warmup \(30\) \+ decay \(20\) = 50 exceeds"
    ):
        schedkit.get_scheduler("olmo.wsds", opt, period_lengths=[40, 40], warmup=30, decay=20)
    with pytest.raises(SpecError, match="b: expected a finite number < 0, got 0.5"):
        schedkit.get_scheduler("olmo.power_lr", opt, warmup=10, b=0.5, total_steps=100)
    # a share above 1: OLMo-core refuses it too
    with pytest.raises(
        SpecError, match="warmup_fraction: expected a finite number >= 0 and <= 1, got 1.5"
    ):
        schedkit.get_scheduler("olmo.wsd", opt, warmup_fraction=1.5, total_steps=100)
    with pytest.raises(OLMoConfigurationError, match="warmup_fraction must be between 0 and 1"):
        olmo.WSD(warmup_fraction=1.5)


@pytest.mark.parametrize("short", sorted(CLASS_NAMES))
def test_every_alias_takes_olmo_cores_arguments_with_its_defaults(short: str) -> None:
    """The fields of OLMo-core's dataclass (but ``lr_field`` / ``initial_lr_field``, which
    the scheduler's ``key`` replaces), with their defaults; the alias adds ``total_steps``
    (the trainer's ``max_steps``) and takes the deprecated spellings by translation."""
    peer = getattr(olmo, CLASS_NAMES[short])
    deprecated = {"warmup_steps", "decay_steps", "schedulers_max_steps"}
    want = {
        f.name: (None if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(peer)
        if f.init and f.name not in {"lr_field", "initial_lr_field", *deprecated}
    }
    want["units"] = str(want["units"])
    if short in ("composable", "wsds", "sequential"):
        # list fields: a factory in OLMo-core, empty (refused) or None here
        for name in ("stages", "period_lengths", "schedulers"):
            if name in want:
                want[name] = ()
    alias = SCHEDULES[short]
    got = {
        (f.alias or f.name): (
            f.default.factory() if isinstance(f.default, attrs.Factory) else f.default
        )
        for f in attrs.fields(alias)
        if f.init and f.name != "total_steps"
    }
    assert got == want
    assert {f.name for f in dataclasses.fields(peer)} & deprecated <= set(_translated(alias))


def _translated(alias: type) -> set[str]:
    """The deprecated spellings the alias's translation takes."""
    out = set()
    for old in ("warmup_steps", "decay_steps", "schedulers_max_steps"):
        params = alias.translate({old: 5, "total_steps": 10})
        if old not in params:
            out.add(old)
    return out


@pytest.mark.parametrize(("warmup", "decay", "total"), [(10, 20, 100), (1, 1, 30), (25, 75, 400)])
def test_the_native_wsd_is_olmo_cores_wsd_and_power_lr(warmup: int, decay: int, total: int) -> None:
    """The native curves at step ``s`` are OLMo-core's ``get_lr(1.0, s, t_max)`` (the native
    step counts from 0 where OLMo-core's updates count from 1): ``wsd`` is its ``WSD``, and
    ``wsd`` with a power-law stable phase (``stable_ref`` = the warmup, ``stable_power`` =
    ``-b``) its ``PowerLR``."""
    native = get_schedule("wsd", total=total, decay=decay, warmup=warmup)
    peer = olmo.WSD(warmup=warmup, decay=decay, decay_fraction=None)
    for s in range(total + 1):
        assert native(s) == pytest.approx(peer.get_lr(1.0, s, total), rel=1e-12, abs=1e-15)
    power = get_schedule(
        "wsd",
        total=total,
        decay=decay,
        warmup=warmup,
        stable_kind="power",
        stable_power=0.51,
        stable_ref=warmup,
    )
    peer_power = olmo.PowerLR(warmup=warmup, decay=decay, decay_fraction=None, b=-0.51)
    for s in range(total + 1):
        want = peer_power.get_lr(1.0, s, total)
        assert power(s) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_the_native_wsds_is_olmo_cores_wsds_but_at_the_periods_ends() -> None:
    """``wsds`` (``ends`` the running sums of ``period_lengths``) at step ``s`` is OLMo-core's
    ``WSDS.get_lr(1.0, s, ..)``, but at the end of a period that another follows: OLMo-core
    gives that step to the period ending (its minimum), the native curve to the next one
    (its peak), so each native period is a whole WSD of its length."""
    lengths, warmup, decay = [40, 30, 50], 8, 6
    peer = olmo.WSDS(
        period_lengths=lengths, period_lr_multipliers=[1.0, 0.8, 0.5], warmup=warmup, decay=decay
    )
    native = get_schedule(
        "wsds", ends=[40, 70, 120], peaks=[1.0, 0.8, 0.5], decay=decay, warmup=warmup
    )
    inner_ends = {40, 70}
    for s in range(130):
        want = peer.get_lr(1.0, s, 0)
        if s in inner_ends:
            assert want == 0.0
            assert native(s) == {40: 0.8, 70: 0.5}[s]
        else:
            assert native(s) == pytest.approx(want, rel=1e-12, abs=1e-15), s
