"""A family's parameters never collide with the scheduler's own, and every registered
example builds through ``get_scheduler(name, optimizer, **example)``, what ``schedkit show``
tells users to write."""

from __future__ import annotations

import inspect
import types
import warnings

import pytest
import torch

import schedkit
from schedkit.registry import SCHEDULER_PARAMETERS, SHARED_OPTIONS, TRANSFORMERS_ARGUMENTS
from schedkit.schedule import _fields_of
from schedkit.scheduler import Scheduler

SCHEDULES = schedkit.registered("schedule")


def _keywords(fn) -> set[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {n for n, p in inspect.signature(fn).parameters.items() if p.kind in kinds} - {"self"}


def test_the_registry_knows_every_keyword_of_the_scheduler():
    # a new keyword of Scheduler or get_scheduler must be reserved for families too
    own = _keywords(Scheduler._construct) | _keywords(schedkit.get_scheduler)
    assert own == SCHEDULER_PARAMETERS


def test_optimizer_and_schedule_are_positional_only():
    params = inspect.signature(Scheduler.__init__).parameters
    assert params["optimizer"].kind is inspect.Parameter.POSITIONAL_ONLY
    assert params["schedule"].kind is inspect.Parameter.POSITIONAL_ONLY


@pytest.mark.parametrize("info", SCHEDULES, ids=lambda i: i.name)
def test_no_family_takes_a_parameter_of_the_scheduler(info):
    allowed = set(SHARED_OPTIONS)
    if getattr(info.cls, "from_transformers", None) is None:
        allowed |= TRANSFORMERS_ARGUMENTS
    own = _keywords(Scheduler._construct) | _keywords(schedkit.get_scheduler)
    assert set(_fields_of(info.cls)) & own <= allowed


EXAMPLES = [(i.name, ex) for i in SCHEDULES for ex in i.examples]


@pytest.mark.parametrize(("name", "example"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_every_example_builds_through_get_scheduler(name, example):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the torch aliases' own deprecation warnings
        sched = schedkit.get_scheduler(name, opt, **example)
        sched.step()
    assert sched.steps == 1
    assert all(isinstance(v, float) and v == v for v in sched.get_last_lr())


@pytest.mark.parametrize(
    ("name", "more"),
    [
        ("scale", {"factor": 0.5}),
        ("stretch", {"factor": 2.0}),
        ("noise", {}),
        ("warmup", {"steps": 10}),
    ],
)
def test_a_family_parameter_named_schedule_reaches_the_family(name, more):
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    inner = {"type": "cosine", "total": 100}
    sched = schedkit.get_scheduler(name, opt, schedule=inner, **more)
    alone = schedkit.get_schedule(name, schedule=inner, **more)
    assert sched.schedule == alone
    for step in range(1, 4):
        sched.step()
        assert opt.param_groups[0]["lr"] == 0.1 * alone(step)


def test_a_transformers_family_takes_its_own_parameters():
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    args = {"num_warmup_steps": 10, "num_training_steps": 100, "lr_init": 1e-3}
    sched = schedkit.get_scheduler("transformers.polynomial", opt, **args)
    assert sched.schedule == schedkit.get_schedule("transformers.polynomial", **args)
    positional = schedkit.get_scheduler(
        "transformers.polynomial", torch.optim.SGD([torch.zeros(1)], lr=0.1), 10, 100, lr_init=1e-3
    )
    assert positional.schedule == sched.schedule


def test_steps_per_epoch_reaches_a_family_that_takes_it():
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    sched = schedkit.get_scheduler(
        "mmengine.StepLR",
        opt,
        step_size=1,
        by_epoch=True,
        convert_to_iter_based=True,
        steps_per_epoch=4,
    )
    assert sched.schedule.spec()["steps_per_epoch"] == 4
    for _ in range(4):
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


def test_a_family_taking_a_scheduler_parameter_is_refused_at_registration(fresh_registry):
    class Tagged(schedkit.BaseSchedule):
        """Takes ``tags``, which the scheduler keeps for itself."""

        name = "tagged_family"
        tags: tuple[str, ...] = schedkit.field(default=())

        def __call__(self, step: float) -> float:
            return 1.0

    @schedkit.hookimpl
    def schedkit_add_schedules(registry):
        registry.add(Tagged)

    reg = fresh_registry()
    plugin = types.SimpleNamespace(schedkit_add_schedules=schedkit_add_schedules)
    with pytest.raises(schedkit.SpecError) as e:
        reg.register(plugin, name="tagged_plugin")
    assert "schedule 'tagged_family' has parameters named as the scheduler's own (tags)" in str(
        e.value
    )
    with pytest.raises(schedkit.UnknownNameError):
        reg.get("schedule", "tagged_family")
