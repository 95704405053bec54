"""``detectron2.*`` aliases: the schedulers against fvcore's param schedulers composed as
detectron2's ``build_lr_scheduler`` composes them, the rule and clippers against
detectron2's documented behaviour."""

from __future__ import annotations

import pytest
import torch
from fvcore.common import param_scheduler as fv
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError

LRS = (0.02, 0.004, 0.0005)


def detectron2_multiplier(sched, max_iter, warmup_factor, warmup_iters, method, rescale):
    """detectron2's WarmupParamScheduler around ``sched``, as its solver builds it."""
    length = min(warmup_iters / max_iter, 1.0)
    start = warmup_factor * sched(0.0)
    end = sched(0.0) if rescale else sched(length)
    warmup = (
        fv.ConstantParamScheduler(start)
        if method == "constant"
        else (fv.LinearParamScheduler(start, end))
    )
    return fv.CompositeParamScheduler(
        [warmup, sched],
        interval_scaling=["rescaled", "rescaled" if rescale else "fixed"],
        lengths=[length, 1 - length],
    )


class LRMultiplier(torch.optim.lr_scheduler.LRScheduler):
    """detectron2's ``detectron2.solver.lr_scheduler.LRMultiplier``, rebuilt as it is."""

    def __init__(self, optimizer, multiplier, max_iter, last_iter=-1):
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def get_lr(self):
        multiplier = self._multiplier(self.last_epoch / self._max_iter)
        return [base_lr * multiplier for base_lr in self.base_lrs]


def _opt():
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in LRS]
    return torch.optim.SGD(groups, lr=0.02, momentum=0.9)


def _check(name, main, n, **params):
    kw = {
        k: params[k]
        for k in ("warmup_factor", "warmup_iters", "warmup_method", "rescale_interval")
        if k in params
    }
    mult = detectron2_multiplier(
        main,
        params["max_iter"],
        kw.get("warmup_factor", 0.001),
        kw.get("warmup_iters", 1000),
        kw.get("warmup_method", "linear"),
        kw.get("rescale_interval", False),
    )
    opt = _opt()
    s = schedkit.get_scheduler(name, opt, **params)
    for it in range(n):
        want = [lr * mult(it / params["max_iter"]) for lr in LRS]  # LRMultiplier
        assert [g["lr"] for g in opt.param_groups] == want, it
        s.step()


@pytest.mark.parametrize("method", ["linear", "constant"])
@pytest.mark.parametrize("rescale", [False, True])
def test_warmup_multistep_as_detectron2(method, rescale):
    steps = [300, 700]
    main = fv.MultiStepParamScheduler(
        values=[0.1**k for k in range(3)], milestones=steps, num_updates=1000
    )
    _check(
        "detectron2.WarmupMultiStepLR",
        main,
        1000,
        max_iter=1000,
        steps=[*steps, 5000],
        warmup_iters=150,
        warmup_method=method,
        rescale_interval=rescale,
        gamma=0.1,
    )


@pytest.mark.parametrize("rescale", [False, True])
def test_warmup_cosine_as_detectron2(rescale):
    main = fv.CosineParamScheduler(1, 0.0005 / 0.02)
    _check(
        "detectron2.WarmupCosineLR",
        main,
        801,
        max_iter=800,
        warmup_iters=100,
        warmup_factor=0.01,
        base_lr=0.02,
        base_lr_end=0.0005,
        rescale_interval=rescale,
    )


def test_warmup_cosine_end_from_the_groups_common_lr_or_a_factor():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    s = schedkit.get_scheduler(
        "detectron2.WarmupCosineLR", opt, max_iter=10, warmup_iters=0, base_lr_end=0.002
    )
    assert s.schedule.end_value == pytest.approx(0.1)
    # groups that differ (bias_lr_factor, overrides): SOLVER.BASE_LR is the optimizer's
    # constructor lr, as detectron2's build_optimizer passes it
    s = schedkit.get_scheduler("detectron2.WarmupCosineLR", _opt(), max_iter=10, base_lr_end=0.002)
    assert s.schedule.end_value == 0.002 / 0.02
    with pytest.raises(SpecError, match="end_value: expected a finite number >= 0 and <= 1"):
        schedkit.get_scheduler("detectron2.WarmupCosineLR", _opt(), max_iter=10, base_lr_end=0.04)


def test_warmup_cosine_end_against_the_optimizers_lr_as_detectron2():
    """detectron2's solver with bias_lr_factor: groups at 0.02 and 0.04, BASE_LR 0.02."""
    main = fv.CosineParamScheduler(1, 0.0002 / 0.02)
    sched = detectron2_multiplier(main, 300, 0.001, 30, "linear", False)
    lrs = (0.02, 0.04, torch.tensor(0.01, dtype=torch.float64))

    def opt():
        groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
        for g in groups:
            if isinstance(g["lr"], torch.Tensor):
                g["lr"] = g["lr"].clone()
        return torch.optim.SGD(groups, lr=0.02, momentum=0.9)

    o1, o2 = opt(), opt()
    theirs = LRMultiplier(o1, sched, 300)
    ours = schedkit.get_scheduler(
        "detectron2.WarmupCosineLR", o2, max_iter=300, warmup_iters=30, base_lr_end=0.0002
    )
    for _ in range(300):
        assert [float(g["lr"]) for g in o1.param_groups] == [
            float(g["lr"]) for g in o2.param_groups
        ]
        o1.step(), o2.step(), theirs.step(), ours.step()


def test_warmup_step_with_fixed_gamma_as_detectron2():
    main = fv.StepWithFixedGammaParamScheduler(
        base_value=1.0, gamma=0.5, num_decays=3, num_updates=400
    )
    _check(
        "detectron2.WarmupStepWithFixedGammaLR",
        main,
        400,
        max_iter=400,
        gamma=0.5,
        num_decays=3,
        warmup_iters=40,
    )


def test_steps_at_max_iter_are_refused_as_fvcore_does():
    with pytest.raises(SpecError, match="Milestone must be smaller"):
        schedkit.get_schedule("detectron2.WarmupMultiStepLR", max_iter=100, steps=[50, 100])


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 2)
        self.embedding = torch.nn.Parameter(torch.zeros(3))
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _settings(model, rules, lr=0.1, wd=1e-4):
    groups = schedkit.build_param_groups(model, rules, lr=lr, weight_decay=wd)
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}


def test_default_rule_as_get_default_optimizer_params():
    got = _settings(
        Net(),
        [
            {
                "type": "detectron2.default",
                "weight_decay_norm": 0.0,
                "bias_lr_factor": 2.0,
                "weight_decay_bias": 0.0,
                "overrides": {"embedding": {"lr": 0.5, "weight_decay": 0.0}},
            }
        ],
    )
    assert got == {
        "stem.weight": (0.1, 1e-4),
        "stem.bias": (0.2, 0.0),
        "bn.weight": (0.1, 0.0),
        "bn.bias": (0.2, 0.0),
        "head.weight": (0.1, 1e-4),
        "head.bias": (0.2, 0.0),
        "embedding": (0.5, 0.0),
    }


def test_lr_factor_func_gets_detectron2s_names_and_overrides_replace_it():
    seen = []

    def factor(name):
        seen.append(name)
        return 0.5 if name.startswith("stem") else 1.0

    rule = schedkit.get_rule("detectron2.default", lr_factor_func=factor, bias_lr_factor=3.0)
    got = _settings(Net(), [rule])
    assert got["stem.weight"][0] == 0.05
    assert got["stem.bias"][0] == pytest.approx(0.3)  # base_lr * bias_lr_factor, no factor
    assert ".embedding" in seen  # a parameter of the root module: a leading dot
    with pytest.raises(SpecError, match="Conflicting overrides for 'bias'"):
        schedkit.get_rule(
            "detectron2.default", weight_decay_bias=0.0, overrides={"bias": {"lr": 0.1}}
        )


def _grads(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.Linear(6, 3))
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 4
    return model


def test_per_parameter_norm_clipping_as_detectron2():
    a, b = _grads(), _grads()
    for p in a.parameters():  # detectron2: clip_grad_norm_ on each parameter
        torch.nn.utils.clip_grad_norm_(p, 1.5, 2.0)
    schedkit.get_clipper("detectron2.norm", clip_value=1.5, norm_type=2.0)(b.parameters())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-6, atol=0)
    assert schedkit.get_clipper("detectron2.norm", clip_value=1.5).spec()["clip_value"] == 1.5


def test_value_clipping_as_detectron2():
    a, b = _grads(1), _grads(1)
    for p in a.parameters():
        torch.nn.utils.clip_grad_value_(p, 0.7)
    schedkit.get_clipper("detectron2.value", clip_value=0.7)(b.parameters())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(q.grad, p.grad)


@st.composite
def _solver(draw):
    """A detectron2 SOLVER config: the scheduler, its keys, and fvcore's main curve."""
    name = draw(
        st.sampled_from(["WarmupMultiStepLR", "WarmupCosineLR", "WarmupStepWithFixedGammaLR"])
    )
    max_iter = draw(st.integers(10, 200))
    params = {
        "max_iter": max_iter,
        "warmup_iters": draw(st.integers(0, max_iter - 1)),
        "warmup_factor": draw(st.sampled_from([0.0, 0.001, 0.1, 1.0 / 3])),
        "warmup_method": draw(st.sampled_from(["linear", "constant"])),
        "rescale_interval": draw(st.booleans()),
    }
    if name == "WarmupMultiStepLR":
        steps = sorted(set(draw(st.lists(st.integers(1, max_iter - 1), min_size=1, max_size=3))))
        gamma = draw(st.sampled_from([0.1, 0.5, 0.3]))
        params.update(steps=steps, gamma=gamma)
        main = fv.MultiStepParamScheduler(
            values=[gamma**k for k in range(len(steps) + 1)], milestones=steps, num_updates=max_iter
        )
    elif name == "WarmupCosineLR":
        base_lr_end = draw(st.sampled_from([0.0, 1e-4, 0.002]))
        params.update(base_lr=0.02, base_lr_end=base_lr_end)
        main = fv.CosineParamScheduler(1, base_lr_end / 0.02)
    else:
        gamma = draw(st.sampled_from([0.1, 0.5]))
        decays = draw(st.integers(1, 4))
        params.update(gamma=gamma, num_decays=decays)
        main = fv.StepWithFixedGammaParamScheduler(
            base_value=1.0, gamma=gamma, num_decays=decays, num_updates=max_iter
        )
    mult = detectron2_multiplier(
        main,
        max_iter,
        params["warmup_factor"],
        params["warmup_iters"],
        params["warmup_method"],
        params["rescale_interval"],
    )
    return f"detectron2.{name}", params, mult


@settings(max_examples=30, deadline=None)
@given(
    solver=_solver(),
    lrs=st.lists(st.floats(1e-4, 1.0), min_size=3, max_size=3),
    tensors=st.lists(st.booleans(), min_size=3, max_size=3),
    data=st.data(),
)
def test_detectron2_solver_as_lr_multiplier_with_resume(solver, lrs, tensors, data):
    """detectron2's LRMultiplier over fvcore's schedulers, stepped as detectron2 steps it,
    three groups (float and 0-dim tensor lrs), then a resume by construction."""
    name, params, mult = solver
    max_iter = params["max_iter"]

    def opt():
        groups = [
            {
                "params": [torch.nn.Parameter(torch.zeros(1))],
                "lr": torch.tensor(lr, dtype=torch.float64) if t else lr,
            }
            for lr, t in zip(lrs, tensors, strict=True)
        ]
        return torch.optim.SGD(groups, lr=0.02, momentum=0.9)

    def floats(o):
        return [float(g["lr"]) for g in o.param_groups]

    o1, o2 = opt(), opt()
    theirs = LRMultiplier(o1, mult, max_iter)
    ours = schedkit.get_scheduler(name, o2, **params)
    stop = data.draw(st.integers(0, max_iter - 2))
    for _ in range(stop):
        assert floats(o1) == floats(o2)
        o1.step(), o2.step(), theirs.step(), ours.step()
    last = theirs.last_epoch
    theirs = LRMultiplier(o1, mult, max_iter, last_iter=last)
    ours = schedkit.get_scheduler(name, o2, last_epoch=last, **params)
    for _ in range(stop + 1, max_iter - 1):  # fvcore raises at max_iter itself
        assert floats(o1) == floats(o2)
        o1.step(), o2.step(), theirs.step(), ours.step()
    assert floats(o1) == floats(o2)
