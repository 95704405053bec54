"""Composition: warmup kinds and modes, sequence, chain, scale, stretch, shifting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, get_schedule


def test_linear_warmup_matches_transformers_cosine_with_warmup_exactly():
    # transformers' get_cosine_schedule_with_warmup lambda, written out
    def hf(step: int, w: int = 100, total: int = 1000) -> float:
        if step < w:
            return float(step) / float(max(1, w))
        progress = float(step - w) / float(max(1, total - w))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))

    s = get_schedule("cosine", total=1000, warmup=100)
    assert [s(t) for t in range(1000)] == [hf(t) for t in range(1000)]
    assert s(1000) == 0.0
    assert s(5000) == 0.0


def test_linear_warmup_matches_transformers_linear_exactly():
    def hf(step: int, w: int = 50, total: int = 600) -> float:
        if step < w:
            return float(step) / float(max(1, w))
        return max(0.0, float(total - step) / float(max(1, total - w)))

    s = get_schedule("linear", total=600, warmup=50)
    assert [s(t) for t in range(601)] == [hf(t) for t in range(601)]


def test_warmup_start_and_kinds():
    inner = get_schedule("constant")
    lin = schedkit.warmup(inner, 10, start=0.2)
    assert lin(0) == 0.2
    assert lin(5) == pytest.approx(0.6)
    assert lin(10) == 1.0
    cos = schedkit.warmup(inner, 10, start=0.0, kind="cosine")
    assert cos(5) == pytest.approx(0.5)
    assert cos(2) < 0.2 * 0.5  # slow start
    exp = schedkit.warmup(inner, 10, start=0.01, kind="exponential")
    assert exp(5) == pytest.approx(0.1)
    const = schedkit.warmup(inner, 10, start=0.3, kind="constant")
    assert [const(t) for t in (0, 9, 10)] == [0.3, 0.3, 1.0]


def test_exponential_warmup_needs_a_positive_start():
    with pytest.raises(SpecError, match="warmup_start: an exponential warmup needs start > 0"):
        get_schedule("constant", warmup=10, warmup_kind="exponential")


def test_overlay_mode_is_detectron2_warmup():
    # detectron2: factor = warmup_factor * (1 - alpha) + alpha, times the schedule at the same step
    inner = get_schedule("cosine", total=100)
    s = schedkit.warmup(inner, 20, start=0.001, mode="overlay")
    for t in range(20):
        alpha = t / 20
        assert s(t) == (0.001 * (1 - alpha) + alpha) * inner(t)
    assert s(20) == inner(20)
    assert s.horizon == 100


def test_shift_mode_positions_include_the_warmup():
    s = get_schedule("cosine", total=1000, warmup=100)
    assert s.horizon == 1000
    assert s(550) == pytest.approx(0.5)
    with pytest.raises(
        SpecError, match="total: expected more than the warmup \\(1000 steps\\), got 1000"
    ):
        get_schedule("cosine", total=1000, warmup=1000)


def test_spec_of_a_warmed_up_family_is_flat_and_rebuilds():
    s = get_schedule("cosine", total=1000, warmup=100, end=0.1)
    assert s.spec() == {
        "type": "cosine",
        "total": 1000,
        "end": 0.1,
        "cycles": 0.5,
        "exponent": 1.0,
        "k_decay": 1.0,
        "warmup": 100,
        "warmup_start": 0.0,
        "warmup_kind": "linear",
        "warmup_mode": "shift",
    }
    assert get_schedule(s.spec()) == s
    assert get_schedule("cosine", total=1000, warmup=0) == get_schedule("cosine", total=1000)


def test_warmup_options_without_warmup_are_refused():
    with pytest.raises(
        SpecError, match="warmup_start: \\['warmup_start'\\] given without 'warmup'"
    ):
        get_schedule("cosine", total=10, warmup_start=0.1)


def test_sequence_runs_parts_in_local_time():
    a = get_schedule("constant", value=0.5)
    b = get_schedule("linear", total=10)
    s = schedkit.sequence([a, b], [5])
    assert [s(t) for t in (0, 4, 5, 10, 15, 100)] == [0.5, 0.5, 1.0, 0.5, 0.0, 0.0]
    assert s.horizon == 15
    assert get_schedule(s.spec()) == s


def test_sequence_validates_milestones():
    a = get_schedule("constant")
    with pytest.raises(SpecError, match="milestones: expected 1 milestones for 2 schedules, got 2"):
        schedkit.sequence([a, a], [1, 2])
    with pytest.raises(
        SpecError, match="milestones: expected strictly increasing steps, got \\[5, 3\\]"
    ):
        schedkit.sequence([a, a, a], [5, 3])


def test_chain_scale_stretch():
    c = get_schedule("cosine", total=100)
    lin = get_schedule("linear", total=50)
    ch = schedkit.chain(c, lin)
    assert ch(25) == c(25) * lin(25)
    assert ch.horizon == 100
    sc = schedkit.scale(c, 0.5)
    assert sc(10) == 0.5 * c(10)
    st_ = schedkit.stretch(c, total=300)
    assert st_(150) == c(50)
    assert st_.horizon == 300
    with pytest.raises(SpecError, match="give exactly one of factor and total"):
        schedkit.stretch(c)


def test_nested_specs_build_through_the_registry():
    spec = {
        "type": "sequence",
        "schedules": [{"type": "constant", "value": 0.1}, {"type": "cosine", "total": 90}],
        "milestones": [10],
        "warmup": 5,
    }
    s = get_schedule(spec)
    assert isinstance(s, schedkit.Warmup)
    assert s.spec()["schedules"][1] == {
        "type": "cosine",
        "total": 90,
        "end": 0.0,
        "cycles": 0.5,
        "exponent": 1.0,
        "k_decay": 1.0,
    }
    assert get_schedule(s.spec()) == s


def test_nested_errors_carry_the_key_path():
    spec = {
        "type": "sequence",
        "schedules": [{"type": "constant"}, {"type": "cosine", "total": -3}],
        "milestones": [10],
    }
    with pytest.raises(SpecError) as e:
        get_schedule(spec, _path="schedules.lr")
    assert str(e.value) == "schedules.lr.schedules[1].total: -3 must be >= 0 steps"
    with pytest.raises(SpecError, match="^schedules\\[0\\]: a schedule spec needs a 'type' key$"):
        get_schedule({"type": "chain", "schedules": [{"value": 1}]})


@given(st.integers(1, 500), st.integers(0, 499), st.floats(0.0, 1.0), st.integers(0, 2000))
def test_warmup_then_cosine_is_continuous_and_bounded(total_extra, warm, end, t):
    total = warm + total_extra
    s = get_schedule("cosine", total=total, warmup=warm, end=end)
    v = s(t)
    assert 0.0 <= v <= 1.0
    if warm:
        # the ramp ends exactly where the curve starts
        assert s(warm) == 1.0
        assert s(warm - 1) <= 1.0


@pytest.mark.parametrize(
    ("spec", "step", "value"),
    [
        ({"type": "warmup", "schedule": {"type": "constant"}, "steps": 4}, 1, 0.25),
        (
            {
                "type": "sequence",
                "schedules": [{"type": "constant", "value": 0.5}, {"type": "constant"}],
                "milestones": [3],
            },
            3,
            1.0,
        ),
        (
            {
                "type": "chain",
                "schedules": [
                    {"type": "constant", "value": 0.5},
                    {"type": "constant", "value": 0.5},
                ],
            },
            9,
            0.25,
        ),
        ({"type": "scale", "schedule": {"type": "constant", "value": 0.5}, "factor": 3}, 2, 1.5),
        ({"type": "stretch", "schedule": {"type": "linear", "total": 10}, "factor": 2}, 10, 0.5),
    ],
)
def test_composites_build_from_specs(spec, step, value):
    s = get_schedule(spec)
    assert s(step) == pytest.approx(value)
    assert get_schedule(s.spec()) == s
