"""The ``zclip`` clipper on its own: the method, the options, the skip, the loss test, and
its statistics as state (a resumed run clips exactly as an uninterrupted one)."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, StateError


def grads(value: float) -> list[torch.nn.Parameter]:
    """One float64 parameter whose gradient norm is exactly ``value``."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    p.grad = torch.tensor([value], dtype=torch.float64)
    return [p]


def feed(clipper: schedkit.BaseClipper, norms: list[float]) -> list[tuple]:
    out = []
    for x in norms:
        params = grads(x)
        r = clipper(params)
        g = None if params[0].grad is None else params[0].grad.item()
        out.append((r.total_norm.item(), g, r.skipped, r.spike))
    return out


def test_the_method_by_hand():
    """Warmup of 4 plain norms, then mean + z-scores: the numbers of ZClip's formulas."""
    c = schedkit.get_clipper("zclip", warmup_steps=4, max_grad_norm="inf")
    feed(c, [1.0, 2.0, 1.0, 2.0])
    assert (c.state["mean"], c.state["var"], c.state["buffer"]) == (1.5, 0.25, [])
    # z = (1.9 - 1.5) / (0.5 + 1e-6) < 2.5: no spike, learned as is
    assert feed(c, [1.9]) == [(1.9, 1.9, False, False)]
    mean = 0.97 * 1.5 + (1 - 0.97) * 1.9
    assert c.state["mean"] == mean
    assert c.state["var"] == 0.97 * 0.25 + (1 - 0.97) * (1.9 - mean) ** 2
    # a spike: clipped to mean + z_thresh * std / (z / z_thresh), and that is learned
    std = c.state["var"] ** 0.5
    z = (10.0 - mean) / (std + 1e-6)
    bound = mean + (2.5 * std) / (z / 2.5)
    assert c.bound(10.0) == bound
    [(norm, g, skipped, spike)] = feed(c, [10.0])
    assert (norm, skipped, spike) == (10.0, False, True)
    assert g == 10.0 * (bound / (10.0 + 1e-6))
    assert c.state["mean"] == 0.97 * mean + (1 - 0.97) * bound
    assert c.state["spikes"] == 1


def test_percentile_and_mean_options():
    p = schedkit.get_clipper("zclip", warmup_steps=2, mode="percentile", max_grad_norm="inf")
    m = schedkit.get_clipper("zclip", warmup_steps=2, clip_option="mean", max_grad_norm="inf")
    for c in (p, m):
        feed(c, [1.0, 3.0])  # mean 2, std 1
    assert p.bound(4.4) is None
    assert p.bound(4.6) == 2.0 + 2.5 * 1.0
    assert m.bound(4.6) == 2.0


def test_max_grad_norm_bounds_the_warmup_and_every_step():
    c = schedkit.get_clipper("zclip", warmup_steps=2, max_grad_norm=0.5)
    out = feed(c, [2.0, 2.0, 2.0])
    assert [g for _, g, _, _ in out] == pytest.approx([0.5] * 3, rel=1e-5)
    # the threshold schedule scales max_grad_norm
    s = schedkit.get_clipper(
        "zclip", warmup_steps=1, max_grad_norm=1.0, schedule={"type": "linear", "total": 2}
    )
    # factor 1 at step 0, then 0.5, then 0: the cap follows, the z-test does not fire
    out = feed(s, [0.8, 0.8])
    assert [g for _, g, _, _ in out] == [pytest.approx(0.8), 0.5 / (0.8 + 1e-6) * 0.8]


def test_skip_drops_the_gradients_and_learns_as_the_clip_does():
    norms = [1.0, 1.1, 0.9, 1.0, 50.0, 1.0, 80.0]
    clip = schedkit.get_clipper("zclip", warmup_steps=4, max_grad_norm="inf")
    skip = schedkit.get_clipper("zclip", warmup_steps=4, max_grad_norm="inf", on_spike="skip")
    a, b = feed(clip, norms), feed(skip, norms)
    assert clip.state == skip.state
    assert [r[3] for r in a] == [r[3] for r in b] == [False] * 4 + [True, False, True]
    assert [r[2] for r in b] == [False] * 4 + [True, False, True]
    assert [r[1] for r in b][4::2] == [None, None]  # dropped
    assert (skip.skipped_steps, clip.skipped_steps) == (2, 0)
    assert skip.last_result.skipped


def test_skip_update_on_spike_learns_nothing_from_a_spike():
    c = schedkit.get_clipper(
        "zclip", warmup_steps=3, max_grad_norm="inf", skip_update_on_spike=True
    )
    feed(c, [1.0, 1.2, 0.8])
    before = dict(c.state)
    feed(c, [100.0])
    assert (c.state["mean"], c.state["var"]) == (before["mean"], before["var"])
    assert c.state["count"] == 4


def test_a_non_finite_norm_is_a_spike_never_learned():
    c = schedkit.get_clipper("zclip", warmup_steps=2, on_spike="skip")
    feed(c, [1.0, 1.0])
    before = dict(c.state)
    [(_, g, skipped, spike)] = feed(c, [math.inf])
    assert (g, skipped, spike) == (None, True, True)
    assert {k: v for k, v in c.state.items() if k != "spikes"} == {
        k: v for k, v in before.items() if k != "spikes"
    }


def test_the_loss_test():
    c = schedkit.get_clipper("zclip", warmup_steps=3)
    assert isinstance(c, schedkit.plugin.JudgesLoss)
    assert [c.loss_spike(x) for x in (2.0, 2.1, 1.9, 2.0)] == [False] * 4
    assert c.loss_spike(torch.tensor(9.0))
    assert c.loss_spike(math.nan)
    assert c.state["loss_count"] == 5  # the NaN is not learned
    assert c.state["count"] == 0  # the norm statistics are apart


def test_bad_options_name_the_field():
    for kwargs, key in (
        ({"alpha": 1.0}, "alpha"),
        ({"z_thresh": 0}, "z_thresh"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"max_grad_norm": "none"}, "max_grad_norm"),
        ({"warmup_steps": 0}, "warmup_steps"),
        ({"mode": "sigma"}, "mode"),
        ({"clip_option": "max"}, "clip_option"),
        ({"on_spike": "drop"}, "on_spike"),
        ({"skip_update_on_spike": 1}, "skip_update_on_spike"),
    ):
        with pytest.raises(SpecError) as e:
            schedkit.get_clipper("zclip", **kwargs)
        assert e.value.path == key, kwargs


def test_no_bound_is_inf_in_the_spec():
    c = schedkit.get_clipper("zclip", max_grad_norm="inf")
    assert c.max_grad_norm == math.inf
    assert c.spec()["max_grad_norm"] == "inf"
    assert schedkit.get_clipper(c.spec()) == c
    assert schedkit.get_clipper("zclip", max_grad_norm=None) == c  # the peer's None


def saved(c: schedkit.BaseClipper) -> dict:
    buf = io.BytesIO()
    torch.save(c.state_dict(), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("buffer", [1.0], "extra.buffer"),
        ("buffer", [1.0, -2.0, 1.0], "extra.buffer"),
        ("var", -1.0, "extra.var"),
        ("mean", math.nan, "extra.mean"),
        ("loss_var", math.inf, "extra.loss_var"),
        ("count", "3", "extra.count"),
        ("buffer", (1.0, 2.0, 3.0), "extra.buffer"),
    ],
)
def test_a_bad_state_is_refused_and_changes_nothing(key, value, path):
    c = schedkit.get_clipper("zclip", warmup_steps=5)
    feed(c, [1.0, 2.0, 3.0])
    state = saved(c)
    state["extra"][key] = value
    fresh = schedkit.get_clipper("zclip", warmup_steps=5)
    with pytest.raises(StateError) as e:
        fresh.load_state_dict(state)
    assert e.value.path == path
    assert fresh.state == fresh.initial_state()
    with pytest.raises(StateError):
        fresh.check_state(state)


OPTIONS = [
    {"warmup_steps": 3},
    {"warmup_steps": 5, "on_spike": "skip", "max_grad_norm": "inf"},
    {"warmup_steps": 2, "mode": "percentile", "skip_update_on_spike": True},
    {"warmup_steps": 4, "clip_option": "mean", "alpha": 0.5, "max_grad_norm": 5.0},
]


@given(
    norms=st.lists(st.one_of(st.floats(0.5, 2.0), st.floats(10.0, 1e4)), min_size=2, max_size=40),
    losses=st.lists(st.floats(0.1, 100.0), min_size=40, max_size=40),
    split=st.integers(0, 40),
    options=st.sampled_from(OPTIONS),
)
@settings(max_examples=60, deadline=None)
def test_a_resumed_run_clips_exactly_as_an_uninterrupted_one(norms, losses, split, options):
    split = min(split, len(norms))
    whole = schedkit.get_clipper("zclip", **options)
    first = schedkit.get_clipper("zclip", **options)
    expected = []
    for x, loss in zip(norms, losses, strict=False):
        expected.append((whole.loss_spike(loss), *feed(whole, [x])[0]))
    got = []
    for x, loss in zip(norms[:split], losses, strict=False):
        got.append((first.loss_spike(loss), *feed(first, [x])[0]))
    resumed = schedkit.get_clipper("zclip", **options)
    resumed.load_state_dict(saved(first))
    for x, loss in zip(norms[split:], losses[split:], strict=False):
        got.append((resumed.loss_spike(loss), *feed(resumed, [x])[0]))
    assert got == expected
    assert resumed.state_dict() == whole.state_dict()


def test_clipped_is_derived_from_the_coefficient_for_every_clipper():
    norm = schedkit.get_clipper("norm", max_norm=1.0)
    assert bool(norm(grads(3.0)).clipped)
    assert not bool(norm(grads(0.5)).clipped)
    assert schedkit.ClipResult().clipped is None
    z = schedkit.get_clipper("zclip", warmup_steps=1, max_grad_norm="inf")
    r = z(grads(1.0))
    assert (bool(r.clipped), r.spike, r.skipped) == (False, False, False)


def test_a_state_with_negative_losses_loads():
    """Losses may be negative (a log-likelihood of a density, a reward): the state saved
    during the loss warmup loads back."""
    c = schedkit.get_clipper("zclip", warmup_steps=3)
    assert [c.loss_spike(x) for x in (-1.5, -2.5)] == [False, False]
    fresh = schedkit.get_clipper("zclip", warmup_steps=3)
    fresh.load_state_dict(saved(c))
    assert fresh.state == c.state
    for x in (-1.0, -3.0):
        c.loss_spike(x)
    fresh = schedkit.get_clipper("zclip", warmup_steps=3)
    fresh.load_state_dict(saved(c))
    assert fresh.state["loss_mean"] == c.state["loss_mean"] < 0


@pytest.mark.parametrize("huge", [1e300, -1e300, 1e39])
def test_a_loss_beyond_float32_is_a_spike_never_learned(huge):
    """Its square overflowed the statistics (a raw OverflowError during the warmup)."""
    c = schedkit.get_clipper("zclip", warmup_steps=3)
    assert [c.loss_spike(x) for x in (1.0, huge, huge, 2.0)] == [False, True, True, False]
    assert c.state["loss_count"] == 2
    assert c.state["spikes"] == 2
    fresh = schedkit.get_clipper("zclip", warmup_steps=3)
    fresh.load_state_dict(saved(c))  # still a state that loads


def test_a_norm_beyond_float32_is_a_spike_clipped_to_the_bound_and_never_learned():
    c = schedkit.get_clipper("zclip", warmup_steps=2, max_grad_norm=1.0)
    [(norm, g, skipped, spike)] = feed(c, [1e200])
    assert (norm, skipped, spike) == (1e200, False, True)
    assert g == pytest.approx(1.0)
    assert c.state["count"] == 0
    feed(c, [1e200, 1.0, 1.0])
    assert (c.state["count"], c.state["mean"]) == (2, 1.0)


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        pytest.param("mean", 10**400, "extra.mean", id="mean-10**400"),
        pytest.param("loss_var", 10**400, "extra.loss_var", id="loss_var-10**400"),
        ("mean", -1.0, "extra.mean"),  # a mean of norms is never negative
        ("loss_buffer", [math.nan], "extra.loss_buffer"),
    ],
)
def test_hostile_statistics_are_a_state_error(key, value, path):
    c = schedkit.get_clipper("zclip", warmup_steps=2)
    feed(c, [1.0, 2.0, 3.0])
    for x in (1.0, 2.0, 3.0):
        c.loss_spike(x)
    state = saved(c)
    if key == "loss_buffer":
        state["extra"]["loss_count"] = 1
    state["extra"][key] = value
    fresh = schedkit.get_clipper("zclip", warmup_steps=2)
    with pytest.raises(StateError) as e:
        fresh.load_state_dict(state)
    assert e.value.path == path
    assert fresh.state == fresh.initial_state()
