"""Clippers under faults: non-finite steps, calls without gradients, fp16 overflow, sparse
gradients. No later step is affected by an earlier bad one unless the policy says so."""

from __future__ import annotations

import math

import pytest
import torch

import schedkit
from schedkit.clipping import SparseGradientError
from schedkit.schedule import _fields_of

POLICIES = ("ignore", "error", "skip")


def _clipper_cases():
    for info in schedkit.default_registry().components("clipper"):
        for i, example in enumerate(info.examples):
            for policy in POLICIES:
                yield pytest.param(info.name, dict(example), policy, id=f"{info.name}-{i}-{policy}")


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))


def _set_grads(model, seed, poison=False):
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=gen) * 5
    if poison:
        next(iter(model.parameters())).grad[0, 0] = math.nan


def _grads(model):
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(("name", "example", "policy"), list(_clipper_cases()))
def test_a_nonfinite_step_does_not_affect_later_ones(name, example, policy):
    """Clipper A sees a NaN step, then finite ones; clipper B only the finite ones: the
    finite steps are clipped the same (the bad step acts only as its policy says)."""
    example["nonfinite"] = policy
    a = schedkit.get_clipper(name, **example)
    b = schedkit.get_clipper(name, **example)
    ma, mb = _model(), _model()
    _set_grads(ma, 0, poison=True)
    if policy == "error":
        with pytest.raises(FloatingPointError, match=r"'0\.weight'"):
            a(ma)
    else:
        result = a(ma)
        if policy == "skip":
            assert result.skipped
            assert all(p.grad is None for p in ma.parameters())
            assert a.skipped_steps == 1
    for seed in (1, 2, 3):
        _set_grads(ma, seed)
        _set_grads(mb, seed)
        ra, rb = a(ma), b(mb)
        for ga, gb in zip(_grads(ma), _grads(mb), strict=True):
            assert torch.equal(ga, gb)
            assert torch.isfinite(ga).all()
        if rb.total_norm is not None:
            assert torch.equal(ra.total_norm, rb.total_norm)


@pytest.mark.parametrize("mode", [{}, {"mode": "ema"}])
def test_adaptive_is_not_poisoned_by_a_nan_step_under_ignore(mode):
    """The old code put NaN in the history (percentile: NaN for a window; EMA: forever)."""
    poisoned = schedkit.get_clipper("adaptive", window=50, **mode)
    clean = schedkit.get_clipper("adaptive", window=50, **mode)
    p, q = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.full((4,), math.nan)
    poisoned([p])
    for i in range(5):
        p.grad = torch.full((4,), float(i + 1))
        q.grad = torch.full((4,), float(i + 1))
        rp, rq = poisoned([p]), clean([q])
        assert torch.isfinite(rp.clip_coef)
        assert torch.equal(rp.clip_coef, rq.clip_coef)
        assert torch.equal(p.grad, q.grad)


@pytest.mark.parametrize("mode", [{}, {"mode": "ema"}])
def test_adaptive_call_without_gradients_learns_nothing(mode):
    """The old code recorded a norm of 0, and scaled the next real step by ~0."""
    a = schedkit.get_clipper("adaptive", **mode)
    b = schedkit.get_clipper("adaptive", **mode)
    p, q = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(4))
    result = a([p])  # no gradient yet
    assert float(result.clip_coef) == 1.0
    p.grad = torch.ones(4)
    q.grad = torch.ones(4)
    assert torch.equal(a([p]).clip_coef, b([q]).clip_coef)
    assert torch.equal(p.grad, torch.ones(4) * b.last_result.clip_coef)
    assert float(p.grad[0]) > 0.9


def _fp16_params(scale):
    torch.manual_seed(0)
    ps = [torch.nn.Parameter(torch.zeros(4096, dtype=torch.float16)) for _ in range(3)]
    for p in ps:
        p.grad = (torch.rand(4096) * scale).half()
    return ps


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", ["norm", "adaptive"])
def test_fp16_norm_overflow_with_finite_gradients_is_not_nonfinite(name, policy):
    """Every gradient is finite but the norm overflows fp16 (> 65504): the norm is taken
    in float32; the old code raised naming '?' (error) or dropped a good step (skip)."""
    kw = {"max_norm": 1.0} if name == "norm" else {}
    clip = schedkit.get_clipper(name, nonfinite=policy, **kw)
    ps = _fp16_params(3000.0)
    want = torch.linalg.vector_norm(torch.cat([p.grad.float() for p in ps]))
    assert want > 65504
    result = clip(ps)
    assert not result.skipped
    assert torch.isfinite(result.total_norm)
    assert float(result.total_norm) == pytest.approx(float(want), rel=1e-3)
    assert all(torch.isfinite(p.grad).all() for p in ps)
    if name == "norm":
        clipped = torch.linalg.vector_norm(torch.cat([p.grad.float() for p in ps]))
        assert float(clipped) == pytest.approx(1.0, rel=1e-2)


def test_fp16_without_overflow_keeps_clip_grad_norms_floats():
    ours, theirs = _fp16_params(0.5), _fp16_params(0.5)
    result = schedkit.get_clipper("norm", max_norm=1.0)(ours)
    total = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert result.total_norm.dtype == total.dtype == torch.float16
    assert torch.equal(result.total_norm, total)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a.grad, b.grad)


def test_fp16_nonfinite_gradient_names_the_real_parameter():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)).half()
    for p in model.parameters():
        p.grad = torch.full_like(p, 1000.0)  # the norm overflows fp16 as well
    model[1].bias.grad[3] = math.inf
    with pytest.raises(FloatingPointError, match=r"the gradient of '1\.bias' is not finite"):
        schedkit.get_clipper("norm", max_norm=1.0, nonfinite="error")(model)


@pytest.mark.parametrize(
    "name", [c.name for c in schedkit.default_registry().components("clipper")]
)
def test_sparse_gradients_are_refused_naming_the_parameter(name):
    info = schedkit.default_registry().get("clipper", name)
    clip = schedkit.get_clipper(name, **dict(info.examples[0]))
    model = torch.nn.ModuleDict(
        {"emb": torch.nn.Embedding(10, 4, sparse=True), "fc": torch.nn.Linear(4, 2)}
    )
    out = model["fc"](model["emb"](torch.tensor([1, 2]))).sum()
    out.backward()
    before = model["fc"].weight.grad.clone()
    with pytest.raises(SparseGradientError, match=r"the gradient of 'emb\.weight' is sparse"):
        clip(model)
    assert torch.equal(model["fc"].weight.grad, before)
    assert "nonfinite" in _fields_of(info.cls)


@pytest.mark.parametrize(
    ("schedule", "path", "message"),
    [
        ("nope", "schedule", "unknown schedule 'nope'"),
        (
            {"type": "cosin", "total": 10},
            "schedule.type",
            "unknown schedule 'cosin'; did you mean 'cosine'?",
        ),
    ],
)
def test_an_unknown_clipper_schedule_names_its_key(schedule, path, message):
    """The old code raised UnknownNameError without a path (``clip.type`` in a setup)."""
    with pytest.raises(schedkit.SpecError) as e:
        schedkit.get_clipper("norm", max_norm=1.0, schedule=schedule)
    assert (e.value.path, e.value.message) == (path, message)


def test_an_unknown_clipper_schedule_in_a_setup_names_its_key():
    from schedkit.setup import SetupError, loads_setup

    text = '[optimizer]\ntype = "SGD"\nlr = 0.1\n[clip]\ntype = "norm"\nmax_norm = 1.0\n'
    with pytest.raises(SetupError) as e:
        loads_setup(text + 'schedule = {type = "cosin", total = 10}\n')
    assert [(p.path, p.message) for p in e.value.problems] == [
        ("clip.schedule.type", "unknown schedule 'cosin'; did you mean 'cosine'?")
    ]
