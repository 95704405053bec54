"""The ``lambda`` family: a Python function as a schedule, in-process only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import attrs

import schedkit
from schedkit import SpecError
from schedkit.plugin import Field


def _callable(inst: object, attribute: Field, value: object) -> None:
    if not callable(value):
        raise SpecError(f"expected a function of the step, got {value!r}", attribute.name)


@attrs.frozen
class Lambda(schedkit.BaseSchedule):
    """Any function ``fn(step) -> factor``, for experiments in a notebook or script.

    A function cannot be written as data, so a ``lambda`` schedule is refused in specs and
    TOML files, and a scheduler holding one cannot save its state (``spec()`` and
    ``state_dict()`` raise): write a family (a plugin) for anything that must resume.
    Like torch's ``LambdaLR``, the function is called with the step and must be pure for
    resuming and composing to be exact.

    Example: ``get_scheduler("lambda", opt, fn=lambda t: 0.95 ** t)``.
    """

    name = "lambda"
    in_process_only = True

    fn: Callable[[float], float] = schedkit.field(validator=_callable)

    def __call__(self, step: float) -> float:
        return float(self.fn(step))

    def spec(self) -> NoReturn:
        raise SpecError(
            f"a 'lambda' schedule holds the function {self.fn!r}, which cannot be written as data "
            "(specs, TOML, checkpoints); register a schedule family for that"
        )

    def shifted(self, steps: int) -> Any:
        return self


def _decay(step: float) -> float:
    """The example function: 0.99 per step."""
    return float(0.99**step)


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(Lambda, examples=[{"fn": _decay}])
