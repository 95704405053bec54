"""``mmengine.ReduceOnPlateauLR`` / ``ReduceOnPlateauMomentum`` against mmengine's own:
three param groups in float64, metrics drawn by hypothesis (plateaus included), stepped
as mmengine's runner steps them (``step()`` after each training epoch, ``step(metrics)``
after each validation; iteration-based schedulers after every iteration)."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, StateError
from tests.convert.groups import adamw, lrs, sgd

scheduler = pytest.importorskip("mmengine.optim.scheduler")

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


#: a validation's metric, or None for an epoch without validation; few distinct values,
#: so that plateaus (equal metrics) and small changes (within the threshold) are common
METRIC = st.one_of(
    st.none(),
    st.sampled_from([1.0, 0.5, 0.25, 0.2501, 0.2499, 2.0, 0.0, -1.0, 1e-5]),
    st.floats(-3.0, 3.0, allow_nan=False),
)


@st.composite
def plateau_args(draw: st.DrawFn) -> dict[str, Any]:
    args: dict[str, Any] = {
        "rule": draw(st.sampled_from(["less", "greater"])),
        "threshold_rule": draw(st.sampled_from(["rel", "abs"])),
        "threshold": draw(st.sampled_from([0.0, 1e-4, 0.01, 0.3])),
        "factor": draw(st.sampled_from([0.1, 0.5, 0.9, 0.0])),
        "patience": draw(st.integers(0, 4)),
        "cooldown": draw(st.integers(0, 3)),
        "eps": draw(st.sampled_from([1e-8, 0.0, 1e-3])),
    }
    floor = draw(
        st.one_of(
            st.sampled_from([0.0, 1e-3, 0.02]),
            st.lists(st.sampled_from([0.0, 1e-3, 0.02, 0.06]), min_size=3, max_size=3),
        )
    )
    args["min_value"] = floor
    begin = draw(st.integers(0, 5))
    if draw(st.booleans()):
        args["begin"] = begin
    if draw(st.booleans()):
        args["end"] = begin + draw(st.integers(1, 25))
    return args


def _peer_epoch(peers: list[Any], metric: float | None, monitor: str = "loss") -> None:
    """mmengine's runner at an epoch's end: after_train_epoch, then after_val_epoch."""
    for p in peers:
        if p.by_epoch:
            p.step()
    if metric is not None:
        for p in peers:
            if p.by_epoch and getattr(p, "need_val_args", False):
                p.step({monitor: metric})


@SETTINGS
@given(args=plateau_args(), metrics=st.lists(METRIC, min_size=1, max_size=40))
def test_reduce_on_plateau_lr_gives_mmengines_values(
    args: dict[str, Any], metrics: list[float | None]
) -> None:
    theirs, ours = sgd(), sgd()
    peer = scheduler.ReduceOnPlateauLR(theirs, **args)
    sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", ours, **args)
    assert lrs(ours) == lrs(theirs)
    for epoch, metric in enumerate(metrics):
        theirs.step()
        _peer_epoch([peer], metric)
        sched.step() if metric is None else sched.step(metric)
        assert lrs(ours) == lrs(theirs), (epoch, lrs(ours), lrs(theirs))


@SETTINGS
@given(args=plateau_args(), metrics=st.lists(METRIC, min_size=1, max_size=25))
def test_reduce_on_plateau_momentum_on_sgd_and_on_adams_beta1(
    args: dict[str, Any], metrics: list[float | None]
) -> None:
    args = {**args, "factor": 0.5}
    for make, key, read in (
        (sgd, "momentum", lambda g: g["momentum"]),
        (adamw, "betas[0]", lambda g: g["betas"][0]),
    ):
        theirs, ours = make(), make()
        peer = scheduler.ReduceOnPlateauMomentum(theirs, **args)
        sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauMomentum", ours, key=key, **args)
        for epoch, metric in enumerate(metrics):
            theirs.step()
            _peer_epoch([peer], metric)
            sched.step() if metric is None else sched.step(metric)
            got = [read(g) for g in ours.param_groups]
            want = [read(g) for g in theirs.param_groups]
            assert got == want, (key, epoch, got, want)


#: param_scheduler lists holding a ReduceOnPlateauLR (the plateau's arguments are drawn)
LISTS: list[list[dict[str, Any]]] = [
    # the common one: an iteration warmup, then reduce on plateau
    [
        {"type": "LinearLR", "start_factor": 1e-3, "by_epoch": False, "begin": 0, "end": 10},
        {"type": "ReduceOnPlateauLR"},
    ],
    # an affine decay after the plateau: it goes on from the reduced value
    [
        {"type": "ReduceOnPlateauLR"},
        {"type": "PolyLR", "power": 1.5, "eta_min": 1e-4, "by_epoch": True, "begin": 1,
         "end": 12, "convert_to_iter_based": True},
        {"type": "CosineAnnealingLR", "eta_min": 1e-3, "by_epoch": True, "begin": 3, "end": 9},
    ],
    # two plateaus on one metric, beside an epoch-based step schedule
    [
        {"type": "MultiStepLR", "milestones": [2, 5], "gamma": 0.5, "by_epoch": True},
        {"type": "ReduceOnPlateauLR"},
        {"type": "ReduceOnPlateauLR", "patience": 0, "factor": 0.9, "begin": 4},
    ],
]  # fmt: skip


def _build_mmengine(opt: torch.optim.Optimizer, items: list[dict[str, Any]], spe: int) -> list[Any]:
    out = []
    for item in items:
        cfg = dict(item)
        cls = getattr(scheduler, cfg.pop("type"))
        if cfg.pop("convert_to_iter_based", False):
            out.append(cls.build_iter_from_epoch(opt, epoch_length=spe, **cfg))
        else:
            out.append(cls(opt, **cfg))
    return out


def _list_spec(items: list[dict[str, Any]], spe: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "mmengine.param_scheduler",
        "schedulers": [{**i, "type": f"mmengine.{i['type']}"} for i in items],
    }
    if spe is not None:
        spec["steps_per_epoch"] = spe
    return spec


def _with_args(items: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        if item["type"] == "ReduceOnPlateauLR":
            own = {k: v for k, v in args.items() if not ("begin" in item and k == "end")}
            item = {**own, **item}  # the list's own arguments win (the second one's begin)
        out.append(item)
    return out


def _run_list(
    items: list[dict[str, Any]], spe: int, metrics: list[float | None]
) -> tuple[Any, torch.optim.Optimizer, list[list[float]]]:
    """Both sides over the epochs of ``metrics``: every iteration compared."""
    theirs, ours = sgd(), sgd()
    peers = _build_mmengine(theirs, items, spe)
    sched = schedkit.get_scheduler(_list_spec(items, spe), ours)
    trace = [lrs(ours)]
    assert lrs(ours) == lrs(theirs)
    for epoch, metric in enumerate(metrics):
        for it in range(1, spe + 1):
            theirs.step()
            for p in peers:  # after_train_iter
                if not p.by_epoch:
                    p.step()
            if it < spe:
                sched.step()
            else:
                _peer_epoch(peers, metric)
                sched.step() if metric is None else sched.step(metric)
            assert lrs(ours) == lrs(theirs), (epoch, it, lrs(ours), lrs(theirs))
            trace.append(lrs(ours))
    return sched, ours, trace


@SETTINGS
@given(
    which=st.integers(0, len(LISTS) - 1),
    args=plateau_args(),
    spe=st.integers(1, 4),
    metrics=st.lists(METRIC, min_size=1, max_size=16),
)
def test_param_scheduler_list_with_a_plateau_steps_as_mmengines_runner(
    which: int, args: dict[str, Any], spe: int, metrics: list[float | None]
) -> None:
    _run_list(_with_args(LISTS[which], args), spe, metrics)


@SETTINGS
@given(
    which=st.integers(0, len(LISTS) - 1),
    args=plateau_args(),
    metrics=st.lists(METRIC, min_size=1, max_size=20),
)
def test_param_scheduler_list_without_steps_per_epoch(
    which: int, args: dict[str, Any], metrics: list[float | None]
) -> None:
    """Without ``steps_per_epoch`` every scheduler steps at every step (each mmengine
    scheduler's ``step()`` called by hand), the metric after them."""
    items = [{k: v for k, v in i.items() if k != "convert_to_iter_based"} for i in LISTS[which]]
    items = _with_args(items, args)
    theirs, ours = sgd(), sgd()
    peers = _build_mmengine(theirs, items, 1)
    sched = schedkit.get_scheduler(_list_spec(items, None), ours)
    for epoch, metric in enumerate(metrics):
        theirs.step()
        for p in peers:
            p.step()
        if metric is not None:
            for p in peers:
                if getattr(p, "need_val_args", False):
                    p.step({"loss": metric})
        sched.step() if metric is None else sched.step(metric)
        assert lrs(ours) == lrs(theirs), (epoch, lrs(ours), lrs(theirs))


@SETTINGS
@given(args=plateau_args(), spe=st.integers(2, 4), metrics=st.lists(METRIC, max_size=12))
def test_standalone_by_epoch_with_steps_per_epoch(
    args: dict[str, Any], spe: int, metrics: list[float | None]
) -> None:
    """One step an iteration: the plateau counts epochs, the metric ends one."""
    theirs, ours = sgd(), sgd()
    peer = scheduler.ReduceOnPlateauLR(theirs, **args)
    spec = {"type": "mmengine.ReduceOnPlateauLR", "steps_per_epoch": spe, **args}
    sched = schedkit.get_scheduler(spec, ours)
    for epoch, metric in enumerate(metrics):
        for it in range(1, spe + 1):
            theirs.step()
            if it < spe:
                sched.step()
            else:
                _peer_epoch([peer], metric)
                sched.step() if metric is None else sched.step(metric)
            assert lrs(ours) == lrs(theirs), (epoch, it, lrs(ours), lrs(theirs))


def _saved(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded: dict[str, Any] = torch.load(buf, weights_only=True)
    return loaded


@SETTINGS
@given(
    which=st.integers(0, len(LISTS) - 1),
    args=plateau_args(),
    spe=st.integers(1, 3),
    metrics=st.lists(METRIC, min_size=2, max_size=14),
    data=st.data(),
)
def test_a_resumed_list_reaches_the_uninterrupted_floats(
    which: int, args: dict[str, Any], spe: int, metrics: list[float | None], data: Any
) -> None:
    items = _with_args(LISTS[which], args)
    _, _, trace = _run_list(items, spe, metrics)
    stop = data.draw(st.integers(0, len(metrics) * spe))
    first_opt = sgd()
    spec = _list_spec(items, spe)
    first = schedkit.get_scheduler(spec, first_opt)

    def advance(s: Any, step: int) -> None:
        epoch, it = divmod(step - 1, spe)
        metric = metrics[epoch] if it == spe - 1 else None
        s.step() if metric is None else s.step(metric)

    for k in range(1, stop + 1):
        advance(first, k)
    state = _saved(first.state_dict())
    second_opt = sgd()
    second = schedkit.get_scheduler(spec, second_opt)
    second.load_state_dict(state)
    assert lrs(second_opt) == trace[stop]
    for k in range(stop + 1, len(metrics) * spe + 1):
        advance(second, k)
        assert lrs(second_opt) == trace[k], (stop, k)


def test_every_reduce_on_plateau_of_mmengine_has_its_alias() -> None:
    names = {
        n
        for n in scheduler.__all__
        if n.startswith("ReduceOnPlateau") and n.endswith(("LR", "Momentum"))
    }
    assert names == {"ReduceOnPlateauLR", "ReduceOnPlateauMomentum"}
    for name in names:
        info = schedkit.default_registry().get("schedule", f"mmengine.{name}")
        assert "step(metric)" in info.doc


@pytest.mark.parametrize(
    ("params", "path", "message"),
    [
        ({"by_epoch": False}, "by_epoch", "by epochs only"),
        ({"convert_to_iter_based": True}, "convert_to_iter_based", "cannot be converted"),
        ({"factor": 1.0}, "factor", "< 1"),
        ({"rule": "min"}, "rule", "less"),
        ({"threshold_rule": "relative"}, "threshold_rule", "rel"),
        ({"begin": 5, "end": 5}, "end", "larger than begin"),
        ({"patience": -1}, "patience", ">= 0"),
    ],
)
def test_arguments_mmengine_refuses_are_spec_errors(
    params: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message) as e:
        schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", sgd(), **params)
    assert e.value.path == path


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, "0.5x", None, {"acc": 0.1}, {"loss": math.nan}]
)
def test_a_bad_metric_is_refused_and_changes_nothing(bad: Any) -> None:
    opt = sgd()
    sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", opt, patience=0, factor=0.5)
    sched.step(1.0)
    sched.step(2.0)
    before, state = lrs(opt), sched.state_dict()
    if bad is None:
        with pytest.raises(TypeError, match="needs the metric"):
            sched.step(None, 3)
        return
    # a metrics dict without the monitor ("loss"), or with a bad value there
    with pytest.raises(SpecError, match=r"expected a (finite )?number|no 'loss'") as e:
        sched.step(bad)
    assert e.value.path == "metric"
    assert lrs(opt) == before
    assert sched.state_dict() == state


def test_a_list_monitors_one_metric() -> None:
    spec = _list_spec(
        [{"type": "ReduceOnPlateauLR"}, {"type": "ReduceOnPlateauLR", "monitor": "acc"}], None
    )
    with pytest.raises(SpecError, match="one metric feeds the list") as e:
        schedkit.get_scheduler(spec, sgd())
    assert e.value.path == "schedulers[1].monitor"


def test_a_min_value_list_shorter_than_the_groups_is_refused_at_binding() -> None:
    with pytest.raises(SpecError, match="expected 3 values .one per param group., got 2"):
        schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", sgd(), min_value=[0.0, 0.1])


def test_a_list_without_a_plateau_keeps_no_history() -> None:
    spec = _list_spec([{"type": "LinearLR", "end": 4}], None)
    sched = schedkit.get_scheduler(spec, sgd())
    assert sched.state_dict()["schedule_state"] is None
    with pytest.raises(TypeError, match="does not observe a metric"):
        sched.step(0.5)


def test_a_bad_state_is_refused_whole() -> None:
    items = _with_args(LISTS[2], {"patience": 0})
    spec = _list_spec(items, 2)
    opt = sgd()
    sched = schedkit.get_scheduler(spec, opt)
    for m in (1.0, None, 1.0, 1.0, None, 1.0):
        sched.step() if m is None else sched.step(m)
    state = sched.state_dict()
    assert state["schedule_state"]["reductions"]
    before = lrs(opt)
    for change, path in [
        ({"watches": []}, "schedule_state.watches"),
        ({"reductions": [[3, 0]]}, "schedule_state.reductions[0]"),
        ({"reductions": [[5, 1], [2, 2]]}, "schedule_state.reductions[1]"),
        ({"version": 99}, "schedule_state.version"),
    ]:
        bad = {**state, "schedule_state": {**state["schedule_state"], **change}}
        with pytest.raises(StateError) as e:
            sched.load_state_dict(bad)
        assert e.value.path == path
        assert lrs(opt) == before


CONFIG = """
optim_wrapper = dict(
    optimizer=dict(type="AdamW", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={"head": dict(lr_mult=10.0)}),
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.01, by_epoch=False, begin=0, end=15),
    dict(type="ReduceOnPlateauLR", monitor="acc", rule="greater", patience=1, factor=0.5,
         min_value=2e-5, cooldown=1),
    dict(type="ReduceOnPlateauMomentum", monitor="acc", rule="greater", patience=2,
         factor=0.9, min_value=0.7, threshold=0.05, threshold_rule="abs"),
]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=14, val_interval=1)
"""
#: the accuracy after each epoch (None: no validation that epoch)
ACCURACY = [0.1, 0.3, 0.3, None, 0.31, 0.31, 0.5, 0.5, 0.5, None, 0.49, 0.52, 0.52, 0.52]


def test_converted_config_against_mmengines_runner(tmp_path: Any) -> None:
    """The converted setup against what mmengine's runner builds from the file (its
    OptimWrapper, whose extra base group the schedulers move too), fed the same metrics."""
    import copy

    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    from torch import nn

    from tests.support.agree import assert_agree, fake_grads, per_parameter

    path = tmp_path / "plateau.py"
    path.write_text(CONFIG)
    spe = 4
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("body", nn.Linear(3, 4))
    model.add_module("norm", nn.LayerNorm(4))
    model.add_module("head", nn.Linear(4, 2))
    model = model.double()
    ours = copy.deepcopy(model)
    cfg = Config.fromfile(str(path))
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    peers = []
    for item in cfg.param_scheduler:
        item = copy.deepcopy(dict(item))
        item.setdefault("end", cfg.train_cfg.max_epochs if item.get("by_epoch", True) else None)
        peers.append(PARAM_SCHEDULERS.build(
            item, default_args={"optimizer": wrapper, "epoch_length": spe}))  # fmt: skip
    conv = schedkit.convert("mmengine", path, steps_per_epoch=spe)
    built = conv.setup().build(ours)
    assert set(built.schedulers) == {"lr", "momentum"}
    names = {id(p): n for n, p in model.named_parameters()}
    our_names = {id(p): n for n, p in ours.named_parameters()}

    def read(opt: torch.optim.Optimizer, by_id: dict[int, str]) -> dict[str, dict[str, float]]:
        out = per_parameter(opt, by_id, ("lr", "weight_decay"))
        for g in opt.param_groups:
            for p in g["params"]:
                out[by_id[id(p)]]["beta1"] = g["betas"][0]
        return out

    for epoch, acc in enumerate(ACCURACY):
        for it in range(spe):
            k = epoch * spe + it
            assert_agree(k, read(wrapper.optimizer, names), read(built.optimizer, our_names))
            fake_grads(model, k)
            fake_grads(ours, k)
            wrapper.step()
            wrapper.zero_grad()
            built.optimizer.step()
            built.optimizer.zero_grad()
            for p in peers:  # after_train_iter
                if not p.by_epoch:
                    p.step()
            end = it == spe - 1
            if end:
                _peer_epoch(peers, acc, monitor="acc")
            for s in built.schedulers.values():
                s.step(acc) if end and acc is not None else s.step()
    assert_agree(
        len(ACCURACY) * spe, read(wrapper.optimizer, names), read(built.optimizer, our_names)
    )
    lrs_now = [g["lr"] for g in built.optimizer.param_groups]
    assert min(lrs_now) < 1e-3 * 0.5  # the plateau reduced
    assert built.optimizer.param_groups[0]["betas"][0] < 0.9  # and the momentum


def test_a_metric_far_into_a_run_reduces_at_once() -> None:
    # the plateau never changes the value by its own updates, so a replay skips to the step
    opt = sgd()
    sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", opt, patience=0, factor=0.5)
    sched.step(1.0)
    before = [g["lr"] for g in opt.param_groups]
    sched.last_epoch = 3_000_000
    sched.step(2.0)  # no improvement with patience 0: a reduction at step 3,000,001
    assert [g["lr"] for g in opt.param_groups] == [lr * 0.5 for lr in before]
    state = sched.state_dict()
    assert state["step"] == 3_000_001
    fresh = schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", sgd(), patience=0, factor=0.5)
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state
