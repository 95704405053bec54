"""Hostile mutations of the example setups and of every component's state.

A mutated setup either passes ``check`` and builds a model that steps with finite values
(the hyperparameters; an absurd but finite lr may still diverge the model),
or is refused with a SetupError listing key paths (from ``load_setup`` and from
``schedkit check``). A mutated state either loads exactly or raises StateError and leaves
the object as it was.
"""

from __future__ import annotations

import copy
import io
import math
import re
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import tomllib
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, StateError, _toml_out
from schedkit._example import tiny_vit
from schedkit.cli import main
from schedkit.errors import SchedkitWarning
from schedkit.setup import SetupError, load_setup

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.name: tomllib.loads(p.read_text()) for p in sorted(ROOT.glob("examples/*.toml"))}
HOSTILE = [
    math.nan,
    math.inf,
    -math.inf,
    -1,
    -1.5,
    0,
    0.0,
    1e300,
    2**63,
    10**400,  # no float holds it: float() raises OverflowError
    -(10**400),
    10**5000,  # too long even to print (Python's limit on int-to-text conversion)
    "x",
    "10ep",
    "100%",
    True,
    [],
    [1, "a"],
    {},
    {"type": "cosine"},
]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _parent(data, path):
    for k in path[:-1]:
        data = data[k]
    return data


@st.composite
def mutated_setups(draw):
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    data = copy.deepcopy(EXAMPLES[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        op = draw(st.sampled_from(["drop", "rename", "retype", "nest"]))
        if op == "drop":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[str(key) + draw(st.sampled_from(["_", "s", "X"]))] = parent.pop(key)
        elif op == "nest":
            parent[key] = {"value": parent[key]} if draw(st.booleans()) else [parent[key]]
        else:
            # a copy: a shared list put inside itself would make the setup cyclic
            parent[key] = copy.deepcopy(draw(st.sampled_from(HOSTILE)))
    return name, data


def _finite_step(built, model):
    for _ in range(3):
        x, y = model.example_batch(seed=0)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        built.step()
    for optimizer in built.optimizers.values():  # a setup may have several
        for g in optimizer.param_groups:
            for k, v in g.items():
                if isinstance(v, float):
                    assert math.isfinite(v), (k, v)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutated_setups())
def test_a_mutated_setup_builds_and_steps_or_lists_its_problems(case, tmp_path_factory):
    _, data = case
    try:
        setup = load_setup(data)
        problems = setup.problems()
    except SetupError as e:
        problems = e.problems
    assert all(isinstance(p, SpecError) for p in problems)
    _command_agrees(data, bool(problems), tmp_path_factory)
    if problems:
        assert all(p.path or p.message.startswith(("TOML", "expected")) for p in problems)
        return
    model = tiny_vit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchedkitWarning)
        try:
            built = setup.build(model)
        except SetupError as e:  # only what depends on the model (a rule, tags)
            paths = [p.path for p in e.problems]
        else:
            _finite_step(built, model)
            return
    assert paths
    assert all(p.startswith(("rules", "schedules", "clip")) for p in paths)


def _command_agrees(data, refused, tmp_path_factory):
    """``schedkit check`` on the same data as a file says what load_setup said."""
    try:
        text = _toml_out.dumps(data)
        same = tomllib.loads(text) == data
    except Exception:  # the writer knows setups, not every mutated shape
        return  # a shape TOML cannot write (the API still judged it above)
    if not same:
        return
    path = tmp_path_factory.mktemp("check") / "setup.toml"
    path.write_text(text)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        code = main(["check", str(path)])
    assert code == (1 if refused else 0), err.getvalue()
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_check_command_agrees_with_load_setup(name, tmp_path, capsys):
    """The command and the API say the same; a few fixed mutations per example."""
    data = copy.deepcopy(EXAMPLES[name])
    tables = data.get("optimizers")
    # a setup with several optimizers: the first table's weight decay
    where = f"optimizers.{next(iter(tables))}" if tables else "optimizer"
    table = tables[next(iter(tables))] if tables else data.setdefault("optimizer", {})
    table["weight_decay"] = -1.0
    path = tmp_path / "s.toml"
    path.write_text(
        schedkit.load_setup(EXAMPLES[name])
        .to_toml()
        .replace("weight_decay = ", "weight_decay = -1.0\n#", 1)
    )
    assert main(["check", str(path)]) == 1
    assert f"{where}.weight_decay: expected a number >= 0, got -1.0" in capsys.readouterr().err
    with pytest.raises(SetupError, match=re.escape(f"{where}.weight_decay")):
        load_setup(data)


# -- states ------------------------------------------------------------------------------


def _scheduler_cases():
    reg = schedkit.default_registry()
    for info in reg.components("schedule"):
        if info.distribution != "schedkit-schedules" or info.plugin in ("lambda",):
            continue
        yield info.name, dict(info.examples[0])
    # a schedule whose state carries each group's curve state ("curves")
    yield (
        "mmengine.param_scheduler",
        dict(reg.get("schedule", "mmengine.param_scheduler").examples[1]),
    )


SCHEDULERS = list(_scheduler_cases())
CLIPPERS = [
    (c.name, dict(c.examples[0])) for c in schedkit.default_registry().components("clipper")
]


def _make_scheduler(name, params):
    opt = torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1 * (i + 1)} for i in range(2)],
        lr=0.1,
    )
    schedule = schedkit.get_schedule(name, **params)
    sched = schedkit.Scheduler(opt, schedule, steps_per_epoch=10, total_steps=100)
    for i in range(3):
        sched.step(metric=float(i)) if sched._stateful else sched.step()
    return sched


def _make_clipper(name, params):
    clip = schedkit.get_clipper(name, **params)
    model = torch.nn.Linear(3, 2)
    for i in range(3):
        for p in model.parameters():
            p.grad = torch.full_like(p, float(i + 1))
        clip(model)
    return clip


def _mutate(draw, state):
    state = copy.deepcopy(state)
    paths = [p for p in _paths(state) if p]
    path = draw(st.sampled_from(paths))
    parent, key = _parent(state, path), path[-1]
    op = draw(st.sampled_from(["drop", "retype", "retype"]))
    if op == "drop":
        del parent[key]
    else:
        parent[key] = copy.deepcopy(
            draw(st.sampled_from([*HOSTILE, 5, 0.5, None, torch.tensor(math.nan)]))
        )
    return state


def _same(a, b):
    return repr(a) == repr(b)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_mutated_scheduler_state_loads_exactly_or_changes_nothing(data):
    name, params = data.draw(st.sampled_from(SCHEDULERS))
    source = _make_scheduler(name, params)
    state = _mutate(data.draw, source.state_dict())
    target = _make_scheduler(name, params)
    before = (
        copy.deepcopy(target.state_dict()),
        [dict(g, params=None) for g in target.optimizer.param_groups],
    )
    try:
        target.load_state_dict(state)
    except StateError:
        after = (target.state_dict(), [dict(g, params=None) for g in target.optimizer.param_groups])
        assert _same(after, before)
        return
    loaded = target.state_dict()
    for k in ("step", "base_values", "schedule", "version", "key"):
        assert loaded[k] == state[k], k
    if state.get("schedule_state") is not None:
        assert loaded["schedule_state"] == state["schedule_state"]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_mutated_clipper_state_loads_exactly_or_changes_nothing(data):
    name, params = data.draw(st.sampled_from(CLIPPERS))
    state = _mutate(data.draw, _make_clipper(name, params).state_dict())
    target = _make_clipper(name, params)
    before = copy.deepcopy(target.state_dict())
    try:
        target.load_state_dict(state)
    except StateError:
        assert _same(target.state_dict(), before)
        return
    loaded = target.state_dict()
    for k in ("step", "skipped", "spec"):
        assert loaded[k] == state[k], k


def _stateful_cases():
    """Every registered family (each example) whose scheduler state carries more than the
    step: a schedule state (plateaus, greedy) or each group's curve state (recurrences)."""
    for info in schedkit.default_registry().components("schedule"):
        for params in info.examples:
            try:
                state = _make_scheduler(info.name, dict(params)).state_dict()
            except SpecError:  # holds a Python function: no spec, no state to load
                continue
            if state.get("schedule_state") is not None or state.get("curves") is not None:
                yield info.name, dict(params)


STATEFUL = list(_stateful_cases())
#: values no float holds, past 2**62, not numbers, not finite
NUMBERS = [10**400, -(10**400), 2**62 + 1, 2**63, math.nan, math.inf, -math.inf, True, "1", -1]


def _leaves(state):
    return [p for p in _paths(state) if p and not isinstance(_at(state, p), (dict, list))]


def _at(data, path):
    for k in path:
        data = data[k]
    return data


def _lrs(sched):
    return repr([dict(g, params=None) for g in sched.optimizer.param_groups])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_stateful_family_loads_a_hostile_number_exactly_or_changes_nothing(data):
    """Any entry of a stateful scheduler's state replaced by a number no float holds, a
    step past 2**62, NaN, an infinity, a bool or a string: the state loads, or StateError
    leaves the optimizer's values and the scheduler's state bit for bit as they were."""
    name, params = data.draw(st.sampled_from(STATEFUL))
    state = copy.deepcopy(_make_scheduler(name, params).state_dict())
    path = data.draw(st.sampled_from(_leaves(state)))
    _parent(state, path)[path[-1]] = data.draw(st.sampled_from(NUMBERS))
    target = _make_scheduler(name, params)
    before = (repr(target.state_dict()), _lrs(target))
    try:
        target.load_state_dict(state)
    except StateError:
        assert (repr(target.state_dict()), _lrs(target)) == before
        return
    loaded = target.state_dict()
    for k in ("step", "schedule", "version", "key"):
        assert loaded[k] == state[k], k
    assert loaded["base_values"] == [float(b) for b in state["base_values"]]
    for g in target.optimizer.param_groups:
        assert math.isfinite(g["lr"]), g["lr"]


def test_the_stateful_families_are_all_there():
    names = {name for name, _ in STATEFUL}
    assert {"plateau", "torch.ReduceLROnPlateau", "transformers.greedy", "timm.plateau"} <= names
    assert "mmengine.ReduceOnPlateauLR" in names
    assert "mmengine.param_scheduler" in names


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_every_clipper_loads_a_hostile_number_exactly_or_changes_nothing(data):
    """The clippers' states the same way (steps, counts, an adaptive clipper's history)."""
    name, params = data.draw(st.sampled_from(CLIPPERS))
    state = copy.deepcopy(_make_clipper(name, params).state_dict())
    path = data.draw(st.sampled_from(_leaves(state)))
    _parent(state, path)[path[-1]] = data.draw(st.sampled_from(NUMBERS))
    target = _make_clipper(name, params)
    before = repr(target.state_dict())
    try:
        target.load_state_dict(state)
    except StateError:
        assert repr(target.state_dict()) == before
        return
    loaded = target.state_dict()
    for k in ("step", "skipped", "spec"):
        assert loaded[k] == state[k], k


@pytest.mark.parametrize("name", ["timm.plateau", "torch.ReduceLROnPlateau"])
@pytest.mark.parametrize("reductions", [10**400, 2**62 + 1])
def test_a_huge_count_of_reductions_loads_at_once(name, reductions):
    """A plateau state claiming more reductions than any run makes: the value is worked out
    in as many reductions as change it (a floor or eps stops them), not one per count."""
    params = dict(next(p for n, p in STATEFUL if n == name))
    state = copy.deepcopy(_make_scheduler(name, params).state_dict())
    state["schedule_state"]["reductions"] = reductions
    target = _make_scheduler(name, params)
    target.load_state_dict(state)
    for g, base in zip(target.optimizer.param_groups, state["base_values"], strict=True):
        assert math.isfinite(g["lr"])
        assert 0 <= g["lr"] < base * 1e-6
