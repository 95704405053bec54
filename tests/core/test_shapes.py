"""The decay shapes every family shares (schedkit.plugin.decay / decay_t)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from schedkit import SpecError
from schedkit.plugin import DECAY_SHAPES, SHAPES, decay, decay_t


def test_the_decay_shapes_are_named_exactly():
    assert DECAY_SHAPES == ("linear", "cosine", "1-sqrt", "exponential", "power", "1-square")
    assert DECAY_SHAPES[:3] == SHAPES


@pytest.mark.parametrize(
    ("kind", "a", "p", "want"),
    [
        ("exponential", 0.25, 1.0, (2.0 * math.pow(0.5, 0.25)) - 1.0),
        ("exponential", 0.5, 1.0, 2.0 * 0.5**0.5 - 1.0),
        ("1-square", 0.5, 1.0, 0.75),
        ("1-square", 0.1, 1.0, 1.0 - 0.1 * 0.1),
        ("power", 0.5, 3.0, 0.875),
        ("power", 0.25, 0.5, 0.5),
        ("power", 0.3, 1.0, 1.0 - 0.3),
    ],
)
def test_new_decay_shapes_give_their_formula(kind: str, a: float, p: float, want: float) -> None:
    assert decay(kind, a, p) == want
    assert decay_t(kind, torch.tensor([a], dtype=torch.float64), p).item() == pytest.approx(
        want, rel=1e-15
    )


@given(
    kind=st.sampled_from(DECAY_SHAPES),
    a=st.floats(0.0, 1.0),
    p=st.floats(0.05, 20.0),
)
def test_every_decay_falls_from_one_to_zero_within_bounds(kind: str, a: float, p: float) -> None:
    assert decay(kind, 0.0, p) == 1.0
    assert decay(kind, 1.0, p) == pytest.approx(0.0, abs=1e-15)
    v = decay(kind, a, p)
    assert math.isfinite(v)
    assert -1e-15 <= v <= 1.0
    # falls monotonically
    assert decay(kind, min(1.0, a + 0.01), p) <= v + 1e-15
    t = decay_t(kind, torch.tensor([a], dtype=torch.float64), p).item()
    assert t == pytest.approx(v, rel=1e-12, abs=1e-15)


def test_an_unknown_decay_shape_is_refused_with_the_names():
    with pytest.raises(
        SpecError, match=r"decay_kind: expected a decay shape in .*'1-square'.*got 'square'"
    ):
        decay("square", 0.5)
    with pytest.raises(SpecError, match="got 'square'"):
        decay_t("square", torch.zeros(1, dtype=torch.float64))
