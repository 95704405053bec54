"""The scheduler adapter: torch's step convention, keys, tags, tensors, state and resume."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

import schedkit
from schedkit import Scheduler, SpecError, StateError, get_schedule, get_scheduler
from schedkit.testing import assert_plain, roundtrip
from tests.helpers import sgd


def lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def test_is_an_lr_scheduler_with_torchs_convention():
    """Value of step 0 at construction, step k after k step() calls: same floats as LambdaLR."""
    s = get_schedule("cosine", total=50, warmup=10)
    o1, o2 = sgd(3), sgd(3)
    ours = Scheduler(o1, s)
    ref = LambdaLR(o2, lr_lambda=s)
    assert isinstance(ours, LRScheduler)
    assert lrs(o1) == lrs(o2)
    for _ in range(60):
        o1.step()
        o2.step()
        ours.step()
        ref.step()
        assert lrs(o1) == lrs(o2)
        assert ours.get_last_lr() == ref.get_last_lr()
        assert ours.last_epoch == ref.last_epoch
    assert ours.base_lrs == ref.base_lrs


def _torch_seq(make, n):
    opt = sgd(2)
    sched = make(opt)
    out = [lrs(opt)]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(lrs(opt))
    return out


def _ours_seq(schedule, n):
    opt = sgd(2)
    sched = Scheduler(opt, schedule)
    out = [lrs(opt)]
    for _ in range(n):
        sched.step()
        out.append(lrs(opt))
    return out


@pytest.mark.parametrize(
    ("make_torch", "schedule"),
    [
        (
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40),
            get_schedule("cosine", total=40),
        ),
        (
            lambda o: torch.optim.lr_scheduler.LinearLR(
                o, start_factor=0.25, end_factor=1.0, total_iters=30
            ),
            get_schedule("linear", total=30, start=0.25, end=1.0),
        ),
        (
            lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=7),
            schedkit.sequence([get_schedule("constant", value=0.5), get_schedule("constant")], [7]),
        ),
        (
            lambda o: torch.optim.lr_scheduler.SequentialLR(
                o,
                [
                    torch.optim.lr_scheduler.LinearLR(
                        o, start_factor=0.1, end_factor=1.0, total_iters=10
                    ),
                    torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30),
                ],
                milestones=[10],
            ),
            schedkit.sequence(
                [
                    get_schedule("linear", total=10, start=0.1, end=1.0),
                    get_schedule("cosine", total=30),
                ],
                [10],
            ),
        ),
    ],
)
def test_values_agree_with_torch_where_semantics_coincide(make_torch, schedule):
    # torch computes these recursively, so its floats drift; ours are closed form
    theirs = _torch_seq(make_torch, 40)
    ours = _ours_seq(schedule, 40)
    for a, b in zip(theirs, ours, strict=True):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)


def test_bases_are_recorded_once_as_initial_values():
    opt = sgd(2)
    s1 = Scheduler(opt, "cosine", total=10)
    for _ in range(5):
        s1.step()
    assert opt.param_groups[0]["initial_lr"] == 0.1
    # a scheduler built later (e.g. after a resume) scales the original base, not today's value
    s2 = Scheduler(opt, "cosine", total=10)
    assert s2.base_values == [0.1, 0.2]
    assert lrs(opt) == [0.1, 0.2]


def test_other_keys_and_indexed_keys():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99))
    wd = Scheduler(opt, "linear", key="weight_decay", total=10, start=1.0, end=0.5)
    b1 = Scheduler(opt, "constant", key="betas[0]", value=0.95 / 0.9)
    g = opt.param_groups[0]
    assert g["betas"] == (0.9 * (0.95 / 0.9), 0.99)
    assert isinstance(g["betas"], tuple)
    assert g["initial_betas[0]"] == 0.9
    for _ in range(10):
        wd.step()
    assert g["weight_decay"] == pytest.approx(0.05)
    assert g["lr"] == 1e-3  # untouched
    assert b1.get_last_lr() == [g["betas"][0]]


def test_momentum_of_sgd():
    opt = sgd(1, momentum=0.9)
    s = Scheduler(opt, "linear", key="momentum", total=4, start=1.0, end=0.5)
    s.step()
    s.step()
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9 * 0.75)


def test_tensor_lr_is_updated_in_place():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=torch.tensor(0.01))
    t = opt.param_groups[0]["lr"]
    s = Scheduler(opt, "cosine", total=10, warmup=2)
    assert opt.param_groups[0]["lr"] is t
    assert t.item() == 0.0
    s.step()
    assert opt.param_groups[0]["lr"] is t
    assert t.item() == pytest.approx(0.005)
    assert s.get_last_lr() == [pytest.approx(0.005)]


def test_tensor_betas_are_filled_in_place():
    p = torch.nn.Parameter(torch.zeros(3))
    betas = (torch.tensor(0.9), torch.tensor(0.999))
    opt = torch.optim.Adam([p], lr=0.01, betas=betas)
    Scheduler(opt, "constant", key="betas[0]", value=0.5)
    assert opt.param_groups[0]["betas"][0] is betas[0]
    assert betas[0].item() == pytest.approx(0.45)


def test_tags_select_groups():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD(
        [
            {"params": [a], "lr": 1.0, "tags": {"backbone"}},
            {"params": [b], "lr": 2.0, "tags": ["head"]},
        ],
        lr=1.0,
    )
    s = Scheduler(opt, "constant", value=0.5, tags=["backbone"])
    assert lrs(opt) == [0.5, 2.0]
    assert s.base_values == [1.0]
    with pytest.raises(
        SpecError,
        match="tags: tags \\['neck'\\] match no param group \\(the groups carry: \\['backbone', 'head'\\]\\)",
    ):
        Scheduler(opt, "constant", tags=["neck"])


def test_missing_key_is_named():
    opt = torch.optim.Adam(torch.nn.Linear(1, 1).parameters())
    with pytest.raises(
        SpecError, match="param_groups\\[0\\].momentum: the group has no 'momentum'"
    ):
        Scheduler(opt, "constant", key="momentum")
    with pytest.raises(SpecError, match="key: expected a param-group key"):
        Scheduler(opt, "constant", key="betas[x]")


def test_durations_resolve_when_the_scheduler_is_built():
    opt = sgd()
    s = Scheduler(opt, "cosine", total="10ep", warmup="10%", steps_per_epoch=20)
    assert s.schedule == get_schedule("cosine", total=200, warmup=20)
    with pytest.raises(
        SpecError, match="total: '10ep' is in epochs, but steps_per_epoch was not given"
    ):
        Scheduler(sgd(), "cosine", total="10ep")
    u = get_schedule("cosine", total="10ep")
    with pytest.raises(SpecError, match="has durations that need resolving"):
        u(3)
    assert u.spec() == {"type": "cosine", "total": "10ep"}
    assert get_schedule(u.spec()) == u


def test_share_of_an_explicit_total():
    s = Scheduler(sgd(), "constant", warmup="5%", total_steps=400)
    assert s.schedule == get_schedule("constant", warmup=20)


def test_step_takes_no_metric_for_pure_schedules():
    s = Scheduler(sgd(), "constant")
    with pytest.raises(TypeError, match="'constant' does not observe a metric"):
        s.step(0.5)


def test_state_is_plain_versioned_and_documents_the_schedule():
    s = Scheduler(sgd(2), "cosine", total=100, warmup=10)
    for _ in range(7):
        s.step()
    state = s.state_dict()
    assert_plain(state)
    assert state == {
        "format": "schedkit.scheduler",
        "version": 1,
        "step": 7,
        "key": "lr",
        "tags": None,
        "base_values": [0.1, 0.2],
        "schedule": get_schedule("cosine", total=100, warmup=10).spec(),
        "schedule_state": None,
        "values": s.get_last_lr(),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True) == state


def test_loading_a_different_schedule_is_a_clear_error():
    s = Scheduler(sgd(), "cosine", total=100)
    state = s.state_dict()
    other = Scheduler(sgd(), "cosine", total=200)
    with pytest.raises(StateError, match="the state was written by a different schedule") as e:
        other.load_state_dict(state)
    assert "total: 100 in the state, 200 here" in str(e.value)
    assert "cycles" not in str(e.value)  # only the fields that differ
    with pytest.raises(StateError, match="not a schedkit scheduler state"):
        other.load_state_dict({"last_epoch": 3})
    with pytest.raises(StateError, match="newer than this schedkit reads"):
        other.load_state_dict({**other.state_dict(), "version": 99})
    with pytest.raises(StateError, match="base values for 1 groups, this scheduler targets 2"):
        Scheduler(sgd(2), "cosine", total=100).load_state_dict(state)


def test_survives_optimizer_load_state_dict():
    """torch's optimizer.load_state_dict replaces the group dicts; the scheduler follows."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    s = Scheduler(opt, "linear", total=10)
    for _ in range(3):
        opt.step()
        s.step()
    saved_opt, saved_s = opt.state_dict(), s.state_dict()
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1)
    s2 = Scheduler(opt2, "linear", total=10)
    opt2.load_state_dict(saved_opt)
    s2.load_state_dict(saved_s)
    s2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1 * 6 / 10)
    opt2.load_state_dict(saved_opt)  # again, after loading the scheduler
    s2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1 * 5 / 10)


def test_step_does_no_registry_work(monkeypatch):
    s = Scheduler(sgd(4), "cosine", total=100, warmup=10)

    def boom(*a, **k):
        raise AssertionError("registry used while stepping")

    monkeypatch.setattr(schedkit.default_registry(), "get", boom)
    for _ in range(20):
        s.step()
    assert s.steps == 20


def test_trains_a_tiny_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = get_scheduler("cosine", opt, warmup=100, total=1000)
    seen = []
    first = None
    for _ in range(1000):
        loss = torch.nn.functional.mse_loss(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        seen.append(opt.param_groups[0]["lr"])
    assert loss.item() < 0.05 * first
    assert max(seen) == pytest.approx(1e-2)
    assert seen.index(max(seen)) == 99  # step 100 is the peak, after 100 step() calls
    assert seen[-1] == 0.0


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(
        [
            {"type": "cosine", "total": 300, "end": 0.05},
            {"type": "linear", "total": 250, "start": 0.5, "end": 0.1},
            {"type": "constant", "value": 0.7},
        ]
    ),
    warm=st.integers(0, 100),
    start=st.floats(0.0, 1.0),
    at=st.integers(0, 400),
    more=st.integers(1, 60),
    groups=st.integers(1, 4),
)
def test_resume_is_exact(family, warm, start, at, more, groups):
    spec = {**family, "warmup": warm, "warmup_start": start}
    ref_opt = sgd(groups)
    ref = Scheduler(ref_opt, spec)
    trace = []
    for _ in range(at + more):
        ref.step()
        trace.append(lrs(ref_opt))
    opt1 = sgd(groups)
    s1 = Scheduler(opt1, spec)
    for _ in range(at):
        s1.step()
    state = roundtrip(s1.state_dict())
    opt2 = sgd(groups)
    s2 = Scheduler(opt2, get_schedule(state["schedule"]))
    s2.load_state_dict(state)
    for k in range(at, at + more):
        s2.step()
        assert lrs(opt2) == trace[k]


def test_an_epoch_given_to_a_plateau_without_epochs_is_a_type_error() -> None:
    """Only torch's ReduceLROnPlateau alias takes ``step(metric, epoch)``; the others said
    so with an AttributeError from inside the scheduler."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = get_scheduler("plateau", opt, patience=0)
    with pytest.raises(TypeError, match="'plateau' counts its steps itself"):
        sched.step(0.5, 3)
    assert sched.steps == 0
    assert sched.state_dict()["schedule_state"]["bad_steps"] == 0


def test_a_subclass_of_scheduler_keeps_an_alias_peer_attributes_and_its_own_name():
    import inspect

    class Mine(schedkit.Scheduler):
        pass

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    sched = Mine(opt, "torch.CosineAnnealingLR", T_max=10)
    assert isinstance(sched, Mine)
    assert sched.T_max == 10
    assert type(sched).__name__ == "Mine"
    with pytest.raises(AttributeError, match="'Mine' object has no attribute 'bogus'"):
        _ = sched.bogus
    plain = schedkit.Scheduler(opt, "torch.CosineAnnealingLR", T_max=10)
    with pytest.raises(AttributeError, match="'Scheduler' object has no attribute 'bogus'"):
        _ = plain.bogus
    assert list(inspect.signature(schedkit.Scheduler).parameters) == [
        "optimizer",
        "schedule",
        "options",
    ]
