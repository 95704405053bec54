"""``mmengine.*`` without mmengine: the values its formulas give, the list's composition,
specs and errors (the comparison with the installed mmengine is tests/convert)."""

from __future__ import annotations

import math

import pytest
import torch

import schedkit

NAMES = [
    "mmengine.StepLR",
    "mmengine.MultiStepLR",
    "mmengine.ConstantLR",
    "mmengine.LinearLR",
    "mmengine.ExponentialLR",
    "mmengine.PolyLR",
    "mmengine.CosineAnnealingLR",
    "mmengine.CosineRestartLR",
    "mmengine.OneCycleLR",
    "mmengine.StepMomentum",
    "mmengine.MultiStepMomentum",
    "mmengine.ConstantMomentum",
    "mmengine.LinearMomentum",
    "mmengine.ExponentialMomentum",
    "mmengine.PolyMomentum",
    "mmengine.CosineAnnealingMomentum",
    "mmengine.CosineRestartMomentum",
    "mmengine.param_scheduler",
]


def sgd(*lrs: float) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)])


def run(spec: dict[str, object], steps: int, *lrs: float) -> list[list[float]]:
    opt = sgd(*lrs)
    sched = schedkit.get_scheduler(spec, opt)
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in opt.param_groups])
        sched.step()
    return out


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_docs_and_examples_that_round_trip(name: str) -> None:
    info = schedkit.default_registry().get("schedule", name)
    assert info.doc
    for example in info.examples:
        spec = schedkit.get_schedule(name, **example).spec()
        assert schedkit.get_schedule(spec).spec() == spec


def test_linear_warmup_reaches_the_groups_lr_at_end_minus_one() -> None:
    got = run({"type": "mmengine.LinearLR", "start_factor": 0.1, "end": 5}, 8, 1.0, 0.5)
    assert got[0] == [0.1, 0.05]
    for k in range(5):
        want = 0.1 + 0.9 * k / 4
        assert got[k][0] == pytest.approx(want, rel=1e-14)
        assert got[k][1] == pytest.approx(want / 2, rel=1e-14)
    assert got[5] == got[4] == got[7]


def test_overlapping_schedulers_multiply() -> None:
    spec = {
        "type": "mmengine.param_scheduler",
        "schedulers": [
            {"type": "mmengine.ConstantLR", "factor": 0.5, "end": 3},
            {"type": "mmengine.ExponentialLR", "gamma": 0.9, "begin": 1, "end": 6},
        ],
    }
    got = [v[0] for v in run(spec, 8, 1.0)]
    # ConstantLR gives the factor back at its last step (end - 1), as mmengine does
    want = [0.5, 0.5, 0.9, 0.81, 0.729, 0.6561, 0.6561, 0.6561]
    assert got == pytest.approx(want, rel=1e-14)


def test_epoch_based_schedulers_step_once_an_epoch_with_steps_per_epoch() -> None:
    spec = {
        "type": "mmengine.param_scheduler",
        "steps_per_epoch": 3,
        "schedulers": [
            {"type": "mmengine.MultiStepLR", "milestones": [1, 2], "gamma": 0.5},
            {"type": "mmengine.LinearLR", "start_factor": 0.5, "by_epoch": False, "end": 3},
        ],
    }
    got = [v[0] for v in run(spec, 8, 1.0)]
    want = [0.5, 0.75, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert got == pytest.approx(want, rel=1e-14)


def test_convert_to_iter_based_scales_the_range_and_the_period() -> None:
    spec = {
        "type": "mmengine.param_scheduler",
        "steps_per_epoch": 4,
        "schedulers": [
            {"type": "mmengine.CosineAnnealingLR", "end": 2, "convert_to_iter_based": True}
        ],
    }
    got = [v[0] for v in run(spec, 10, 1.0)]
    for k in range(8):
        assert got[k] == pytest.approx((1 + math.cos(math.pi * k / 8)) / 2, rel=1e-12, abs=1e-15)


def test_errors_name_the_key() -> None:
    with pytest.raises(schedkit.SpecError, match="end should be larger than begin"):
        schedkit.get_schedule("mmengine.LinearLR", begin=5, end=5)
    with pytest.raises(schedkit.SpecError, match="only epoch-based"):
        schedkit.get_schedule("mmengine.StepLR", step_size=2, by_epoch=False,
                              convert_to_iter_based=True)  # fmt: skip
    with pytest.raises(schedkit.SpecError, match="needs steps_per_epoch"):
        schedkit.get_schedule(
            "mmengine.param_scheduler",
            schedulers=[{"type": "mmengine.ExponentialLR", "gamma": 0.9,
                         "convert_to_iter_based": True}],
        )  # fmt: skip
    with pytest.raises(schedkit.SpecError, match="expected an mmengine"):
        schedkit.get_schedule(
            "mmengine.param_scheduler", schedulers=[{"type": "cosine", "total": 10}]
        )
    with pytest.raises(schedkit.SpecError, match="same length"):
        schedkit.get_schedule("mmengine.CosineRestartLR", periods=[3, 4], eta_min=0.0)
    with pytest.raises(schedkit.SpecError, match="not both"):
        schedkit.get_schedule("mmengine.CosineAnnealingLR", eta_min=0.0, eta_min_ratio=0.1)


def test_momentum_schedulers_move_momentum_or_beta1() -> None:
    params = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))]
    opt = torch.optim.AdamW(params, betas=(0.9, 0.999))
    sched = schedkit.get_scheduler(
        {"type": "mmengine.LinearMomentum", "start_factor": 0.5, "end": 3}, opt, key="betas[0]"
    )
    got = []
    for _ in range(4):
        got.append(opt.param_groups[0]["betas"])
        sched.step()
    assert [b[0] for b in got] == pytest.approx([0.45, 0.675, 0.9, 0.9], rel=1e-14)
    assert {b[1] for b in got} == {0.999}


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"type": "mmengine.LinearLR", "start_factor": 0.0}, "start_factor"),
        ({"type": "mmengine.LinearMomentum", "start_factor": 0}, "start_factor"),
        ({"type": "mmengine.ConstantLR", "factor": 0.0}, "factor"),
        (
            {
                "type": "mmengine.param_scheduler",
                "schedulers": [{"type": "mmengine.ConstantLR", "factor": 0}],
            },
            "schedulers[0].factor",
        ),
    ],
)
def test_a_zero_factor_mmengine_would_divide_by_is_refused(spec, path):
    # mmengine accepts these and raises ZeroDivisionError a step later
    with pytest.raises(schedkit.SpecError, match="expected > 0") as err:
        schedkit.get_schedule(spec)
    assert err.value.path == path


def _plateau_run(sched, opt, steps, start=0):
    lrs = []
    for k in range(start, start + steps):
        metric = 1.0 if (k // 10) % 3 else 0.5  # plateaus, so reductions fall
        if (k + 1) % 10 == 0:
            sched.step(metric)
        else:
            sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    return lrs


def test_a_plateau_list_resumes_from_its_curves_without_replaying(monkeypatch):
    spec = {
        "type": "mmengine.param_scheduler",
        "steps_per_epoch": 10,
        "schedulers": [
            {
                "type": "mmengine.LinearLR",
                "start_factor": 0.1,
                "by_epoch": False,
                "begin": 0,
                "end": 30,
            },
            {"type": "mmengine.ReduceOnPlateauLR", "patience": 1, "factor": 0.5},
        ],
    }

    def make():
        params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
        opt = torch.optim.SGD(
            [{"params": [p], "lr": lr} for p, lr in zip(params, (0.1, 0.02, 0.3), strict=True)]
        )
        return opt, schedkit.Scheduler(opt, spec)

    opt, sched = make()
    whole = _plateau_run(sched, opt, 200)
    opt, sched = make()
    _plateau_run(sched, opt, 120)
    state = sched.state_dict()
    assert len(state["curves"]) == 3
    opt2, resumed = make()
    from schedkit_compat import mmengine_schedulers as mmengine

    updates = []
    real_plain = mmengine._Run._plain
    monkeypatch.setattr(
        mmengine._Run, "_plain", lambda run, *a: updates.append(a) or real_plain(run, *a)
    )
    resumed.load_state_dict(state)
    assert updates == []  # the curves continue from the state: no step replayed
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    assert _plateau_run(resumed, opt2, 80, start=120) == whole[120:]
    assert len(updates) <= 80 * 3  # then one update per step and group
    assert whole[-1] != whole[0]  # reductions fell


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_with_a_warmup_of_no_length_is_refused(three_phase):
    # mmengine, like torch, divides by zero at the first step when pct_start * total == 1
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    spec = {
        "type": "mmengine.OneCycleLR",
        "eta_max": 1.0,
        "total_steps": 10,
        "pct_start": 0.1,
        "three_phase": three_phase,
    }
    with pytest.raises(schedkit.SpecError, match="no length") as err:
        schedkit.get_scheduler(spec, opt)
    assert err.value.path == "pct_start"
    assert opt.param_groups[0]["lr"] == 0.1
    assert "initial_lr" not in opt.param_groups[0]


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"type": "mmengine.OneCycleLR", "eta_max": 1.0, "end": 10, "pct_start": 0.1}, "pct_start"),
        (
            {
                "type": "mmengine.param_scheduler",
                "schedulers": [
                    {"type": "mmengine.LinearLR", "end": 5},
                    {
                        "type": "mmengine.OneCycleLR",
                        "eta_max": 1.0,
                        "total_steps": 10,
                        "pct_start": 0.1,
                    },
                ],
            },
            "schedulers[1].pct_start",
        ),
        (
            {
                "type": "mmengine.param_scheduler",
                "steps_per_epoch": 5,
                "schedulers": [
                    {
                        "type": "mmengine.OneCycleLR",
                        "eta_max": 1.0,
                        "total_steps": 2,
                        "pct_start": 0.1,
                        "convert_to_iter_based": True,
                    }
                ],
            },
            "schedulers[0].pct_start",
        ),
    ],
)
def test_one_cycle_of_no_warmup_is_refused_when_built_with_its_key_path(spec, path):
    with pytest.raises(schedkit.SpecError, match="no length") as err:
        schedkit.get_schedule(spec)
    assert err.value.path == path


def test_the_plateau_aliases_take_mmengine_metrics_dict():
    def run(feed):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = schedkit.get_scheduler(
            "mmengine.ReduceOnPlateauLR", opt, monitor="acc", rule="greater", patience=0
        )
        for acc in (0.5, 0.4, 0.3):
            sched.step(feed(acc))
        return opt.param_groups[0]["lr"]

    assert run(lambda a: {"acc": a, "loss": 1.0}) == run(lambda a: a) < 0.1
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = schedkit.get_scheduler("mmengine.ReduceOnPlateauLR", opt, monitor="acc")
    state = sched.state_dict()
    with pytest.raises(
        schedkit.SpecError, match=r"no 'acc' \(the monitor\); they have \['loss'\]"
    ) as e:
        sched.step({"loss": 0.3})
    assert e.value.path == "metric"
    assert sched.state_dict() == state  # nothing changed
    plain = schedkit.get_scheduler("plateau", opt)
    with pytest.raises(schedkit.SpecError, match="monitors no named metric"):
        plain.step({"loss": 0.3})


def test_the_list_class_built_from_specs_observes_its_plateau():
    from schedkit_compat.mmengine import ParamSchedulerList
    from schedkit_compat.mmengine_plateau import ObservingList

    plateau = ObservingList(schedulers=[{"type": "mmengine.ReduceOnPlateauLR", "patience": 0}])
    assert isinstance(plateau, ObservingList)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = schedkit.Scheduler(opt, plateau)
    assert sched.observes_metrics
    sched.step(1.0)
    sched.step(2.0)
    assert opt.param_groups[0]["lr"] == 0.1 * 0.1  # mmengine's default factor
    plain = ObservingList(schedulers=[{"type": "mmengine.LinearLR"}])
    assert type(plain) is ParamSchedulerList


def test_a_group_added_that_a_per_group_list_has_no_value_for_refuses_each_step() -> None:
    """The step is refused before anything is set: step count, groups and lrs unchanged,
    and the next step refused the same way (not stepped with a writer for fewer groups)."""
    ps = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    opt = torch.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}], lr=0.1)
    s = schedkit.get_scheduler(
        "mmengine.OneCycleLR", opt, eta_max=[0.5, 0.2], total_steps=20, by_epoch=False
    )
    for _ in range(5):
        s.step()
    opt.add_param_group({"params": [ps[2]], "lr": 0.01})
    before = ([dict(g, params=None) for g in opt.param_groups], s.state_dict(), s.get_lr())
    for _ in range(2):
        with pytest.raises(schedkit.SpecError, match="expected 3 values") as info:
            s.step()
        assert info.value.path == "eta_max"
        after = ([dict(g, params=None) for g in opt.param_groups], s.state_dict(), s.get_lr())
        assert after == before
        assert s.last_epoch == 5
        assert "initial_lr" not in opt.param_groups[2]
