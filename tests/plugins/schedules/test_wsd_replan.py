"""WSD's cooldown decided later: ``decay_start`` (a step, or ``"resume"``), and replanned
resumes that keep the past exactly."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from schedkit import Scheduler, SpecError, StateError, get_schedule
from tests.helpers import sgd


def run(schedule, steps, n_groups=2):
    s = Scheduler(sgd(n_groups), schedule)
    for _ in range(steps):
        s.step()
    return s


def lr_curve(s, steps):
    out = [s.get_last_lr()]
    for _ in range(steps):
        s.step()
        out.append(s.get_last_lr())
    return out


def saved(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_decay_start_moves_the_decay_and_holds_the_end_until_total():
    s = get_schedule("wsd", total=1000, decay=100, decay_start=300, end=0.1)
    assert [s(t) for t in (0, 299, 300)] == [1.0, 1.0, 1.0]
    assert s(350) == 0.1 + 0.9 * 0.5
    assert [s(t) for t in (400, 999, 1000, 5000)] == [0.1] * 4
    steps = torch.arange(0, 1200, dtype=torch.float64)
    assert s.values(steps).tolist() == [s(t) for t in steps.tolist()]


def test_without_decay_start_the_spec_and_curve_are_as_before():
    s = get_schedule("wsd", total=1000, decay=100)
    assert s.spec() == {
        "type": "wsd",
        "total": 1000,
        "decay": 100,
        "decay_kind": "linear",
        "end": 0.0,
    }
    assert s == get_schedule("wsd", total=1000, decay=100, decay_start=None)
    assert s(900) == 1.0
    assert s(950) == 0.5


def test_resume_decays_at_the_planned_end_until_a_resume_decides():
    planned = get_schedule("wsd", total=1000, decay=100)
    later = get_schedule("wsd", total=1000, decay=100, decay_start="resume")
    assert later.spec()["decay_start"] == "resume"
    steps = list(range(0, 1100, 7))
    assert [later(t) for t in steps] == [planned(t) for t in steps]
    assert later.resumed(400, None).decay_start == 400


def test_decay_start_counts_from_step_0_behind_a_warmup():
    s = get_schedule("wsd", total=1000, decay=100, decay_start=300, warmup=50)
    assert s.spec()["decay_start"] == 300
    assert s(299) == 1.0
    assert s(350) == 0.5
    assert s(400) == 0.0
    assert get_schedule(s.spec()) == s


@pytest.mark.parametrize(
    ("params", "path", "message"),
    [
        ({"decay_start": -1}, "decay_start", 'expected a step >= 0 or "resume"'),
        ({"decay_start": "now"}, "decay_start", 'expected a step >= 0 or "resume"'),
        ({"decay_start": True}, "decay_start", 'expected a step >= 0 or "resume"'),
        ({"decay_start": 950}, "decay_start", r"ends after total \(1000\)"),
        ({"decay_start": 20, "warmup": 50}, "decay_start", r"after the warmup \(50 steps\)"),
    ],
)
def test_a_bad_decay_start_names_it(params, path, message):
    with pytest.raises(SpecError, match=message) as e:
        get_schedule("wsd", total=1000, decay=100, **params)
    assert e.value.path == path


def test_a_cooldown_from_now_continues_the_run_and_is_kept_on_a_later_resume():
    old = get_schedule("wsd", total=1000, decay=100, warmup=10)
    new = get_schedule("wsd", total=1000, decay=300, warmup=10, decay_start="resume")
    first = run(old, 400)
    s = Scheduler(sgd(2), new)
    s.load_state_dict(saved(first.state_dict()), replan=True)
    assert s.schedule.spec()["decay_start"] == 400
    decided = get_schedule("wsd", total=1000, decay=300, warmup=10, decay_start=400)
    # the whole run equals one that never stopped on the decided plan
    assert run(old, 0).get_last_lr() == run(decided, 0).get_last_lr()
    ref = lr_curve(Scheduler(sgd(2), decided), 1000)
    assert [run(old, k).get_last_lr() for k in range(0, 401, 50)] == ref[0:401:50]
    middle = lr_curve(s, 100)
    assert middle == ref[400:501]
    # preempted in the middle of the cooldown, restarted with the same file: it goes on
    again = Scheduler(sgd(2), new)
    again.load_state_dict(saved(s.state_dict()), replan=True)
    assert again.schedule.spec()["decay_start"] == 400
    assert lr_curve(again, 500) == ref[500:1001]


def test_resume_moves_only_a_decay_still_ahead():
    old = get_schedule("wsd", total=1000, decay=100)  # decays from 900
    new = get_schedule("wsd", total=1000, decay=100, decay_start="resume")
    assert new.resumed(500, old).decay_start == 500
    assert new.resumed(950, old).decay_start == 900
    assert new.resumed(850, get_schedule("cosine", total=1000)).decay_start == 850


def test_a_resume_during_the_warmup_or_too_late_is_refused_with_the_reason():
    old = get_schedule("wsd", total=1000, decay=100, warmup=50)
    state = run(old, 20).state_dict()
    s = Scheduler(
        sgd(2), get_schedule("wsd", total=1000, decay=100, warmup=50, decay_start="resume")
    )
    with pytest.raises(StateError, match="cannot resume at step 20: .*after the warmup") as e:
        s.load_state_dict(state, replan=True)
    assert e.value.path == "schedule.decay_start"
    late = run(get_schedule("wsd", total=2000, decay=100), 950).state_dict()
    s = Scheduler(sgd(2), get_schedule("wsd", total=1000, decay=100, decay_start="resume"))
    with pytest.raises(StateError, match="ends after total"):
        s.load_state_dict(late, replan=True)
    assert s.steps == 0


def test_a_setup_decides_the_cooldown_at_the_resume():
    import schedkit

    text = """
[run]
total = 1000
[optimizer]
type = "SGD"
lr = 0.1
[schedules.lr]
type = "wsd"
decay = "20%"
warmup = 10
"""
    model = torch.nn.Linear(2, 1)
    old = schedkit.loads_setup(text).build(model)
    for _ in range(300):
        old.step()
    new_text = text.replace('decay = "20%"', 'decay = "20%"\ndecay_start = "resume"')
    new = schedkit.loads_setup(new_text + "\n[resume]\nreplan = true\n").build(model)
    new.load_state_dict(old.state_dict())
    assert new.schedulers["lr"].schedule.spec()["decay_start"] == 300
    ref = get_schedule("wsd", total=1000, decay=200, warmup=10, decay_start=300)
    for step in range(301, 520):
        new.step()
        assert new.optimizer.param_groups[0]["lr"] == 0.1 * ref(step)


# -- properties --------------------------------------------------------------------------


@st.composite
def wsd_plans(draw):
    total = draw(st.integers(20, 3000))
    warmup = draw(st.integers(0, total // 4))
    decay = draw(st.integers(1, total - warmup))
    kind = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
    end = draw(st.sampled_from([0.0, 0.1]))
    return {"total": total, "warmup": warmup, "decay": decay, "decay_kind": kind, "end": end}


@settings(max_examples=40, deadline=None)
@given(plan=wsd_plans(), data=st.data())
def test_an_extension_of_total_keeps_the_past_exactly(plan, data):
    """Resumed in the stable phase with a later total: the floats up to the resume step are
    the old plan's, and the run from there is the new plan's, as if it had never stopped."""
    old = get_schedule("wsd", **plan)
    stable_end = plan["total"] - plan["decay"]
    k = data.draw(st.integers(0, stable_end))
    longer = {**plan, "total": plan["total"] + data.draw(st.integers(1, 2000))}
    new = get_schedule("wsd", **longer)
    assert [old(t) for t in range(k + 1)] == [new(t) for t in range(k + 1)]
    s = Scheduler(sgd(2), new)
    s.load_state_dict(saved(run(old, k).state_dict()), replan=True)
    ref = lr_curve(Scheduler(sgd(2), new), longer["total"] + 5)
    assert lr_curve(s, longer["total"] + 5 - k) == ref[k:]


@settings(max_examples=40, deadline=None)
@given(plan=wsd_plans(), data=st.data())
def test_a_cooldown_decided_at_the_resume_is_never_having_stopped(plan, data):
    """Resumed in the stable phase with ``decay_start = "resume"``: the same floats as a run
    that never stopped on the plan with the decay starting at that step."""
    old = get_schedule("wsd", **plan)
    low = plan["warmup"]
    high = plan["total"] - plan["decay"]
    k = data.draw(st.integers(low, max(low, high)))
    decided = get_schedule("wsd", **plan, decay_start=k)
    s = Scheduler(sgd(2), get_schedule("wsd", **plan, decay_start="resume"))
    s.load_state_dict(saved(run(old, k).state_dict()), replan=True)
    assert s.schedule == decided
    ref = lr_curve(Scheduler(sgd(2), decided), plan["total"] + 5)
    assert [old(t) for t in range(k + 1)] == [decided(t) for t in range(k + 1)]
    assert lr_curve(s, plan["total"] + 5 - k) == ref[k:]


def test_a_huge_decay_start_is_named_not_printed():
    """The message printed all 401 digits."""
    with pytest.raises(SpecError) as e:
        get_schedule("wsd", total=100, decay=20, decay_start=10**400)
    assert e.value.path == "decay_start"
    assert "an integer of about 10**400" in str(e.value)
    assert len(str(e.value)) < 200
