"""``olmo.*`` and ``pytorch_optimizer.*`` without their peers (the floats against them are
in tests/pretraining): finite values within their bounds, exact resumes, errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError

LRS = (1e-3, 0.02)


def _optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    return torch.optim.SGD(
        [{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)], lr=0.1
    )


def _lrs(name: str, params: dict[str, Any], steps: int, resume_at: int | None = None) -> list:
    opt = _optimizer()
    sched = schedkit.get_scheduler(name, opt, **params)
    out = []
    for k in range(steps):
        if k == resume_at:
            state = sched.state_dict()
            opt = _optimizer()
            sched = schedkit.get_scheduler(name, opt, **params)
            sched.load_state_dict(state)
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return out


plans = st.one_of(
    st.builds(
        lambda total, w, d: ("olmo.wsd", {"warmup": w, "decay": d, "total_steps": total}),
        total=st.integers(60, 200),
        w=st.integers(1, 20),
        d=st.integers(1, 30),
    ),
    st.builds(
        lambda total, w, a: (
            "olmo.cos_with_warmup",
            {"warmup": w, "alpha_f": a, "total_steps": total},
        ),
        total=st.integers(30, 200),
        w=st.integers(0, 20),
        a=st.floats(0.0, 1.0),
    ),
    st.builds(
        lambda w, b: ("olmo.power_lr", {"warmup": w, "b": b, "total_steps": 150}),
        w=st.integers(1, 30),
        b=st.floats(-2.0, -0.01),
    ),
    st.builds(
        lambda lengths, d: (
            "olmo.wsds",
            {"period_lengths": lengths, "warmup": 3, "decay": min(d, min(lengths) - 3)},
        ),
        lengths=st.lists(st.integers(8, 60), min_size=1, max_size=4),
        d=st.integers(1, 10),
    ),
    st.builds(
        lambda first, mult, w, gamma: (
            "pytorch_optimizer.CosineAnnealingWarmupRestarts",
            {
                "first_cycle_steps": first,
                "cycle_mult": mult,
                "warmup_steps": w % first,
                "gamma": gamma,
                "max_lr": 0.01,
                "min_lr": 1e-5,
            },
        ),
        first=st.integers(2, 40),
        mult=st.sampled_from([0.5, 1.0, 1.5]),
        w=st.integers(0, 39),
        gamma=st.floats(0.1, 1.0),
    ),
)


@settings(max_examples=60, deadline=None)
@given(plan=plans, resume=st.integers(0, 260))
def test_finite_within_bounds_and_resumed_exactly(
    plan: tuple[str, dict[str, Any]], resume: int
) -> None:
    name, params = plan
    steps = 260
    values = _lrs(name, params, steps)
    top = max(*LRS, 0.01)
    for row in values:
        for v in row:
            assert math.isfinite(v)
            assert 0.0 <= v <= top * (1 + 1e-12)
    assert _lrs(name, params, steps, resume_at=resume) == values


def test_the_alias_holds_its_last_value_past_max_steps() -> None:
    """OLMo-core's trainer stops at max_steps, where its linear decays would go on below
    their minimum: the alias holds the last update's lr."""
    s = schedkit.get_schedule("olmo.wsd", warmup=5, decay=10, total_steps=50)
    assert s(49) == 0.0  # update 50: the end of the decay
    assert s(50) == s(10**9) == 0.0
    lin = schedkit.get_schedule("olmo.linear_with_warmup", warmup=5, total_steps=50)
    assert lin(49) == lin(500) == 0.1


def test_olmo_argument_errors() -> None:
    with pytest.raises(SpecError, match="decay: Either 'decay_fraction' or 'decay'"):
        schedkit.get_schedule("olmo.wsd", warmup=5, decay=10, decay_fraction=0.1, total_steps=50)
    with pytest.raises(SpecError, match=r"schedulers\[0\]: expected an olmo\.\* scheduler"):
        schedkit.get_schedule(
            "olmo.sequential",
            schedulers=[{"type": "cosine", "total": 10}],
            schedulers_max=[],
            total_steps=10,
        )
    with pytest.raises(SpecError, match=r"stages\[0\]\.end_lr: Specify exactly one of"):
        schedkit.get_schedule("olmo.composable", stages=[{"duration": 10}])
    with pytest.raises(SpecError, match="schedulers_max: Max steps must be set for all"):
        schedkit.get_schedule(
            "olmo.sequential",
            schedulers=[{"type": "olmo.constant"}, {"type": "olmo.constant"}],
            schedulers_max=[],
            total_steps=10,
        )


@pytest.mark.parametrize("stages", [True, "x", 5, {"duration": 10}])
def test_olmo_composable_stages_not_a_list_is_refused(stages: object) -> None:
    """Anything but a list reached the curve (a raw TypeError or AttributeError at the
    first step)."""
    with pytest.raises(SpecError) as e:
        schedkit.get_schedule("olmo.composable", stages=stages)
    assert e.value.path == "stages"
