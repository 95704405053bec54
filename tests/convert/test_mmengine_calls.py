"""``mmengine.*`` aliases called from Python as mmengine's users call its classes: alone
through ``get_scheduler`` (no setup, no key given), two on one optimizer, resumed from a
state, against mmengine's own schedulers on three param groups."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch

import schedkit
from schedkit import SpecError, StateError
from tests.convert.groups import adamw, lrs, sgd

scheduler = pytest.importorskip("mmengine.optim.scheduler")


def _momenta(opt: torch.optim.Optimizer) -> list[float]:
    return [g["momentum"] if "momentum" in g else g["betas"][0] for g in opt.param_groups]


def _lockstep(
    theirs: torch.optim.Optimizer,
    peers: list[Any],
    ours: torch.optim.Optimizer,
    scheds: list[Any],
    steps: int,
    read: Callable[[torch.optim.Optimizer], list[float]] = lrs,
) -> None:
    for step in range(steps):
        assert read(ours) == read(theirs), (step, read(ours), read(theirs))
        assert lrs(ours) == lrs(theirs), (step, lrs(ours), lrs(theirs))
        theirs.step()
        for p in peers:
            p.step()
        for s in scheds:
            s.step()


# -- the momentum aliases pick their hyperparameter themselves ----------------------------
MOMENTUM: list[tuple[str, dict[str, Any]]] = [
    ("ExponentialMomentum", {"gamma": 0.9}),
    ("LinearMomentum", {"start_factor": 0.5, "end": 6}),
    ("StepMomentum", {"step_size": 2, "gamma": 0.8, "begin": 1}),
    ("CosineAnnealingMomentum", {"eta_min": 0.5, "end": 10}),
]


@pytest.mark.parametrize("make", [sgd, adamw], ids=["sgd", "adamw"])
@pytest.mark.parametrize(("name", "params"), MOMENTUM)
def test_a_momentum_alias_without_a_key_schedules_the_momentum(
    make: Callable[[], torch.optim.Optimizer], name: str, params: dict[str, Any]
) -> None:
    theirs, ours = make(), make()
    peer = getattr(scheduler, name)(theirs, **params)
    sched = schedkit.get_scheduler(f"mmengine.{name}", ours, **params)
    assert sched.key == ("momentum" if make is sgd else "betas[0]")
    _lockstep(theirs, [peer], ours, [sched], 15, read=_momenta)


def test_a_momentum_alias_refuses_another_key() -> None:
    opt = sgd()
    with pytest.raises(SpecError, match="schedules 'momentum'") as e:
        schedkit.get_scheduler("mmengine.ExponentialMomentum", opt, gamma=0.9, key="lr")
    assert e.value.path == "key"
    assert "initial_lr" not in opt.param_groups[0]
    adagrad = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(SpecError, match="momentum or betas") as e:
        schedkit.get_scheduler("mmengine.LinearMomentum", adagrad)
    assert e.value.path == "key"


def test_reduce_on_plateau_momentum_without_a_key() -> None:
    theirs, ours = adamw(), adamw()
    peer = scheduler.ReduceOnPlateauMomentum(theirs, patience=0, factor=0.5)
    sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauMomentum", ours, patience=0, factor=0.5)
    for loss in (1.0, 2.0, 3.0):
        peer.step()
        peer.step({"loss": loss})
        sched.step({"loss": loss})
        assert _momenta(ours) == _momenta(theirs)
    assert _momenta(ours)[0] == 0.9 * 0.5 * 0.5


# -- steps_per_epoch given to get_scheduler is the alias's epoch length -------------------
def test_convert_to_iter_based_takes_the_schedulers_steps_per_epoch() -> None:
    theirs, ours = sgd(), sgd()
    peer = scheduler.StepLR.build_iter_from_epoch(theirs, step_size=2, gamma=0.1, epoch_length=7)
    sched = schedkit.get_scheduler(
        "mmengine.StepLR", ours, step_size=2, gamma=0.1, convert_to_iter_based=True,
        steps_per_epoch=7,
    )  # fmt: skip
    _lockstep(theirs, [peer], ours, [sched], 40)
    assert lrs(ours)[0] == pytest.approx(0.1 * 0.1**2)


def test_an_epoch_based_alias_steps_once_an_epoch_with_steps_per_epoch() -> None:
    theirs, ours = sgd(), sgd()
    peer = scheduler.StepLR(theirs, step_size=2, gamma=0.5)
    sched = schedkit.get_scheduler(
        "mmengine.StepLR", ours, step_size=2, gamma=0.5, steps_per_epoch=3
    )
    for it in range(1, 20):
        theirs.step()
        if it % 3 == 0:  # mmengine's runner: an epoch-based scheduler after each epoch
            peer.step()
        sched.step()
        assert lrs(ours) == lrs(theirs), (it, lrs(ours), lrs(theirs))
    assert lrs(ours)[0] == 0.1 * 0.5**3


@pytest.mark.parametrize("spe", [-3, 0, 2.5, True])
def test_a_bad_steps_per_epoch_is_refused(spe: Any) -> None:
    opt = sgd()
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler("mmengine.StepLR", opt, step_size=2, steps_per_epoch=spe)
    assert e.value.path == "steps_per_epoch"
    assert lrs(opt) == [0.1, 0.05, 0.01]


# -- two aliases on one optimizer compose as mmengine's do ---------------------------------
PAIRS: list[tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = [
    (("LinearLR", {"start_factor": 0.5, "end": 5}),
     ("MultiStepLR", {"milestones": [3, 6], "begin": 5, "end": 12})),
    (("LinearLR", {"start_factor": 0.1, "end": 8}),
     ("CosineAnnealingLR", {"eta_min": 1e-4, "begin": 0, "end": 30})),
    (("ConstantLR", {"factor": 0.25, "end": 4}),
     ("ExponentialLR", {"gamma": 0.9, "begin": 2})),
    (("PolyLR", {"power": 2.0, "end": 20}),
     ("StepLR", {"step_size": 3, "gamma": 0.7})),
]  # fmt: skip


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_two_aliases_on_one_optimizer_compose_as_mmengines(
    first: tuple[str, dict[str, Any]], second: tuple[str, dict[str, Any]]
) -> None:
    theirs, ours = sgd(), sgd()
    peers = [getattr(scheduler, n)(theirs, **p) for n, p in (first, second)]
    scheds = [schedkit.get_scheduler(f"mmengine.{n}", ours, **p) for n, p in (first, second)]
    _lockstep(theirs, peers, ours, scheds, 35)


def test_an_alias_beside_a_plateau_alias_composes_as_mmengines() -> None:
    theirs, ours = sgd(), sgd()
    warm = scheduler.LinearLR(theirs, start_factor=0.5, end=6)
    plateau = scheduler.ReduceOnPlateauLR(theirs, patience=1, factor=0.5)
    ours_warm = schedkit.get_scheduler("mmengine.LinearLR", ours, start_factor=0.5, end=6)
    ours_plateau = schedkit.get_scheduler(
        "mmengine.ReduceOnPlateauLR", ours, patience=1, factor=0.5
    )
    for epoch, loss in enumerate([3.0, 2.0, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0]):
        theirs.step()
        warm.step()
        plateau.step()
        plateau.step({"loss": loss})
        ours_warm.step()
        ours_plateau.step(loss)
        assert lrs(ours) == lrs(theirs), (epoch, lrs(ours), lrs(theirs))
    assert lrs(ours)[0] < 0.1


# -- per-group lists ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "path"),
    [
        ("ReduceOnPlateauLR", {"min_value": [0.1] * 4}, "min_value"),
        ("OneCycleLR", {"eta_max": [0.1, 0.2, 0.3, 0.4], "total_steps": 10}, "eta_max"),
        ("OneCycleLR", {"eta_max": [0.1, 0.2], "total_steps": 10}, "eta_max"),
    ],
)
def test_a_per_group_list_of_another_length_is_refused_as_mmengine_refuses_it(
    name: str, params: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValueError, match="expected 3"):
        getattr(scheduler, name)(sgd(), **params)
    opt = sgd()
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler(f"mmengine.{name}", opt, **params)
    assert e.value.path == path
    assert "initial_lr" not in opt.param_groups[0]
    assert lrs(opt) == [0.1, 0.05, 0.01]
    spec = {
        "type": "mmengine.param_scheduler",
        "schedulers": [{"type": f"mmengine.{name}", **params}],
    }
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler(spec, sgd())
    assert e.value.path == f"schedulers[0].{path}"


# -- hostile states: validated, then applied ------------------------------------------------
def _stepped() -> tuple[torch.optim.Optimizer, Any]:
    opt = sgd()
    sched = schedkit.get_scheduler("mmengine.StepLR", opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    return opt, sched


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"curves": [{"value": -0.1}, {"value": 0.025}, {"value": 0.005}]}, "curves[0].value"),
        ({"curves": [{"value": 10**400}, {"value": 0.1}, {"value": 0.1}]}, "curves[0].value"),
        ({"step": 10**400}, "step"),
        ({"step": 2**62 + 1}, "step"),
    ],
)
def test_a_hostile_state_is_refused_and_changes_nothing(change: dict[str, Any], path: str) -> None:
    opt, sched = _stepped()
    state = {**copy.deepcopy(sched.state_dict()), **change}
    before = (sched.state_dict(), lrs(opt))
    with pytest.raises(StateError) as e:
        sched.load_state_dict(state)
    assert e.value.path == path
    assert (sched.state_dict(), lrs(opt)) == before
    sched.step()  # and it steps on as before
    assert sched.last_epoch == 4


@pytest.mark.parametrize("metric", [10**400, -(10**400), {"loss": 10**400}])
def test_a_metric_beyond_any_float_is_refused_and_changes_nothing(metric: Any) -> None:
    opt = sgd()
    sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", opt, patience=0)
    sched.step(1.0)
    before = (sched.state_dict(), lrs(opt))
    with pytest.raises(SpecError) as e:
        sched.step(metric)
    assert e.value.path == "metric"
    assert (sched.state_dict(), lrs(opt)) == before


# -- mmengine's signatures and public API ---------------------------------------------------
def _aliases() -> dict[str, type]:
    from schedkit_compat.mmengine import MOMENTUM, SCHEDULES
    from schedkit_compat.mmengine_plateau import PLATEAU

    return {**SCHEDULES, **MOMENTUM, **PLATEAU}


@pytest.mark.parametrize("name", sorted(_aliases()))
def test_an_alias_takes_mmengines_arguments_in_mmengines_order(name: str) -> None:
    import inspect

    from schedkit.plugin import NOTHING, fields

    peer = getattr(scheduler, name)
    # the LR/Momentum classes pass (optimizer, param_name, *args) to their ParamScheduler
    base = next(c for c in peer.__mro__ if c.__name__.endswith("ParamScheduler"))
    params = list(inspect.signature(base.__init__).parameters.values())[3:]
    theirs = [(p.name, None if p.default is p.empty else p.default) for p in params]
    init = [f for f in fields(_aliases()[name]) if f.init]
    ours = [(f.name, None if f.default is NOTHING else f.default) for f in init if not f.kw_only]
    assert ours == theirs
    # the differences, keyword-only after mmengine's (docs/migrating.md says why)
    assert [f.name for f in init if f.kw_only] == ["convert_to_iter_based", "steps_per_epoch"]


@pytest.mark.parametrize(
    ("name", "params", "attrs"),
    [
        ("CosineAnnealingLR", {"begin": 5, "end": 100}, ["T_max", "eta_min", "begin", "end"]),
        ("StepLR", {"step_size": 3, "begin": 2, "end": 20}, ["step_size", "gamma", "by_epoch"]),
        ("MultiStepLR", {"milestones": [2, 4, 4]}, ["milestones", "gamma"]),
        ("LinearLR", {"end": 7, "verbose": True}, ["start_factor", "total_iters", "verbose"]),
        ("PolyLR", {"end": 12, "power": 2.0}, ["eta_min", "power", "total_iters"]),
        ("CosineRestartLR", {"periods": [3, 4], "restart_weights": [1, 0.5], "eta_min": 0.0},
         ["periods", "cumulative_periods", "eta_min"]),
        ("OneCycleLR", {"eta_max": 0.2, "end": 30}, ["eta_max", "total_steps", "div_factor"]),
    ],
)  # fmt: skip
def test_the_scheduler_has_mmengines_attributes_and_methods(
    name: str, params: dict[str, Any], attrs: list[str]
) -> None:
    theirs, ours = sgd(), sgd()
    peer = getattr(scheduler, name)(theirs, **params)
    sched = schedkit.get_scheduler(f"mmengine.{name}", ours, **params)
    for _ in range(6):
        assert sched.last_step == peer.last_step
        assert sched.get_last_value() == peer.get_last_value()
        for attr in attrs:
            assert getattr(sched, attr) == getattr(peer, attr), attr
        theirs.step()
        peer.step()
        sched.step()
    with pytest.raises(SpecError) as e:
        sched.begin = 3  # type: ignore[attr-defined]
    assert e.value.path == "begin"


def test_t_max_is_the_ranges_length_and_converted_with_the_epoch_length() -> None:
    sched = schedkit.get_scheduler("mmengine.CosineAnnealingLR", sgd(), begin=5, end=100)
    assert sched.T_max == 95  # type: ignore[attr-defined]
    theirs = sgd()
    peer = scheduler.CosineAnnealingLR.build_iter_from_epoch(
        theirs, T_max=10, begin=2, end=12, epoch_length=7
    )
    ours = sgd()
    sched = schedkit.get_scheduler(
        "mmengine.CosineAnnealingLR", ours, T_max=10, begin=2, end=12,
        convert_to_iter_based=True, steps_per_epoch=7,
    )  # fmt: skip
    for attr in ("T_max", "begin", "end", "by_epoch"):
        assert getattr(sched, attr) == getattr(peer, attr), attr
    _lockstep(theirs, [peer], ours, [sched], 90)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("StepLR", {"step_size": 3, "gamma": 0.5, "last_step": 4}),
        ("CosineAnnealingLR", {"end": 20, "last_step": 6}),
        ("LinearLR", {"end": 10, "last_step": 2, "begin": 1}),
        ("MultiStepLR", {"milestones": [6, 9], "last_step": 3, "end": 30}),
    ],
)
def test_last_step_resumes_by_construction_as_mmengine(name: str, params: dict[str, Any]) -> None:
    def restored() -> torch.optim.Optimizer:  # what an optimizer's loaded state holds
        opt = sgd()
        for g, lr in zip(opt.param_groups, (0.03, 0.02, 0.001), strict=True):
            g["initial_lr"], g["lr"] = g["lr"], lr
        return opt

    theirs, ours = restored(), restored()
    peer = getattr(scheduler, name)(theirs, **params)
    sched = schedkit.get_scheduler(f"mmengine.{name}", ours, **params)
    for _ in range(25):
        assert sched.last_step == peer.last_step
        assert lrs(ours) == lrs(theirs)
        theirs.step()
        peer.step()
        sched.step()


@pytest.mark.parametrize("bad", [-2, 1.5, True, "3"])
def test_a_bad_last_step_is_refused(bad: Any) -> None:
    opt = sgd()
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler("mmengine.StepLR", opt, step_size=2, last_step=bad)
    assert e.value.path == "last_step"
    assert "initial_lr" not in opt.param_groups[0]


def test_verbose_and_last_step_are_left_out_of_the_spec_at_their_defaults() -> None:
    sched = schedkit.get_scheduler("mmengine.StepLR", sgd(), step_size=2, verbose=False)
    assert "verbose" not in sched.schedule.spec()
    assert "last_step" not in sched.schedule.spec()
    sched = schedkit.get_scheduler("mmengine.StepLR", sgd(), step_size=2, verbose=True)
    assert sched.schedule.spec()["verbose"] is True
    assert schedkit.get_schedule(sched.schedule.spec()) == sched.schedule


def test_plateau_schedulers_take_mmengines_metrics_keyword() -> None:
    theirs, ours = sgd(), sgd()
    peer = scheduler.ReduceOnPlateauLR(theirs, patience=1, factor=0.5)
    sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", ours, patience=1, factor=0.5)
    for loss in [3.0, 2.0, 2.5, 2.6, 2.7, 2.8]:
        peer.step()
        peer.step(metrics={"loss": loss})
        sched.step(metrics={"loss": loss})
        assert lrs(ours) == lrs(theirs)
        for attr in ("best", "num_bad_epochs", "cooldown_counter", "min_values", "patience"):
            assert getattr(sched, attr) == getattr(peer, attr), attr
    assert sched.get_last_value() == peer.get_last_value()
    assert lrs(ours)[0] == 0.025
    with pytest.raises(TypeError, match="not both"):
        sched.step(1.0, metrics={"loss": 1.0})


@pytest.mark.parametrize("bad", [1e400, 10**400, float("nan"), 2**62 + 1, -2])
def test_setting_a_step_beyond_any_float_is_refused_and_changes_nothing(bad: Any) -> None:
    opt, sched = _stepped()
    before = (sched.state_dict(), lrs(opt))
    with pytest.raises(SpecError) as e:
        sched.last_epoch = bad
    assert e.value.path == "last_epoch"
    assert (sched.state_dict(), lrs(opt)) == before
    sched.step()
    assert sched.last_epoch == 4
