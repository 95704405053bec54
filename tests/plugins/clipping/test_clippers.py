"""Clippers against torch's own functions and reference per-parameter loops."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import schedkit
from schedkit import SpecError, get_clipper
from schedkit.testing import check_registered, roundtrip

CLIPPERS = [c.name for c in schedkit.registered("clipper")]


def model_with_grads(seed: int = 0, scale: float = 10.0, dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    m = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 5)
    ).to(dtype)
    out = m(torch.randn(6, 3, 6, 6, dtype=dtype))
    (out * scale).pow(2).sum().backward()
    return m


def grads(m):
    return [p.grad.clone() if p.grad is not None else None for p in m.parameters()]


@pytest.mark.parametrize("name", CLIPPERS)
def test_every_registered_clipper_conforms(name):
    check_registered("clipper", name)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, "inf"])
def test_norm_is_clip_grad_norm_exactly(norm_type):
    a, b = model_with_grads(), model_with_grads()
    theirs = torch.nn.utils.clip_grad_norm_(a.parameters(), 0.5, norm_type=float(norm_type))
    ours = get_clipper("norm", max_norm=0.5, norm_type=norm_type)(b)
    assert torch.equal(ours.total_norm, theirs)
    for x, y in zip(grads(a), grads(b), strict=True):
        assert torch.equal(x, y)
    assert ours.clip_coef.item() < 1.0


def test_norm_with_none_grads_empty_lists_and_mixed_dtypes():
    m = model_with_grads()
    m[3].weight.grad = None
    r = get_clipper("norm", max_norm=0.1)(m)
    assert m[3].weight.grad is None
    assert r.total_norm.item() > 0
    assert get_clipper("norm", max_norm=1.0)([]).total_norm.item() == 0.0
    p32 = nn.Parameter(torch.ones(3))
    p64 = nn.Parameter(torch.ones(3, dtype=torch.float64))
    p32.grad, p64.grad = torch.full((3,), 3.0), torch.full((3,), 4.0, dtype=torch.float64)
    q32, q64 = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3, dtype=torch.float64))
    q32.grad, q64.grad = p32.grad.clone(), p64.grad.clone()
    ours = get_clipper("norm", max_norm=1.0)([p32, p64])
    theirs = torch.nn.utils.clip_grad_norm_([q32, q64], 1.0)
    assert torch.equal(ours.total_norm, theirs)
    assert torch.equal(p64.grad, q64.grad)
    assert torch.equal(p32.grad, q32.grad)


def test_value_is_clip_grad_value_():
    a, b = model_with_grads(), model_with_grads()
    torch.nn.utils.clip_grad_value_(a.parameters(), 0.3)
    r = get_clipper("value", clip_value=0.3)(b)
    assert r.total_norm is None
    for x, y in zip(grads(a), grads(b), strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_param_norm_is_detectron2s_loop(norm_type):
    a, b = model_with_grads(), model_with_grads()
    for p in a.parameters():
        torch.nn.utils.clip_grad_norm_(p, 0.2, norm_type)
    r = get_clipper("param_norm", max_norm=0.2, norm_type=norm_type)(b)
    for x, y in zip(grads(a), grads(b), strict=True):
        torch.testing.assert_close(y, x, rtol=1e-6, atol=0)
    assert r.clip_coef.shape == (len(list(b.parameters())),)


def timm_agc(parameters, clip_factor=0.01, eps=1e-3, norm_type=2.0):
    """timm's adaptive_clip_grad, written out as the reference."""
    for p in parameters:
        if p.grad is None:
            continue
        p_data, g_data = p.detach(), p.grad.detach()

        def unitwise(x):
            return (
                x.norm(norm_type)
                if x.ndim <= 1
                else x.norm(norm_type, dim=tuple(range(1, x.ndim)), keepdim=True)
            )

        max_norm = unitwise(p_data).clamp_(min=eps).mul_(clip_factor)
        grad_norm = unitwise(g_data)
        clipped = g_data * (max_norm / grad_norm.clamp(min=1e-6))
        p.grad.detach().copy_(torch.where(grad_norm < max_norm, g_data, clipped))


def test_agc_is_timms_and_excludes_the_head():
    a, b = model_with_grads(), model_with_grads()
    timm_agc(a.parameters(), 0.02)
    get_clipper("agc", clip_factor=0.02)(b)
    for x, y in zip(grads(a), grads(b), strict=True):
        torch.testing.assert_close(y, x, rtol=1e-6, atol=0)
    c = model_with_grads()
    head = c[3].weight.grad.clone()
    get_clipper("agc", clip_factor=0.02, exclude=["3.*"])(c)
    assert torch.equal(c[3].weight.grad, head)
    with pytest.raises(SpecError, match="exclude=\\['3.\\*'\\] needs parameter names"):
        get_clipper("agc", exclude=["3.*"])(list(c.parameters()))


def test_adaptive_percentile_threshold_and_exact_resume():
    clip = get_clipper("adaptive", percentile=50.0, window=4)
    seen = []
    for seed in range(6):
        m = model_with_grads(seed, scale=1.0 + seed)
        r = clip(m)
        seen.append(r.total_norm.item())
    recent = torch.tensor(seen[-4:], dtype=torch.float64)
    expected = torch.quantile(recent, 0.5).item()
    assert r.clip_coef.item() == pytest.approx(min(expected / (seen[-1] + 1e-6), 1.0), rel=1e-6)
    # resume: a fresh clipper with the saved state clips the next steps identically
    state = roundtrip(clip.state_dict())
    twin = get_clipper("adaptive", percentile=50.0, window=4)
    twin.load_state_dict(state)
    for seed in range(6, 9):
        m1, m2 = model_with_grads(seed, scale=3.0), model_with_grads(seed, scale=3.0)
        assert torch.equal(clip(m1).clip_coef, twin(m2).clip_coef)
        for x, y in zip(grads(m1), grads(m2), strict=True):
            assert torch.equal(x, y)


def test_adaptive_ema():
    clip = get_clipper("adaptive", mode="ema", ema_decay=0.5)
    r1 = clip(model_with_grads(0, scale=1.0))
    assert r1.clip_coef.item() == pytest.approx(
        1.0, abs=1e-5
    )  # the first norm is its own threshold
    r2 = clip(model_with_grads(1, scale=10.0))
    ema = 0.5 * r1.total_norm.item() + 0.5 * r2.total_norm.item()
    assert r2.clip_coef.item() == pytest.approx(ema / r2.total_norm.item(), rel=1e-5)


def test_nonfinite_error_names_the_parameter():
    m = model_with_grads()
    m[3].bias.grad[0] = float("nan")
    with pytest.raises(FloatingPointError, match="norm: the gradient of '3.bias' is not finite"):
        get_clipper("norm", max_norm=1.0, nonfinite="error")(m)
    with pytest.raises(FloatingPointError, match="value: the gradient of '3.bias' is not finite"):
        get_clipper("value", clip_value=1.0, nonfinite="error")(m)


def test_nonfinite_skip_drops_the_step_and_counts_it():
    m = model_with_grads()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    clip = get_clipper("norm", max_norm=1.0, nonfinite="skip")
    clip.attach(opt, model=m)
    m[0].weight.grad[0, 0, 0, 0] = float("inf")
    before = [p.clone() for p in m.parameters()]
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters(), strict=True))
    assert clip.last_result.skipped
    assert clip.skipped_steps == 1
    assert clip.state_dict()["skipped"] == 1


def test_nonfinite_ignore_is_torchs_default():
    m = model_with_grads()
    m[3].bias.grad[0] = float("nan")
    r = get_clipper("norm", max_norm=1.0)(m)
    assert math.isnan(r.total_norm.item())


def test_attach_clips_before_every_step_and_can_be_removed():
    m = model_with_grads()
    opt = torch.optim.SGD(m.parameters(), lr=0.0)
    clip = get_clipper("norm", max_norm=0.01)
    handle = clip.attach(opt)
    opt.step()
    total = torch.nn.utils.get_total_norm([p.grad for p in m.parameters()])
    assert total.item() == pytest.approx(0.01, rel=1e-4)
    handle.remove()
    for p in m.parameters():
        p.grad.mul_(100)
    opt.step()
    assert torch.nn.utils.get_total_norm([p.grad for p in m.parameters()]).item() == pytest.approx(
        1.0, rel=1e-4
    )


def test_threshold_follows_a_schedule():
    clip = get_clipper(
        "norm", max_norm=1.0, schedule={"type": "linear", "total": 4, "start": 0.25, "end": 1.0}
    )
    limits = []
    for seed in range(5):
        m = model_with_grads(seed, scale=100.0)
        clip(m)
        limits.append(torch.nn.utils.get_total_norm([p.grad for p in m.parameters()]).item())
    assert limits == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0], rel=1e-4)
    state = roundtrip(clip.state_dict())
    assert state["step"] == 5
    assert state["spec"]["schedule"]["type"] == "linear"


def test_a_schedule_by_name_is_built_with_the_clipper():
    clip = get_clipper("norm", max_norm=1.0, schedule="constant")
    assert clip.schedule == schedkit.get_schedule("constant")
    clip(model_with_grads())
    assert clip.spec()["schedule"] == {"type": "constant", "value": 1.0}


@pytest.mark.parametrize(
    ("schedule", "path", "message"),
    [
        ("cosine", "schedule.total", "'cosine' needs this parameter"),
        ({"type": "cosine"}, "schedule.total", "'cosine' needs this parameter"),
        ({"type": "cosine", "total": -1}, "schedule.total", "-1 must be >= 0 steps"),
        (42, "schedule", "expected a schedule, a spec table or a registered name, got 42"),
        (
            {"type": "cosine", "total": "5ep"},
            "schedule",
            "a clipper's schedule counts clipper calls: give its durations in steps",
        ),
    ],
)
def test_a_schedule_the_clipper_cannot_follow_is_refused_when_built(schedule, path, message):
    with pytest.raises(SpecError) as e:
        get_clipper("norm", max_norm=1.0, schedule=schedule)
    assert e.value.path == path
    assert e.value.message.startswith(message)


def test_an_unknown_schedule_name_is_refused_when_built():
    with pytest.raises(SpecError, match="unknown schedule 'cosin'; did you mean") as e:
        get_clipper("norm", max_norm=1.0, schedule="cosin")
    assert e.value.path == "schedule"


def _amp_step(clip_call, seed=0):
    torch.manual_seed(seed)
    m = nn.Linear(4, 3)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    loss = m(torch.randn(8, 4)).pow(2).sum()
    scaler.scale(loss).backward()
    clip_call(m, opt, scaler)
    return m, opt, scaler


def test_amp_clips_unscaled_gradients():
    torch.manual_seed(0)
    ref = nn.Linear(4, 3)
    ref(torch.randn(8, 4)).pow(2).sum().backward()
    torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)

    clip = get_clipper("norm", max_norm=0.5)
    m, opt, scaler = _amp_step(lambda m, o, s: clip(o, scaler=s))  # unscales first
    for p, r in zip(m.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, r.grad)
    scaler.step(opt)  # does not unscale twice
    scaler.update()


def test_amp_attach_refuses_scaled_gradients():
    clip = get_clipper("norm", max_norm=0.5)

    def attach_and_step(m, opt, scaler):
        clip.attach(opt, scaler=scaler)
        with pytest.raises(RuntimeError, match="the gradients are still scaled by the GradScaler"):
            opt.step()
        scaler.step(opt)  # unscales, then the pre-hook clips

    _amp_step(attach_and_step)
    assert clip.last_result.total_norm.item() < 1e3  # the unscaled norm, not 1024x


def test_clipper_errors():
    with pytest.raises(SpecError, match="^max_norm: expected a finite number > 0, got 0.0$"):
        get_clipper("norm", max_norm=0)
    with pytest.raises(SpecError, match="norm_type: expected a norm type > 0 or 'inf', got -1.0"):
        get_clipper("norm", max_norm=1.0, norm_type=-1)
    with pytest.raises(
        SpecError, match="nonfinite: expected one of 'ignore', 'error', 'skip', got 'raise'"
    ):
        get_clipper("norm", max_norm=1.0, nonfinite="raise")
    with pytest.raises(schedkit.StateError, match="written by a different clipper"):
        get_clipper("norm", max_norm=1.0).load_state_dict(
            get_clipper("norm", max_norm=2.0).state_dict()
        )


def test_a_target_kept_across_steps_clips_each_steps_gradients():
    """A Target reads the gradients once per call, and again when it is given to the next
    call (set_to_none=True gives every step new gradient tensors)."""
    from schedkit.plugin import Target

    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 10.0)
    target = Target([p])
    clipper = schedkit.get_clipper("value", clip_value=1.0)
    clipper(target)
    assert p.grad.tolist() == [1.0, 1.0, 1.0]
    p.grad = torch.full((3,), -5.0)
    clipper(target)
    assert p.grad.tolist() == [-1.0, -1.0, -1.0]
