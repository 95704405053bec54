"""The pretraining shapes: wsd's decay kinds and stable phases, wsds (repeated cooldowns),
piecewise interpolation, cosine_restarts' cycle warmup, the log and quadratic warmups.

Properties (hypothesis): finite values within the curve's bounds, values() equal to the
calls, and a scheduler resumed from its state at any step giving the same floats as one
that never stopped; plus each shape's formula at chosen steps, and the TOML path."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, get_schedule
from schedkit.plugin import DECAY_SHAPES
from schedkit.setup import loads_setup

LRS = (1e-3, 0.02)


def _optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    return torch.optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)], lr=0.1
    )


def _lrs(spec: dict[str, Any], steps: int, resume_at: int | None = None) -> list[list[float]]:
    """Each group's lr at each step, the scheduler stopped and rebuilt from its state at
    ``resume_at``."""
    opt = _optimizer()
    sched = schedkit.get_scheduler(spec, opt)
    out = []
    for k in range(steps):
        if k == resume_at:
            state = sched.state_dict()
            opt = _optimizer()
            sched = schedkit.get_scheduler(spec, opt)
            sched.load_state_dict(state)
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return out


def _check_curve(spec: dict[str, Any], low: float, high: float, steps: int) -> None:
    s = get_schedule(spec)
    values = [s(t) for t in range(steps)]
    for t, v in enumerate(values):
        assert math.isfinite(v), (spec, t, v)
        assert low - 1e-12 <= v <= high + 1e-12, (spec, t, v)
    tensor = s.values(range(steps)).tolist()
    assert tensor == pytest.approx(values, rel=1e-12, abs=1e-15)
    for far in (10**6, 10**12):
        assert low - 1e-12 <= s(far) <= high + 1e-12


wsd_specs = st.builds(
    lambda total, decay_share, kind, p, end, stable, ref, warmup: {
        "type": "wsd",
        "total": total,
        "decay": max(1, int(total * decay_share)),
        "decay_kind": kind,
        "decay_power": p,
        "end": end,
        "stable_kind": stable,
        "stable_ref": ref,
        "warmup": min(warmup, total - max(1, int(total * decay_share)) - 1),
    },
    total=st.integers(10, 400),
    decay_share=st.floats(0.05, 0.9),
    kind=st.sampled_from(DECAY_SHAPES),
    p=st.floats(0.1, 8.0),
    end=st.floats(0.0, 0.5),
    stable=st.sampled_from(["constant", "rsqrt", "power"]),
    ref=st.integers(1, 100),
    warmup=st.integers(0, 30),
)


@settings(max_examples=60, deadline=None)
@given(spec=wsd_specs, resume=st.integers(0, 450))
def test_wsd_is_finite_bounded_and_resumes_exactly(spec: dict[str, Any], resume: int) -> None:
    if spec["warmup"] <= 0:
        spec.pop("warmup")
    _check_curve(spec, 0.0, 1.0, spec["total"] + 20)
    steps = spec["total"] + 10
    assert _lrs(spec, steps, resume_at=resume % steps) == _lrs(spec, steps)


@pytest.mark.parametrize("kind", DECAY_SHAPES)
def test_wsd_cooldown_follows_its_shape(kind: str) -> None:
    s = get_schedule("wsd", total=200, decay=100, decay_kind=kind, decay_power=3.0, end=0.1)
    a = 0.25
    shape = {
        "linear": 1 - a,
        "cosine": 0.5 * (1 + math.cos(math.pi * a)),
        "1-sqrt": 1 - math.sqrt(a),
        "exponential": 2 * 0.5**a - 1,
        "power": 1 - a**3,
        "1-square": 1 - a * a,
    }[kind]
    assert s(99) == 1.0
    assert s(100) == 1.0
    assert s(125) == pytest.approx(0.1 + 0.9 * shape, rel=1e-15)
    assert s(200) == 0.1


def test_wsd_stable_phases_and_the_cooldown_from_their_last_value() -> None:
    s = get_schedule("wsd", total=1100, decay=100, stable_kind="rsqrt", stable_ref=100)
    assert s(0) == 1.0
    assert s(300) == math.sqrt(100 / 400)
    top = math.sqrt(100 / 1100)
    assert s(1000) == pytest.approx(top)
    assert s(1050) == pytest.approx(top * 0.5)
    p = get_schedule(
        "wsd", total=1100, decay=100, stable_kind="power", stable_power=0.3, stable_ref=50
    )
    assert p(150) == (50 / 200) ** 0.3
    # the warmup shifts the stable phase: its clock starts where the warmup ends
    w = get_schedule("wsd", total=1150, decay=100, stable_kind="rsqrt", stable_ref=100, warmup=50)
    assert w(350) == s(300)
    with pytest.raises(SpecError, match="stable_ref: a rsqrt stable phase needs stable_ref > 0"):
        get_schedule("wsd", total=100, decay=10, stable_kind="rsqrt")


wsds_specs = st.builds(
    lambda lengths, share, decay, kind, peaks, end, warmup: {
        "type": "wsds",
        "ends": [sum(lengths[: i + 1]) for i in range(len(lengths))],
        **({"decay_fraction": share} if decay is None else {"decay": min(decay, min(lengths))}),
        "decay_kind": kind,
        "peaks": peaks[: len(lengths)] if len(peaks) >= len(lengths) else [],
        "end": end,
        **({"warmup": min(warmup, lengths[0] - 1)} if warmup and lengths[0] > 1 else {}),
    },
    lengths=st.lists(st.integers(2, 80), min_size=1, max_size=5),
    share=st.floats(0.05, 1.0),
    decay=st.none() | st.integers(1, 40),
    kind=st.sampled_from(DECAY_SHAPES),
    peaks=st.lists(st.floats(0.2, 1.0), min_size=0, max_size=5),
    end=st.floats(0.0, 0.15),
    warmup=st.integers(0, 20),
)


@settings(max_examples=60, deadline=None)
@given(spec=wsds_specs, resume=st.integers(0, 450))
def test_wsds_is_finite_bounded_and_resumes_exactly(spec: dict[str, Any], resume: int) -> None:
    try:
        get_schedule(spec)
    except SpecError:
        return  # a warmup reaching into the first cooldown: refused, tested below
    top = max(spec["peaks"] or [1.0])
    horizon = spec["ends"][-1]
    _check_curve(spec, 0.0, max(top, spec["end"]), horizon + 20)
    steps = horizon + 10
    assert _lrs(spec, steps, resume_at=resume % steps) == _lrs(spec, steps)


def test_wsds_cools_down_at_the_end_of_every_period() -> None:
    s = get_schedule(
        "wsds", ends=[100, 200, 400], decay_fraction=0.1, peaks=[1.0, 0.8, 0.5], end=0.01
    )
    assert s(89) == 1.0
    assert s(95) == pytest.approx(0.01 + 0.99 * 0.5)
    assert s(100) == 0.8  # the next period starts at its peak
    assert s(189) == 0.8
    assert s(380) == 0.5
    assert s(390) == pytest.approx(0.01 + 0.49 * 0.5)
    assert s(400) == 0.01
    assert s.horizon == 400
    with pytest.raises(SpecError, match="decay: expected exactly one of decay"):
        get_schedule("wsds", ends=[100], decay=10, decay_fraction=0.1)
    with pytest.raises(SpecError, match=r"decay: period 1 \(100 to 120\) is 20 steps"):
        get_schedule("wsds", ends=[100, 120], decay=30)
    with pytest.raises(SpecError, match="peaks: expected one peak per period"):
        get_schedule("wsds", ends=[100, 200], decay=10, peaks=[1.0])


knots = st.lists(st.floats(0.0, 2.0), min_size=2, max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    values=knots,
    gaps=st.lists(st.integers(1, 60), min_size=5, max_size=5),
    how=st.sampled_from(["linear", "cosine", "constant"]),
    resume=st.integers(0, 400),
)
def test_piecewise_interpolation_stays_between_its_knots(
    values: list[float], gaps: list[int], how: str, resume: int
) -> None:
    milestones = [sum(gaps[: i + 1]) for i in range(len(values) - 1)]
    spec = {"type": "piecewise", "values": values, "milestones": milestones, "interpolate": how}
    s = get_schedule(spec)
    _check_curve(spec, min(values), max(values), milestones[-1] + 10)
    if how != "constant":
        for m, v in zip([0, *milestones], values, strict=True):
            # every knot is hit (exactly by the lines; optax's cosine formula rounds)
            assert s(m) == (v if how == "linear" else pytest.approx(v, rel=1e-14, abs=1e-15))
        for i in range(len(milestones)):
            lo, hi = ([0, *milestones])[i], milestones[i]
            for t in range(lo, hi + 1):
                assert min(values[i : i + 2]) - 1e-12 <= s(t) <= max(values[i : i + 2]) + 1e-12
    steps = milestones[-1] + 5
    assert _lrs(spec, steps, resume_at=resume % steps) == _lrs(spec, steps)


def test_piecewise_interpolation_is_optaxs() -> None:
    """optax's piecewise_interpolate_schedule(type, 1.0, {10: 0.5, 30: 0.2}): knots at 0,
    10 and 30 with the values 1, 0.5 and 0.1 (the running products), its two formulas."""
    lin = get_schedule(
        "piecewise", values=[1.0, 0.5, 0.1], milestones=[10, 30], interpolate="linear"
    )
    cos = get_schedule(
        "piecewise", values=[1.0, 0.5, 0.1], milestones=[10, 30], interpolate="cosine"
    )
    assert lin(4) == (0.5 - 1.0) * 0.4 + 1.0
    assert lin(20) == (0.1 - 0.5) * 0.5 + 0.5
    assert cos(4) == 0.5 + (1.0 - 0.5) / 2.0 * (math.cos(math.pi * 0.4) + 1)
    assert lin(30) == cos(30) == lin(10**9) == 0.1
    with pytest.raises(SpecError, match=r"milestones: expected knots after step 0"):
        get_schedule("piecewise", values=[1.0, 0.5], milestones=[0], interpolate="linear")


@settings(max_examples=40, deadline=None)
@given(
    period=st.integers(3, 60),
    share=st.floats(0.0, 0.9),
    mult=st.sampled_from([1.0, 1.5, 2.0]),
    decay=st.floats(0.1, 1.0),
    end=st.floats(0.0, 0.2),
    resume=st.integers(0, 300),
)
def test_cosine_restarts_with_a_cycle_warmup(
    period: int, share: float, mult: float, decay: float, end: float, resume: int
) -> None:
    w = min(period - 1, int(period * share))
    spec = {
        "type": "cosine_restarts",
        "period": period,
        "period_mult": mult,
        "decay": decay,
        "end": end,
        "cycle_warmup": w,
    }
    s = get_schedule(spec)
    _check_curve(spec, 0.0, max(1.0, end), 300)
    assert s(0) == (end if w else 1.0)
    if w:
        assert s(w) == pytest.approx(1.0)
    assert _lrs(spec, 200, resume_at=resume % 200) == _lrs(spec, 200)


def test_a_cycle_warmup_as_long_as_the_period_is_refused() -> None:
    with pytest.raises(SpecError, match=r"cycle_warmup: expected fewer steps than a cycle"):
        get_schedule("cosine_restarts", period=10, cycle_warmup=10)


def test_the_log_warmup_is_deepspeeds() -> None:
    s = get_schedule("constant", warmup=50, warmup_kind="log")
    for t in range(50):
        assert s(t) == pytest.approx(1.0 / math.log(50) * math.log(t + 1), rel=1e-15)
    assert s(49) == 1.0
    assert s(50) == 1.0
    # DeepSpeed's WarmupLR, as the alias gives it: batch iteration t at step t + 1
    ds = get_schedule("deepspeed.WarmupLR", warmup_num_steps=50, warmup_max_lr=1.0)
    for t in range(60):
        assert s(t) == pytest.approx(ds(t + 1), rel=1e-15)
    with pytest.raises(SpecError, match="a log warmup needs at least 2 steps"):
        get_schedule("constant", warmup=1, warmup_kind="log")


def test_the_quadratic_warmup() -> None:
    s = get_schedule("cosine", total=200, warmup=40, warmup_kind="quadratic", warmup_start=0.1)
    assert s(0) == 0.1
    assert s(10) == pytest.approx(0.1 * (1 - 0.0625) + 0.0625)
    assert s(40) == 1.0
    assert s.values(range(60)).tolist() == pytest.approx([s(t) for t in range(60)])


@pytest.mark.parametrize("kind", ["log", "quadratic"])
@settings(max_examples=20, deadline=None)
@given(steps=st.integers(2, 100), start=st.floats(0.0, 1.0), resume=st.integers(0, 150))
def test_warmups_are_finite_bounded_and_resume(
    kind: str, steps: int, start: float, resume: int
) -> None:
    spec = {"type": "constant", "warmup": steps, "warmup_kind": kind, "warmup_start": start}
    _check_curve(spec, min(start, 1.0), 1.0, steps + 20)
    assert _lrs(spec, steps + 10, resume_at=resume % (steps + 10)) == _lrs(spec, steps + 10)


def test_the_new_shapes_from_a_toml_setup() -> None:
    setup = loads_setup(
        """
[run]
total = 400

[optimizer]
type = "SGD"
lr = 0.1

[schedules.lr]
type = "wsds"
ends = [100, 250, 400]
decay_fraction = 0.2
decay_kind = "1-square"
peaks = [1.0, 0.8, 0.6]
warmup = 20
warmup_kind = "quadratic"

[schedules.weight_decay]
type = "piecewise"
values = [0.0, 1.0, 0.5]
milestones = [100, 400]
interpolate = "cosine"
"""
    )
    built = setup.build(torch.nn.Linear(2, 1))
    lr = get_schedule(
        "wsds",
        ends=[100, 250, 400],
        decay_fraction=0.2,
        decay_kind="1-square",
        peaks=[1.0, 0.8, 0.6],
        warmup=20,
        warmup_kind="quadratic",
    )
    for t in range(400):
        assert built.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * lr(t), rel=1e-15)
        built.optimizer.zero_grad()
        built.step()
    again = loads_setup(setup.to_toml())
    assert (
        again.build(torch.nn.Linear(2, 1)).schedulers["lr"].schedule
        == built.schedulers["lr"].schedule
    )


@pytest.mark.parametrize(
    ("name", "params", "new"),
    [
        ("wsd", {"total": 100, "decay": 20}, {"stable_kind": "rsqrt", "stable_ref": 10}),
        ("piecewise", {"values": [1.0, 0.5], "milestones": [10]}, {"interpolate": "linear"}),
        ("cosine_restarts", {"period": 10}, {"cycle_warmup": 3}),
    ],
)
def test_new_parameters_left_at_their_defaults_keep_the_spec_and_old_states(
    name: str, params: dict[str, Any], new: dict[str, Any]
) -> None:
    """A spec (and so a state) written before the new parameters existed is the spec of the
    same schedule now; a new parameter set to something else is in it."""
    s = get_schedule(name, **params)
    assert s.spec() == {"type": name, **{k: v for k, v in s.spec().items() if k != "type"}}
    assert not set(new) & set(s.spec())
    opt = _optimizer()
    sched = schedkit.get_scheduler(name, opt, **params)
    for _ in range(5):
        sched.step()
    state = sched.state_dict()
    again = schedkit.get_scheduler(name, _optimizer(), **params)
    again.load_state_dict(state)
    assert again.last_epoch == 5
    other = get_schedule(name, **params, **new)
    assert set(new) <= set(other.spec())
    assert get_schedule(other.spec()) == other
