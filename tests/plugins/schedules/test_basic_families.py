"""constant, linear and cosine: formulas, endpoints, validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedkit import SpecError, get_schedule


def test_constant():
    assert get_schedule("constant")(123) == 1.0
    assert get_schedule("constant", value=0.3)(0) == 0.3
    with pytest.raises(SpecError, match="^value: expected a finite number >= 0, got -1.0$"):
        get_schedule("constant", value=-1)


def test_linear_endpoints_and_hold():
    s = get_schedule("linear", total=100, start=1.0, end=0.2)
    assert s(0) == 1.0
    assert s(50) == pytest.approx(0.6)
    assert s(100) == 0.2
    assert s(10**9) == 0.2


def test_linear_increasing():
    s = get_schedule("linear", total=4, start=0.0, end=1.0)
    assert [s(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_cosine_formula_and_hold():
    s = get_schedule("cosine", total=200, end=0.1)
    for t in (0, 1, 57, 100, 199):
        assert s(t) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t / 200)), rel=1e-15)
    assert s(200) == 0.1
    assert s(10**12) == 0.1


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("cosine", {}, "^total: 'cosine' needs this parameter$"),
        ("cosine", {"total": 0}, "^total: expected a positive whole number of steps, got 0$"),
        (
            "cosine",
            {"total": 10, "end": float("nan")},
            "^end: expected a finite number >= 0, got nan$",
        ),
        (
            "cosine",
            {"total": 10, "ending": 0.1},
            "^ending: 'cosine' has no parameter 'ending'; did you mean 'end'\\?",
        ),
        ("linear", {"total": True}, "^total: True is not a duration"),
        ("linear", {"total": "soon"}, "^total: 'soon' is not a duration"),
    ],
)
def test_validation_names_key_value_and_expectation(name, params, message):
    with pytest.raises(SpecError, match=message):
        get_schedule(name, **params)


@given(st.integers(1, 10**6), st.floats(0.0, 1.0), st.integers(0, 10**7))
def test_cosine_is_monotone_and_bounded(total, end, t):
    s = get_schedule("cosine", total=total, end=end)
    assert end - 1e-12 <= s(t) <= 1.0
    assert s(t + 1) <= s(t) + 1e-15


@given(st.integers(1, 10**6), st.floats(0.0, 2.0), st.floats(0.0, 2.0), st.integers(0, 10**7))
def test_linear_stays_between_its_ends(total, start, end, t):
    v = get_schedule("linear", total=total, start=start, end=end)(t)
    assert min(start, end) - 1e-12 <= v <= max(start, end) + 1e-12
