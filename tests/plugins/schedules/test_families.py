"""Shapes, endpoints, options and errors of each family."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, get_schedule, get_scheduler
from schedkit.testing import roundtrip
from tests.helpers import sgd

# -- cosine options -------------------------------------------------------------------


def test_cosine_exponent_and_k_decay():
    base = get_schedule("cosine", total=100)
    sq = get_schedule("cosine", total=100, exponent=2.0)
    assert sq(30) == pytest.approx(base(30) ** 2)
    k = get_schedule("cosine", total=100, k_decay=2.0)
    assert k(50) == pytest.approx(0.5 * (1 + math.cos(math.pi * 50**2 / 100**2)))
    assert k(50) > base(50)  # k > 1 stays high longer


def test_cosine_full_wave_holds_its_value_at_total():
    s = get_schedule("cosine", total=100, cycles=1.0)
    assert s(50) == pytest.approx(0.0, abs=1e-15)
    assert s(100) == pytest.approx(1.0)
    assert s(10**6) == s(100)


# -- polynomial, exponential, inverse_time, inverse_sqrt, tanh ------------------------


def test_polynomial_power_and_cycle():
    p = get_schedule("polynomial", total=100, power=2.0, end=0.1)
    assert p(50) == pytest.approx(0.9 * 0.25 + 0.1)
    assert p(100) == p(500) == 0.1
    c = get_schedule("polynomial", total=100, cycle=True)
    assert c(150) == pytest.approx(1 - 150 / 200)
    assert c.horizon is None


def test_exponential_staircase_and_floor():
    e = get_schedule("exponential", rate=0.5, period=10, staircase=True, end=0.2)
    assert [e(t) for t in (0, 9, 10, 19, 20, 30)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.2]
    smooth = get_schedule("exponential", rate=0.5, period=10)
    assert smooth(5) == pytest.approx(0.5**0.5)


def test_exponential_growth_is_refused_at_construction():
    """A growing rate overflows within the run: refused before it starts, not mid-run."""
    with pytest.raises(SpecError, match="rate: expected a finite number > 0 and <= 1, got 2.0"):
        get_schedule("exponential", rate=2.0)


def test_inverse_time():
    s = get_schedule("inverse_time", rate=0.5, period=10)
    assert s(20) == pytest.approx(1 / 2.0)
    st_ = get_schedule("inverse_time", rate=1.0, period=10, exponent=2.0, staircase=True)
    assert st_(19) == pytest.approx(1 / 4.0)


def test_inverse_sqrt_is_attention_is_all_you_need_after_warmup():
    s = get_schedule("inverse_sqrt", timescale=4000, warmup=4000)
    for step in (4000, 9000, 100_000):
        assert s(step) == pytest.approx(math.sqrt(4000 / step))
    assert s(2000) == pytest.approx(0.5)


def test_tanh_is_timms_formula():
    s = get_schedule("tanh", total=100, end=0.1)
    r = 0.3
    assert s(30) == pytest.approx(0.1 + 0.5 * 0.9 * (1 - math.tanh(-7 * (1 - r) + 3 * r)))
    assert s(100) == s(1000)
    with pytest.raises(SpecError, match="^lb: expected lb < ub, got lb=3.0 and ub=-7.0$"):
        get_schedule("tanh", total=10, lb=3.0, ub=-7.0)


# -- step families --------------------------------------------------------------------


def test_piecewise():
    s = get_schedule("piecewise", values=[1.0, 0.5, 0.1], milestones=[10, 20])
    assert [s(t) for t in (0, 9, 10, 19, 20, 1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    assert s.spec() == {"type": "piecewise", "values": [1.0, 0.5, 0.1], "milestones": [10, 20]}
    with pytest.raises(SpecError, match="^values: expected 3 values for 2 milestones, got 2$"):
        get_schedule("piecewise", values=[1.0, 0.5], milestones=[10, 20])


def test_multistep_milestones_stay_put_behind_a_warmup():
    s = get_schedule("multistep", milestones=[30, 60], gamma=0.1, warmup=10)
    assert s(29) == 1.0
    assert s(30) == pytest.approx(0.1)
    assert s(60) == pytest.approx(0.01)
    with pytest.raises(SpecError, match="milestones: expected positions after the warmup"):
        get_schedule("multistep", milestones=[5, 60], warmup=10)


def test_step_in_epochs():
    sched = get_scheduler("step", sgd(), step_size="2ep", gamma=0.5, steps_per_epoch=5)
    for _ in range(10):
        sched.step()
    assert sched.get_last_lr() == [pytest.approx(0.05)]
    for _ in range(10):
        sched.step()
    assert sched.get_last_lr() == [pytest.approx(0.025)]


# -- cosine_restarts, cyclic, one_cycle -----------------------------------------------


def test_cosine_restarts_decay_and_limit():
    s = get_schedule("cosine_restarts", period=10, period_mult=2.0, decay=0.5, limit=2, end=0.1)
    assert s(0) == 1.0
    assert s(10) == pytest.approx(0.5)  # second cycle starts at the decayed peak
    assert s(20) == pytest.approx(0.1 + 0.5 * 0.4 * (1 + math.cos(math.pi * 10 / 20)))
    assert s(30) == 0.1  # after the limit
    assert s.horizon == 30


def test_cyclic_shape():
    s = get_schedule("cyclic", high=3.0, step_size_up=4)
    assert [s(t) for t in range(9)] == pytest.approx([1.0, 1.5, 2.0, 2.5, 3.0, 2.5, 2.0, 1.5, 1.0])
    t2 = get_schedule("cyclic", high=3.0, step_size_up=4, mode="triangular2")
    assert t2(12) == pytest.approx(2.0)  # second cycle peaks at half the height


def test_one_cycle_endpoints_and_hold():
    s = get_schedule("one_cycle", total=100, div_factor=25.0, final_div_factor=1e4)
    assert s(0) == pytest.approx(1 / 25)
    assert max(s(t) for t in range(100)) == pytest.approx(1.0)
    assert s(99) == pytest.approx(1 / 25 / 1e4)
    assert s(500) == s(99)
    with pytest.raises(SpecError, match="pct_start: expected pct_start\\*total"):
        get_schedule("one_cycle", total=2, pct_start=0.3)


def test_one_cycle_momentum_can_be_left_alone():
    opt = sgd(momentum=0.7)
    get_scheduler("one_cycle", opt, total=50, momentum=False)
    assert opt.param_groups[0]["momentum"] == 0.7
    assert get_schedule("one_cycle", total=50, momentum=False).spec()["momentum"] is False


def test_companion_key_must_exist():
    opt = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(
        SpecError,
        match="schedule: the schedule drives 'momentum' too, but a scheduled group has no 'momentum'",
    ):
        get_scheduler("one_cycle", opt, total=50)


# -- wsd --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "cosine", "1-sqrt"])
def test_wsd_phases(kind):
    s = get_schedule("wsd", total=1000, warmup=100, decay="20%", decay_kind=kind, end=0.1)
    sched = get_scheduler(s, sgd())
    s = sched.schedule
    assert s(50) == pytest.approx(0.5)
    assert s(100) == 1.0
    assert s(799) == 1.0  # stable until total - decay
    assert 0.1 < s(900) < 1.0
    assert s(1000) == 0.1
    assert all(s(t) >= s(t + 1) for t in range(100, 1200))


def test_wsd_decay_longer_than_the_run():
    with pytest.raises(SpecError, match="^decay: expected at most total \\(100\\) steps, got 200$"):
        get_schedule("wsd", total=100, decay=200)


def test_warmup_kind_1_sqrt():
    s = get_schedule("constant", warmup=100, warmup_kind="1-sqrt")
    assert s(75) == pytest.approx(1 - math.sqrt(0.25))


# -- plateau ----------------------------------------------------------------------------


def test_plateau_reduces_after_patience_and_resumes():
    opt = sgd()
    sched = get_scheduler("plateau", opt, patience=2, factor=0.5)
    for m in [1.0, 0.9, 0.9, 0.9, 0.9]:
        sched.step(m)
    assert sched.get_last_lr() == [0.05]
    state = roundtrip(sched.state_dict())
    assert state["schedule_state"] == {
        "value": 0.5,
        "best": 0.9,
        "bad_steps": 0,
        "cooldown_left": 0,
    }
    fresh = get_scheduler("plateau", sgd(), patience=2, factor=0.5)
    fresh.load_state_dict(state)
    for s in (sched, fresh):
        for m in [0.9, 0.9, 0.9]:
            s.step(m)
    assert fresh.get_last_lr() == sched.get_last_lr() == [0.025]


def test_plateau_max_mode_min_lr_and_cooldown():
    opt = sgd(lr=1.0)
    sched = get_scheduler(
        "plateau", opt, mode="max", patience=0, factor=0.1, min_lr=0.05, cooldown=1
    )
    assert sched.schedule.spec()["min_value"] == pytest.approx(0.05)
    values = []
    for m in [0.5, 0.4, 0.4, 0.4, 0.4, 0.4]:
        sched.step(m)
        values.append(sched.get_last_lr()[0])
    assert values == pytest.approx([1.0, 0.1, 0.1, 0.05, 0.05, 0.05])


def test_plateau_state_is_its_own_per_scheduler():
    shared = get_schedule("plateau", patience=0)
    a, b = get_scheduler(shared, sgd()), get_scheduler(shared, sgd())
    a.step(1.0)
    a.step(2.0)
    assert a.get_last_lr() != b.get_last_lr()


def test_absolute_values_need_a_scheduler():
    with pytest.raises(
        SpecError, match="min_lr: 'min_lr' is an absolute value; it needs the base value"
    ):
        get_schedule("plateau", min_lr=1e-5)
    with pytest.raises(
        SpecError, match="give 'end_lr' \\(absolute\\) or 'end' \\(a factor\\), not both"
    ):
        get_scheduler("cosine", sgd(), total=10, end_lr=1e-3, end=0.1)
    s = get_scheduler("cosine", sgd(lr=0.1), total=10, end_lr=1e-3)
    assert s.schedule.spec()["end"] == pytest.approx(0.01)


# -- range_test, noise, lambda ----------------------------------------------------------


def test_range_test():
    e = get_schedule("range_test", total=100, start=1e-4, end=1.0)
    assert e(50) == pytest.approx(1e-2)
    lin = get_schedule("range_test", total=100, start=1.0, end=11.0, mode="linear", step_size=10)
    assert [lin(t) for t in (0, 9, 10, 55, 100, 200)] == pytest.approx(
        [1.0, 1.0, 2.0, 6.0, 11.0, 11.0]
    )
    s = get_scheduler("range_test", sgd(lr=1e-3), total=10, start_lr=1e-6, end_lr=1.0)
    assert s.get_last_lr() == [pytest.approx(1e-6)]


def test_noise_is_reproducible_bounded_and_ranged():
    inner = {"type": "constant"}
    n = get_schedule("noise", schedule=inner, pct=0.1, start=10, stop=20, seed=3)
    values = [n(t) for t in range(30)]
    assert values == [
        get_schedule("noise", schedule=inner, pct=0.1, start=10, stop=20, seed=3)(t)
        for t in range(30)
    ]
    assert values[:10] == [1.0] * 10
    assert values[20:] == [1.0] * 10
    assert all(0.9 < v < 1.1 for v in values)
    assert len(set(values[10:20])) == 10
    other = get_schedule("noise", schedule=inner, pct=0.1, start=10, stop=20, seed=4)
    assert [other(t) for t in range(10, 20)] != values[10:20]


def test_noise_matches_timms_recipe():
    """timm: a generator seeded with seed + t; normal draws times std until |n| < pct."""
    n = get_schedule("noise", schedule={"type": "constant"}, pct=0.5, std=1.0, seed=42)
    for t in (0, 7, 1234):
        g = torch.Generator()
        g.manual_seed(42 + t)
        while True:
            x = torch.randn(1, generator=g).item()
            if abs(x) < 0.5:
                break
        assert n(t) == 1.0 + 1.0 * x


def test_lambda_is_in_process_only():
    s = get_scheduler("lambda", sgd(), fn=lambda t: 0.5**t)
    s.step()
    assert s.get_last_lr() == [0.05]
    with pytest.raises(SpecError, match="cannot be written as data"):
        s.state_dict()
    with pytest.raises(
        SpecError, match="type: 'lambda' holds a Python callable and cannot be declared in a spec"
    ):
        get_schedule({"type": "lambda", "fn": abs})
    with pytest.raises(SpecError, match="fn: expected a function of the step, got 3"):
        get_schedule("lambda", fn=3)


# -- whole curves -------------------------------------------------------------------------


def test_values_agree_with_calls_for_every_family():
    t = torch.arange(0, 3000, dtype=torch.float64)
    for info in schedkit.registered("schedule"):
        for example in info.examples:
            if getattr(info.cls, "in_process_only", False):
                continue
            s = schedkit.resolve(get_schedule({"type": info.name, **example}), steps_per_epoch=7)
            got = s.values(t)
            want = torch.tensor([s(float(x)) for x in range(3000)], dtype=torch.float64)
            assert torch.allclose(got, want, rtol=1e-12, atol=1e-15), info.name


@settings(max_examples=30)
@given(
    st.sampled_from(["linear", "cosine", "tanh", "polynomial"]),
    st.integers(1, 10**5),
    st.integers(0, 10**9),
)
def test_decays_are_monotone_and_between_their_ends(name, total, t):
    s = get_schedule(name, total=total, end=0.05)
    assert 0.05 - 1e-12 <= s(t) <= 1.0
    assert s(t + 1) <= s(t) + 1e-15


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "cosine", "total": 1000, "warmup": 100, "end": 0.1},
        {"type": "linear", "total": 1000, "warmup": 50},
        {"type": "polynomial", "total": 1000, "power": 2.0, "warmup": 100},
        {"type": "tanh", "total": 1000, "warmup": 100},
        {"type": "one_cycle", "total": 1000},
        {"type": "one_cycle", "total": 1000, "three_phase": True, "anneal": "linear"},
        {
            "type": "wsd",
            "total": 1000,
            "decay": 300,
            "decay_kind": "cosine",
            "warmup": 100,
            "warmup_kind": "cosine",
        },
        {"type": "cyclic", "high": 2.0, "step_size_up": 100},
        {"type": "inverse_sqrt", "timescale": 100, "warmup": 100},
        {"type": "range_test", "total": 1000, "start": 0.1, "end": 1.0},
        {"type": "exponential", "rate": 0.999},
    ],
)
def test_continuous_across_phase_boundaries(spec):
    """No jumps where phases meet (warmup end, peak, decay start): small steps everywhere."""
    s = get_schedule(spec)
    v = s.values(torch.arange(0, 1300, dtype=torch.float64))
    assert v.isfinite().all()
    assert (v[1:] - v[:-1]).abs().max().item() < 0.035


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "cosine_restarts", "period": 100, "period_mult": 1.5, "decay": 0.7},
        {"type": "step", "step_size": 10**9},
        {"type": "cyclic", "high": 3.0, "step_size_up": 7, "mode": "exp_range", "gamma": 0.99},
        {"type": "one_cycle", "total": 10**6},
    ],
)
def test_giant_step_counts(spec):
    s = get_schedule(spec)
    for t in (10**9, 10**12, 2**53):
        v = s(t)
        assert math.isfinite(v)
        assert v >= 0.0
