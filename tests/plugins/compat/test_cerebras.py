"""``cerebras.*`` aliases against Cerebras' closed forms (evaluated here in float32, as on
its device), its tag selection and its per-group scaling."""

from __future__ import annotations

import math

import pytest
import torch

import schedkit
from schedkit import SpecError

F32 = torch.float32


def _t(x):
    return torch.tensor(x, dtype=F32)


# Cerebras' formulas, written out from its documentation and source, in float32 tensors
# (float32 rounding: the comparisons allow 2e-5 relative).
def ref_polynomial(k, a, b, n, p):
    if k >= n:
        return b
    return float((1 - _t(k) / n) ** p * (a - b) + b)


def ref_exponential(k, a, n, r, stair):
    e = _t(k) / n
    return float(torch.pow(_t(r), e.floor() if stair else e) * a)


def ref_inverse_time(k, a, e, n, r, stair):
    alpha = _t(float(k)) ** e / n
    return float(_t(a) / (alpha.floor() if stair else alpha).mul(r).add(1))


def ref_inverse_sqrt(k, a, s, w):
    return float(_t(s) / torch.sqrt(torch.maximum(_t(float(w)), _t(float(k)))) * a)


def ref_cosine_decay(k, a, b, n):
    t = torch.minimum(_t(float(n)), _t(float(k)))
    return float((_t(math.pi / n) * t).cos().add(1).mul(0.5) * (a - b) + b)


def ref_step(k, a, size, g):
    return float(torch.pow(_t(g), (_t(k) / size).floor()) * a)


def ref_multistep(k, a, g, ms):
    v = _t(a)
    for m in ms:
        v = v * g if k >= m else v
    return float(v)


def ref_cosine_annealing(k, a, t_max, low):
    return float(((_t(k) / t_max) * math.pi).cos().add(1) / 2 * (a - low) + low)


def ref_cyclic(k, base, high, up, down, mode, gamma):
    total = up + down
    cycle = math.floor(k / total + 1)
    x = k / total - cycle + 1
    ratio = up / total
    shape = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**k}[mode]
    return float(_t(shape * (high - base)) * scale + base)


def ref_one_cycle(k, a, high, n, pct, div, three, cos):
    low = a / div
    if three:
        ends, pts = [pct * n - 1, 2 * pct * n - 2, n - 1], [(a, high), (high, a), (a, low)]
    else:
        ends, pts = [pct * n - 1, n - 1], [(a, high), (high, low)]
    i = next((j for j, e in enumerate(ends) if k <= e), len(ends) - 1)
    start = ends[i - 1] if i else 0
    p = _t((k - start) / (ends[i] - start))
    s, e = pts[i]
    if cos:
        return float((p * math.pi).cos().add(1) * ((s - e) / 2.0) + e)
    return float(p * (e - s) + s)


CASES = [
    (
        {
            "type": "cerebras.PolynomialLR",
            "initial_learning_rate": 0.1,
            "end_learning_rate": 0.002,
            "total_iters": 40,
            "power": 2.0,
        },
        lambda k: ref_polynomial(k, 0.1, 0.002, 40, 2.0),
    ),
    (
        {
            "type": "cerebras.LinearLR",
            "initial_learning_rate": 0.0,
            "end_learning_rate": 0.3,
            "total_iters": 25,
        },
        lambda k: ref_polynomial(k, 0.0, 0.3, 25, 1.0),
    ),
    (
        {
            "type": "cerebras.ExponentialLR",
            "initial_learning_rate": 0.1,
            "total_iters": 7,
            "decay_rate": 0.8,
            "staircase": True,
        },
        lambda k: ref_exponential(k, 0.1, 7, 0.8, True),
    ),
    (
        {
            "type": "cerebras.ExponentialLR",
            "initial_learning_rate": 0.1,
            "total_iters": 7,
            "decay_rate": 0.8,
        },
        lambda k: ref_exponential(k, 0.1, 7, 0.8, False),
    ),
    (
        {
            "type": "cerebras.InverseExponentialTimeDecayLR",
            "initial_learning_rate": 0.2,
            "step_exponent": 2,
            "total_iters": 50,
            "decay_rate": 0.3,
            "staircase": False,
        },
        lambda k: ref_inverse_time(k, 0.2, 2, 50, 0.3, False),
    ),
    (
        {
            "type": "cerebras.InverseSquareRootDecayLR",
            "initial_learning_rate": 2.0,
            "scale": 0.5,
            "warmup_steps": 10,
        },
        lambda k: ref_inverse_sqrt(k, 2.0, 0.5, 10),
    ),
    (
        {
            "type": "cerebras.CosineDecayLR",
            "initial_learning_rate": 0.1,
            "end_learning_rate": 0.01,
            "total_iters": 30,
        },
        lambda k: ref_cosine_decay(k, 0.1, 0.01, 30),
    ),
    (
        {"type": "cerebras.StepLR", "initial_learning_rate": 0.1, "step_size": 6, "gamma": 0.5},
        lambda k: ref_step(k, 0.1, 6, 0.5),
    ),
    (
        {
            "type": "cerebras.MultiStepLR",
            "initial_learning_rate": 0.1,
            "gamma": 0.3,
            "milestones": [10, 25],
        },
        lambda k: ref_multistep(k, 0.1, 0.3, [10, 25]),
    ),
    (
        {
            "type": "cerebras.CosineAnnealingLR",
            "initial_learning_rate": 0.1,
            "T_max": 20,
            "eta_min": 0.001,
        },
        lambda k: ref_cosine_annealing(k, 0.1, 20, 0.001),
    ),
    (
        {"type": "cerebras.MultiplicativeLR", "initial_learning_rate": 0.1, "coefficient": 0.97},
        lambda k: float(torch.pow(_t(0.97), _t(k)) * 0.1),
    ),
    ({"type": "cerebras.ConstantLR", "learning_rate": 0.003}, lambda k: 0.003),
    (
        {
            "type": "cerebras.PiecewiseConstantLR",
            "learning_rates": [0.1, 0.05, 0.01],
            "milestones": [10, 30],
        },
        lambda k: [0.1, 0.05, 0.01][(k >= 10) + (k >= 30)],
    ),
    (
        {
            "type": "cerebras.CyclicLR",
            "base_lr": 0.001,
            "max_lr": 0.1,
            "step_size_up": 4,
            "step_size_down": 6,
            "mode": "triangular2",
        },
        lambda k: ref_cyclic(k, 0.001, 0.1, 4, 6, "triangular2", 1.0),
    ),
    (
        {
            "type": "cerebras.CyclicLR",
            "base_lr": 0.001,
            "max_lr": 0.1,
            "step_size_up": 5,
            "mode": "exp_range",
            "gamma": 0.98,
        },
        lambda k: ref_cyclic(k, 0.001, 0.1, 5, 5, "exp_range", 0.98),
    ),
    (
        {
            "type": "cerebras.OneCycleLR",
            "initial_learning_rate": 0.004,
            "max_lr": 0.1,
            "total_steps": 50,
            "pct_start": 0.3,
        },
        lambda k: ref_one_cycle(min(k, 49), 0.004, 0.1, 50, 0.3, 1e4, False, True),
    ),
    (
        {
            "type": "cerebras.OneCycleLR",
            "initial_learning_rate": 0.004,
            "max_lr": 0.1,
            "total_steps": 40,
            "three_phase": True,
            "anneal_strategy": "linear",
        },
        lambda k: ref_one_cycle(min(k, 39), 0.004, 0.1, 40, 0.3, 1e4, True, False),
    ),
]


def _opt(tags=(None, None, None)):
    groups = []
    for i, t in enumerate(tags):
        g = {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5 + i}
        if t is not None:
            g["tags"] = t
        groups.append(g)
    return torch.optim.SGD(groups, lr=0.5)


@pytest.mark.parametrize(("spec", "ref"), CASES, ids=[c[0]["type"] for c in CASES])
def test_every_group_gets_cerebras_value(spec, ref):
    opt = _opt()
    s = schedkit.Scheduler(opt, spec)
    for k in range(80):
        want = ref(k)
        for g in opt.param_groups:  # absolute: the groups' own lrs play no part
            assert g["lr"] == pytest.approx(want, rel=2e-5, abs=1e-8), (k, g["lr"], want)
        s.step()


def test_sequential_restarts_each_schedule_at_its_milestone():
    lin = {
        "type": "cerebras.LinearLR",
        "initial_learning_rate": 0.0,
        "end_learning_rate": 0.1,
        "total_iters": 10,
    }
    cos = {
        "type": "cerebras.CosineDecayLR",
        "initial_learning_rate": 0.1,
        "end_learning_rate": 0.0,
        "total_iters": 20,
    }
    s = schedkit.get_schedule(
        {"type": "cerebras.SequentialLR", "schedulers": [lin, cos], "milestones": [10]}
    )
    assert s(5) == pytest.approx(0.05)
    assert s(10) == pytest.approx(0.1)
    assert s(20) == pytest.approx(ref_cosine_decay(10, 0.1, 0.0, 20), rel=1e-6)
    with pytest.raises(SpecError, match="one more than the number of milestone"):
        schedkit.get_schedule(
            {"type": "cerebras.SequentialLR", "schedulers": [lin, cos], "milestones": [10, 20]}
        )


def test_chained_scheduler_multiplies_by_the_later_ones_over_their_initial_rate():
    spec = {
        "type": "cerebras.ChainedScheduler",
        "schedulers": [
            {"type": "cerebras.ConstantLR", "learning_rate": 0.1},
            {
                "type": "cerebras.StepLR",
                "initial_learning_rate": 2.0,
                "step_size": 10,
                "gamma": 0.5,
            },
        ],
    }
    s = schedkit.get_schedule(spec)
    assert [s(k) for k in (0, 10, 25)] == pytest.approx([0.1, 0.05, 0.025])
    with pytest.raises(SpecError, match="has none"):
        schedkit.get_schedule(
            {
                "type": "cerebras.ChainedScheduler",
                "schedulers": [
                    spec["schedulers"][0],
                    {"type": "cerebras.ConstantLR", "learning_rate": 0.1},
                ],
            }
        )


def test_param_group_tags_select_as_cerebras_does():
    opt = _opt(tags=(["backbone"], None, ["head"]))
    before = [g["lr"] for g in opt.param_groups]
    spec = {"type": "cerebras.ConstantLR", "learning_rate": 0.01}
    schedkit.Scheduler(opt, {**spec, "param_group_tags": "backbone"})
    assert [g["lr"] for g in opt.param_groups] == [0.01, before[1], before[2]]
    opt = _opt(tags=(["backbone"], None, ["head"]))
    s = schedkit.Scheduler(opt, {**spec, "param_group_tags": [None, "head"]})  # None: untagged
    assert [g["lr"] for g in opt.param_groups] == [before[0], 0.01, 0.01]
    assert s.state_dict()["tags"] == [None, "head"]
    with pytest.raises(SpecError, match="duplicate values"):
        schedkit.get_schedule({**spec, "param_group_tags": ["a", "a"]})
    with pytest.raises(SpecError, match="match no param group"):
        schedkit.Scheduler(_opt(), {**spec, "param_group_tags": "backbone"})


def test_scale_per_param_uses_each_groups_adjustment():
    opt = _opt()
    opt.param_groups[0]["adjust_learning_rate"] = 0.25
    opt.param_groups[1]["adjust_learning_rate"] = 2.0
    inner = {
        "type": "cerebras.CosineDecayLR",
        "initial_learning_rate": 0.1,
        "end_learning_rate": 0.0,
        "total_iters": 10,
    }
    s = schedkit.Scheduler(opt, {"type": "cerebras.ScalePerParamLR", "scheduler": inner})
    for _ in range(3):
        s.step()
    v = schedkit.get_schedule(inner)(3)
    assert [g["lr"] for g in opt.param_groups] == [v * 0.25, v * 2.0, v * 1.0]


def test_documented_behaviour_where_cerebras_code_differs():
    # warm restarts: the documented SGDR position t mod T_0, not a frozen curve
    s = schedkit.get_schedule(
        {"type": "cerebras.CosineAnnealingWarmRestarts", "initial_learning_rate": 0.1, "T_0": 10}
    )
    assert s(13) == pytest.approx(s(3))
    assert s(13) != s(10)
    with pytest.raises(SpecError, match="Only supported default T_mult"):
        schedkit.get_schedule(
            {
                "type": "cerebras.CosineAnnealingWarmRestarts",
                "initial_learning_rate": 0.1,
                "T_0": 10,
                "T_mult": 2,
            }
        )
    # polynomial with cycle: the decay restarts instead of holding the end value
    p = schedkit.get_schedule(
        {
            "type": "cerebras.PolynomialLR",
            "initial_learning_rate": 0.1,
            "end_learning_rate": 0.0,
            "total_iters": 10,
            "cycle": True,
        }
    )
    assert p(9) == pytest.approx(0.01)
    assert p(10) == pytest.approx(0.05)


def test_lambda_in_process():
    opt = _opt()
    s = schedkit.get_scheduler(
        "cerebras.LambdaLR", opt, initial_learning_rate=0.1, lr_lambda=lambda t: 0.5**t
    )
    s.step()
    assert opt.param_groups[2]["lr"] == 0.05
