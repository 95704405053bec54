"""``torch.*`` aliases against torch.optim.lr_scheduler itself: equal floats, every group."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from hypothesis import assume, given, settings
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


# -- torch's own stepping API, differentially against torch -----------------------------

_EPOCH_WARNING = tl.EPOCH_DEPRECATION_WARNING


def _peer_groups(lrs, tensors):
    """Param groups with the drawn lrs; some as 0-dim float64 tensors (torch takes them)."""
    groups = []
    for lr, as_tensor in zip(lrs, tensors, strict=True):
        value = torch.tensor(lr, dtype=torch.float64) if as_tensor else lr
        groups.append({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": value})
    return groups


def _floats(opt, keys=("lr",)):
    out = []
    for g in opt.param_groups:
        for k in keys:
            v = g["betas"][0] if k == "momentum" and "momentum" not in g else g[k]
            out.append(float(v))
    return out


_gammas = st.floats(0.05, 1.0)
_factors = st.floats(0.05, 1.0)
_CONFIGS = {
    "StepLR": st.fixed_dictionaries({"step_size": st.integers(1, 9), "gamma": _gammas}),
    "MultiStepLR": st.fixed_dictionaries(
        {"milestones": st.lists(st.integers(0, 40), min_size=1, max_size=4), "gamma": _gammas}
    ),
    "ConstantLR": st.fixed_dictionaries({"factor": _factors, "total_iters": st.integers(0, 15)}),
    "LinearLR": st.fixed_dictionaries(
        {
            "start_factor": _factors,
            "end_factor": st.floats(0.0, 1.0),
            "total_iters": st.integers(1, 20),
        }
    ),
    "ExponentialLR": st.fixed_dictionaries({"gamma": st.floats(0.5, 1.0)}),
    "PolynomialLR": st.fixed_dictionaries(
        {"total_iters": st.integers(1, 20), "power": st.floats(0.5, 3.0)}
    ),
    "CosineAnnealingLR": st.fixed_dictionaries(
        {"T_max": st.integers(1, 20), "eta_min": st.sampled_from([0.0, 1e-4, 1e-3])}
    ),
    "CosineAnnealingWarmRestarts": st.fixed_dictionaries(
        {
            "T_0": st.integers(1, 8),
            "T_mult": st.integers(1, 3),
            "eta_min": st.sampled_from([0.0, 1e-4]),
        }
    ),
    "CyclicLR": st.fixed_dictionaries(
        {
            "base_lr": st.sampled_from([1e-3, [1e-3, 2e-3, 5e-4], torch.tensor(1e-3)]),
            "max_lr": st.sampled_from([0.1, [0.1, 0.2, 0.05]]),
            "step_size_up": st.integers(1, 8),
            "mode": st.sampled_from(["triangular", "triangular2", "exp_range"]),
            "gamma": st.floats(0.9, 1.0),
            "base_momentum": st.sampled_from([0.8, [0.8, 0.85, 0.7]]),
            "max_momentum": st.sampled_from([0.9, [0.9, 0.95, 0.99]]),
        }
    ),
    "LambdaLR": st.just({"lr_lambda": [lambda t: 0.9**t, lambda t: 1 / (t + 1), lambda t: 0.5]}),
    "MultiplicativeLR": st.just({"lr_lambda": lambda t: 0.97}),
}


def _fresh(value):
    """The same argument again (torch keeps tensors it is given: each side gets its own)."""
    if isinstance(value, torch.Tensor):
        return value.clone().double()
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


@st.composite
def _peer_case(draw):
    name = draw(st.sampled_from(sorted(_CONFIGS)))
    params = draw(_CONFIGS[name])
    lrs = draw(st.lists(st.floats(1e-4, 1.0), min_size=3, max_size=3))
    tensors = draw(st.lists(st.booleans(), min_size=3, max_size=3))
    if isinstance(params.get("base_lr"), torch.Tensor):
        # torch writes a tensor base_lr into a float group lr by reference, then fills it
        # in place each step, moving its own base_lr (an aliasing bug the alias does not
        # copy); with tensor group lrs torch fills those instead
        tensors = [True, True, True]
    fractional = name == "CosineAnnealingWarmRestarts"
    epoch = st.floats(0.0, 40.0) if fractional else st.integers(0, 40)
    ops = draw(st.lists(st.one_of(st.none(), st.none(), st.none(), epoch), min_size=1, max_size=30))
    return name, params, lrs, tensors, ops


def _both(name, params, lrs, tensors, **kw):
    o1 = torch.optim.SGD(_peer_groups(lrs, tensors), lr=0.1, momentum=0.9)
    o2 = torch.optim.SGD(_peer_groups(lrs, tensors), lr=0.1, momentum=0.9)
    theirs = getattr(tl, name)(o1, **{k: _fresh(v) for k, v in params.items()}, **kw)
    ours = schedkit.get_scheduler(
        f"torch.{name}", o2, **{k: _fresh(v) for k, v in params.items()}, **kw
    )
    return o1, o2, theirs, ours


def _drive(sched, opt, epoch):
    """One call of torch's API; returns the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.step()
        if epoch is None:
            sched.step()
        else:
            sched.step(epoch)
    return [(w.category, str(w.message)) for w in caught]


@settings(max_examples=40, deadline=None)
@given(case=_peer_case())
def test_torch_stepping_api_step_epoch_and_resume_as_torch(case):
    """step() and step(epoch) in any order, then a resume by construction (last_epoch=),
    through torch's own API, three groups (float and 0-dim tensor lrs): torch's floats."""
    name, params, lrs, tensors, ops = case
    keys = ("lr", "momentum") if name == "CyclicLR" else ("lr",)
    o1, o2, theirs, ours = _both(name, params, lrs, tensors)
    assert _floats(o1, keys) == _floats(o2, keys)
    for op in ops:
        w1 = _drive(theirs, o1, op)
        w2 = _drive(ours, o2, op)
        assert w1 == w2, op
        assert _floats(o1, keys) == _floats(o2, keys), op
        assert ours.last_epoch == theirs.last_epoch
    # resume by construction: the groups carry initial_lr, the new scheduler continues
    last = theirs.last_epoch
    again1 = getattr(tl, name)(o1, **{k: _fresh(v) for k, v in params.items()}, last_epoch=last)
    again2 = schedkit.get_scheduler(
        f"torch.{name}", o2, **{k: _fresh(v) for k, v in params.items()}, last_epoch=last
    )
    assert _floats(o1, keys) == _floats(o2, keys)
    for _ in range(8):
        _drive(again1, o1, None)
        _drive(again2, o2, None)
        assert _floats(o1, keys) == _floats(o2, keys)


def test_fractional_epochs_of_warm_restarts_as_torch_documents():
    """``scheduler.step(epoch + i / iters)``, torch's documented SGDR loop, then step()."""
    o1, o2, theirs, ours = _both(
        "CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 1e-4}, LRS, [0, 0, 1]
    )
    iters = 7
    for epoch in range(12):
        for i in range(iters):
            assert _drive(theirs, o1, epoch + i / iters) == []  # torch does not warn here
            assert _drive(ours, o2, epoch + i / iters) == []
            assert _floats(o1) == _floats(o2)
    for _ in range(10):
        _drive(theirs, o1, None), _drive(ours, o2, None)
        assert _floats(o1) == _floats(o2)
    assert (ours.T_cur, ours.T_i) == (theirs.T_cur, theirs.T_i)
    with pytest.raises(SpecError, match="Expected non-negative epoch, but got -1"):
        ours.step(-1)


def test_step_epoch_warns_as_torch():
    o1, o2, theirs, ours = _both("StepLR", {"step_size": 3}, LRS, [0, 1, 0])
    o1.step(), o2.step()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
        ours.step(7)
    with pytest.warns(UserWarning, match="The epoch parameter"):
        theirs.step(7)
    assert _floats(o1) == _floats(o2)
    with pytest.raises(SpecError, match="only torch.CosineAnnealingWarmRestarts takes"):
        ours.step(2.5)
    native = schedkit.get_scheduler("cosine", _opt(), total=10)
    with pytest.raises(TypeError, match="step\\(\\) takes no argument"):
        native.step(3)


def test_reduce_lr_on_plateau_step_with_an_epoch_as_torch():
    kw = {"factor": 0.5, "patience": 0, "min_lr": 0.001}
    o1, o2, theirs, ours = _both("ReduceLROnPlateau", kw, LRS, [0, 0, 1])
    for k, m in enumerate([1.0, 1.0, 0.5, 0.7, 0.7, 0.7]):
        o1.step(), o2.step()
        with pytest.warns(UserWarning, match="The epoch parameter"):
            theirs.step(m, 10 + k)
        with pytest.warns(UserWarning, match="The epoch parameter"):
            ours.step(m, 10 + k)
        assert _floats(o1) == _floats(o2)
        assert ours.last_epoch == theirs.last_epoch


def test_resume_by_construction_needs_initial_lr():
    with pytest.raises(KeyError):
        tl.StepLR(_opt(), step_size=3, last_epoch=4)
    with pytest.raises(SpecError, match="param_groups\\[0\\].initial_lr: resuming at last_epoch=4"):
        schedkit.get_scheduler("torch.StepLR", _opt(), step_size=3, last_epoch=4)
    with pytest.raises(SpecError, match="last_epoch: expected a whole number >= -1"):
        schedkit.get_scheduler("torch.StepLR", _opt(), step_size=3, last_epoch=-3)


_CHAINABLE = ["StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR"]
_CHAINABLE += ["PolynomialLR", "CosineAnnealingLR", "MultiplicativeLR"]


@settings(max_examples=30, deadline=None)
@given(
    first=st.sampled_from(_CHAINABLE),
    second=st.sampled_from([*_CHAINABLE, "CosineAnnealingWarmRestarts", "LambdaLR"]),
    data=st.data(),
    steps=st.integers(1, 40),
)
def test_two_schedulers_stacked_on_one_optimizer_compose_as_in_torch(first, second, data, steps):
    """Each reads the lr the other wrote (chainable forms), as torch's do."""
    p1 = data.draw(_CONFIGS[first])
    p2 = data.draw(_CONFIGS[second])
    tensors = data.draw(st.lists(st.booleans(), min_size=3, max_size=3))
    o1 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1)
    o2 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1)
    theirs = [getattr(tl, first)(o1, **p1), getattr(tl, second)(o1, **p2)]
    ours = [
        schedkit.get_scheduler(f"torch.{first}", o2, **p1),
        schedkit.get_scheduler(f"torch.{second}", o2, **p2),
    ]
    assert _floats(o1) == _floats(o2)
    for _ in range(steps):
        o1.step(), o2.step()
        for s in (*theirs, *ours):
            s.step()
        assert _floats(o1) == _floats(o2)


@pytest.mark.parametrize(
    ("name", "params", "names"),
    [
        ("StepLR", {"step_size": 3, "gamma": 0.5}, ["step_size", "gamma"]),
        ("MultiStepLR", {"milestones": [3, 3, 7]}, ["milestones", "gamma"]),
        ("ConstantLR", {"factor": 0.5, "total_iters": 3}, ["factor", "total_iters"]),
        ("LinearLR", {"start_factor": 0.5}, ["start_factor", "end_factor", "total_iters"]),
        ("ExponentialLR", {"gamma": 0.9}, ["gamma"]),
        ("PolynomialLR", {"total_iters": 7}, ["total_iters", "power"]),
        ("CosineAnnealingLR", {"T_max": 7, "eta_min": 1e-4}, ["T_max", "eta_min"]),
        (
            "CosineAnnealingWarmRestarts",
            {"T_0": 3, "T_mult": 2},
            ["T_0", "T_i", "T_mult", "eta_min", "T_cur"],
        ),
        (
            "CyclicLR",
            {"base_lr": 0.01, "max_lr": [0.1, 0.2, 0.3], "step_size_up": 3, "step_size_down": 5},
            [
                *("max_lrs", "total_size", "step_ratio", "mode", "gamma", "scale_mode"),
                *("cycle_momentum", "base_momentums", "max_momentums"),
            ],
        ),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": 40}, ["total_steps", "cycle_momentum"]),
        (
            "ReduceLROnPlateau",
            {"patience": 2, "min_lr": 1e-4},
            [
                *("factor", "patience", "cooldown", "eps", "mode", "threshold", "threshold_mode"),
                *("min_lrs", "best", "num_bad_epochs", "cooldown_counter"),
            ],
        ),
    ],
)
def test_constructor_hyperparameters_are_attributes_as_in_torch(name, params, names):
    o1, o2, theirs, ours = _both(name, params, LRS, [0, 0, 0])
    for _ in range(5):
        o1.step(), o2.step()
        if name == "ReduceLROnPlateau":
            theirs.step(1.0), ours.step(1.0)
        else:
            theirs.step(), ours.step()
    for n in names:
        assert getattr(ours, n) == getattr(theirs, n), n
    if name not in ("CyclicLR", "OneCycleLR", "ReduceLROnPlateau"):
        # torch's CyclicLR and OneCycleLR take base_lrs from their arguments (documented)
        assert ours.base_lrs == theirs.base_lrs
    with pytest.raises(SpecError, match="fixed when the scheduler is built"):
        setattr(ours, names[0], 3)


def test_lambda_attributes_are_torchs():
    fns = [lambda t: 0.9**t, lambda t: 0.5, lambda t: 1.0]
    ours = schedkit.get_scheduler("torch.LambdaLR", _opt(), lr_lambda=fns)
    assert ours.lr_lambdas == fns
    ours = schedkit.get_scheduler("torch.MultiplicativeLR", _opt(), lr_lambda=fns[0])
    assert ours.lr_lambdas == [fns[0]] * 3


def _plateau_pair(min_lr):
    o1, o2 = _opt(), _opt()
    kw = {"factor": 0.5, "patience": 0, "min_lr": min_lr}
    return (
        o1,
        o2,
        tl.ReduceLROnPlateau(o1, **kw),
        schedkit.get_scheduler("torch.ReduceLROnPlateau", o2, **kw),
    )


def test_min_lrs_after_add_param_group_as_torch():
    # a single min_lr covers the new group, as torch re-extends min_lrs
    o1, o2, theirs, ours = _plateau_pair(0.01)
    for o in (o1, o2):
        o.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.04})
    for m in [1.0, 1.0, 1.0, 1.0, 1.0]:
        o1.step(), o2.step(), theirs.step(m), ours.step(m)
        assert _floats(o1) == _floats(o2)
    assert ours.min_lrs == theirs.min_lrs == [0.01] * 4
    # a list must be extended by hand: torch says so, and then takes it
    o1, o2, theirs, ours = _plateau_pair([0.01, 0.001, 0.0001])
    for o in (o1, o2):
        o.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.04})
    o1.step(), o2.step(), theirs.step(1.0), ours.step(1.0)
    with pytest.raises(RuntimeError, match="Please modify the `min_lrs` field"):
        theirs.step(1.0)
    with pytest.raises(SpecError, match="Please modify the `min_lrs` field"):
        ours.step(1.0)
    theirs.min_lrs.append(0.02)
    ours.min_lrs.append(0.02)
    o1, o2, theirs, ours = _plateau_pair([0.01, 0.001, 0.0001])
    for o in (o1, o2):
        o.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.04})
    theirs.min_lrs = [0.01, 0.001, 0.0001, 0.03]
    ours.min_lrs = [0.01, 0.001, 0.0001, 0.03]
    for m in [1.0] * 6:
        o1.step(), o2.step(), theirs.step(m), ours.step(m)
        assert _floats(o1) == _floats(o2)
    assert _floats(o2)[-1] == 0.03


# torch's CyclicLR built first on an optimizer records its base_lr as the groups' initial_lr
# (the alias keeps the groups' lr; documented), which the later parts then start from
_SUBS = [n for n in _CONFIGS if n not in ("LambdaLR", "MultiplicativeLR", "CyclicLR")]


@settings(max_examples=30, deadline=None)
@given(
    names=st.lists(st.sampled_from(_SUBS), min_size=1, max_size=3),
    data=st.data(),
    steps=st.integers(1, 45),
    stop=st.integers(0, 45),
)
def test_sequential_lr_as_torch(names, data, steps, stop):
    """torch's SequentialLR over torch aliases built on the optimizer, as torch's users
    build it; a resume from the state (in a fresh optimizer) gives the same floats."""
    params = [data.draw(_CONFIGS[n]) for n in names]
    milestones = sorted(
        data.draw(st.lists(st.integers(1, 30), min_size=len(names) - 1, max_size=len(names) - 1))
    )
    tensors = data.draw(st.lists(st.booleans(), min_size=3, max_size=3))
    if any(isinstance(p.get("base_lr"), torch.Tensor) for p in params):
        tensors = [True, True, True]
    o1 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1, momentum=0.9)
    o2 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1, momentum=0.9)
    subs1 = [
        getattr(tl, n)(o1, **{k: _fresh(v) for k, v in p.items()})
        for n, p in zip(names, params, strict=True)
    ]
    subs2 = [
        schedkit.get_scheduler(f"torch.{n}", o2, **{k: _fresh(v) for k, v in p.items()})
        for n, p in zip(names, params, strict=True)
    ]
    theirs = tl.SequentialLR(o1, subs1, milestones=milestones)
    ours = schedkit.get_scheduler("torch.SequentialLR", o2, schedulers=subs2, milestones=milestones)
    assert _floats(o1) == _floats(o2)
    trace = []
    for k in range(steps):
        _drive(theirs, o1, None)
        _drive(ours, o2, None)
        assert _floats(o1) == _floats(o2), k
        trace.append(_floats(o2))
        if k + 1 == stop:
            state = ours.state_dict()
    if stop <= steps and stop:
        o3 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1, momentum=0.9)
        resumed = schedkit.get_scheduler(
            "torch.SequentialLR",
            o3,
            **{
                "schedulers": [s.spec() for s in ours.schedule.schedulers],
                "milestones": milestones,
            },
        )
        resumed.load_state_dict(state)
        assert _floats(o3) == trace[stop - 1]
        for k in range(stop, steps):
            resumed.step()
            assert _floats(o3) == trace[k]


@settings(max_examples=30, deadline=None)
@given(
    names=st.lists(st.sampled_from(_CHAINABLE[:-1]), min_size=1, max_size=3),
    data=st.data(),
    steps=st.integers(1, 40),
)
def test_chained_scheduler_as_torch(names, data, steps):
    params = [data.draw(_CONFIGS[n]) for n in names]
    tensors = data.draw(st.lists(st.booleans(), min_size=3, max_size=3))
    o1 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1)
    o2 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1)
    subs1 = [getattr(tl, n)(o1, **p) for n, p in zip(names, params, strict=True)]
    subs2 = [
        schedkit.get_scheduler(f"torch.{n}", o2, **p) for n, p in zip(names, params, strict=True)
    ]
    theirs = tl.ChainedScheduler(subs1, optimizer=o1)
    ours = schedkit.get_scheduler("torch.ChainedScheduler", o2, schedulers=subs2)
    assert _floats(o1) == _floats(o2)
    for _ in range(steps):
        _drive(theirs, o1, None)
        _drive(ours, o2, None)
        assert _floats(o1) == _floats(o2)
    # declared as data: the same floats on a fresh optimizer
    spec = ours.schedule.spec()
    o3 = torch.optim.SGD(_peer_groups(LRS, tensors), lr=0.1)
    again = schedkit.get_scheduler(spec, o3)
    for _ in range(steps):
        again.step()
    assert _floats(o3) == _floats(o2)


def test_composites_refuse_what_torch_refuses():
    with pytest.raises(SpecError, match="number of schedulers provided to be one more"):
        schedkit.get_schedule(
            {
                "type": "torch.SequentialLR",
                "milestones": [],
                "schedulers": [
                    {"type": "torch.StepLR", "step_size": 2},
                    {"type": "torch.StepLR", "step_size": 3},
                ],
            }
        )
    with pytest.raises(SpecError, match="schedulers\\[0\\]: expected one of torch's"):
        schedkit.get_schedule(
            {"type": "torch.ChainedScheduler", "schedulers": [{"type": "torch.ReduceLROnPlateau"}]}
        )
    o = _opt()
    schedkit.get_scheduler("torch.StepLR", o, step_size=2)  # the groups get initial_lr
    subs = [{"type": "torch.StepLR", "step_size": 2}] * 2
    with pytest.raises(SpecError, match="does not resume by construction"):
        schedkit.get_scheduler(
            "torch.SequentialLR", o, last_epoch=3, milestones=[2], schedulers=subs
        )


def test_far_resume_takes_torchs_closed_form_within_the_stated_bound(monkeypatch):
    """Past 65536 updates (here 50, to keep the test quick) the alias does not replay:
    torch's closed form, within (base - eta_min) * k * (T_max + 1) * 2**-52 of torch's
    own recurrence."""
    from schedkit_compat import _base

    monkeypatch.setattr(_base, "REPLAY_LIMIT", 50)
    k, t_max, low = 400, 37, 1e-4
    o1 = _opt()
    theirs = tl.CosineAnnealingLR(o1, T_max=t_max, eta_min=low)
    o1.step()
    for _ in range(k):
        theirs.step()
    ours = schedkit.get_scheduler("torch.CosineAnnealingLR", _opt(), T_max=t_max, eta_min=low)
    state = {**ours.state_dict(), "step": k}
    ours.load_state_dict(state)
    for a, b, base in zip(_floats(o1), ours.get_last_lr(), LRS, strict=True):
        assert abs(a - b) <= (base - low) * k * (t_max + 1) * 2**-52
    # and moving on from there, chainable as torch
    o1.step(), theirs.step(), ours.step()
    for a, b, base in zip(_floats(o1), ours.get_last_lr(), LRS, strict=True):
        assert abs(a - b) <= (base - low) * k * (t_max + 1) * 2**-52


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("torch.CosineAnnealingLR", {"T_max": 1000, "eta_min": 1e-5}),
        ("torch.ExponentialLR", {"gamma": 0.999999}),
        ("torch.LinearLR", {"start_factor": 0.1, "total_iters": 10**9}),
        ("torch.StepLR", {"step_size": 1, "gamma": 0.9999999}),
    ],
)
def test_loading_a_state_at_step_ten_to_the_ninth_is_quick(name, params):
    import time

    sched = schedkit.get_scheduler(name, _opt(), **params)
    begin = time.perf_counter()
    sched.load_state_dict({**sched.state_dict(), "step": 10**9})
    sched.step()
    assert time.perf_counter() - begin < 5.0  # 65536 updates at most, then closed form
    want = schedkit.get_schedule(name, **params).closed_form(10**9 + 1, LRS[0], 0)
    assert sched.get_last_lr()[0] == pytest.approx(want, rel=1e-6, abs=1e-300)


def test_multiplicative_lr_moves_far_in_one_step_as_torch():
    o1, o2 = _opt(), _opt()
    theirs = tl.MultiplicativeLR(o1, lr_lambda=lambda t: 0.95)
    ours = schedkit.get_scheduler("torch.MultiplicativeLR", o2, lr_lambda=lambda t: 0.95)
    theirs.last_epoch = ours.last_epoch = 10**9
    o1.step(), o2.step(), theirs.step(), ours.step()
    assert _floats(o1) == _floats(o2)
    with pytest.warns(UserWarning, match="The epoch parameter"):
        theirs.step(2 * 10**9)
    with pytest.warns(UserWarning, match="The epoch parameter"):
        ours.step(2 * 10**9)
    assert _floats(o1) == _floats(o2)
    again1 = tl.MultiplicativeLR(o1, lr_lambda=lambda t: 0.9, last_epoch=10**9)
    again2 = schedkit.get_scheduler(
        "torch.MultiplicativeLR", o2, lr_lambda=lambda t: 0.9, last_epoch=10**9
    )
    o1.step(), o2.step(), again1.step(), again2.step()
    assert _floats(o1) == _floats(o2)


@settings(max_examples=30, deadline=None)
@given(
    kw=st.fixed_dictionaries(
        {
            "mode": st.sampled_from(["min", "max"]),
            "factor": st.floats(0.1, 0.9),
            "patience": st.integers(0, 4),
            "threshold": st.sampled_from([0.0, 1e-4, 0.05]),
            "threshold_mode": st.sampled_from(["rel", "abs"]),
            "cooldown": st.integers(0, 3),
            "min_lr": st.sampled_from([0.0, 1e-3, [1e-3, 1e-4, 5e-3]]),
            "eps": st.sampled_from([1e-8, 1e-4]),
        }
    ),
    lrs=st.lists(st.floats(1e-4, 1.0), min_size=3, max_size=3),
    tensors=st.lists(st.booleans(), min_size=3, max_size=3),
    metrics=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=40),
)
def test_reduce_lr_on_plateau_over_drawn_configs_as_torch(kw, lrs, tensors, metrics):
    o1, o2, theirs, ours = _both("ReduceLROnPlateau", kw, lrs, tensors)
    for m in metrics:
        o1.step(), o2.step(), theirs.step(m), ours.step(m)
        assert _floats(o1) == _floats(o2)
    assert (ours.best, ours.num_bad_epochs) == (theirs.best, theirs.num_bad_epochs)


@settings(max_examples=25, deadline=None)
@given(
    params=st.fixed_dictionaries(
        {
            "max_lr": st.sampled_from([0.1, [0.1, 0.2, 0.05], torch.tensor(0.1)]),
            "total_steps": st.integers(5, 60),
            "pct_start": st.floats(0.1, 0.9),
            "anneal_strategy": st.sampled_from(["cos", "linear"]),
            "three_phase": st.booleans(),
            "div_factor": st.sampled_from([25.0, 10.0]),
        }
    ),
    tensors=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_one_cycle_over_drawn_configs_as_torch(params, tensors):
    if params["three_phase"]:
        params["pct_start"] = min(params["pct_start"], 0.45)
    # a warm-up phase ending at step 0 (pct_start * total_steps == 1) divides by zero in torch
    assume(float(params["pct_start"] * params["total_steps"]) != 1.0)
    n = params["total_steps"]
    o1, o2, theirs, ours = _both("OneCycleLR", params, LRS, tensors)
    keys = ("lr", "momentum")
    for _ in range(n - 1):
        assert _floats(o1, keys) == _floats(o2, keys)
        _drive(theirs, o1, None), _drive(ours, o2, None)
    assert _floats(o1, keys) == _floats(o2, keys)


def test_a_torch_warmup_recipe_declared_in_toml():
    """torch's warmup recipe, SequentialLR(LinearLR, CosineAnnealingLR), as a TOML setup."""
    from schedkit.setup import loads_setup

    text = """
[optimizer]
type = "SGD"
lr = 0.1

[schedules.lr]
type = "torch.SequentialLR"
milestones = [5]
schedulers = [
  {type = "torch.LinearLR", start_factor = 0.1, total_iters = 5},
  {type = "torch.CosineAnnealingLR", T_max = 25, eta_min = 0.001},
]
"""
    model = torch.nn.Linear(3, 1)
    built = loads_setup(text).build(model)
    opt = torch.optim.SGD(torch.nn.Linear(3, 1).parameters(), lr=0.1)
    warm = tl.LinearLR(opt, start_factor=0.1, total_iters=5)
    main = tl.CosineAnnealingLR(opt, T_max=25, eta_min=0.001)
    theirs = tl.SequentialLR(opt, [warm, main], milestones=[5])
    for _ in range(40):
        assert [g["lr"] for g in built.optimizer.param_groups] == [opt.param_groups[0]["lr"]]
        model(torch.ones(2, 3)).sum().backward()
        built.step()
        opt.step(), theirs.step()


def test_reduce_lr_on_plateau_rebound_groups_keep_their_reductions_as_torch():
    """The optimizer's state loaded after the scheduler's, or a group added: the groups are
    bound again, and each goes on from its own lr (torch reduces the lr it finds)."""
    o1, o2, theirs, ours = _plateau_pair(0.0)
    for m in [1.0, 1.0, 1.0, 1.0]:
        o1.step(), o2.step(), theirs.step(m), ours.step(m)
    o3 = _opt()
    again = schedkit.get_scheduler("torch.ReduceLROnPlateau", o3, factor=0.5, patience=0)
    again.load_state_dict(ours.state_dict())
    o3.load_state_dict(o2.state_dict())  # after the scheduler's: new group dicts
    for o in (o1, o2):
        o.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.04})
    for m in [1.0, 1.0, 0.5, 1.0]:
        for o, s in ((o1, theirs), (o2, ours), (o3, again)):
            o.step(), s.step(m)
        assert _floats(o1) == _floats(o2)
        assert _floats(o3) == _floats(o1)[:3]
    assert _floats(o1)[0] == 0.1 * 0.5**6


def test_reduce_lr_on_plateau_too_few_floors_changes_no_group():
    """A reduction that finds a group without a floor raises before writing any group."""
    o = _opt()
    ours = schedkit.get_scheduler(
        "torch.ReduceLROnPlateau", o, factor=0.5, patience=0, min_lr=[0.01, 0.001]
    )
    ours.step(1.0)
    before = _floats(o)
    with pytest.raises(SpecError, match="Please modify the `min_lrs` field"):
        ours.step(1.0)
    assert _floats(o) == before
    ours.min_lrs = [0.01, 0.001, 0.0001]
    ours.step(1.0)
    assert _floats(o) == [0.05, 0.015, 0.0035]


@pytest.mark.parametrize("epoch", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingWarmRestarts"])
def test_step_with_a_non_finite_epoch_is_our_error(name, epoch):
    kw = {"step_size": 3} if name == "StepLR" else {"T_0": 3}
    o = _opt()
    ours = schedkit.get_scheduler(f"torch.{name}", o, **kw)
    before = (_floats(o), ours.state_dict())
    with pytest.raises(SpecError, match="epoch"):
        ours.step(epoch)
    assert (_floats(o), ours.state_dict()) == before


@pytest.mark.xfail(
    strict=True,
    reason="load_state_dict rewrites each scheduler's own curve from its start (so a state "
    "loaded on a fresh optimizer restores the lr), which overwrites the composed lr the "
    "optimizer's state restored; torch's load_state_dict leaves the lrs alone",
)
def test_two_stacked_schedulers_resume_after_the_optimizer_state_as_torch():
    """torch's usual resume: optimizer.load_state_dict, then each scheduler's."""
    o1, o2 = _opt(), _opt()
    ours = [
        schedkit.get_scheduler("torch.ExponentialLR", o1, gamma=0.9),
        schedkit.get_scheduler("torch.StepLR", o1, step_size=2, gamma=0.5),
    ]
    for _ in range(5):
        o1.step()
        for s in ours:
            s.step()
    again = [
        schedkit.get_scheduler("torch.ExponentialLR", o2, gamma=0.9),
        schedkit.get_scheduler("torch.StepLR", o2, step_size=2, gamma=0.5),
    ]
    o2.load_state_dict(o1.state_dict())
    for s, state in zip(again, [s.state_dict() for s in ours], strict=True):
        s.load_state_dict(state)
    assert _floats(o2) == _floats(o1)


@pytest.mark.parametrize("metric", ["loss", torch.ones(2), object()])
def test_reduce_lr_on_plateau_refuses_a_metric_that_is_no_number(metric):
    o = _opt()
    ours = schedkit.get_scheduler("torch.ReduceLROnPlateau", o, factor=0.5, patience=0)
    ours.step(1.0)
    before = (_floats(o), ours.state_dict())
    with pytest.raises(SpecError, match="metric: expected a number"):
        ours.step(metric)
    assert (_floats(o), ours.state_dict()) == before
    ours.step(torch.tensor(2.0))  # a one-element tensor is a number, as for torch
    assert _floats(o) == [lr * 0.5 for lr in LRS]


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_with_a_warmup_of_no_length_is_refused_as_torch_divides_by_zero(three_phase):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    with pytest.raises(ZeroDivisionError):
        torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=1.0, total_steps=10, pct_start=0.1, three_phase=three_phase
        )
    with pytest.raises(schedkit.SpecError, match="no length") as err:
        schedkit.get_scheduler(
            "torch.OneCycleLR",
            opt,
            max_lr=1.0,
            total_steps=10,
            pct_start=0.1,
            three_phase=three_phase,
        )
    assert err.value.path == "pct_start"
    assert opt.param_groups[0]["lr"] == 0.1  # nothing changed


# -- what torch's own scheduler tests asked of the aliases ------------------------------


# torch's chained part warns of a step order that the loop below does keep
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`:UserWarning")
def test_sequential_takes_a_chained_scheduler_as_torch_does():
    """A ``ChainedScheduler`` as a part of a ``SequentialLR``: torch steps it like any
    part, and the lrs are torch's."""
    o1, o2 = _opt(), _opt()
    theirs = tl.SequentialLR(
        o1,
        [
            tl.ChainedScheduler(
                [
                    tl.LinearLR(o1, start_factor=0.2, total_iters=4),
                    tl.ConstantLR(o1, factor=0.5, total_iters=4),
                ]
            ),
            tl.ExponentialLR(o1, gamma=0.8),
        ],
        milestones=[6],
    )
    parts = [
        schedkit.get_scheduler(
            "torch.ChainedScheduler",
            o2,
            schedulers=[
                schedkit.get_scheduler("torch.LinearLR", o2, start_factor=0.2, total_iters=4),
                schedkit.get_scheduler("torch.ConstantLR", o2, factor=0.5, total_iters=4),
            ],
        ),
        schedkit.get_scheduler("torch.ExponentialLR", o2, gamma=0.8),
    ]
    ours = schedkit.get_scheduler("torch.SequentialLR", o2, schedulers=parts, milestones=[6])
    for _ in range(14):
        assert _values(o2, ("lr",)) == _values(o1, ("lr",))
        o1.step()
        o2.step()
        theirs.step()
        ours.step()


def test_sequential_still_refuses_a_plateau_part():
    opt = _opt()
    with pytest.raises(SpecError, match="schedulers"):
        schedkit.get_scheduler(
            "torch.SequentialLR",
            opt,
            schedulers=[
                {"type": "torch.ReduceLROnPlateau"},
                {"type": "torch.StepLR", "step_size": 2},
            ],
            milestones=[3],
        )


def test_warm_restarts_position_can_be_set_as_in_torch():
    """``sched.T_cur = t`` moves the position in the period; the next step goes on from it."""
    o1, o2 = _opt(), _opt()
    theirs = tl.CosineAnnealingWarmRestarts(o1, T_0=4, T_mult=2, eta_min=0.001)
    ours = schedkit.get_scheduler(
        "torch.CosineAnnealingWarmRestarts", o2, T_0=4, T_mult=2, eta_min=0.001
    )
    for t in (7, 2, 3.5):
        theirs.T_cur = t
        ours.T_cur = t
        theirs.step()
        ours.step()
        assert (ours.T_cur, ours.T_i) == (theirs.T_cur, theirs.T_i)
        assert _values(o2, ("lr",)) == _values(o1, ("lr",))


@pytest.mark.parametrize("bad", [-1, float("nan"), "3", True])
def test_warm_restarts_position_is_checked(bad):
    opt = _opt()
    sched = schedkit.get_scheduler("torch.CosineAnnealingWarmRestarts", opt, T_0=4)
    before = _values(opt, ("lr",))
    with pytest.raises(SpecError, match="T_cur"):
        sched.T_cur = bad
    assert sched.T_cur == 0
    assert _values(opt, ("lr",)) == before


def test_one_cycle_takes_tensor_momenta_as_torch_does():
    o1, o2 = _opt(momentum=0.9), _opt(momentum=0.9)
    kw = {"max_lr": 0.1, "total_steps": 10}
    theirs = tl.OneCycleLR(o1, base_momentum=0.85, max_momentum=0.95, **kw)
    ours = schedkit.get_scheduler(
        "torch.OneCycleLR",
        o2,
        base_momentum=torch.as_tensor(0.85, dtype=torch.float64),
        max_momentum=torch.as_tensor(0.95, dtype=torch.float64),
        **kw,
    )
    for _ in range(9):
        assert _values(o2, ("lr", "momentum")) == _values(o1, ("lr", "momentum"))
        o1.step()
        o2.step()
        theirs.step()
        ours.step()
