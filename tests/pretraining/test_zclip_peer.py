"""The ``zclip`` clipper against the ``zclip`` package's own ``ZClip``: the same norms, the
same statistics and the same clipped gradients, ``==`` floats, on recorded norm sequences
and on real gradients."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from zclip import ZClip

import schedkit

#: a recorded sequence: steady norms with a few spikes (a loss spike's gradients)
RECORDED = [
    1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01, 9.0, 1.0, 0.97, 1.03, 30.0, 1.1, 0.9,
    1.0, 1.2, 0.8, 4.0, 1.0, 0.99, 1.01, 1.0, 250.0, 1.0, 1.0, 0.5, 1.5, 1.0, 2.0,
]  # fmt: skip

OPTIONS = [
    {},
    {"warmup_steps": 5},
    {"warmup_steps": 5, "clip_option": "mean"},
    {"warmup_steps": 5, "mode": "percentile"},
    {"warmup_steps": 4, "max_grad_norm": None, "z_thresh": 1.5, "clip_factor": 0.7},
    {"warmup_steps": 4, "max_grad_norm": 3.0, "alpha": 0.9, "skip_update_on_spike": True},
    {"warmup_steps": 3, "max_grad_norm": None, "clip_factor": 3.0, "eps": 1e-3},
]


def ours(options: dict) -> schedkit.BaseClipper:
    """The same call as ``ZClip(**options)`` (``max_grad_norm=None`` included)."""
    return schedkit.get_clipper("zclip", **options)


def one_parameter(value: float) -> nn.Module:
    """A module whose gradient norm is exactly ``value`` (one float64 element)."""
    m = nn.Module()
    m.w = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    m.w.grad = torch.tensor([value], dtype=torch.float64)
    return m


def replay(norms: list[float], options: dict) -> None:
    peer, mine = ZClip(**options), ours(options)
    for step, x in enumerate(norms):
        a, b = one_parameter(x), one_parameter(x)
        got = peer.step(a)
        result = mine(b.parameters())
        assert result.total_norm.item() == got == x, step
        assert b.w.grad.item() == a.w.grad.item(), (step, x)
        if peer.initialized:
            assert (mine.state["mean"], mine.state["var"]) == (peer.mean, peer.var), step
        else:
            assert mine.state["buffer"] == peer.buffer, step


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_recorded_norms(options):
    replay(RECORDED, options)


@given(
    norms=st.lists(
        st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False), min_size=1, max_size=60
    ),
    option=st.sampled_from(OPTIONS),
    warmup=st.integers(1, 8),
)
@settings(max_examples=60, deadline=None)
def test_random_norm_sequences(norms, option, warmup):
    replay(norms, {**option, "warmup_steps": warmup})


def test_a_spike_is_clipped_to_the_peer_bound():
    """Not only equal: the spike of the recording is clipped, to ZClip's bound."""
    mine = ours({"warmup_steps": 5, "max_grad_norm": None})
    for x in RECORDED[:8]:
        mine(one_parameter(x).parameters())
    bound = mine.bound(9.0)
    m = one_parameter(9.0)
    r = mine(m.parameters())
    assert r.spike
    assert bool(r.clipped)
    assert m.w.grad.item() == 9.0 * (bound / (9.0 + 1e-6))
    assert bound < 9.0 / 2


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)
    )


def torch_norm(m: nn.Module) -> float:
    """The global norm as ``torch.nn.utils.clip_grad_norm_`` sums it (and ``norm`` does)."""
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads).item()


def test_the_peer_norm_differs_from_torch_in_the_last_bits_only():
    """ZClip sums the squared per-parameter norms itself; torch (and schedkit) take the norm
    of the per-parameter norms: the same value up to rounding, not always the same bits."""
    m = model()
    m(torch.randn(32, 8, generator=torch.Generator().manual_seed(1))).pow(2).mean().backward()
    peer = ZClip()._compute_grad_norm(m)
    assert peer == pytest.approx(torch_norm(m), rel=1e-6)
    assert schedkit.get_clipper("zclip")(m).total_norm.item() == torch_norm(m)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_real_gradients(options):
    """A float32 MLP trained by SGD, a loss spike every 7th step after the warmups: the peer and ours clip
    every gradient to the same float, so the two trainings stay equal to the bit. The peer
    is given torch's norm (see above), so that both judge the same number."""
    a, b = model(), model()
    opt_a = torch.optim.SGD(a.parameters(), lr=0.05)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.05)
    peer, mine = ZClip(**options), ours(options)
    peer._compute_grad_norm = torch_norm
    gen = torch.Generator().manual_seed(1)
    spikes = 0
    for step in range(50):
        x = torch.randn(32, 8, generator=gen)
        scale = 50.0 if step > 28 and step % 7 == 6 else 1.0
        for m in (a, b):
            (m(x).pow(2).mean() * scale).backward()
        got = peer.step(a)
        result = mine(b.parameters())
        assert result.total_norm.item() == got, step
        spikes += result.spike
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(pa.grad, pb.grad), step
        opt_a.step()
        opt_b.step()
        opt_a.zero_grad()
        opt_b.zero_grad()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert spikes >= 1
    if peer.initialized:
        assert (mine.state["mean"], mine.state["var"]) == (peer.mean, peer.var)
    assert math.isfinite(mine.state["mean"])
