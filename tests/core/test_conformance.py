"""The conformance kit runs over every registered schedule, and can fail."""

from __future__ import annotations

import pytest

import schedkit
from schedkit.testing import check_registered, check_schedule

SCHEDULES = [c.name for c in schedkit.registered("schedule")]


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_registered_schedule_conforms(name):
    info = check_registered("schedule", name)
    assert info.examples


def test_kit_catches_a_schedule_that_remembers(fresh_registry):
    """A schedule whose value depends on call history fails the resume check."""
    import types

    class Drifting:
        """Multiplies by 0.99 at every call: what composed recursive schedulers do."""

        name = "drifting"

        def __init__(self) -> None:
            self.value = 1.0

        def __call__(self, step: float) -> float:
            self.value *= 0.99
            return self.value

        def spec(self):
            return {"type": "drifting"}

        def __hash__(self):
            return 0

        def __eq__(self, other):
            return isinstance(other, Drifting)

    @schedkit.hookimpl
    def schedkit_add_schedules(registry):
        registry.add(Drifting, examples=[{}])

    reg = fresh_registry()
    reg.register(types.SimpleNamespace(schedkit_add_schedules=schedkit_add_schedules), name="drift")
    with pytest.raises(AssertionError, match="drifting: (resumed at|values\\(\\) gives)"):
        check_schedule(Drifting())


def test_kit_catches_a_negative_factor(fresh_registry):
    import types

    class Negative(schedkit.BaseSchedule):
        """Below zero."""

        name = "negative"

        def __call__(self, step: float) -> float:
            return -1.0

    @schedkit.hookimpl
    def schedkit_add_schedules(registry):
        registry.add(Negative, examples=[{}])

    reg = fresh_registry()
    reg.register(types.SimpleNamespace(schedkit_add_schedules=schedkit_add_schedules), name="neg")
    with pytest.raises(AssertionError, match="negative: value at step 0 is negative \\(-1.0\\)"):
        check_registered("schedule", "negative")


def test_kit_catches_a_spec_that_does_not_rebuild(fresh_registry):
    import types

    class Forgetful(schedkit.BaseSchedule):
        """Its spec leaves out its parameter."""

        name = "forgetful"
        value: float = schedkit.factor(1.0)

        def __call__(self, step: float) -> float:
            return self.value

        def spec(self):
            return {"type": "forgetful"}

    @schedkit.hookimpl
    def schedkit_add_schedules(registry):
        registry.add(Forgetful, examples=[{"value": 0.5}])

    reg = fresh_registry()
    reg.register(
        types.SimpleNamespace(schedkit_add_schedules=schedkit_add_schedules), name="forget"
    )
    with pytest.raises(AssertionError, match="forgetful: spec does not rebuild an equal schedule"):
        check_registered("schedule", "forgetful")
