from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedkit import SpecError, to_steps
from schedkit.durations import check_duration


@pytest.mark.parametrize(
    ("value", "kw", "steps"),
    [
        (1000, {}, 1000),
        ("1000", {}, 1000),
        ("5ep", {"steps_per_epoch": 100}, 500),
        ("2.5 ep", {"steps_per_epoch": 10}, 25),
        ("10%", {"total_steps": 1000}, 100),
        ("12.5%", {"total_steps": 80}, 10),
        (0, {}, 0),
        (3.0, {}, 3),
    ],
)
def test_resolves(value, kw, steps):
    assert to_steps(value, **kw) == steps


@pytest.mark.parametrize(
    ("value", "kw", "message"),
    [
        ("5ep", {}, "'5ep' is in epochs, but steps_per_epoch was not given"),
        ("10%", {}, "'10%' is a share of the total, but the total number of steps is unknown"),
        ("5 epochs", {}, "'5 epochs' is not a duration; expected steps"),
        (-1, {}, "-1 must be >= 0 steps"),
        (True, {}, "True is not a duration"),
        (2.5, {}, "2.5 is not a duration"),
        ("150%", {}, "'150%' is more than the whole run"),
        ("1.5", {}, "steps must be a whole number"),
        ("5ep", {"steps_per_epoch": 0}, "steps_per_epoch=0 must be positive"),
    ],
)
def test_errors_say_what_was_expected(value, kw, message):
    with pytest.raises(SpecError) as e:
        to_steps(value, **kw)
    assert message in str(e.value)


def test_check_keeps_strings_for_later():
    assert check_duration(" 5ep ") == "5ep"
    assert check_duration("10%") == "10%"


@given(st.integers(0, 10**6), st.integers(1, 10**4))
def test_epochs_are_exact_multiples(n, spe):
    assert to_steps(f"{n}ep", steps_per_epoch=spe) == n * spe
