"""``megatron.OptimizerParamScheduler`` against megatron-core's own ``OptimizerParamScheduler``
(megatron-core 0.16.1, installed): the same lr and weight decay in every param group at
every step (``==``: both compute in Python floats), stepped by megatron's
``step(increment)``, resumed by schedkit's state and by megatron's, with megatron's checks
as errors naming the argument, and a small model trained both ways to the same weights."""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, StateError
from schedkit.registry import default_registry
from tests.support.alias_signatures import divergences, from_signature, of_alias

with warnings.catch_warnings():  # megatron-core warns that Transformer Engine is absent
    warnings.simplefilter("ignore")
    ops = pytest.importorskip("megatron.core.optimizer_param_scheduler")

NAME = "megatron.OptimizerParamScheduler"

#: every lr decay style (WSD with each of its decay styles)
LR_STYLES: list[dict[str, Any]] = [
    {"lr_decay_style": "constant"},
    {"lr_decay_style": "linear"},
    {"lr_decay_style": "cosine"},
    {"lr_decay_style": "inverse-square-root"},
    *(
        {"lr_decay_style": "WSD", "wsd_decay_steps": 25, "lr_wsd_decay_style": style}
        for style in ("linear", "cosine", "exponential", "minus_sqrt")
    ),
]
#: every weight-decay increment style
WD_STYLES: list[dict[str, Any]] = [
    {"start_wd": 0.05, "end_wd": 0.05, "wd_incr_style": "constant"},
    {"start_wd": 0.01, "end_wd": 0.1, "wd_incr_style": "linear"},
    {"start_wd": 0.0, "end_wd": 0.2, "wd_incr_style": "cosine"},
]


def _args(lr: dict[str, Any], wd: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "init_lr": 1e-6,
        "max_lr": 3e-3,
        "min_lr": 2e-5,
        "lr_warmup_steps": 9,
        "lr_decay_steps": 70,
        "wd_incr_steps": 55,
        **lr,
        **wd,
        **more,
    }


def _groups(params: list[torch.nn.Parameter], own_wd: float | None) -> list[dict[str, Any]]:
    """megatron-core's kinds of groups: the default, one without weight decay (biases and
    norms: ``wd_mult`` 0), one with its own lr (the decoupled embedding lr), one with its
    own weight-decay range (``own_wd``: a constant one); ``lr_mult`` is carried but ignored
    by megatron-core."""
    wd = (
        {"start_wd": 0.02, "end_wd": 0.3}
        if own_wd is None
        else {"start_wd": own_wd, "end_wd": own_wd}
    )
    return [
        {"params": [params[0]], "wd_mult": 1.0, "lr_mult": 1.0, "default_config": True},
        {"params": [params[1]], "wd_mult": 0.0, "lr_mult": 1.0},
        {"params": [params[2]], "max_lr": 1e-2, "min_lr": 1e-3, "lr_mult": 2.0},
        {"params": [params[3]], **wd, "wd_mult": 0.5},
    ]


def _twins(own_wd: float | None = None) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    def make() -> torch.optim.Optimizer:
        params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(4)]
        return torch.optim.AdamW(_groups(params, own_wd), lr=1.0, weight_decay=0.0)

    return make(), make()


def _values(opt: torch.optim.Optimizer) -> list[tuple[float, float]]:
    return [(g["lr"], g["weight_decay"]) for g in opt.param_groups]


def _both(**args: Any) -> tuple[Any, torch.optim.Optimizer, Any, torch.optim.Optimizer]:
    theirs, mine = _twins(0.3 if args["wd_incr_style"] == "constant" else None)
    peer = ops.OptimizerParamScheduler(theirs, **args)
    sched = schedkit.get_scheduler(NAME, mine, **args)
    return peer, theirs, sched, mine


@pytest.mark.parametrize("wd", WD_STYLES, ids=lambda w: w["wd_incr_style"])
@pytest.mark.parametrize(
    "lr", LR_STYLES, ids=lambda s: s["lr_decay_style"] + s.get("lr_wsd_decay_style", "")
)
def test_every_style_gives_megatrons_floats_in_every_group(
    lr: dict[str, Any], wd: dict[str, Any]
) -> None:
    peer, theirs, sched, mine = _both(**_args(lr, wd))
    assert _values(mine) == _values(theirs)  # megatron's step(0) at construction
    for _ in range(90):  # past the decay and the increment: min_lr and end_wd
        peer.step(1)
        sched.step()
        assert _values(mine) == _values(theirs), sched.last_epoch
    assert sched.num_steps == peer.num_steps == 90


def test_step_increment_counts_samples_as_megatron_lm_does() -> None:
    """Megatron-LM steps by the global batch size, its durations in samples; 0 rewrites."""
    args = _args(LR_STYLES[4], WD_STYLES[2], lr_warmup_steps=4096, lr_decay_steps=65536)
    args["wsd_decay_steps"], args["wd_incr_steps"] = 16384, 40000
    peer, theirs, sched, mine = _both(**args)
    rng = random.Random(0)
    for _ in range(200):
        increment = rng.choice([0, 256, 512, 1024])
        peer.step(increment)
        sched.step(increment)
        assert _values(mine) == _values(theirs)
    assert sched.num_steps == peer.num_steps
    for bad in (-1, 1.5, True):
        with pytest.raises(SpecError, match="whole number of steps >= 0") as e:
            sched.step(bad)
        assert e.value.path == "increment"


def test_megatrons_methods_and_attributes() -> None:
    peer, theirs, sched, mine = _both(**_args(LR_STYLES[2], WD_STYLES[1]))
    for _ in range(13):
        peer.step(1)
        sched.step()
    for g_theirs, g_mine in zip(theirs.param_groups, mine.param_groups, strict=True):
        assert sched.get_lr(g_mine) == peer.get_lr(g_theirs)
        assert sched.get_wd(g_mine) == peer.get_wd(g_theirs)
    assert sched.get_wd() == peer.get_wd()
    assert sched.get_lr() == [g["lr"] for g in theirs.param_groups]  # schedkit's, no group
    for name in ("num_steps", "max_lr", "min_lr", "lr_decay_style", "wd_incr_steps"):
        assert getattr(sched, name) == getattr(peer, name), name
    with pytest.raises(SpecError, match="fixed when the alias is built"):
        sched.max_lr = 1.0


def test_a_groups_own_settings_are_read_at_each_step_as_megatron_reads_them() -> None:
    peer, theirs, sched, mine = _both(**_args(LR_STYLES[1], WD_STYLES[1]))
    for _ in range(5):
        peer.step(1)
        sched.step()
    for opt in (theirs, mine):
        opt.param_groups[0]["max_lr"] = 5e-3
        opt.param_groups[1]["wd_mult"] = 2.0
    for _ in range(20):
        peer.step(1)
        sched.step()
        assert _values(mine) == _values(theirs)


def test_schedkits_state_resumes_exactly() -> None:
    args = _args(LR_STYLES[6], WD_STYLES[2])
    peer, theirs, sched, _ = _both(**args)
    for _ in range(30):
        peer.step(1)
        sched.step()
    state = sched.state_dict()
    _, resumed = _twins()
    again = schedkit.get_scheduler(NAME, resumed, **args)
    again.load_state_dict(state)
    assert _values(resumed) == _values(theirs)
    for _ in range(50):
        peer.step(1)
        again.step()
        assert _values(resumed) == _values(theirs)


def test_a_megatron_checkpoints_state_loads_as_megatron_loads_it() -> None:
    """megatron's ``state_dict()`` loaded into the alias: its steps are added (megatron's
    ``load_state_dict`` steps by them), and the next values are megatron's."""
    args = _args(LR_STYLES[2], WD_STYLES[1])
    peer, _, _, _ = _both(**args)
    for _ in range(17):
        peer.step(1)
    saved = peer.state_dict()
    _, mine = _twins()
    sched = schedkit.get_scheduler(NAME, mine, **args)
    sched.load_state_dict(saved)
    theirs2, _ = _twins()
    peer2 = ops.OptimizerParamScheduler(theirs2, **args)
    peer2.load_state_dict(saved)
    assert sched.num_steps == peer2.num_steps == 17
    for _ in range(40):
        peer2.step(1)
        sched.step()
        assert _values(mine) == _values(theirs2)


def test_megatrons_switches_on_a_different_checkpoint() -> None:
    args = _args(LR_STYLES[2], WD_STYLES[1])
    peer, _, _, _ = _both(**args)
    for _ in range(7):
        peer.step(1)
    saved = peer.state_dict()
    changed = {**args, "max_lr": 1e-3}
    # megatron's default adopts the checkpoint's max_lr in place: the alias refuses
    _, mine = _twins()
    sched = schedkit.get_scheduler(NAME, mine, **changed)
    before = _values(mine)
    with pytest.raises(StateError, match="override_opt_param_scheduler") as e:
        sched.load_state_dict(saved)
    assert e.value.path == "max_lr"
    assert "max_lr = 0.003, this scheduler 0.001" in str(e.value)
    assert _values(mine) == before
    assert sched.num_steps == 0
    # without either switch megatron asserts the values match: refused too
    strict = {**changed, "use_checkpoint_opt_param_scheduler": False}
    sched = schedkit.get_scheduler(NAME, _twins()[1], **strict)
    with pytest.raises(StateError, match="refuses a different value"):
        sched.load_state_dict(saved)
    # override: the scheduler's arguments are kept, the steps taken, as megatron's override
    over = {**changed, "use_checkpoint_opt_param_scheduler": False}
    over["override_opt_param_scheduler"] = True
    theirs, mine = _twins()
    peer2 = ops.OptimizerParamScheduler(theirs, **over)
    peer2.load_state_dict(saved)
    sched = schedkit.get_scheduler(NAME, mine, **over)
    sched.load_state_dict(saved)
    for _ in range(30):
        peer2.step(1)
        sched.step()
        assert _values(mine) == _values(theirs)
    # and a schedkit state of another plan loads under override, keeping its step
    state = sched.state_dict()
    again = schedkit.get_scheduler(NAME, _twins()[1], **{**over, "min_lr": 0.0})
    again.load_state_dict(state)
    assert again.num_steps == sched.num_steps
    plain = schedkit.get_scheduler(NAME, _twins()[1], **{**args, "min_lr": 0.0})
    with pytest.raises(StateError):
        plain.load_state_dict(state)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"min_lr": -1e-5}, "min_lr"),
        ({"max_lr": 1e-6, "init_lr": 0.0}, "max_lr"),
        ({"init_lr": 1.0}, "init_lr"),
        ({"lr_warmup_steps": 70}, "lr_warmup_steps"),
        ({"lr_decay_steps": 0, "lr_warmup_steps": 0}, "lr_decay_steps"),
        ({"lr_decay_style": "WSD"}, "wsd_decay_steps"),
        ({"start_wd": -0.1}, "start_wd"),
        ({"end_wd": 0.0, "start_wd": 0.1}, "end_wd"),
        ({"override_opt_param_scheduler": True}, "override_opt_param_scheduler"),
        ({"lr_decay_style": "exponential"}, "lr_decay_style"),
    ],
)
def test_megatrons_checks_are_errors_naming_the_argument(change: dict[str, Any], path: str) -> None:
    args = {**_args(LR_STYLES[1], WD_STYLES[1]), **change}
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler(NAME, _twins()[1], **args)
    assert e.value.path.endswith(path)

    def megatron() -> None:  # refuses the same: when built, or at its first step past warmup
        peer = ops.OptimizerParamScheduler(_twins()[0], **args)
        for _ in range(80):
            peer.step(1)

    with pytest.raises(Exception):  # noqa: B017, PT011 - an AssertionError or an Exception
        megatron()


def test_a_constant_weight_decay_needs_one_value_as_megatron_asserts() -> None:
    args = _args(LR_STYLES[1], {"start_wd": 0.0, "end_wd": 0.1, "wd_incr_style": "constant"})
    with pytest.raises(SpecError, match="end_wd = start_wd"):
        schedkit.get_scheduler(NAME, _twins()[1], **args)
    with pytest.raises(AssertionError):
        ops.OptimizerParamScheduler(_twins()[0], **args)
    # a group's own range too (megatron asserts it at its first step)
    args = _args(LR_STYLES[1], WD_STYLES[0])
    with pytest.raises(SpecError, match="this group has start_wd = 0.02") as e:
        schedkit.get_scheduler(NAME, _twins()[1], **args)
    assert e.value.path == "param_groups[3].end_wd"
    with pytest.raises(AssertionError):
        ops.OptimizerParamScheduler(_twins()[0], **args)


def test_the_alias_takes_megatrons_arguments() -> None:
    original = from_signature(ops.OptimizerParamScheduler, ("self", "optimizer"))
    (cls,) = [i.cls for i in default_registry().components() if i.name == NAME]
    alias = of_alias(cls)
    assert divergences(alias, original) == []


def test_a_spec_and_a_setup_build_it() -> None:
    spec = {"type": NAME, **_args(LR_STYLES[7], WD_STYLES[0])}
    theirs, mine = _twins(0.3)
    peer = ops.OptimizerParamScheduler(theirs, **_args(LR_STYLES[7], WD_STYLES[0]))
    sched = schedkit.Scheduler(mine, spec)
    for _ in range(75):
        peer.step(1)
        sched.step()
    assert _values(mine) == _values(theirs)
    assert sched.state_dict()["schedule"] == spec | {
        "use_checkpoint_opt_param_scheduler": True,
        "override_opt_param_scheduler": False,
    }


def test_a_small_model_trains_to_the_same_weights_both_ways() -> None:
    """A two-layer model, AdamW with megatron-core's groups (no weight decay on biases),
    trained 60 steps under megatron's scheduler and under the alias."""

    def train(use_alias: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
        ).double()
        weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        opt = torch.optim.AdamW(
            [
                {"params": weights, "wd_mult": 1.0, "lr_mult": 1.0},
                {"params": biases, "wd_mult": 0.0, "lr_mult": 1.0},
            ],
            lr=1.0,
        )
        args = _args(LR_STYLES[2], WD_STYLES[1], lr_decay_steps=60, wd_incr_steps=60)
        if use_alias:
            sched: Any = schedkit.get_scheduler(NAME, opt, **args)
        else:
            sched = ops.OptimizerParamScheduler(opt, **args)
        gen = torch.Generator().manual_seed(1)
        for _ in range(60):
            x = torch.randn(8, 6, generator=gen, dtype=torch.float64)
            loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            sched.step(1)
        return [p.detach().clone() for p in model.parameters()]

    for a, b in zip(train(False), train(True), strict=True):
        assert torch.equal(a, b)


@settings(max_examples=25, deadline=None)
@given(
    lr=st.sampled_from(LR_STYLES),
    wd=st.sampled_from(WD_STYLES),
    warmup=st.integers(0, 30),
    decay=st.integers(1, 80),
    wsd=st.integers(0, 80),
    wd_steps=st.integers(1, 80),
    increments=st.lists(st.integers(0, 7), min_size=1, max_size=40),
)
def test_random_plans_and_increments_give_megatrons_floats(
    lr: dict[str, Any],
    wd: dict[str, Any],
    warmup: int,
    decay: int,
    wsd: int,
    wd_steps: int,
    increments: list[int],
) -> None:
    args = _args(lr, wd, lr_warmup_steps=warmup, lr_decay_steps=warmup + decay)
    args["wd_incr_steps"] = wd_steps
    if "wsd_decay_steps" in args:
        args["wsd_decay_steps"] = min(wsd, warmup + decay)
    peer, theirs, sched, mine = _both(**args)
    for increment in increments:
        peer.step(increment)
        sched.step(increment)
        assert _values(mine) == _values(theirs)
