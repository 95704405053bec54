"""The batch-size ramp against megatron-core's own calculator, and a sample-clocked lr
against Megatron's OptimizerParamScheduler stepped by the ramp's batch (Megatron's
``--rampup-batch-size`` with ``--lr-warmup-samples`` / ``--lr-decay-samples``)."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from schedkit import BatchRamp, ClockedScheduler, SpecError, loads_setup

with warnings.catch_warnings():  # its import says Transformer Engine and Apex are absent
    warnings.simplefilter("ignore")
    from megatron.core.num_microbatches_calculator import (
        RampupBatchsizeNumMicroBatchesCalculator,
    )
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler


def _megatron(start: int, increment: int, ramp_samples: int, batch: int):
    return RampupBatchsizeNumMicroBatchesCalculator(
        global_batch_size=batch,
        micro_batch_size=1,
        data_parallel_size=1,
        decrease_batch_size_if_needed=False,
        rank=1,  # not 0: it logs nothing
        start_global_batch_size=start,
        batch_size_increment=increment,
        ramup_samples=ramp_samples,
    )


def _megatron_batches(calc, steps: int) -> list[int]:
    """Megatron's training loop: the batch of each step, then the consumed samples."""
    out, consumed = [], 0
    for _ in range(steps):
        calc.update(consumed, consistency_check=True)
        batch = calc.get_current_global_batch_size()
        out.append(batch)
        consumed += batch
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 512),
    st.integers(1, 256),
    st.integers(1, 12),
    st.integers(1, 100_000),
)
def test_the_ramp_gives_megatrons_batches(start, increment, n, ramp_samples):
    batch = start + n * increment
    ramp = BatchRamp(start, increment, ramp_samples, batch)
    steps = ramp_samples // start + 3
    calc = _megatron(start, increment, ramp_samples, batch)
    ours, consumed = [], 0
    for _ in range(min(steps, 3000)):
        ours.append(ramp.batch(consumed))
        consumed += ours[-1]
    assert ours == _megatron_batches(calc, len(ours))
    assert ramp.consumed(len(ours)) == sum(ours)


def test_at_every_consumed_count():
    ramp = BatchRamp(start=16, increment=8, ramp_samples=1000, batch_size=64)
    calc = _megatron(16, 8, 1000, 64)
    for consumed in range(1200):
        calc.update(consumed, consistency_check=False)
        assert ramp.batch(consumed) == calc.get_current_global_batch_size(), consumed


def test_megatron_refuses_what_the_ramp_refuses():
    with pytest.raises(AssertionError):
        _megatron(16, 15, 1000, 64)
    with pytest.raises(SpecError, match=r"must be a multiple of increment"):
        BatchRamp(16, 15, 1000, 64)
    with pytest.raises(AssertionError):
        _megatron(128, 8, 1000, 64)
    with pytest.raises(SpecError, match=r"expected at least start"):
        BatchRamp(128, 8, 1000, 64)


@pytest.mark.parametrize("style", ["cosine", "linear"])
def test_a_sample_clock_gives_megatrons_lr_under_the_ramp(style):
    warmup, decay, lr = 3_000, 40_000, 3e-4
    params = [torch.nn.Parameter(torch.zeros(2))]
    theirs = torch.optim.SGD(params, lr=lr, weight_decay=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        megatron = OptimizerParamScheduler(
            theirs,
            init_lr=0.0,
            max_lr=lr,
            min_lr=0.0,
            lr_warmup_steps=warmup,
            lr_decay_steps=decay,
            lr_decay_style=style,
            start_wd=0.0,
            end_wd=0.0,
            wd_incr_steps=decay,
            wd_incr_style="constant",
        )
    calc = _megatron(32, 32, 8_000, 256)
    ramp = BatchRamp(32, 32, 8_000, 256)
    ours = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)
    sched = ClockedScheduler(ours, style, clock="samples", ramp=ramp, warmup="3ksp", total="40ksp")
    consumed = 0
    for _ in range(200):
        # Megatron computes lr * s / w, a factor times the lr is lr * (s / w): an ulp apart
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-15)
        calc.update(consumed, consistency_check=True)
        batch = calc.get_current_global_batch_size()
        megatron.step(increment=batch)
        sched.step()
        consumed += batch
        assert sched.consumed == consumed == megatron.num_steps


def test_the_same_from_a_setup():
    setup = loads_setup(
        """
[run]
batch_size = 256
total = "40ksp"
batch_ramp = { start = 32, increment = 32, ramp_samples = 8000 }

[optimizer]
type = "SGD"
lr = 3e-4

[schedules.lr]
type = "linear"
warmup = "3ksp"
"""
    )
    built = setup.build(torch.nn.Linear(2, 2))
    calc = _megatron(32, 32, 8_000, 256)
    assert [built.schedulers["lr"].consumed for _ in range(1)] == [0]
    consumed = []
    for _ in range(150):
        built.step()
        consumed.append(built.schedulers["lr"].consumed)
    batches = _megatron_batches(calc, 150)
    assert consumed == [sum(batches[: i + 1]) for i in range(150)]
