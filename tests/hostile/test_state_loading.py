"""State loading: the whole state is checked before any of it is applied; a bad one raises
StateError naming the key path and leaves the object exactly as it was."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import schedkit
from schedkit import Scheduler, SpecError, StateError, get_scheduler
from schedkit.setup import loads_setup
from tests.helpers import sgd


def _snapshot(sched: Scheduler) -> tuple:
    groups = [{k: v for k, v in g.items() if k != "params"} for g in sched.optimizer.param_groups]
    history = sched.schedule.state_dict() if hasattr(sched.schedule, "state_dict") else None
    return sched.steps, list(sched.base_values), groups, copy.deepcopy(history)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"step": -5}, "step", "expected a whole number >= 0, got -5"),
        ({"step": 1.7}, "step", "expected a whole number, got 1.7"),
        ({"step": "7"}, "step", "expected a whole number, got '7'"),
        ({"step": True}, "step", "expected a whole number, got True"),
        ({"base_values": [math.nan, 0.2]}, "base_values[0]", "expected a finite number, got nan"),
        ({"base_values": [0.1, math.inf]}, "base_values[1]", "expected a finite number, got inf"),
        ({"base_values": [0.1, -0.2]}, "base_values[1]", "expected a number >= 0, got -0.2"),
        ({"base_values": ["0.1", 0.2]}, "base_values[0]", "expected a number, got '0.1'"),
        ({"base_values": 0.1}, "base_values", "expected a list of numbers, got 0.1"),
        ({"version": 0}, "version", "expected a version >= 1, got 0"),
        ({"version": -1}, "version", "expected a version >= 1, got -1"),
        ({"version": "1"}, "version", "expected a version >= 1, got '1'"),
        ({"tags": ["other"]}, "tags", "the state targets tags ['other'], this scheduler None"),
        ({"schedule_state": {"value": 0.5}}, "schedule_state", "expected None"),
    ],
)
def test_bad_scheduler_states_name_the_key_and_change_nothing(change, path, message):
    sched = Scheduler(sgd(2), "cosine", total=100)
    for _ in range(3):
        sched.step()
    state = {**sched.state_dict(), **change}
    other = Scheduler(sgd(2), "cosine", total=100)
    other.step()
    before = _snapshot(other)
    with pytest.raises(StateError) as e:
        other.load_state_dict(state)
    assert e.value.path == path
    assert e.value.message.startswith(message)
    assert _snapshot(other) == before


@pytest.mark.parametrize(
    ("state", "path", "message"),
    [
        ([1, 2, 3], "", "expected a scheduler state (a dict), got [1, 2, 3]"),
        ("step", "", "expected a scheduler state (a dict), got 'step'"),
    ],
)
def test_a_state_that_is_not_a_dict(state, path, message):
    with pytest.raises(StateError) as e:
        Scheduler(sgd(), "cosine", total=10).load_state_dict(state)
    assert (e.value.path, e.value.message) == (path, message)


@pytest.mark.parametrize("missing", ["version", "step", "key", "base_values", "schedule"])
def test_missing_keys_are_named(missing):
    sched = Scheduler(sgd(), "cosine", total=10)
    state = sched.state_dict()
    del state[missing]
    with pytest.raises(StateError) as e:
        sched.load_state_dict(state)
    assert missing in str(e.value)


def _plateau(opt=None):
    return Scheduler(opt or sgd(2), "plateau", patience=0, factor=0.5)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"value": math.nan}, "schedule_state.value"),
        ({"value": -1.0}, "schedule_state.value"),
        ({"value": "1"}, "schedule_state.value"),
        ({"best": math.nan}, "schedule_state.best"),
        ({"best": "x"}, "schedule_state.best"),
        ({"bad_steps": -1}, "schedule_state.bad_steps"),
        ({"bad_steps": 2.5}, "schedule_state.bad_steps"),
        ({"cooldown_left": 3}, "schedule_state.cooldown_left"),
    ],
)
def test_plateau_state_is_checked_whole_before_any_is_taken(change, path):
    """The old code took ``value`` before finding ``best`` bad."""
    sched = _plateau()
    for m in (1.0, 2.0, 3.0):
        sched.step(m)
    state = sched.state_dict()
    state["schedule_state"] = {**state["schedule_state"], "value": 0.25, **change}
    other = _plateau()
    other.step(1.0)
    before = _snapshot(other)
    with pytest.raises(StateError) as e:
        other.load_state_dict(state)
    assert e.value.path == path
    assert _snapshot(other) == before


def test_plateau_missing_entry_and_list_state():
    sched = _plateau()
    state = sched.state_dict()
    del state["schedule_state"]["best"]
    with pytest.raises(StateError, match=r"schedule_state\.best: missing from the state"):
        sched.load_state_dict(state)
    state["schedule_state"] = [0.5]
    with pytest.raises(StateError, match="schedule_state: expected a plateau state"):
        sched.load_state_dict(state)


def test_a_greedy_state_that_is_not_a_dict():
    sched = Scheduler(sgd(2), schedkit.get_schedule("transformers.greedy"))
    before = _snapshot(sched)
    state = {**sched.state_dict(), "schedule_state": torch.tensor(math.nan)}
    with pytest.raises(StateError, match=r"schedule_state: expected a transformers\.greedy state"):
        sched.load_state_dict(state)
    assert _snapshot(sched) == before


def test_a_huge_step_loads_at_once():
    sched = Scheduler(sgd(2), "cosine", total=100, warmup=10)
    state = {**sched.state_dict(), "step": 10**9}
    sched.load_state_dict(state)
    assert sched.steps == 10**9
    assert [g["lr"] for g in sched.optimizer.param_groups] == [0.0, 0.0]


def test_a_failed_get_scheduler_leaves_no_initial_lr():
    """A scheduler that fails to build leaves the groups as they were, so a later one uses
    the real base, not a stale one."""
    opt = sgd(2)
    with pytest.raises(SpecError):
        get_scheduler("cosine", opt, total=-1)
    assert all("initial_lr" not in g for g in opt.param_groups)
    with pytest.raises(SpecError):
        Scheduler(opt, "cosine", total=10, warmup=20)
    assert all("initial_lr" not in g for g in opt.param_groups)
    opt.param_groups[0]["lr"] = 0.5
    sched = Scheduler(opt, "constant")
    assert sched.base_values == [0.5, 0.2]


# -- Built --------------------------------------------------------------------------------

SETUP = """
[run]
total = 20
[optimizer]
type = "AdamW"
lr = 1e-3
[schedules.lr]
type = "cosine"
warmup = 2
[schedules.weight_decay]
type = "linear"
[clip]
type = "adaptive"
window = 4
"""


def _built():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    built = loads_setup(SETUP).build(model)
    for _ in range(3):
        model(torch.randn(4, 3)).pow(2).sum().backward()
        built.step()
    return built


def _everything(built):
    return (
        copy.deepcopy(built.optimizer.state_dict()),
        {k: s.state_dict() for k, s in built.schedulers.items()},
        copy.deepcopy(built.clipper.state_dict()),
    )


def _equal(a, b):
    return repr(a) == repr(b)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda s: s["schedulers"]["weight_decay"].update(step=-1), "schedulers.weight_decay.step"),
        (lambda s: s["schedulers"].pop("lr"), "schedulers"),
        (lambda s: s["clipper"].update(step="x"), "clipper.step"),
        (lambda s: s["clipper"]["extra"].update(count=-2), "clipper.extra.count"),
        (lambda s: s["optimizer"]["param_groups"].pop(), "optimizer.param_groups"),
        (lambda s: s.update(version=0), "version"),
        (lambda s: s.update(schedulers=[]), "schedulers"),
    ],
)
def test_built_loads_all_or_nothing(mutate, path):
    """The old code loaded the optimizer's state, then raised on a scheduler's."""
    source = _built()
    state = copy.deepcopy(source.state_dict())
    mutate(state)
    target = loads_setup(SETUP).build(torch.nn.Linear(3, 2))
    before = _everything(target)
    with pytest.raises(StateError) as e:
        target.load_state_dict(state)
    assert e.value.path == path
    assert _equal(_everything(target), before)


def _group0(**change):
    return lambda s: s["optimizer"]["param_groups"][0].update(change)


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (_group0(eps=10**400), "optimizer.param_groups[0].eps", "too large for a float"),
        (_group0(eps=math.nan), "optimizer.param_groups[0].eps", "expected a finite number"),
        (_group0(eps=math.inf), "optimizer.param_groups[0].eps", "expected a finite number"),
        (_group0(eps="x"), "optimizer.param_groups[0].eps", "expected a number, got 'x'"),
        (_group0(betas=(0.9, math.nan)), "optimizer.param_groups[0].betas", "finite number"),
        (_group0(betas=(0.9,)), "optimizer.param_groups[0].betas", "expected 2 values"),
        (_group0(lr=torch.tensor(math.nan)), "optimizer.param_groups[0].lr", "finite values"),
    ],
)
def test_built_refuses_a_bad_group_hyperparameter(mutate, path, message):
    """The old code loaded these: the next step raised a raw OverflowError, or made the
    weights NaN."""
    state = copy.deepcopy(_built().state_dict())
    mutate(state)
    target = loads_setup(SETUP).build(torch.nn.Linear(3, 2))
    before = _everything(target)
    with pytest.raises(StateError, match=message) as e:
        target.load_state_dict(state)
    assert e.value.path == path
    assert _equal(_everything(target), before)


def test_built_loads_a_tensor_lr_and_text_entries():
    state = copy.deepcopy(_built().state_dict())
    state["optimizer"]["param_groups"][0]["lr"] = torch.tensor(1e-3)
    names = ["weight", "bias"]  # torch's groups built from named parameters
    state["optimizer"]["param_groups"][0]["param_names"] = names
    target = loads_setup(SETUP).build(torch.nn.Linear(3, 2))
    target.optimizer.param_groups[0]["param_names"] = list(names)
    target.load_state_dict(state)
    assert target.schedulers["lr"].steps == 3


def test_built_not_a_state():
    built = loads_setup(SETUP).build(torch.nn.Linear(3, 2))
    with pytest.raises(StateError, match="not a schedkit setup state"):
        built.load_state_dict({"format": "x"})
    with pytest.raises(StateError, match="expected a setup state"):
        built.load_state_dict([])  # type: ignore[arg-type]


# -- clippers ------------------------------------------------------------------------------


def _adaptive(**kw):
    clip = schedkit.get_clipper("adaptive", window=4, **kw)
    p = torch.nn.Parameter(torch.zeros(3))
    for i in range(3):
        p.grad = torch.full((3,), float(i + 1))
        clip([p])
    return clip


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"history": torch.zeros(3, dtype=torch.float64)}, "extra.history"),
        ({"history": [0.0] * 4}, "extra.history"),
        ({"history": torch.tensor([1.0, -1.0, 0, 0], dtype=torch.float64)}, "extra.history"),
        ({"count": -1}, "extra.count"),
        ({"count": "3"}, "extra.count"),
    ],
)
def test_adaptive_state_that_does_not_fit_changes_nothing(change, path):
    """The old code took part of such a state, and the next call raised IndexError."""
    state = _adaptive().state_dict()
    state["extra"] = {**state["extra"], **change}
    clip = _adaptive()
    before = copy.deepcopy(clip.state_dict())
    with pytest.raises(StateError) as e:
        clip.load_state_dict(state)
    assert e.value.path == path
    assert _equal(clip.state_dict(), before)
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.ones(3)
    clip([p])  # still works


def test_clipper_state_checks():
    clip = schedkit.get_clipper("norm", max_norm=1.0)
    state = clip.state_dict()
    for change, path in (
        ({"step": -1}, "step"),
        ({"skipped": 5}, "skipped"),  # more skipped than taken
        ({"version": 2}, "version"),
        ({"extra": {"x": 1}}, "extra"),
    ):
        with pytest.raises(StateError) as e:
            clip.load_state_dict({**state, **change})
        assert e.value.path == path
    with pytest.raises(StateError, match="expected a clipper state"):
        clip.load_state_dict([])  # type: ignore[arg-type]
    ema = _adaptive(mode="ema")
    good = ema.state_dict()
    with pytest.raises(StateError, match="extra.ema"):
        ema.load_state_dict({**good, "extra": {**good["extra"], "ema": torch.tensor(math.inf)}})
    ema.load_state_dict(good)


# -- numbers no float holds, steps past 2**62 ------------------------------------------------

HUGE = 10**400  # float(HUGE) raises OverflowError


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            {"step": HUGE},
            "step",
            "expected a whole number <= 2**62, got an integer of about 10**400",
        ),
        ({"step": 2**62 + 1}, "step", "expected a whole number <= 2**62"),
        ({"step": -HUGE}, "step", "expected a whole number >= 0, got an integer of about -10**400"),
        (
            {"base_values": [HUGE, 0.2]},
            "base_values[0]",
            "expected a finite number, got an integer of about 10**400 (too large for a float)",
        ),
        (
            {"base_values": [0.1, -HUGE]},
            "base_values[1]",
            "expected a finite number, got an integer of about -10**400 (too large for a float)",
        ),
        ({"version": HUGE}, "version", "scheduler state version an integer of about 10**400 is"),
        ({"version": 10**5000}, "version", "scheduler state version an integer of about 10**5000"),
    ],
)
def test_numbers_no_float_holds_are_refused_and_change_nothing(change, path, message):
    """The old code raised OverflowError from float() (base values), or took the step and
    then failed computing its value."""
    sched = Scheduler(sgd(2), "cosine", total=100)
    state = {**sched.state_dict(), **change}
    other = Scheduler(sgd(2), "cosine", total=100)
    other.step()
    before = _snapshot(other)
    with pytest.raises(StateError) as e:
        other.load_state_dict(state)
    assert (e.value.path, e.value.message[: len(message)]) == (path, message)
    assert _snapshot(other) == before


@pytest.mark.parametrize("step", [10**400, 2**62 + 1])
def test_a_deepspeed_state_at_a_huge_step_changes_no_lr(step):
    """The old code wrote the loaded lr into the optimizer's groups, then raised
    OverflowError from DeepSpeed's decay arithmetic."""
    sched = get_scheduler("deepspeed.WarmupDecayLR", sgd(2), total_num_steps=100)
    state = {**sched.state_dict(), "step": step}
    other = get_scheduler("deepspeed.WarmupDecayLR", sgd(2), total_num_steps=100)
    for _ in range(3):
        other.step()
    before = _snapshot(other)
    with pytest.raises(StateError, match=r"^step: expected a whole number <= 2\*\*62"):
        other.load_state_dict(state)
    assert _snapshot(other) == before
    other.load_state_dict({**state, "step": 2**62})  # the far end itself loads
    assert other.steps == 2**62
    assert [g["lr"] for g in other.optimizer.param_groups] == [0.0, 0.0]


def test_a_state_whose_values_are_not_finite_changes_nothing():
    """Every value loading would write is computed on trial objects first: torch's
    ExponentialLR with gamma 2 is inf by step 10**6, and the old code wrote inf lrs."""
    sched = get_scheduler("torch.ExponentialLR", sgd(2), gamma=2.0)
    state = {**sched.state_dict(), "step": 10**6}
    other = get_scheduler("torch.ExponentialLR", sgd(2), gamma=2.0)
    other.step()
    before = _snapshot(other)
    with pytest.raises(StateError) as e:
        other.load_state_dict(state)
    assert e.value.path == "step"
    assert e.value.message == "the schedule's value at step 1000000 is inf, not a finite number"
    assert _snapshot(other) == before


DEEPSPEED_SETUP = """
[run]
total = 20
[optimizer]
type = "AdamW"
lr = 1e-3
[schedules.lr]
type = "deepspeed.WarmupDecayLR"
total_num_steps = 20
warmup_num_steps = 4
"""


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (10**400, "expected a whole number <= 2**62, got an integer of about 10**400"),
        (-(10**400), "expected a whole number >= 0, got an integer of about -10**400"),
    ],
)
def test_built_with_a_huge_step_loads_nothing(step, message):
    """The old code loaded the optimizer's state and wrote the scheduler's lr, then raised
    OverflowError."""
    model = torch.nn.Linear(3, 2)
    source = loads_setup(DEEPSPEED_SETUP).build(model)
    model(torch.randn(4, 3)).pow(2).sum().backward()
    source.step()
    state = copy.deepcopy(source.state_dict())
    state["schedulers"]["lr"]["step"] = step
    target = loads_setup(DEEPSPEED_SETUP).build(torch.nn.Linear(3, 2))
    before = (copy.deepcopy(target.optimizer.state_dict()), target.schedulers["lr"].state_dict())
    with pytest.raises(StateError) as e:
        target.load_state_dict(state)
    assert (e.value.path, e.value.message) == ("schedulers.lr.step", message)
    after = (target.optimizer.state_dict(), target.schedulers["lr"].state_dict())
    assert _equal(after, before)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"best": 10**400}, "schedule_state.best", "expected a finite number, got an integer"),
        ({"lrs": [0.1, 10**400]}, "schedule_state.lrs[1]", "expected a finite number, got an"),
        ({"lrs": [0.1]}, "schedule_state.lrs", "1 lrs for 2 init_lrs"),
        ({"window_sum": math.nan}, "schedule_state.window_sum", "expected a finite number"),
        ({"bad_steps": 10**400}, "schedule_state.bad_steps", "expected a whole number <= 2**62"),
        ({"reset_left": -1}, "schedule_state.reset_left", "expected a whole number >= 0"),
    ],
)
def test_a_greedy_state_is_checked_entry_by_entry(change, path, message):
    """The old code took float() of each entry: OverflowError for 10**400, a NaN window
    sum taken, a shorter lrs list taken and then grown again by the groups' curves."""
    sched = Scheduler(sgd(2), schedkit.get_schedule("transformers.greedy"))
    for m in (1.0, 2.0):
        sched.step(m)
    state = sched.state_dict()
    state["schedule_state"] = {**state["schedule_state"], **change}
    other = Scheduler(sgd(2), schedkit.get_schedule("transformers.greedy"))
    other.step(1.0)
    before = _snapshot(other)
    with pytest.raises(StateError) as e:
        other.load_state_dict(state)
    assert (e.value.path, e.value.message[: len(message)]) == (path, message)
    assert _snapshot(other) == before


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (10**400, "expected a number, got an integer of about 10**400"),
        (-(10**400), "expected a number, got an integer of about -10**400"),
        ("x", "expected a number, got 'x'"),
    ],
)
def test_a_metric_no_float_holds_is_refused_before_anything_changes(metric, message):
    """The old code raised OverflowError from float(metric)."""
    sched = _plateau()
    sched.step(1.0)
    before = _snapshot(sched)
    with pytest.raises(SpecError) as e:
        sched.step(metric)
    assert (e.value.path, e.value.message) == ("metric", message)
    assert _snapshot(sched) == before
    with pytest.raises(SpecError, match="^metric: expected a finite number, got "):
        sched.checked_metric(metric)


def test_a_huge_clipper_state_version_is_named_not_printed():
    """The old message formatted the int itself: a raw ValueError past 4300 digits."""
    clip = schedkit.get_clipper("agc")
    state = {**clip.state_dict(), "state_version": 10**5000}
    before = clip.state_dict()
    with pytest.raises(StateError, match=r"state version an integer of about 10\*\*5000"):
        clip.load_state_dict(state)
    assert clip.state_dict() == before


ONE_SETUP = (
    '[run]\ntotal = 100\n[optimizer]\ntype = "SGD"\nlr = 0.1\n[schedules.lr]\ntype = "cosine"\n'
)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"replan": "yes"}, "replan"),
        ({"replan": 1}, "replan"),
        ({"replan": True, "allow_jump": "no"}, "allow_jump"),
        ({"replan": True, "allow_jump": 0}, "allow_jump"),
        (pytest.param({"replan": True, "rtol": 10**400}, "rtol", id="rtol-10**400")),
    ],
)
def test_replan_options_are_checked_before_anything_changes(kwargs, path):
    """A string for a flag was truthy: ``allow_jump="no"`` accepted any jump."""
    sched = get_scheduler("cosine", sgd(), total=100)
    sched.step()
    state = sched.state_dict()
    other = get_scheduler("wsd", sgd(), total=100, decay="20%")
    before = _snapshot(other)
    with pytest.raises(SpecError) as e:
        other.load_state_dict(copy.deepcopy(state), **kwargs)
    assert e.value.path == path
    assert _snapshot(other) == before
    if "replan" not in kwargs or kwargs["replan"] is True:
        with pytest.raises(SpecError):
            other.check_replan(state, **{k: v for k, v in kwargs.items() if k != "replan"})
    built = loads_setup(ONE_SETUP.replace('"cosine"', '"wsd"\ndecay = "20%"')).build(
        torch.nn.Linear(2, 2)
    )
    saved = loads_setup(ONE_SETUP).build(torch.nn.Linear(2, 2))
    saved.step()
    snapshot = copy.deepcopy(built.state_dict())
    with pytest.raises(SpecError) as e:
        built.load_state_dict(saved.state_dict(), **kwargs)
    assert e.value.path == path
    assert repr(built.state_dict()) == repr(snapshot)


@pytest.mark.parametrize(
    ("entry", "value", "path"),
    [
        ("step", torch.tensor(math.nan), "optimizer.state.0.step"),
        ("exp_avg", torch.full((2, 2), math.inf), "optimizer.state.0.exp_avg"),
        ("exp_avg_sq", torch.full((2, 2), math.nan), "optimizer.state.0.exp_avg_sq"),
        ("step", math.nan, "optimizer.state.0.step"),
    ],
)
def test_a_non_finite_moment_or_step_is_refused_before_anything_changes(entry, value, path):
    """It loaded, and the next update made every weight NaN without a word."""
    text = ONE_SETUP.replace('"SGD"', '"AdamW"')
    model = torch.nn.Linear(2, 2)
    built = loads_setup(text).build(model)
    model(torch.ones(1, 2)).sum().backward()
    built.step()
    state = copy.deepcopy(built.state_dict())
    state["optimizer"]["state"][0][entry] = value
    before = copy.deepcopy(built.state_dict())
    with pytest.raises(StateError) as e:
        built.load_state_dict(state)
    assert e.value.path == path
    assert repr(built.state_dict()) == repr(before)


def test_per_parameter_state_of_no_saved_parameter_is_refused():
    model = torch.nn.Linear(2, 2)
    built = loads_setup(ONE_SETUP).build(model)
    state = copy.deepcopy(built.state_dict())
    state["optimizer"]["state"] = {7: {"momentum_buffer": torch.zeros(2)}}
    with pytest.raises(StateError) as e:
        built.load_state_dict(state)
    assert e.value.path == "optimizer.state"
    state["optimizer"]["state"] = {0: 5}
    with pytest.raises(StateError) as e:
        built.load_state_dict(state)
    assert e.value.path == "optimizer.state.0"


@pytest.mark.parametrize(("saved_clip", "loaded_clip"), [(True, False), (False, True)])
def test_a_clipper_state_on_one_side_only_is_refused_unless_replanned(saved_clip, loaded_clip):
    """A zclip state's statistics were dropped (or a zclip setup kept fresh ones) without a
    word, while a clipper of another spec was refused. A replan may add or drop it."""
    clip = '[clip]\ntype = "zclip"\n'
    saved = loads_setup(ONE_SETUP + (clip if saved_clip else "")).build(torch.nn.Linear(2, 2))
    saved.step()
    built = loads_setup(ONE_SETUP + (clip if loaded_clip else "")).build(torch.nn.Linear(2, 2))
    before = repr(built.state_dict())
    with pytest.raises(StateError) as e:
        built.load_state_dict(saved.state_dict())
    assert e.value.path == "clipper"
    assert repr(built.state_dict()) == before
    built.load_state_dict(saved.state_dict(), replan=True)
