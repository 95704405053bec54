"""transformers' names and call form reproduce transformers' lr, float for float."""

from __future__ import annotations

import math

import pytest
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit

W, T = 30, 200


def _optimizer(lrs=(1e-3, 3e-4, 5e-2), default=1e-3):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.AdamW(groups, lr=default)


def _trace(make, steps=T, metrics=None):
    opt = _optimizer()
    sched = make(opt)
    out = [[g["lr"] for g in opt.param_groups]]
    for k in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
        out.append([g["lr"] for g in opt.param_groups])
    return out


CASES = [
    ("linear", W, T, None),
    ("linear", 0, T, None),
    ("cosine", W, T, None),
    ("cosine", W, T, {"num_cycles": 1.5}),
    ("cosine_with_restarts", W, T, {"num_cycles": 3}),
    ("polynomial", W, T, None),
    ("polynomial", W, T, {"lr_end": 1e-5, "power": 2.0}),
    ("constant", None, None, None),
    ("constant_with_warmup", W, None, None),
    ("inverse_sqrt", W, None, None),
    ("inverse_sqrt", W, None, {"timescale": 77}),
    ("cosine_with_min_lr", W, T, {"min_lr_rate": 0.1}),
    ("cosine_with_min_lr", W, T, {"min_lr": 1e-5}),
    ("cosine_warmup_with_min_lr", W, T, {"min_lr_rate": 0.05}),
    ("cosine_warmup_with_min_lr", W, T, {"min_lr": 2e-5, "warmup_lr_rate": 0.1}),
    ("warmup_stable_decay", W, T, {"num_decay_steps": 50}),
    (
        "warmup_stable_decay",
        W,
        None,
        {
            "num_decay_steps": 40,
            "num_stable_steps": 60,
            "warmup_type": "1-sqrt",
            "decay_type": "1-sqrt",
            "min_lr_ratio": 0.1,
        },
    ),
    (
        "warmup_stable_decay",
        10,
        T,
        {
            "num_decay_steps": 90,
            "warmup_type": "cosine",
            "decay_type": "linear",
            "min_lr_ratio": 0.2,
        },
    ),
]


@pytest.mark.parametrize(("name", "warmup", "total", "kwargs"), CASES)
def test_call_form_reproduces_transformers_exactly(name, warmup, total, kwargs):
    def theirs(opt):
        return transformers.get_scheduler(
            name,
            opt,
            num_warmup_steps=warmup,
            num_training_steps=total,
            scheduler_specific_kwargs=kwargs,
        )

    def ours(opt):
        return schedkit.get_scheduler(
            name,
            opt,
            num_warmup_steps=warmup,
            num_training_steps=total,
            scheduler_specific_kwargs=kwargs,
        )

    a, b = _trace(theirs), _trace(ours)
    assert a == b  # every step, every group, to the last bit


def test_positional_call_form_and_enum_names():
    from transformers import SchedulerType

    a = _trace(lambda o: transformers.get_scheduler(SchedulerType.COSINE, o, 10, 100), steps=100)
    b = _trace(lambda o: schedkit.get_scheduler(SchedulerType.COSINE, o, 10, 100), steps=100)
    assert a == b


def test_reduce_lr_on_plateau():
    metrics = [1.0 / (1 + k) ** 0.05 + 0.1 * math.sin(k) for k in range(T)]
    # torch skips a reduction smaller than eps per group, in absolute lr; schedkit's eps is on
    # the shared factor, so the two agree while reductions stay above eps (documented)
    kwargs = {"mode": "min", "factor": 0.5, "patience": 8, "cooldown": 2, "threshold": 1e-3}
    a = _trace(
        lambda o: transformers.get_scheduler(
            "reduce_lr_on_plateau", o, scheduler_specific_kwargs=kwargs
        ),
        metrics=metrics,
    )
    b = _trace(
        lambda o: schedkit.get_scheduler(
            "reduce_lr_on_plateau", o, scheduler_specific_kwargs=kwargs
        ),
        metrics=metrics,
    )
    assert a[-1] != a[0]  # it did reduce
    assert a == b  # torch's ReduceLROnPlateau, group by group


def test_reduce_lr_on_plateau_floors_each_group_at_min_lr():
    """min_lr is an absolute floor per group, as transformers (torch) applies it."""
    kwargs = {"factor": 0.5, "patience": 0, "min_lr": 0.002}
    metrics = [1.0] * 8

    def make(get):
        return lambda o: get("reduce_lr_on_plateau", o, scheduler_specific_kwargs=kwargs)

    a = _trace(make(transformers.get_scheduler), steps=8, metrics=metrics)
    b = _trace(make(schedkit.get_scheduler), steps=8, metrics=metrics)
    assert a == b
    opt = _optimizer(lrs=(0.1, 0.003), default=0.1)
    sched = schedkit.get_scheduler("reduce_lr_on_plateau", opt, scheduler_specific_kwargs=kwargs)
    sched.step(1.0)
    sched.step(1.0)  # the first reduction
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.002]


def test_keyword_call_form():
    def call(get):
        return lambda o: get(
            name="cosine",
            optimizer=o,
            num_warmup_steps=10,
            num_training_steps=100,
            scheduler_specific_kwargs={"num_cycles": 0.7},
        )

    assert _trace(call(transformers.get_scheduler), 100) == _trace(
        call(schedkit.get_scheduler), 100
    )


def _enum_kwargs(name):
    """Arguments each transformers schedule needs, as its users pass them."""
    return {
        "cosine_with_min_lr": {"min_lr_rate": 0.1},
        "cosine_warmup_with_min_lr": {"min_lr": 1e-5},
        "warmup_stable_decay": {"num_decay_steps": 50},
        "greedy": {"patience": 2, "factor": 0.9, "min_lr": 1e-4, "cooldown": 1},
    }.get(name)


@pytest.mark.parametrize("member", list(transformers.SchedulerType))
def test_every_name_of_transformers_scheduler_type(member):
    """Every name the installed transformers knows, as the Trainer calls it."""
    kwargs = _enum_kwargs(member.value)
    metrics = None
    if member.value in ("reduce_lr_on_plateau", "greedy"):
        metrics = [1.0 / (1 + k) ** 0.5 + 0.2 * math.sin(k / 3) for k in range(T)]

    def call(get):
        return lambda o: get(
            member.value,
            o,
            num_warmup_steps=W,
            num_training_steps=T,
            scheduler_specific_kwargs=kwargs,
        )

    a = _trace(call(transformers.get_scheduler), metrics=metrics)
    b = _trace(call(schedkit.get_scheduler), metrics=metrics)
    assert a == b


def test_the_polynomial_quirk_is_kept():
    """transformers divides by the optimizer's default lr, whatever the group's lr."""
    opt = _optimizer(lrs=(1e-3, 1e-2), default=1e-3)
    schedkit.get_scheduler(
        "polynomial",
        opt,
        num_warmup_steps=0,
        num_training_steps=10,
        scheduler_specific_kwargs={"lr_end": 1e-4},
    )
    # the end factor is lr_end / defaults["lr"] = 0.1 for both groups: 1e-3 * ... at step 0 is 1
    s = schedkit.get_scheduler("polynomial", _optimizer(lrs=(1e-3, 1e-2)), 0, 10, {"lr_end": 1e-4})
    for _ in range(10):
        s.step()
    assert s.get_last_lr() == pytest.approx([1e-4, 1e-3])


def test_call_form_errors_are_transformers_errors():
    opt = _optimizer()
    with pytest.raises(schedkit.SpecError, match="cosine requires `num_training_steps`"):
        schedkit.get_scheduler("cosine", opt, num_warmup_steps=10)
    with pytest.raises(schedkit.SpecError, match="Only one of min_lr or min_lr_rate should be set"):
        schedkit.get_scheduler(
            "cosine_with_min_lr", opt, 1, 10, {"min_lr": 1e-5, "min_lr_rate": 0.1}
        )
    with pytest.raises(schedkit.SpecError, match="'step' is not one of transformers' schedules"):
        schedkit.get_scheduler("step", opt, num_warmup_steps=10)
    with pytest.raises(TypeError, match="given with transformers' call form"):
        schedkit.get_scheduler("cosine", opt, 10, 100, total=3)
    with pytest.raises(schedkit.SpecError, match="does not take \\['bogus'\\]"):
        schedkit.get_scheduler("linear", opt, 10, 100, {"bogus": 1})
    before = [dict(g) for g in opt.param_groups]
    for bad in (3, "cycles", [("num_cycles", 2)]):
        with pytest.raises(
            schedkit.SpecError, match="scheduler_specific_kwargs: expected a mapping"
        ):
            schedkit.get_scheduler("cosine", opt, 10, 100, bad)
    assert [dict(g) for g in opt.param_groups] == before


def test_transformers_names_are_native_aliases():
    assert schedkit.get_schedule("cosine_with_restarts", period=10) == schedkit.get_schedule(
        "cosine_restarts", period=10
    )
    assert schedkit.get_schedule("constant_with_warmup", warmup=5) == schedkit.get_schedule(
        "constant", warmup=5
    )
    assert schedkit.get_schedule(
        "warmup_stable_decay", total=100, decay=10
    ) == schedkit.get_schedule("wsd", total=100, decay=10)
    assert schedkit.get_schedule("reduce_lr_on_plateau") == schedkit.get_schedule("plateau")
    assert schedkit.get_schedule("cosine_with_min_lr", total=100, end=0.1) == schedkit.get_schedule(
        "cosine", total=100, end=0.1
    )


def test_native_calls_hold_their_end_value():
    """transformers' cosine comes back up after num_training_steps; the native one holds."""
    s = schedkit.get_schedule("cosine", total=100, warmup=10)
    assert s(150) == 0.0
    opt = _optimizer()
    hf = transformers.get_scheduler("cosine", opt, 10, 100)
    for _ in range(150):
        opt.step()
        hf.step()
    assert hf.get_last_lr()[0] > 0


@pytest.mark.parametrize(
    ("spec", "hf_name", "kwargs"),
    [
        (
            {"type": "transformers.polynomial", "lr_init": 1e-3, "lr_end": 1e-5, "power": 2.0},
            "polynomial",
            {"lr_end": 1e-5, "power": 2.0},
        ),
        (
            {"type": "transformers.cosine_with_restarts", "num_cycles": 2},
            "cosine_with_restarts",
            {"num_cycles": 2},
        ),
        (
            {"type": "transformers.cosine_warmup_with_min_lr", "min_lr_rate": 0.1},
            "cosine_warmup_with_min_lr",
            {"min_lr_rate": 0.1},
        ),
        (
            {
                "type": "transformers.warmup_stable_decay",
                "num_stable_steps": 100,
                "num_decay_steps": 70,
                "decay_type": "linear",
            },
            "warmup_stable_decay",
            {"num_decay_steps": 70, "num_stable_steps": 100, "decay_type": "linear"},
        ),
    ],
)
def test_quirk_schedules_are_specs_too(spec, hf_name, kwargs):
    """The call form's result is a plain spec that a checkpoint records and TOML can name."""
    steps = (
        {"num_warmup_steps": W}
        if hf_name == "warmup_stable_decay"
        else {"num_warmup_steps": W, "num_training_steps": T}
    )
    s = schedkit.get_schedule({**spec, **steps})
    assert schedkit.get_schedule(s.spec()) == s
    hf_total = T if hf_name != "warmup_stable_decay" else None
    a = _trace(lambda o: transformers.get_scheduler(hf_name, o, W, hf_total, kwargs))
    b = _trace(lambda o: schedkit.Scheduler(o, s))
    assert a == b


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patience": 1, "factor": 0.8, "min_lr": [1e-4, 2e-4, 0.04], "max_lr": 0.06},
        {"patience": 2, "warmup": 3, "cooldown": 2, "threshold_mode": "rel", "threshold": 0.01},
        {"patience": 0, "smooth": True, "window_size": 4, "reset_start": 3, "min_lr": 5e-4},
        {"mode": "max", "patience": 1, "eps": 1e-3},
    ],
)
def test_greedy_as_transformers_with_a_resume(kwargs):
    metrics = [1.0 / (1 + k) ** 0.3 + 0.3 * math.sin(k / 2) for k in range(T)]

    def call(get):
        return lambda o: get("greedy", o, scheduler_specific_kwargs=dict(kwargs))

    a = _trace(call(transformers.get_scheduler), metrics=metrics)
    b = _trace(call(schedkit.get_scheduler), metrics=metrics)
    assert a == b
    assert len({tuple(x) for x in a}) > 3  # it moved
    # a resume from the state, on a fresh optimizer, goes on with the same floats
    opt = _optimizer()
    sched = schedkit.get_scheduler("greedy", opt, scheduler_specific_kwargs=dict(kwargs))
    for k in range(T // 2):
        sched.step(metrics[k])
    state = sched.state_dict()
    opt2 = _optimizer()
    again = schedkit.get_scheduler("greedy", opt2, scheduler_specific_kwargs=dict(kwargs))
    again.load_state_dict(state)
    for k in range(T // 2, T):
        again.step(metrics[k])
        assert [g["lr"] for g in opt2.param_groups] == b[k + 1]


def test_greedy_is_a_spec_with_transformers_names_mapped():
    s = schedkit.get_schedule({"type": "transformers.greedy", "patience": 3, "min_lr": [0.1]})
    assert schedkit.get_schedule(s.spec()) == s
    assert s.spec()["min_lr"] == [0.1]
    opt = _optimizer()
    sched = schedkit.get_scheduler("greedy", opt, scheduler_specific_kwargs={"warmup": 4})
    assert sched.schedule.increase_cooldown == 4
    with pytest.raises(schedkit.SpecError, match="min_lr: has 1 values, but group 1"):
        schedkit.get_scheduler("greedy", _optimizer(), scheduler_specific_kwargs={"min_lr": [1e-4]})
    with pytest.raises(schedkit.SpecError, match="does not take \\['bogus'\\]"):
        schedkit.get_scheduler("greedy", opt, scheduler_specific_kwargs={"bogus": 1})


_NAMES = [m.value for m in transformers.SchedulerType if m.value not in ("greedy",)]
_NAMES.remove("reduce_lr_on_plateau")


@st.composite
def _hf_case(draw):
    name = draw(st.sampled_from(_NAMES))
    total = draw(st.integers(2, 120))
    warmup = draw(st.integers(0, total - 1))
    kw = {}
    if name in ("cosine", "cosine_warmup_with_min_lr", "cosine_with_min_lr"):
        kw["num_cycles"] = draw(st.sampled_from([0.5, 0.25, 1.5]))
    if name == "cosine_with_restarts":
        kw["num_cycles"] = draw(st.integers(1, 4))
    if name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        kw["min_lr_rate"] = draw(st.sampled_from([0.0, 0.05, 0.3]))
    if name == "polynomial":
        kw.update(lr_end=draw(st.sampled_from([1e-7, 1e-5])), power=draw(st.floats(0.5, 3.0)))
        warmup = min(warmup, total - 1)
    if name == "inverse_sqrt" and draw(st.booleans()):
        kw["timescale"] = draw(st.integers(1, 50))
    if name == "warmup_stable_decay":
        kw["num_decay_steps"] = draw(st.integers(1, total))
        kw["decay_type"] = draw(st.sampled_from(["cosine", "linear", "1-sqrt"]))
        kw["min_lr_ratio"] = draw(st.sampled_from([0.0, 0.1]))
        total = max(total, warmup + kw["num_decay_steps"])
    return name, warmup, total, kw


@settings(max_examples=40, deadline=None)
@given(
    case=_hf_case(),
    lrs=st.lists(st.floats(1e-4, 1.0), min_size=3, max_size=3),
    stop=st.integers(0, 60),
)
def test_call_form_over_drawn_configs_and_resume_by_construction(case, lrs, stop):
    """transformers' get_scheduler as the Trainer calls it, then the schedule function
    rebuilt with last_epoch (transformers' resume by construction): equal floats."""
    import inspect

    from transformers.optimization import TYPE_TO_SCHEDULER_FUNCTION, SchedulerType

    name, warmup, total, kw = case
    o1, o2 = _optimizer(lrs=lrs, default=lrs[0]), _optimizer(lrs=lrs, default=lrs[0])
    theirs = transformers.get_scheduler(name, o1, warmup, total, dict(kw))
    ours = schedkit.get_scheduler(name, o2, warmup, total, dict(kw))
    stop = min(stop, total)
    for _ in range(stop):
        assert [g["lr"] for g in o1.param_groups] == [g["lr"] for g in o2.param_groups]
        o1.step(), o2.step(), theirs.step(), ours.step()
    fn = TYPE_TO_SCHEDULER_FUNCTION[SchedulerType(name)]
    accepted = inspect.signature(fn).parameters
    args = {"num_warmup_steps": warmup, "num_training_steps": total, **kw}
    args = {k: v for k, v in args.items() if k in accepted}
    theirs = fn(o1, last_epoch=theirs.last_epoch, **args)
    ours = schedkit.get_scheduler(name, o2, warmup, total, dict(kw), last_epoch=ours.last_epoch)
    for _ in range(stop, total):
        assert [g["lr"] for g in o1.param_groups] == [g["lr"] for g in o2.param_groups]
        o1.step(), o2.step(), theirs.step(), ours.step()


def test_warmup_stable_decay_family_takes_get_wsd_schedules_arguments():
    """``transformers.warmup_stable_decay`` built as ``get_wsd_schedule`` is called, the
    stable phase left to ``num_training_steps``, gives transformers' lrs."""
    args = (W, 50)  # num_warmup_steps, num_decay_steps
    theirs = _trace(
        lambda o: transformers.get_wsd_schedule(o, *args, num_training_steps=T, min_lr_ratio=0.1)
    )
    family = schedkit.get_schedule(
        "transformers.warmup_stable_decay",
        num_warmup_steps=W,
        num_decay_steps=50,
        num_training_steps=T,
        min_lr_ratio=0.1,
    )
    assert _trace(lambda o: schedkit.get_scheduler(family, o)) == theirs
    assert schedkit.get_schedule(family.spec()) == family
    assert "num_stable_steps" not in family.spec()


def test_warmup_stable_decay_family_needs_a_stable_phase_or_a_total():
    with pytest.raises(schedkit.SpecError, match="num_training_steps or num_stable_steps"):
        schedkit.get_schedule(
            "transformers.warmup_stable_decay", num_warmup_steps=W, num_decay_steps=50
        )
