"""The warmup modes against the peers whose warmups they express: ``replace`` is timm's
warmup (``warmup_prefix=False``), ``bridge`` fvcore's ``WarmupParamScheduler`` as
detectron2's solver builds it; ``prefix`` is ``shift`` by another name."""

from __future__ import annotations

import math

import pytest
import torch
from fvcore.common import param_scheduler as fv
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError, get_schedule
from tests.support.timm_peer import timm

REL = 1e-13


@settings(max_examples=25, deadline=None)
@given(
    total=st.integers(20, 400),
    warm=st.floats(0.01, 0.5),
    start=st.floats(0.0, 0.5),
    lr_min=st.floats(0.0, 0.1),
    base=st.sampled_from([0.1, 3e-4, 1.0]),
)
def test_replace_is_timms_warmup_on_the_global_clock(total, warm, start, lr_min, base):
    w = max(1, int(total * warm))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    peer = timm().scheduler.CosineLRScheduler(
        opt,
        t_initial=total,
        lr_min=lr_min * base,
        warmup_t=w,
        warmup_lr_init=start * base,
        t_in_epochs=False,
    )
    ours = get_schedule(
        "cosine", total=total, end=lr_min, warmup=w, warmup_start=start, warmup_mode="replace"
    )
    for t in range(total + 5):
        peer.step_update(num_updates=t)
        want = opt.param_groups[0]["lr"]
        assert base * ours(t) == pytest.approx(want, rel=REL, abs=REL * base), t


def _fvcore_warmup(main, max_iter, factor, warmup_iters):
    # detectron2.solver.build_lr_scheduler: WarmupParamScheduler(main, factor, iters/max_iter)
    length = warmup_iters / max_iter
    warm = fv.LinearParamScheduler(factor * main(0.0), main(length))
    return fv.CompositeParamScheduler(
        [warm, main], interval_scaling=["rescaled", "fixed"], lengths=[length, 1 - length]
    )


@settings(max_examples=25, deadline=None)
@given(
    total=st.integers(20, 400),
    warm=st.floats(0.01, 0.5),
    factor=st.floats(0.0, 1.0),
    end=st.floats(0.0, 0.5),
)
def test_bridge_is_fvcores_warmup_param_scheduler(total, warm, factor, end):
    w = max(1, int(total * warm))
    peer = _fvcore_warmup(fv.CosineParamScheduler(1.0, end), total, factor, w)
    ours = get_schedule(
        "cosine", total=total, end=end, warmup=w, warmup_start=factor, warmup_mode="bridge"
    )
    for t in range(total):
        assert ours(t) == pytest.approx(peer(t / total), rel=REL, abs=REL), t


def test_bridge_with_a_multistep_is_fvcores():
    main = fv.MultiStepParamScheduler([1.0, 0.1, 0.01], num_updates=100, milestones=[5, 60])
    peer = _fvcore_warmup(main, 100, 0.001, 10)
    ours = get_schedule(
        "multistep",
        milestones=[5, 60],
        gamma=0.1,
        warmup=10,
        warmup_start=0.001,
        warmup_mode="bridge",
    )
    got = [ours(t) for t in range(100)]
    want = [peer(t / 100) for t in range(100)]
    assert got == pytest.approx(want, rel=REL)
    # the ramp ends at the schedule's value at the end of the warmup (0.1), not at 1
    assert got[9] == pytest.approx(0.001 * 0.1 + 0.1 * 0.9, rel=1e-12)


def test_the_modes_differ_where_the_issue_says():
    # timm's curve at step 100 of 200 (warmup 20 from 0): the cosine on the run's clock
    kw = {"total": 200, "warmup": 20}
    assert get_schedule("cosine", **kw, warmup_mode="replace")(100) == pytest.approx(0.5)
    shifted = get_schedule("cosine", **kw)(100)
    assert shifted == pytest.approx(0.5 * (1 + math.cos(math.pi * 80 / 180)))
    # overlay multiplies the ramp by the curve; bridge ramps to the curve's value
    over = get_schedule("cosine", **kw, warmup_start=0.001, warmup_mode="overlay")
    bridge = get_schedule("cosine", **kw, warmup_start=0.001, warmup_mode="bridge")
    assert over(10) != pytest.approx(bridge(10), rel=1e-3)
    assert over(20) == bridge(20)


def test_prefix_is_shift_by_another_name():
    a = get_schedule("cosine", total=100, warmup=10, warmup_mode="prefix")
    b = get_schedule("cosine", total=100, warmup=10)
    assert a == b
    assert a.spec()["warmup_mode"] == "shift"
    assert schedkit.warmup(get_schedule("constant"), 5, mode="prefix").mode == "shift"


@pytest.mark.parametrize("mode", ["shift", "overlay", "replace", "bridge"])
def test_every_mode_round_trips_and_its_values_match_its_calls(mode):
    s = get_schedule("cosine", total=120, end=0.1, warmup=15, warmup_start=0.2, warmup_mode=mode)
    assert get_schedule(s.spec()) == s
    t = list(range(130))
    assert s.values(t).tolist() == pytest.approx([s(x) for x in t], rel=1e-14)
    assert s.horizon == 120


def test_unknown_mode_names_the_key_and_the_choices():
    with pytest.raises(SpecError, match="warmup_mode: .*'replace', 'bridge'"):
        get_schedule("cosine", total=100, warmup=10, warmup_mode="timm")


def test_exponential_bridge_needs_a_positive_schedule_value():
    with pytest.raises(SpecError, match="warmup_kind: an exponential warmup needs a start and a"):
        get_schedule(
            "linear",
            total=10,
            warmup=10,
            warmup_start=0.1,
            warmup_kind="exponential",
            warmup_mode="bridge",
        )


def test_the_table_in_the_composition_docs_holds():
    from pathlib import Path

    text = Path(__file__).parents[2].joinpath("docs", "composition.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `") and "| 0." in line]
    assert len(rows) == 4
    steps = (0, 10, 20, 29, 30, 50, 75, 100)
    main = {"type": "cosine", "total": 100, "end": 0.05}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        mode = cells[0].strip("`")
        s = get_schedule(
            {"type": "warmup", "schedule": main, "steps": 30, "start": 0.1, "mode": mode}
        )
        assert [f"{s(t):.4f}" for t in steps] == cells[1:], mode
    # a bridge from a schedule that starts at 0
    with pytest.raises(SpecError, match="got 0.0 and"):
        schedkit.warmup(
            get_schedule("linear", total=10, start=0.0, end=1.0),
            3,
            start=0.5,
            kind="exponential",
            mode="bridge",
        )
