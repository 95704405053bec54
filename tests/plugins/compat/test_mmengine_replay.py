"""``mmengine.*`` replay: skipping the steps that change nothing gives the floats of a
plain step-by-step replay, one call replays at most ``MAX_REPLAY`` updates, stepping is
never refused, and a checkpoint carries each group's value so a resume replays nothing
(the comparison with the installed mmengine is tests/convert)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, StateError
from schedkit_compat import mmengine_schedulers as mm  # where the replay reads MAX_REPLAY

INF = mm.INF


def plain(sched: Any, base: float, n: int) -> list[tuple[float, list[tuple[int, int]]]]:
    """The value at every step up to ``n`` and each scheduler's counters there, every step
    replayed as mmengine's runner steps the list (what the aliases did before they skipped
    anything)."""
    run = sched.per_group({}, base, 0)
    run._start()
    spe, value = run.spe, run.value
    out = [(value, [(a.global_step, a.last_step) for a in run.active])]
    for s in range(1, n + 1):
        for act in run.active:
            if spe is None or not act.by_epoch:
                value = act.step(value)
        if spe is not None and s % spe == 0:
            for act in run.active:
                if act.by_epoch:
                    value = act.step(value)
        out.append((value, [(a.global_step, a.last_step) for a in run.active]))
    return out


def same(a: float, b: float) -> bool:
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@st.composite
def parts(draw: st.DrawFn, spe: int | None) -> dict[str, Any]:
    """One scheduler of a ``param_scheduler`` list with arguments that reach the skips:
    ranges that end, milestones, gammas of 0 and 1, a value that reaches 0.0."""
    kind = draw(
        st.sampled_from(
            ["StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "PolyLR",
             "CosineAnnealingLR", "CosineRestartLR", "OneCycleLR"]
        )
    )  # fmt: skip
    begin = draw(st.integers(0, 12))
    end = draw(st.one_of(st.just(INF), st.integers(begin + 1, begin + 40)))
    out: dict[str, Any] = {"type": f"mmengine.{kind}", "begin": begin, "end": end}
    out["by_epoch"] = draw(st.booleans())
    if out["by_epoch"] and spe is not None and end != INF:
        out["convert_to_iter_based"] = draw(st.booleans())
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0, 1.5]))
    if kind == "StepLR":
        out.update(step_size=draw(st.integers(1, 7)), gamma=gamma)
    elif kind == "MultiStepLR":
        out.update(milestones=draw(st.lists(st.integers(0, 30), max_size=4)), gamma=gamma)
    elif kind == "ConstantLR":
        out.update(factor=draw(st.sampled_from([0.25, 0.5, 1.0])))
    elif kind == "LinearLR":
        out.update(start_factor=draw(st.sampled_from([0.1, 0.5, 1.0])),
                   end_factor=draw(st.sampled_from([0.1, 1.0])))  # fmt: skip
    elif kind == "ExponentialLR":
        out.update(gamma=draw(st.sampled_from([0.0, 0.5, 0.9, 1.0])))
    elif kind == "PolyLR":
        out.update(eta_min=draw(st.sampled_from([0.0, 1e-3])), power=draw(st.sampled_from([0.9, 2.0])))  # fmt: skip
    elif kind == "CosineAnnealingLR":
        out.update(T_max=draw(st.one_of(st.none(), st.integers(1, 9))), eta_min=1e-4)
    elif kind == "CosineRestartLR":
        n = draw(st.integers(1, 3))
        out.update(periods=[draw(st.integers(1, 8)) for _ in range(n)],
                   restart_weights=[1.0] * n, eta_min_ratio=0.1)  # fmt: skip
    else:
        out.update(eta_max=0.5, total_steps=draw(st.one_of(st.none(), st.integers(2, 30))))
        if out["total_steps"] is None and end == INF:
            out["end"] = begin + 25
    return out


@st.composite
def lists(draw: st.DrawFn) -> tuple[Any, float]:
    spe = draw(st.one_of(st.none(), st.integers(1, 5)))
    items = draw(st.lists(parts(spe), min_size=1, max_size=3))
    spec: dict[str, Any] = {"type": "mmengine.param_scheduler", "schedulers": items}
    if spe is not None:
        spec["steps_per_epoch"] = spe
    base = draw(st.sampled_from([1.0, 0.1, 5e-324]))
    return schedkit.get_schedule(spec), base


@settings(max_examples=300, deadline=None)
@given(
    case=lists(),
    stride=st.integers(2, 60),
    steps=st.lists(st.integers(0, 400), min_size=1, max_size=6),
)
def test_skipping_gives_the_floats_and_counters_of_plain_replay(
    case: tuple[Any, float], stride: int, steps: list[int]
) -> None:
    sched, base = case
    trace = plain(sched, base, 400)
    run = sched.per_group({}, base, 0)
    # jumps forward across the whole range, then repeats and restarts from earlier steps
    for k in [*range(0, 401, stride), *steps]:
        got = run(k)
        want, counters = trace[k]
        assert same(got, want), (k, got, want, sched.spec())
        assert [(a.global_step, a.last_step) for a in run.active] == counters


@settings(max_examples=100, deadline=None)
@given(case=lists(), at=st.integers(0, 300), more=st.integers(1, 60))
def test_a_curve_state_continues_as_the_run_that_never_stopped(
    case: tuple[Any, float], at: int, more: int
) -> None:
    sched, base = case
    first = sched.per_group({}, base, 0)
    state = first.curve_state(at)
    resumed = sched.per_group({}, base, 0)
    resumed.load_curve_state(at, copy.deepcopy(state))
    for k in range(at, at + more):
        assert same(resumed(k), first(k)), (at, k, sched.spec())


def cosine(end: int = INF) -> Any:
    return schedkit.get_schedule(
        "mmengine.CosineAnnealingLR", T_max=1000, eta_min=1e-4, by_epoch=False, end=end
    )


def test_one_call_replays_at_most_max_replay_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mm, "MAX_REPLAY", 1000)
    run = cosine().per_group({}, 0.1, 0)
    with pytest.raises(SpecError, match="takes more than 1,000 updates") as e:
        run(2500)
    assert e.value.path == "step"
    assert "from step 0 " in str(e.value)
    assert "stopped at step 1,000, kept" in str(e.value)
    # what was replayed stays computed: stepping forward in calls of 1000 gets there
    assert run.step == 1000
    trace = plain(cosine(), 0.1, 2500)
    assert run(2000) == trace[2000][0]
    assert run(2500) == trace[2500][0]


def test_far_steps_answer_where_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    # a 2,000,000-iteration run: warmup by iterations, steps by epoch (10,000 iterations)
    monkeypatch.setattr(mm, "MAX_REPLAY", 1000)
    spec = {
        "type": "mmengine.param_scheduler",
        "steps_per_epoch": 10_000,
        "schedulers": [
            {"type": "mmengine.LinearLR", "start_factor": 1e-3, "by_epoch": False, "end": 500},
            {"type": "mmengine.MultiStepLR", "milestones": [100, 150], "by_epoch": True},
        ],
    }
    sched = schedkit.get_schedule(spec)
    run = sched.per_group({}, 0.1, 0)
    warm = run(499)
    assert run(999_999) == warm
    assert run(1_000_000) == warm * 0.1
    assert run(1_999_999) == warm * 0.1 * 0.1
    assert run(10**12) == run(2**62) == warm * 0.1 * 0.1
    # a decay that reached 0.0 stays there, and OneCycle past its cycle holds its minimum
    decay = schedkit.get_schedule("mmengine.ExponentialLR", gamma=0.5).per_group({}, 1.0, 0)
    assert decay(1000) > 0.0  # 2**-1000; 0.0 after 2**-1074
    assert decay(1200) == 0.0
    assert decay(10**9 - 1) == 0.0
    cycle = schedkit.get_schedule("mmengine.OneCycleLR", eta_max=0.1, total_steps=20)
    held = cycle.per_group({}, 1.0, 0)
    assert held(10**9 - 1) == held(25) == plain(cycle, 1.0, 25)[25][0]


def sgd(*lrs: float) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)])


def lrs(opt: torch.optim.Optimizer) -> list[float]:
    return [g["lr"] for g in opt.param_groups]


SPEC = {
    "type": "mmengine.param_scheduler",
    "steps_per_epoch": 7,
    "schedulers": [
        {"type": "mmengine.LinearLR", "start_factor": 0.01, "by_epoch": False, "end": 30},
        {"type": "mmengine.CosineAnnealingLR", "by_epoch": True, "begin": 2, "end": 100,
         "convert_to_iter_based": True, "eta_min": 1e-5},
    ],
}  # fmt: skip


def test_stepping_and_resuming_replay_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mm, "MAX_REPLAY", 20)  # any replay from the start would be refused
    a, b = sgd(0.1, 0.05, 0.01), sgd(0.1, 0.05, 0.01)
    first = schedkit.get_scheduler(SPEC, a)
    for _ in range(300):  # stepping is never refused
        first.step()
    state = first.state_dict()
    assert state["curves"] == [{"value": v} for v in lrs(a)]
    second = schedkit.get_scheduler(SPEC, b)
    second.load_state_dict(copy.deepcopy(state))
    assert second.steps == 300
    assert lrs(b) == lrs(a)
    # the optimizer's state loaded after the scheduler's: new group dicts, no replay
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    for _ in range(30):
        first.step()
        second.step()
        assert lrs(b) == lrs(a)
    monkeypatch.setattr(mm, "MAX_REPLAY", 10**6)
    want = [plain(schedkit.get_schedule(SPEC), lr, 330)[330][0] for lr in (0.1, 0.05, 0.01)]
    assert lrs(a) == want


def test_a_state_far_into_a_run_loads_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mm, "MAX_REPLAY", 20)
    spec = {**SPEC, "steps_per_epoch": 100_000}  # a cosine over 9,800,000 iterations
    opt = sgd(0.1, 0.05, 0.01)
    sched = schedkit.get_scheduler(spec, opt)
    state = {**sched.state_dict(), "step": 5_000_000, "curves": [{"value": 0.04}] * 3}
    sched.load_state_dict(state)
    assert sched.steps == 5_000_000
    assert lrs(opt) == [0.04] * 3
    sched.step()
    # mmengine's recurrence from 0.04 at its own counters: 4,800,001 steps into 9,800,000
    t = 4_800_001 - 1
    f = (1 + math.cos(math.pi * (t + 1) / 9_800_000)) / (1 + math.cos(math.pi * t / 9_800_000))
    assert lrs(opt) == [f * (0.04 - 1e-5) + 1e-5] * 3


def snapshot(sched: Any) -> tuple[Any, ...]:
    return sched.steps, lrs(sched.optimizer), sched.state_dict()


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda s: s.pop("curves"), "curves", "expected a list of 2 curve states"),
        (lambda s: s.update(curves=[{"value": 0.1}]), "curves", "expected a list of 2"),
        (lambda s: s.update(curves="x"), "curves", "expected a list of 2"),
        (lambda s: s["curves"][1].update(value=math.nan), r"curves\[1\]\.value", "finite"),
        (lambda s: s["curves"][1].update(value="0.1"), r"curves\[1\]\.value", "a number"),
        (lambda s: s["curves"][0].pop("value"), r"curves\[0\]\.value", "missing"),
        (lambda s: s["curves"].__setitem__(0, 0.1), r"curves\[0\]", "curve state"),
    ],
)
def test_bad_curve_states_name_the_key_and_change_nothing(
    change: Any, path: str, message: str
) -> None:
    opt = sgd(0.1, 0.05)
    sched = schedkit.get_scheduler(SPEC, opt)
    for _ in range(5):
        sched.step()
    other = schedkit.get_scheduler(SPEC, sgd(0.1, 0.05))
    for _ in range(9):
        other.step()
    state = copy.deepcopy(other.state_dict())
    change(state)
    before = snapshot(sched)
    with pytest.raises(StateError, match=f"^{path}: .*{message}"):
        sched.load_state_dict(state)
    assert snapshot(sched) == before


def test_curves_in_the_state_of_a_schedule_without_them_are_refused() -> None:
    sched = schedkit.get_scheduler("cosine", sgd(0.1), total=10)
    state = {**sched.state_dict(), "curves": [{"value": 0.1}]}
    with pytest.raises(StateError, match="^curves: expected None"):
        sched.load_state_dict(state)
    assert "curves" not in sched.state_dict()
