"""Changing the plan on resume: ``Scheduler.load_state_dict(state, replan=True)``, the
``[resume]`` table, ``Built.load_state_dict(state, replan=...)`` and ``schedkit replan``."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import Scheduler, SpecError, StateError, get_schedule
from schedkit.cli import main
from schedkit.compose import sequence, stretch
from schedkit.testing import assert_plain
from tests.helpers import sgd


def lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def run(schedule, steps, n_groups=2, **kw):
    """A scheduler on ``schedule`` stepped ``steps`` times."""
    s = Scheduler(sgd(n_groups), schedule, **kw)
    for _ in range(steps):
        s.step()
    return s


def saved(state):
    """``state`` through torch.save / torch.load(weights_only=True)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


# -- the state holds the values last written ------------------------------------------


def test_the_state_saves_the_values_last_written():
    s = run(get_schedule("cosine", total=100, warmup=10), 37)
    state = s.state_dict()
    assert_plain(state)
    assert state["values"] == s.get_last_lr() == lrs(s.optimizer)
    assert saved(state)["values"] == state["values"]


def test_a_plain_load_still_refuses_another_schedule_and_says_replan():
    state = run(get_schedule("cosine", total=100), 5).state_dict()
    other = Scheduler(sgd(2), "cosine", total=200)
    with pytest.raises(StateError, match="load it with replan=True"):
        other.load_state_dict(state)


# -- replan: the step from the state, the curve from the new plan ----------------------


def test_replan_takes_the_step_and_continues_on_the_new_plan():
    old = get_schedule("wsd", total=1000, decay=100, warmup=10)
    new = get_schedule("wsd", total=2000, decay=100, warmup=10)
    state = run(old, 300).state_dict()
    s = Scheduler(sgd(2), new)
    s.load_state_dict(saved(state), replan=True)
    assert s.steps == 300
    assert s.schedule == new
    ref = run(new, 300)
    assert lrs(s.optimizer) == lrs(ref.optimizer) == [0.1, 0.2]
    for _ in range(1800):
        s.step()
        ref.step()
        assert lrs(s.optimizer) == lrs(ref.optimizer)
    assert s.state_dict() == ref.state_dict()


def test_a_jump_is_refused_naming_both_values_and_the_step_and_changes_nothing():
    state = run(get_schedule("cosine", total=100, warmup=10), 40).state_dict()
    old = state["values"]
    s = Scheduler(sgd(2), "cosine", total=300, warmup=10)
    for _ in range(3):
        s.step()
    before = (s.state_dict(), lrs(s.optimizer))
    with pytest.raises(StateError) as e:
        s.load_state_dict(state, replan=True)
    new = [0.1 * get_schedule("cosine", total=300, warmup=10)(40)]
    msg = str(e.value)
    assert e.value.path == "step"
    assert (
        f"lr at step 40 (param_groups[0]): {old[0]!r} in the state, {new[0]!r} in the new plan"
        in (msg)
    )
    assert "param_groups[1]" in msg
    assert "allow_jump=True" in msg
    assert "rtol" in msg
    assert (s.state_dict(), lrs(s.optimizer)) == before


def test_allow_jump_and_rtol_let_the_jump_through():
    state = run(get_schedule("cosine", total=100), 40).state_dict()
    s = Scheduler(sgd(2), "cosine", total=101)
    change = abs(s.schedule(40) - get_schedule("cosine", total=100)(40)) / s.schedule(40)
    with pytest.raises(StateError, match="jumps"):
        s.load_state_dict(state, replan=True, rtol=change / 2)
    s.load_state_dict(state, replan=True, rtol=change * 2)
    assert s.steps == 40
    assert lrs(s.optimizer) == [0.1 * s.schedule(40), 0.2 * s.schedule(40)]
    t = Scheduler(sgd(2), "constant", value=0.5)
    t.load_state_dict(state, replan=True, allow_jump=True)
    assert (t.steps, lrs(t.optimizer)) == (40, [0.05, 0.1])


def test_check_replan_reports_without_changing_anything():
    state = run(get_schedule("cosine", total=100), 40).state_dict()
    s = Scheduler(sgd(2), "constant", value=0.5)
    plan = s.check_replan(state, allow_jump=True)
    assert isinstance(plan, schedkit.Replan)
    assert plan.step == 40
    assert plan.old == tuple(state["values"])
    assert plan.new == (0.05, 0.1)
    assert plan.jumps == (0, 1)
    assert not plan.accepted
    assert plan.groups == (0, 1)
    assert s.steps == 0
    assert lrs(s.optimizer) == [0.05, 0.1]


@pytest.mark.parametrize("rtol", [-1.0, float("nan"), True, "0.1"])
def test_a_bad_rtol_is_a_spec_error(rtol):
    state = run(get_schedule("cosine", total=100), 4).state_dict()
    with pytest.raises(SpecError, match="relative tolerance"):
        Scheduler(sgd(2), "cosine", total=100).load_state_dict(state, replan=True, rtol=rtol)


def test_an_older_state_without_values_is_replanned_from_its_schedule():
    state = run(get_schedule("cosine", total=100), 40).state_dict()
    del state["values"]  # as schedkit wrote it before it saved them
    same = Scheduler(sgd(2), "cosine", total=100)
    same.load_state_dict(state)  # and it still loads as before
    assert same.steps == 40
    s = Scheduler(sgd(2), "cosine", total=120)
    with pytest.raises(StateError) as e:
        s.load_state_dict(state, replan=True)
    assert repr(0.1 * get_schedule("cosine", total=100)(40)) in str(e.value)
    t = Scheduler(sgd(2), "linear", total=100)  # a different family, the same value at 40?
    old = get_schedule("cosine", total=100)(40)
    assert not math.isclose(old, t.schedule(40), rel_tol=1e-6)
    with pytest.raises(StateError, match="at step 40"):
        t.load_state_dict(state, replan=True)


def test_an_older_state_whose_schedule_cannot_be_rebuilt_needs_allow_jump():
    state = run(get_schedule("cosine", total=100), 40).state_dict()
    del state["values"]
    state["schedule"] = {"type": "not_installed_here", "total": 100}
    s = Scheduler(sgd(2), "cosine", total=100)
    with pytest.raises(StateError, match="unknown in the state"):
        s.load_state_dict(state, replan=True)
    s.load_state_dict(state, replan=True, allow_jump=True)
    assert s.steps == 40


def test_bad_saved_values_are_refused():
    state = run(get_schedule("cosine", total=100), 4).state_dict()
    state["values"] = [0.1]
    with pytest.raises(StateError, match="one per group") as e:
        Scheduler(sgd(2), "cosine", total=100).load_state_dict(state, replan=True)
    assert e.value.path == "values"
    state["values"] = [0.1, float("nan")]
    with pytest.raises(StateError) as e:
        Scheduler(sgd(2), "cosine", total=100).load_state_dict(state, replan=True)
    assert e.value.path == "values[1]"


def test_the_key_and_the_groups_must_still_match():
    state = run(get_schedule("cosine", total=100), 4).state_dict()
    with pytest.raises(StateError, match="targets 3") as e:
        Scheduler(sgd(3), "cosine", total=100).load_state_dict(state, replan=True)
    assert e.value.path == "base_values"
    with pytest.raises(StateError) as e:
        Scheduler(sgd(2), "cosine", total=100, key="momentum").load_state_dict(state, replan=True)
    assert e.value.path == "key"


def test_the_new_plans_base_values_are_kept():
    """The curve and its base values come from the new plan: a lower peak after a spike is
    a jump to be allowed, then the new base is what the scheduler scales."""
    state = run(get_schedule("constant"), 10).state_dict()
    s = Scheduler(sgd(2, lr=0.05), "constant")
    with pytest.raises(StateError, match=r"0\.1 in the state, 0\.05 in the new plan"):
        s.load_state_dict(state, replan=True)
    s.load_state_dict(state, replan=True, allow_jump=True)
    assert s.base_values == [0.05, 0.1]
    assert s.state_dict()["base_values"] == [0.05, 0.1]


# -- stateful schedules ----------------------------------------------------------------


def plateau_run(**params):
    s = Scheduler(sgd(1), "plateau", patience=1, **params)
    for m in [1.0, 1.0, 1.0, 1.0, 1.0]:
        s.step(m)
    return s


def test_a_plateau_keeps_its_history_on_a_plateau_plan():
    old = plateau_run()
    assert old.schedule.value == pytest.approx(0.01)
    new = Scheduler(sgd(1), "plateau", patience=3, factor=0.1)
    new.load_state_dict(old.state_dict(), replan=True)
    assert new.schedule.state_dict() == old.schedule.state_dict()
    assert new.schedule.patience == 3
    assert lrs(new.optimizer) == lrs(old.optimizer)
    assert new.check_replan(old.state_dict()).carried == ("schedule_state",)


def test_a_new_family_starts_fresh_and_a_fresh_plateau_is_a_jump():
    old = plateau_run()
    new = Scheduler(sgd(1), "constant", value=old.schedule.value)
    new.load_state_dict(old.state_dict(), replan=True)
    assert new.steps == 5
    fresh = Scheduler(sgd(1), "plateau")
    plain = run(get_schedule("constant", value=0.01), 5, n_groups=1)
    with pytest.raises(StateError, match="jumps"):
        fresh.load_state_dict(plain.state_dict(), replan=True)
    assert fresh.schedule.value == 1.0  # nothing taken


def test_a_refused_plateau_replan_leaves_the_scheduler_as_it_was():
    old = plateau_run()
    new = Scheduler(sgd(1), "plateau", cooldown=0)
    state = old.state_dict()
    state["schedule_state"]["cooldown_left"] = 4  # more than this plateau's cooldown
    with pytest.raises(StateError) as e:
        new.load_state_dict(state, replan=True)
    assert e.value.path.startswith("schedule_state")
    assert new.schedule.value == 1.0
    assert new.steps == 0


# -- the resumed hook through composites -------------------------------------------------


def test_composites_hand_the_resume_to_their_parts():
    """A WSD deciding its decay at the resume inside a chain, a scale, a sequence (on the
    part's own clock) and a stretch (on the inner clock)."""
    wsd = get_schedule("wsd", total=1000, decay=100, decay_start="resume")
    chained = schedkit.compose.chain(wsd, get_schedule("constant"))
    assert chained.resumed(300, None).schedules[0].decay_start == 300
    scaled = schedkit.compose.scale(wsd, 0.5)
    assert scaled.resumed(300, None).schedule.decay_start == 300
    seq = sequence([get_schedule("constant"), wsd], [200])
    assert seq.resumed(100, None) is seq  # the WSD has not started: nothing decided
    assert seq.resumed(300, None).schedules[1].decay_start == 100
    st_ = stretch(wsd, 2.0)
    assert st_.resumed(601, None).schedule.decay_start == 300
    plain = get_schedule("cosine", total=100)
    assert plain.resumed(50, None) is plain


def test_the_hook_must_keep_the_family():
    class Other(schedkit.BaseSchedule):
        """A schedule whose resumed hook breaks the contract."""

        name = "other_for_replan_test"

        def __call__(self, step):
            return 1.0

        def resumed(self, step, previous):
            return get_schedule("constant")

    state = run(get_schedule("constant"), 3).state_dict()
    with pytest.raises(TypeError, match="keeps its family"):
        Scheduler(sgd(2), Other()).load_state_dict(state, replan=True)


# -- properties ---------------------------------------------------------------------------


def lr_curve(s, steps):
    out = [s.get_last_lr()]
    for _ in range(steps):
        s.step()
        out.append(s.get_last_lr())
    return out


@settings(max_examples=40, deadline=None)
@given(
    total=st.integers(50, 2000),
    warmup=st.integers(0, 40),
    data=st.data(),
)
def test_replanning_onto_the_same_plan_is_never_having_stopped(total, warmup, data):
    family = data.draw(st.sampled_from(["cosine", "wsd", "linear"]))
    params = {"total": total, "warmup": warmup}
    if family == "wsd":
        params["decay"] = data.draw(st.integers(1, total - warmup))
    plan = get_schedule(family, **params)
    k = data.draw(st.integers(0, total + 20))
    ref = lr_curve(Scheduler(sgd(2), plan), total + 30)
    first = run(plan, k)
    resumed = Scheduler(sgd(2), plan)
    resumed.load_state_dict(saved(first.state_dict()), replan=True)
    assert lr_curve(resumed, total + 30 - k) == ref[k:]


@settings(max_examples=40, deadline=None)
@given(total=st.integers(60, 2000), data=st.data())
def test_a_refusal_names_both_values_and_the_step(total, data):
    warmup = data.draw(st.integers(0, 20))
    other = data.draw(st.integers(total + 1, 3 * total))
    k = data.draw(st.integers(warmup + 1, total - 1))
    old = get_schedule("cosine", total=total, warmup=warmup)
    new = get_schedule("cosine", total=other, warmup=warmup)
    state = run(old, k).state_dict()
    s = Scheduler(sgd(2), new)
    a, b = 0.1 * old(k), 0.1 * new(k)
    if math.isclose(a, b, rel_tol=1e-6):
        s.load_state_dict(state, replan=True)
        return
    with pytest.raises(StateError) as e:
        s.load_state_dict(state, replan=True)
    assert f"at step {k} (param_groups[0]): {a!r} in the state, {b!r} in the new plan" in str(
        e.value
    )
    assert s.steps == 0


# -- setups ---------------------------------------------------------------------------------

OLD = """
[run]
total = 1000

[optimizer]
type = "AdamW"
lr = 1e-3
weight_decay = 0.1

[[rules]]
type = "no_weight_decay"

[schedules.lr]
type = "wsd"
decay = 100
warmup = 50
"""

WD = """
[schedules.wd]
key = "weight_decay"
type = "constant"
"""

NEW = OLD.replace("decay = 100", 'decay = 300\ndecay_start = "resume"').replace(
    "weight_decay = 0.1", "weight_decay = 0.05"
)


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))


def trained(text=OLD, steps=200):
    m = model()
    built = schedkit.loads_setup(text).build(m)
    for _ in range(steps):
        m(torch.randn(3, 4)).sum().backward()
        built.step()
    return m, built


@pytest.fixture(scope="module")
def old_state():
    """A run of OLD stopped at step 200 (a run of OLD + WD too): their states, saved."""
    _, old = trained()
    _, with_wd = trained(OLD + WD)
    return (
        saved(old.state_dict()),
        saved(with_wd.state_dict()),
        saved(old.schedulers["lr"].state_dict()),
    )


def test_the_resume_table_is_read_checked_and_round_trips():
    setup = schedkit.loads_setup(NEW + "\n[resume]\nreplan = true\nrtol = 0.001\n")
    assert setup.resume.replan is True
    assert setup.resume.rtol == 0.001
    assert setup.to_dict()["resume"] == {"replan": True, "rtol": 0.001}
    assert schedkit.loads_setup(setup.to_toml()) == setup
    assert "resume" not in schedkit.loads_setup(OLD).to_dict()
    with pytest.raises(schedkit.SetupError) as e:
        schedkit.loads_setup(OLD + '\n[resume]\nreplan = "yes"\nrtol = 2\nrtoll = 1\n')
    found = {p.path: p.message for p in e.value.problems}
    assert found["resume.replan"] == "expected true or false, got 'yes'"
    assert found["resume.rtol"].startswith("expected a relative tolerance between 0 and 1")
    assert "did you mean 'rtol'" in found["resume.rtoll"]


def test_built_replans_every_scheduler_and_keeps_the_new_hyperparameters(old_state):
    state = old_state[0]
    new = schedkit.loads_setup(NEW + "\n[resume]\nreplan = true\n").build(model())
    new.load_state_dict(state)
    lr = new.schedulers["lr"]
    assert lr.steps == 200
    assert lr.schedule.spec()["decay_start"] == 200
    assert new.resolved["schedules"]["lr"]["decay_start"] == 200
    assert new.state_dict()["setup"]["schedules"]["lr"]["decay_start"] == 200
    # the decayed groups take the new weight decay, the others keep none
    assert sorted(g["weight_decay"] for g in new.optimizer.param_groups) == [0.0, 0.05]
    # the moments came from the state
    assert torch.equal(
        next(iter(new.optimizer.state.values()))["exp_avg"],
        state["optimizer"]["state"][0]["exp_avg"],
    )
    ref = get_schedule("wsd", total=1000, decay=300, warmup=50, decay_start=200)
    for step in range(201, 600):
        new.optimizer.zero_grad()
        new.step()
        assert lrs(new.optimizer)[0] == 1e-3 * ref(step)


def test_built_replan_is_all_or_nothing(old_state):
    """The wd scheduler jumps: the lr one, the optimizer and the groups stay as they were."""
    state = old_state[1]
    text = (NEW + WD).replace('type = "constant"', 'type = "constant"\nvalue = 0.5')
    text = text.replace("weight_decay = 0.05", "weight_decay = 0.1")
    new = schedkit.loads_setup(text).build(model())
    before = (
        [dict((k, v) for k, v in g.items() if k != "params") for g in new.optimizer.param_groups],
        {k: s.state_dict() for k, s in new.schedulers.items()},
    )
    with pytest.raises(StateError) as e:
        new.load_state_dict(state, replan=True)
    assert e.value.path == "schedulers.wd.step"
    assert "weight_decay at step 200" in str(e.value)
    after = (
        [dict((k, v) for k, v in g.items() if k != "params") for g in new.optimizer.param_groups],
        {k: s.state_dict() for k, s in new.schedulers.items()},
    )
    assert after == before
    assert new.optimizer.state_dict()["state"] == {}
    new.load_state_dict(state, replan=True, allow_jump=True)
    assert new.schedulers["wd"].steps == new.schedulers["lr"].steps == 200
    assert sorted(g["weight_decay"] for g in new.optimizer.param_groups) == [0.0, 0.05]


def test_built_without_replan_refuses_a_new_plan_as_before(old_state):
    new = schedkit.loads_setup(NEW).build(model())
    with pytest.raises(StateError, match="different schedule"):
        new.load_state_dict(old_state[0])


# -- the command ------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, monkeypatch, old_state):
    torch.save(old_state[0], tmp_path / "old.pt")
    torch.save(old_state[2], tmp_path / "lr.pt")
    (tmp_path / "new.toml").write_text(NEW + "\n[resume]\nreplan = true\n")
    (tmp_path / "jump.toml").write_text(NEW.replace("lr = 1e-3", "lr = 2e-3"))
    (tmp_path / "replan_model.py").write_text(
        "import torch\n\ndef model():\n    return torch.nn.Sequential(torch.nn.Linear(4, 4), "
        "torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))\n\n"
        "def bare():\n    return torch.nn.Linear(4, 2, bias=False)\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_replan_prints_the_diff_the_values_and_the_verdict(files, capsys):
    code = main(["replan", "old.pt", "new.toml", "--model", "replan_model:model"])
    out = capsys.readouterr().out
    assert code == 0
    assert "schedules.lr.decay: 100 in the state, 300 in the new setup" in out
    assert "optimizer.weight_decay: 0.1 in the state, 0.05 in the new setup" in out
    assert "lr (lr) at step 200:" in out
    assert "decided at the resume: decay_start: 'resume' -> 200" in out
    assert "param_groups[0]: 0.001 -> 0.001" in out
    assert "accepted:" in out
    assert "note:" not in out


def test_cli_replan_refuses_a_jump_with_exit_1(files, capsys):
    code = main(["replan", "old.pt", "jump.toml", "--model", "replan_model:model"])
    out = capsys.readouterr().out
    assert code == 1
    assert "optimizer.lr: 0.001 in the state, 0.002 in the new setup" in out
    assert "param_groups[0]: 0.001 -> 0.002" in out
    assert "lr at step 200 (param_groups[0]): 0.001 in the state, 0.002 in the new plan" in out
    assert "refused:" in out
    assert "--allow-jump" in out
    assert "note: the new setup loads states of its own plan only" in out
    assert (
        main(["replan", "old.pt", "jump.toml", "--model", "replan_model:model", "--allow-jump"])
        == 0
    )


def test_cli_replan_json_and_a_scheduler_state(files, capsys):
    assert main(["replan", "lr.pt", "new.toml", "--model", "replan_model:model", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["accepted"] is True
    assert data["keys"]["lr"]["step"] == 200
    assert data["keys"]["lr"]["old"] == data["keys"]["lr"]["new"][:1] * 2
    assert data["diff"] == [
        "schedules.lr.decay: 100 in the state, 300 here",
        "schedules.lr.decay_start: absent in the state, 'resume' here",
    ]


def test_cli_replan_draws_both_plans(files, capsys):
    pytest.importorskip("matplotlib")
    code = main(["replan", "old.pt", "new.toml", "--model", "replan_model:model", "-o", "r.svg"])
    assert code == 0
    svg = Path("r.svg").read_text()
    for gid in ("old", "past", "new", "resume"):
        assert f'id="{gid}' in svg


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replan", "missing.pt", "new.toml"], "missing.pt: no such file"),
        (["replan", "new.toml", "new.toml"], "new.toml: not a state torch.load reads"),
        (["replan", "old.pt", "missing.toml"], "cannot read the file"),
        (["replan", "old.pt", "new.toml", "-o", "nowhere/x.png"], "does not exist"),
        (["replan", "old.pt", "new.toml", "--model", "replan_model:bare"], "base values for 2"),
    ],
)
def test_cli_replan_errors_without_a_traceback(files, capsys, argv, message):
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 1 and message in captured.out:  # a refusal report, not an error
        return
    assert code == 1
    assert message in captured.err


@settings(max_examples=30, deadline=None)
@given(total=st.integers(50, 1500), data=st.data())
def test_a_cosine_replanned_within_its_warmup_keeps_the_past(total, data):
    """The warmup does not depend on the total: a cosine given another total while still
    warming up has the same past, and runs on as if it had never stopped on the new plan."""
    warmup = data.draw(st.integers(1, 40))
    other = data.draw(st.integers(warmup + 1, 3000))
    k = data.draw(st.integers(0, warmup))
    old = get_schedule("cosine", total=total + warmup, warmup=warmup)
    new = get_schedule("cosine", total=other + warmup, warmup=warmup)
    assert [old(t) for t in range(k + 1)] == [new(t) for t in range(k + 1)]
    s = Scheduler(sgd(2), new)
    s.load_state_dict(saved(run(old, k).state_dict()), replan=True)
    ref = lr_curve(Scheduler(sgd(2), new), other + warmup + 5)
    assert lr_curve(s, other + warmup + 5 - k) == ref[k:]
