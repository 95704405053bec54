"""Every native family stays finite (and >= 0) at every step up to 2**62, or refuses its
parameters at construction; steps that are negative or NaN are refused."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError
from schedkit.plugin import NOTHING
from schedkit.schedule import _fields_of, resolve

LAST = 2**62
PROBES = [0, 1, 2, 3, 7, 10, 99, 100, 101, 999, 1000, 10**6, 10**9, 2**31, 10**15, LAST]
EXTREMES = [0.0, 1e-300, 0.5, 1.01, 2.0, 200.0, 1e300]


def _native():
    reg = schedkit.default_registry()
    return [
        c
        for c in reg.components("schedule")
        if c.distribution == "schedkit-schedules"
        and c.plugin not in ("transformers", "lambda", "plateau")
    ]


NATIVE = _native()


def _build(name, params):
    sched = schedkit.get_schedule(name, **params)
    return resolve(sched, steps_per_epoch=10, total_steps=1000)


def _assert_finite(sched, steps):
    for t in steps:
        v = sched(t)
        assert math.isfinite(v), (sched.spec(), t, v)
        assert v >= 0, (sched.spec(), t, v)
    vs = sched.values([float(t) for t in steps])
    assert bool(vs.isfinite().all()), (sched.spec(), vs)
    assert bool((vs >= 0).all()), (sched.spec(), vs)


def _cases():
    for info in NATIVE:
        floats = [
            k
            for k, f in _fields_of(info.cls).items()
            if f.default is NOTHING or isinstance(f.default, float)
        ]
        for i, example in enumerate(info.examples):
            yield pytest.param(info.name, dict(example), None, None, id=f"{info.name}-{i}")
            for key in floats:
                if key in ("total", "period", "step_size", "warmup") or (
                    isinstance(example.get(key), (int, str, list, tuple))
                    and not isinstance(example.get(key), bool)
                    and not isinstance(example.get(key), float)
                ):
                    continue
                for x in EXTREMES:
                    yield pytest.param(
                        info.name, dict(example), key, x, id=f"{info.name}-{i}-{key}={x:g}"
                    )


@pytest.mark.parametrize(("name", "example", "key", "value"), list(_cases()))
def test_finite_to_2_62_or_refused_at_construction(name, example, key, value):
    """The old code accepted range_test end=1e300 (inf), exp_range gamma 1.01 (overflow at
    step 1e6), cosine_restarts decay=1e300, cosine k_decay=200 (OverflowError mid-run)."""
    params = dict(example)
    if key is not None:
        params[key] = value
    try:
        sched = _build(name, params)
    except SpecError:
        return
    _assert_finite(sched, PROBES)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("range_test", {"total": 100, "end": 1e308}),
        ("cyclic", {"high": 2.0, "step_size_up": 10, "mode": "exp_range", "gamma": 1.01}),
        ("cyclic", {"high": 2.0, "step_size_up": 10, "mode": "exp_range", "gamma": 1e300}),
        ("cosine_restarts", {"period": 10, "decay": 1e300}),
        ("exponential", {"rate": 1.5}),
    ],
)
def test_cases_that_cannot_stay_finite_are_refused(name, params):
    with pytest.raises(SpecError):
        _build(name, params)


def test_k_decay_200_is_finite():
    sched = _build("cosine", {"total": 1000, "k_decay": 200.0})
    _assert_finite(sched, PROBES)
    assert sched(999) > 0


@pytest.mark.parametrize("info", NATIVE, ids=lambda i: i.name)
@settings(max_examples=25, deadline=None)
@given(step=st.one_of(st.integers(0, LAST), st.floats(0, float(LAST))))
def test_every_family_is_finite_at_any_step(info, step):
    for example in info.examples:
        _assert_finite(_build(info.name, dict(example)), [step])


@pytest.mark.parametrize("info", NATIVE, ids=lambda i: i.name)
@pytest.mark.parametrize("step", [-1, -0.5, math.nan, -math.inf])
def test_negative_and_nan_steps_are_refused(info, step):
    sched = _build(info.name, dict(info.examples[0]))
    with pytest.raises(SpecError, match="expected a step >= 0"):
        sched(step)
    with pytest.raises(SpecError, match="expected steps >= 0"):
        sched.values([0.0, step])
