"""``timm.*`` aliases against timm's own schedulers, layer-decay groups and AGC."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError
from tests.support.timm_peer import timm

LRS = (0.1, 0.03, 0.007)
CLASSES = {
    "timm.cosine": "CosineLRScheduler",
    "timm.tanh": "TanhLRScheduler",
    "timm.step": "StepLRScheduler",
    "timm.multistep": "MultiStepLRScheduler",
    "timm.poly": "PolyLRScheduler",
}


def _opt(scales=None):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in LRS]
    if scales:
        for g, s in zip(groups, scales, strict=True):
            g["lr_scale"] = s
    return torch.optim.AdamW(groups, lr=0.1)


def _compare(name, n, scales=None, **params):
    peer = getattr(timm().scheduler, CLASSES[name])
    o1, o2 = _opt(scales), _opt(scales)
    theirs = peer(o1, t_in_epochs=False, **params)
    ours = schedkit.get_scheduler(name, o2, t_in_epochs=False, **params)
    rows1, rows2 = [], []
    for t in range(n):
        rows1.append([g["lr"] for g in o1.param_groups])
        rows2.append([g["lr"] for g in o2.param_groups])
        theirs.step_update(num_updates=t + 1)
        ours.step()
    return rows1, rows2


CASES = [
    ("timm.cosine", {"t_initial": 50, "lr_min": 1e-4, "warmup_t": 5, "warmup_lr_init": 1e-5}),
    (
        "timm.cosine",
        {
            "t_initial": 20,
            "cycle_mul": 1.5,
            "cycle_decay": 0.5,
            "cycle_limit": 3,
            "warmup_t": 4,
            "warmup_prefix": True,
            "k_decay": 2.0,
        },
    ),
    (
        "timm.cosine",
        {
            "t_initial": 30,
            "noise_range_t": [5, 25],
            "noise_pct": 0.2,
            "noise_std": 0.5,
            "noise_seed": 7,
        },
    ),
    ("timm.tanh", {"t_initial": 40, "warmup_t": 6, "warmup_lr_init": 1e-4, "lr_min": 1e-5}),
    (
        "timm.tanh",
        {
            "t_initial": 15,
            "cycle_limit": 3,
            "cycle_decay": 0.8,
            "warmup_t": 3,
            "warmup_prefix": True,
            "lb": -5.0,
            "ub": 4.0,
        },
    ),
    ("timm.step", {"decay_t": 7, "decay_rate": 0.5, "warmup_t": 3, "warmup_lr_init": 1e-4}),
    ("timm.step", {"decay_t": 2.5, "decay_rate": 0.9, "noise_range_t": 10}),
    ("timm.multistep", {"decay_t": [10, 20, 35], "decay_rate": 0.3, "warmup_t": 2}),
    ("timm.poly", {"t_initial": 40, "power": 2.0, "lr_min": 1e-4, "warmup_t": 5}),
    ("timm.poly", {"t_initial": 12, "cycle_mul": 2.0, "cycle_limit": 3, "k_decay": 0.5}),
]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_the_same_floats_as_timm_per_update(name, params):
    a, b = _compare(name, 80, **params)
    assert a == b


def test_groups_with_timms_lr_scale_are_scaled_as_timm_does():
    a, b = _compare("timm.cosine", 40, scales=(1.0, 0.5, 0.25), t_initial=30, warmup_t=3)
    assert a == b


def test_plateau_as_timm_with_warmup_and_noise():
    peer = timm().scheduler.PlateauLRScheduler
    params = {
        "decay_rate": 0.5,
        "patience_t": 1,
        "warmup_t": 3,
        "warmup_lr_init": 1e-4,
        "lr_min": 0.004,
        "noise_range_t": 6,
        "noise_pct": 0.3,
    }
    o1, o2 = _opt(), _opt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # timm deprecates its plateau
        theirs = peer(o1, **params)
    ours = schedkit.get_scheduler("timm.plateau", o2, **params)
    metrics = [0.1, 0.2, 0.3, 0.5, 0.5, 0.4, 0.45, 0.5, 0.5, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6]
    o3 = _opt()
    built_like = schedkit.get_scheduler("timm.plateau", o3, **params)
    for epoch, m in enumerate(metrics, start=1):
        theirs.step(epoch, m)
        if epoch % 2:
            ours.step(epoch, m)  # timm's positional order
        else:
            ours.step(epoch=epoch, metric=m)  # and its keywords
        ours.step_update(epoch * 10, m)  # does nothing, as timm's
        built_like.step(metric=m)  # Built.step(metric): the next epoch
        want = [g["lr"] for g in o1.param_groups]
        assert [g["lr"] for g in o2.param_groups] == want, epoch
        assert [g["lr"] for g in o3.param_groups] == want, epoch


def test_plateau_steps_as_timms_with_and_without_a_metric():
    # the old alias took step(metric) only: step(epoch, metric=1.0) raised TypeError
    peer = timm().scheduler.PlateauLRScheduler
    o1, o2 = _opt(), _opt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = peer(o1, patience_t=2, decay_rate=0.5, noise_range_t=3, noise_pct=0.2)
    ours = schedkit.get_scheduler(
        "timm.plateau", o2, patience_t=2, decay_rate=0.5, noise_range_t=3, noise_pct=0.2
    )
    for epoch in range(1, 12):
        metric = None if epoch % 3 == 0 else 1.0
        theirs.step(epoch, metric=metric)
        ours.step(epoch, metric=metric)
        assert [g["lr"] for g in o2.param_groups] == [g["lr"] for g in o1.param_groups], epoch
    assert o2.param_groups[0]["lr"] < LRS[0] * 0.5  # it did reduce


def test_t_in_epochs_must_be_a_bool():
    with pytest.raises(SpecError, match="t_in_epochs"):
        schedkit.get_schedule("timm.cosine", t_initial=10, t_in_epochs="yes")


_CYCLIC = {
    "timm.cosine": {"k_decay": st.sampled_from([1.0, 1.5])},
    "timm.tanh": {},
    "timm.poly": {"power": st.sampled_from([0.5, 2.0])},
}


@st.composite
def _timm_configs(draw):
    name = draw(st.sampled_from(["timm.cosine", "timm.tanh", "timm.poly", "timm.step"]))
    params = {
        "warmup_t": draw(st.integers(0, 4)),
        "warmup_lr_init": draw(st.sampled_from([0.0, 1e-5, 3e-4])),
        "warmup_prefix": draw(st.booleans()),
        "t_in_epochs": draw(st.booleans()),
    }
    if name == "timm.step":
        params.update(decay_t=draw(st.integers(1, 6)), decay_rate=draw(st.floats(0.1, 0.9)))
    else:
        params.update(
            t_initial=draw(st.integers(3, 30)),
            lr_min=draw(st.sampled_from([0.0, 1e-5, 2e-3])),
            cycle_mul=draw(st.sampled_from([1.0, 1.5, 2.0])),
            cycle_decay=draw(st.sampled_from([1.0, 0.5])),
            cycle_limit=draw(st.integers(1, 3)),
        )
        for k, strategy in _CYCLIC[name].items():
            params[k] = draw(strategy)
    scales = draw(st.none() | st.tuples(*[st.sampled_from([1.0, 0.65, 0.2]) for _ in LRS]))
    return name, params, scales


@settings(max_examples=30, deadline=None)
@given(config=_timm_configs(), epochs=st.integers(1, 8), per_epoch=st.integers(1, 6))
def test_timms_train_loop_calls_give_timms_floats(config, epochs, per_epoch):
    # train.py: step_update(num_updates) after each update, step(epoch + 1) after each epoch
    name, params, scales = config
    o1, o2 = _opt(scales), _opt(scales)
    theirs = getattr(timm().scheduler, CLASSES[name])(o1, **params)
    ours = schedkit.get_scheduler(name, o2, **params)
    assert [g["lr"] for g in o2.param_groups] == [g["lr"] for g in o1.param_groups]
    num_updates = 0
    for epoch in range(epochs):
        for _ in range(per_epoch):
            num_updates += 1
            theirs.step_update(num_updates=num_updates, metric=None)
            ours.step_update(num_updates=num_updates, metric=None)
            assert [g["lr"] for g in o2.param_groups] == [g["lr"] for g in o1.param_groups]
        theirs.step(epoch + 1, 0.5)
        ours.step(epoch + 1, 0.5)
        assert [g["lr"] for g in o2.param_groups] == [g["lr"] for g in o1.param_groups]
    if name != "timm.step":
        for cycles in (0, 1, 3):
            assert ours.get_cycle_length(cycles) == theirs.get_cycle_length(cycles)


def test_step_without_an_epoch_advances_one_step_as_torch():
    opt = _opt()
    sched = schedkit.get_scheduler("timm.cosine", opt, t_initial=10, warmup_t=2, t_in_epochs=False)
    sched.step()
    sched.step()
    assert sched.last_epoch == 2
    sched.step(5)  # per update: an epoch does not move it, as in timm
    assert sched.last_epoch == 2
    sched.step_update(7)
    assert sched.last_epoch == 7
    by_epoch = schedkit.get_scheduler("timm.cosine", _opt(), t_initial=10)
    by_epoch.step()
    assert by_epoch.last_epoch == 1
    by_epoch.step(4)
    assert by_epoch.last_epoch == 4
    by_epoch.step_update(9)  # counting epochs: an update does not move it, as in timm
    assert by_epoch.last_epoch == 4
    with pytest.raises(TypeError, match="no cycles"):
        schedkit.get_scheduler("timm.step", _opt(), decay_t=3).get_cycle_length()


@pytest.mark.parametrize("t_in_epochs", [True, False])
@pytest.mark.parametrize("call", ["step", "step_update"])
@pytest.mark.parametrize("bad", [-1, "3", 2.5, True, float("nan")])
def test_a_step_that_is_not_a_whole_count_is_refused_whichever_call_moves_it(
    t_in_epochs, call, bad
):
    opt = _opt()
    sched = schedkit.get_scheduler("timm.cosine", opt, t_initial=10, t_in_epochs=t_in_epochs)
    sched.step(2) if t_in_epochs else sched.step_update(2)
    before = ([g["lr"] for g in opt.param_groups], sched.last_epoch, sched.state_dict())
    with pytest.raises(SpecError) as caught:
        getattr(sched, call)(bad)
    assert caught.value.path == ("epoch" if call == "step" else "num_updates")
    assert caught.value.message == f"expected a whole number of steps >= 0, got {bad!r}"
    assert ([g["lr"] for g in opt.param_groups], sched.last_epoch, sched.state_dict()) == before


def test_a_float_epoch_without_a_fraction_is_that_step_as_in_timm():
    theirs_opt, ours_opt = _opt(), _opt()
    theirs = timm().scheduler.CosineLRScheduler(theirs_opt, t_initial=10)
    ours = schedkit.get_scheduler("timm.cosine", ours_opt, t_initial=10)
    theirs.step(3.0)
    ours.step(3.0)
    assert ours.last_epoch == 3
    assert [g["lr"] for g in ours_opt.param_groups] == [g["lr"] for g in theirs_opt.param_groups]


TIMM_CLASSES = {**CLASSES, "timm.plateau": "PlateauLRScheduler"}


@pytest.mark.parametrize("name", sorted(TIMM_CLASSES))
def test_the_parameters_are_timms_names_defaults_and_order(name):
    """The schedule's constructor is timm's ``__init__`` after the optimizer: the same
    names, defaults and order; ``initialize`` is the scheduler's (the groups' ``initial_lr``
    is kept and used, as timm's ``initialize=True``), and ``updates_per_epoch`` is
    schedkit's, last."""
    import inspect

    from schedkit.plugin import NOTHING, fields

    peer = getattr(timm().scheduler, TIMM_CLASSES[name])
    theirs = [
        (n, p.default)
        for n, p in inspect.signature(peer.__init__).parameters.items()
        if n not in ("self", "optimizer", "initialize")
    ]
    cls = schedkit.default_registry().get("schedule", name).cls
    ours = [
        (f.alias, inspect.Parameter.empty if f.default is NOTHING else f.default)
        for f in fields(cls)
        if f.init
    ]
    if name != "timm.plateau":
        assert ours[-1] == ("updates_per_epoch", None)
        ours = ours[:-1]
    assert ours == theirs


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_timms_default_clock_is_epochs(name):
    """The most common timm loop, ``step(epoch + 1)`` after each epoch, with each class's
    defaults: the old aliases counted updates by default and held ``warmup_lr_init``."""
    params = {"warmup_t": 5, "warmup_lr_init": 1e-3, **_REQUIRED[name]}
    o1, o2 = _opt(), _opt()
    theirs = getattr(timm().scheduler, CLASSES[name])(o1, **params)
    ours = schedkit.get_scheduler(name, o2, **params)
    assert ours.schedule.t_in_epochs is True
    for epoch in range(12):
        for update in range(3):
            theirs.step_update(epoch * 3 + update + 1)
            ours.step_update(epoch * 3 + update + 1)
        theirs.step(epoch + 1)
        ours.step(epoch + 1)
        assert [g["lr"] for g in o2.param_groups] == [g["lr"] for g in o1.param_groups], epoch
    assert o2.param_groups[0]["lr"] > 1e-2  # warmed up, not held at warmup_lr_init


_REQUIRED = {
    "timm.cosine": {"t_initial": 20},
    "timm.tanh": {"t_initial": 20},
    "timm.poly": {"t_initial": 20},
    "timm.step": {"decay_t": 4, "decay_rate": 0.5},
    "timm.multistep": {"decay_t": [6, 9], "decay_rate": 0.5},
}


def test_plateaus_noise_seed_none_is_timms_42():
    a = schedkit.get_schedule("timm.plateau", noise_range_t=2)
    b = schedkit.get_schedule("timm.plateau", noise_range_t=2, noise_seed=42)
    assert a.noise_seed is None
    assert [a(t) for t in range(6)] == [b(t) for t in range(6)]


class GroupedViT(torch.nn.Module):
    """A ViT-like model with timm's group_matcher and no_weight_decay."""

    def __init__(self, depth=4, dim=8):
        super().__init__()
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, 5, dim))
        self.patch_embed = torch.nn.Linear(12, dim)
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, dim))
            for _ in range(depth)
        )
        self.norm = torch.nn.LayerNorm(dim)
        self.head = torch.nn.Linear(dim, 3)

    def group_matcher(self, coarse=False):
        return {
            "stem": r"^cls_token|pos_embed|patch_embed",
            "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        }

    def no_weight_decay(self):
        return {"pos_embed", "cls_token"}


class NoMatcher(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(9)])
        self.fc = torch.nn.Linear(4, 2)
        self.pretrained_cfg = {"classifier": "fc"}


@pytest.mark.parametrize("model", [GroupedViT(), NoMatcher()], ids=["matcher", "auto"])
@pytest.mark.parametrize("layer_decay", [0.75, 0.5])
def test_layer_decay_as_timms_groups(model, layer_decay):
    nwd = list(getattr(model, "no_weight_decay", set)())
    theirs = timm().param_groups.param_groups_layer_decay(
        model,
        weight_decay=0.05,
        no_weight_decay_list=nwd,
        layer_decay=layer_decay,
        min_scale=0.1,
    )
    want = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for g in theirs:
        for p in g["params"]:
            want[names[id(p)]] = (0.01 * g["lr_scale"], g["weight_decay"])
    groups = schedkit.build_param_groups(
        model,
        [{"type": "timm.layer_decay", "layer_decay": layer_decay, "min_scale": 0.1}],
        lr=0.01,
        weight_decay=0.05,
    )
    got = {}
    for g in groups:
        for p in g["params"]:
            got[names[id(p)]] = (g["lr"], g["weight_decay"])
    assert got.keys() == want.keys()
    for n, (lr, wd) in want.items():
        assert got[n][0] == pytest.approx(lr, rel=1e-15), n
        assert got[n][1] == wd, n
    assert len({v for v in got.values()}) == len(groups)


def test_agc_as_timms():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 3
    ref = [p.grad.clone() for p in model.parameters()]
    params = list(model.parameters())
    copies = [torch.nn.Parameter(p.detach().clone()) for p in params]
    for c, g in zip(copies, ref, strict=True):
        c.grad = g.clone()
    timm().agc.adaptive_clip_grad(copies, clip_factor=0.02, eps=1e-3)
    clipper = schedkit.get_clipper("timm.agc", clip_factor=0.02, eps=1e-3)
    clipper(params)
    for p, c in zip(params, copies, strict=True):
        assert torch.allclose(p.grad, c.grad, rtol=1e-6, atol=0)
    assert not all(torch.equal(p.grad, g) for p, g in zip(params, ref, strict=True))


def _per_param_lrs(model, opt):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g["lr"] for g in opt.param_groups for p in g["params"]}


@settings(max_examples=15, deadline=None)
@given(
    layer_decay=st.floats(0.3, 1.0),
    lr=st.sampled_from([1e-3, 5e-4, 0.1, 2.5e-4]),
    t_initial=st.integers(10, 80),
    warmup_t=st.integers(0, 9),
    warmup_lr_init=st.floats(0.0, 1e-4),
    lr_min=st.floats(0.0, 1e-4),
    cls=st.sampled_from(["timm.cosine", "timm.poly", "timm.tanh"]),
)
def test_layer_decayed_groups_get_timms_warmup_lr_init_and_lr_min_per_group(
    layer_decay, lr, t_initial, warmup_t, warmup_lr_init, lr_min, cls
):
    # timm multiplies warmup_lr_init and lr_min by each group's lr_scale
    model = GroupedViT()
    params = {
        "t_initial": t_initial,
        "warmup_t": warmup_t,
        "warmup_lr_init": warmup_lr_init,
        "lr_min": lr_min,
    }
    theirs_groups = timm().param_groups.param_groups_layer_decay(
        model,
        weight_decay=0.05,
        no_weight_decay_list=list(model.no_weight_decay()),
        layer_decay=layer_decay,
    )
    o1 = torch.optim.AdamW(theirs_groups, lr=lr)
    params["t_in_epochs"] = False
    peer = getattr(timm().scheduler, CLASSES[cls])(o1, **params)
    rule = {"type": "timm.layer_decay", "layer_decay": layer_decay}
    o2 = torch.optim.AdamW(schedkit.build_param_groups(model, [rule], lr=lr, weight_decay=0.05))
    ours = schedkit.get_scheduler(cls, o2, **params)
    # timm's own groups (lr_scale beside the unscaled lr) through the alias: the same floats
    o3 = torch.optim.AdamW(
        timm().param_groups.param_groups_layer_decay(
            model,
            weight_decay=0.05,
            no_weight_decay_list=list(model.no_weight_decay()),
            layer_decay=layer_decay,
        ),
        lr=lr,
    )
    ours_on_timms = schedkit.get_scheduler(cls, o3, **params)
    for t in range(t_initial + warmup_t + 3):
        want = _per_param_lrs(model, o1)
        assert _per_param_lrs(model, o3) == want, t
        got = _per_param_lrs(model, o2)
        for n, v in want.items():
            assert got[n] == pytest.approx(v, rel=4e-16, abs=1e-300), (t, n)
        peer.step_update(num_updates=t + 1)
        ours.step()
        ours_on_timms.step()


def _setup(run=None, **schedule):
    data = {
        "optimizer": {"type": "SGD", "lr": 0.1},
        "schedules": {"lr": {"type": "timm.cosine", "t_initial": 6, "warmup_t": 2, **schedule}},
    }
    if run is not None:
        data["run"] = run
    return schedkit.load_setup(data)


def test_a_setup_counting_epochs_takes_the_updates_per_epoch_from_run():
    built = _setup({"steps_per_epoch": 3}).build(torch.nn.Linear(2, 1))
    sched = built.schedulers["lr"]
    assert sched.schedule.updates_per_epoch == 3
    assert built.resolved["schedules"]["lr"]["updates_per_epoch"] == 3
    o1 = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    theirs = timm().scheduler.CosineLRScheduler(o1, t_initial=6, warmup_t=2)
    for epoch in range(8):  # Built.step() once per update, timm's step(epoch + 1) per epoch
        for _ in range(3):
            assert built.optimizer.param_groups[0]["lr"] == o1.param_groups[0]["lr"], epoch
            built.step()
        theirs.step(epoch + 1)


def test_a_setup_counting_epochs_without_steps_per_epoch_says_both_ways_out():
    setup = _setup()  # loads: build(steps_per_epoch=...) may still give it
    (problem,) = setup.problems()
    assert problem.path == "schedules.lr.t_in_epochs"
    assert "steps_per_epoch" in str(problem)
    assert "t_in_epochs = false" in str(problem)
    with pytest.raises(schedkit.SetupError, match="steps_per_epoch"):
        setup.build(torch.nn.Linear(2, 1))
    built = setup.build(torch.nn.Linear(2, 1), steps_per_epoch=4)
    assert built.schedulers["lr"].schedule.updates_per_epoch == 4
    # counting updates, or the updates per epoch given in the table: no problem
    assert _setup(t_in_epochs=False).problems() == []
    assert _setup(updates_per_epoch=5).problems() == []


def test_schedkit_check_lists_the_missing_steps_per_epoch(tmp_path, capsys):
    from schedkit.cli import main

    path = tmp_path / "timm.toml"
    path.write_text(
        '[optimizer]\ntype = "SGD"\nlr = 0.1\n\n'
        '[schedules.lr]\ntype = "timm.cosine"\nt_initial = 10\n'
    )
    assert main(["check", str(path)]) != 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "schedules.lr.t_in_epochs" in text
    assert "t_in_epochs = false" in text
