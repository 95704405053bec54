"""What the aliases share: fields, and per-group curves computed as the original computes them.

Native families are factors of each group's base value. Other libraries are not always:
torch's ``StepLR`` multiplies the previous lr (so its floats are not ``base * gamma ** n``),
``CosineAnnealingLR`` is affine in the base (``eta_min``), Cerebras writes absolute values.
An alias reproduces those floats through the scheduler's per-group path
(:class:`schedkit.protocols.GroupSchedule`), one curve per param group.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import NOTHING, Field, increasing_steps, number, steps, to_float
from schedkit.plugin import optimizer_options as all_optimizer_options

INF = math.inf


# -- fields ---------------------------------------------------------------------------


def count(default: Any = NOTHING, *, positive: bool = False) -> Any:
    """A whole number of steps, as the original libraries take them (no ``"5ep"``)."""
    return schedkit.field(default=default, validator=steps(positive=positive))


def _steps_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def step_list(default: Any = NOTHING, *, increasing: bool = False) -> Any:
    """A list of whole steps (milestones), as the original libraries take them; with
    ``increasing``, strictly increasing (otherwise repeats and any order are kept)."""
    each = steps()

    def validate(inst: Any, attribute: Field, value: Any) -> None:
        if not isinstance(value, tuple):
            raise SpecError(f"expected a list of steps, got {value!r}", attribute.name)
        if increasing:
            increasing_steps(inst, attribute, value)
            return
        for v in value:
            each(inst, attribute, v)

    return schedkit.field(default=default, converter=_steps_tuple, validator=validate)


def _scalar(value: Any) -> Any:
    """A number; a one-element tensor (torch accepts 0-dim tensor lrs) as its float."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    return to_float(value)


def _floats(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_scalar(v) for v in value)
    return _scalar(value)


def scalar(default: Any = NOTHING, **bounds: float) -> Any:
    """A number, or a one-element tensor as its float (torch takes tensor momenta)."""
    return schedkit.field(default=default, converter=_scalar, validator=number(**bounds))


def each_group(default: Any = NOTHING, **bounds: float) -> Any:
    """A number, or a list with one number per param group (torch's ``max_lr=[...]``)."""
    check = number(**bounds)

    def validate(inst: Any, attribute: Field, value: Any) -> None:
        if isinstance(value, tuple):
            if not value:
                raise SpecError("expected a number or a non-empty list", attribute.name)
            for v in value:
                check(inst, attribute, v)
        else:
            check(inst, attribute, value)

    return schedkit.field(default=default, converter=_floats, validator=validate)


def pick(value: float | tuple[float, ...], index: int, name: str) -> float:
    """The value for the group at ``index``: the number itself, or its item of the list."""
    if not isinstance(value, tuple):
        return value
    if index >= len(value):
        raise SpecError(f"has {len(value)} values, but group {index} is scheduled too", name)
    return value[index]


def function(*, optional: bool = False) -> Any:
    """A Python callable (in-process only, like torch's ``lr_lambda``)."""

    def validate(inst: Any, attribute: Field, value: Any) -> None:
        if optional and value is None:
            return
        items = value if isinstance(value, tuple) else (value,)
        if not items or not all(callable(f) for f in items):
            raise SpecError(f"expected a function of the step, got {value!r}", attribute.name)

    def convert(value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    return schedkit.field(
        default=None if optional else NOTHING, converter=convert, validator=validate
    )


def _table(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(
            (
                str(k),
                tuple(sorted((n, tuple(x) if isinstance(x, list) else x) for n, x in v.items()))
                if isinstance(v, Mapping)
                else v,
            )
            for k, v in value.items()
        )
    return value


def optimizer_options() -> frozenset[str]:
    """Every option a ``torch.optim`` optimizer takes per group (``betas``, ``eps``,
    ``momentum``...), besides ``lr`` and ``weight_decay``."""
    return all_optimizer_options() - {"lr", "weight_decay"}


def _option_value(v: Any) -> bool:
    """A value an optimizer option takes: a finite number, a flag, a name, or a tuple of
    finite numbers (``betas``)."""
    if isinstance(v, (bool, str)):
        return True
    if isinstance(v, tuple):
        return bool(v) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v
        )
    return isinstance(v, (int, float)) and math.isfinite(v)


def settings_table(settings: tuple[str, ...], refused: str = "", options: bool = False) -> Any:
    """A table of names to settings (``{"bias": {"weight_decay": 0.0}}``), each a number
    >= 0 among ``settings``; ``refused`` explains why another setting is not taken;
    ``options``: any option of a ``torch.optim`` optimizer is taken too (its value as the
    group's, checked against the group's optimizer when a setup builds)."""

    def validate(inst: Any, attribute: Field, value: Any) -> None:
        if not isinstance(value, tuple):
            raise SpecError(f"expected a table of names to settings, got {value!r}", attribute.name)
        for name, table in value:
            where = f"{attribute.name}.{name}"
            if not isinstance(table, tuple):
                raise SpecError(f"expected a table of settings, got {table!r}", where)
            for key, v in table:
                if options and key in optimizer_options():
                    if not _option_value(v):
                        raise SpecError(
                            f"expected a finite number, a flag, a name or a list of numbers, "
                            f"got {v!r}",
                            f"{where}.{key}",
                        )
                    continue
                if key not in settings:
                    why = refused or f"unknown setting (expected one of: {', '.join(settings)})"
                    raise SpecError(why, f"{where}.{key}")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    raise SpecError(f"expected a number >= 0, got {v!r}", f"{where}.{key}")

    return schedkit.field(factory=tuple, converter=_table, validator=validate)


def table_spec(value: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]) -> dict[str, Any]:
    """A :func:`settings_table` as plain data."""
    return {k: {n: list(x) if isinstance(x, tuple) else x for n, x in v} for k, v in value}


def refuse_spec(name: str, what: str) -> NoReturn:
    """``spec()`` of an alias holding a Python function: it cannot be written as data."""
    raise SpecError(
        f"{name!r} holds {what}, which cannot be written as data (specs, TOML, checkpoints); "
        "register a schedule family for that"
    )


# -- per-group curves -----------------------------------------------------------------
@attrs.frozen
class ClosedForm(schedkit.BaseSchedule):
    """An alias whose value is a function of the step and of the group (its base value,
    its position); ``at(step, base, index)`` computes it in the original's arithmetic."""

    accepts_warmup: ClassVar[bool] = False

    def at(self, step: float, base: float, index: int) -> float:
        raise NotImplementedError

    def __call__(self, step: float) -> float:
        return self.at(step, 1.0, 0)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return functools.partial(self.at, base=base, index=index)


#: Updates replayed at most to reach a far step; past it, the original's closed form.
REPLAY_LIMIT = 1 << 16


class Recurrence:
    """One group's values computed from the previous one, as recursive schedulers do.

    Stepping forward costs one update per step at most (``skip`` jumps over steps where the
    value cannot change); asking for an earlier step recomputes from step 0, so a resumed
    scheduler reaches the same floats as one that never stopped. A step more than
    :data:`REPLAY_LIMIT` updates away takes the original's closed form instead
    (``Recursive.closed_form``; each alias states how far it may be from the recurrence).

    Called as the original calls its ``get_lr``, it reads the group's current value:
    ``follow(step, current)`` (one step), ``initial(step, current)`` (construction,
    ``last_epoch`` resumes included) and ``epoch(step, current)`` (``step(epoch)``). Two
    schedulers on one optimizer then compose as in torch, each reading what the other wrote.
    """

    __slots__ = ("base", "index", "sched", "step", "value")

    def __init__(self, sched: Recursive, base: float, index: int) -> None:
        self.sched = sched
        self.base = base
        self.index = index
        self.step = 0
        self.value = sched.first(base, index)

    def __call__(self, step: float) -> float:
        k = int(step)
        if k == self.step:
            return self.value
        if k < self.step:
            self.step, self.value = 0, self.sched.first(self.base, self.index)
        sched = self.sched
        at = self.step
        value = self.value
        budget = REPLAY_LIMIT
        while True:
            nxt = sched.skip(at + 1, value)
            if nxt > k:
                break
            budget -= 1
            if budget < 0:
                far = sched.closed_form(k, self.base, self.index)
                if far is not None:
                    value = far
                    break
            value = sched.next(value, int(nxt), self.base, self.index)
            at = int(nxt)
        self.step, self.value = k, value
        return value

    def _set(self, step: int, value: float) -> float:
        self.step, self.value = step, value
        return value

    def follow(self, step: float, current: float) -> float:
        """The value at ``step`` from the group's value now (torch's ``step()``)."""
        k = int(step)
        return self._set(k, self.sched.lr_at(k, current, self.base, self.index))

    def initial(self, step: float, current: float) -> float:
        """The value a constructor writes at ``step`` (torch's first, "initial" step)."""
        k = int(step)
        sched = self.sched
        if k == 0:
            return self._set(0, sched.first(current, self.index))
        if sched.keeps_at_construction:
            return self._set(k, current)
        return self._set(k, sched.lr_at(k, current, self.base, self.index))

    def epoch(self, step: float, current: float) -> float:
        """The value ``step(epoch)`` writes: the closed form where the original has one."""
        k = int(step)
        closed = self.sched.closed_form(k, self.base, self.index)
        if closed is None:
            closed = self.sched.lr_at(k, current, self.base, self.index)
        return self._set(k, closed)


@attrs.frozen
class Recursive(schedkit.BaseSchedule):
    """An alias whose values are computed from the previous value (torch's chainable form).

    ``first(base, index)`` is the value at step 0, ``next(value, step, base, index)`` the
    value at ``step`` from the one before, ``skip(step, value)`` the first step from
    ``step`` on where the value may change (``INF``: never). ``closed(step)`` is the closed
    form for a base of 1.0, used for plots and far steps (equal up to rounding);
    ``closed_form(step, base, index)`` the original's own (torch's ``_get_closed_form_lr``,
    in its arithmetic), or None where it has none.
    """

    accepts_warmup: ClassVar[bool] = False
    #: whether the original's constructor leaves the value alone when it resumes at a step
    #: (torch's "initial" step); otherwise it applies that step's update
    keeps_at_construction: ClassVar[bool] = True

    def first(self, base: float, index: int) -> float:
        return base

    def next(self, value: float, step: int, base: float, index: int) -> float:
        raise NotImplementedError

    def skip(self, step: int, value: float) -> float:
        return step

    def closed(self, step: float) -> float:
        raise NotImplementedError

    def closed_form(self, step: int, base: float, index: int) -> float | None:
        return None

    def lr_at(self, step: int, current: float, base: float, index: int) -> float:
        """The value at ``step`` from ``current``, the value before it (torch's ``get_lr``)."""
        if step == 0:
            return self.first(current, index)
        if self.skip(step, current) != step:
            return current
        return self.next(current, step, base, index)

    def __call__(self, step: float) -> float:
        return self.closed(step)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return Recurrence(self, base, index)


@attrs.frozen
class Absolute(ClosedForm):
    """An alias whose values are absolute (Cerebras): every scheduled group gets the value,
    whatever its own lr; ``value(step)`` computes it."""

    def value(self, step: float) -> float:
        raise NotImplementedError

    def at(self, step: float, base: float, index: int) -> float:
        return self.value(step)

    def __call__(self, step: float) -> float:
        return self.value(step)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return self.value


def check_one_cycle_warmup(pct_start: float, total: int, library: str) -> None:
    """Refuse a one-cycle warmup of no length (``pct_start * total == 1``), where torch's
    and mmengine's ``OneCycleLR`` divide by zero at the first step."""
    if float(pct_start * total) - 1 == 0.0:
        raise SpecError(
            f"pct_start * total_steps = {pct_start} * {total} = 1 gives the warmup phase no "
            f"length: {library}'s OneCycleLR divides by zero at its first step (a "
            "ZeroDivisionError); give a pct_start that spans more than one step",
            "pct_start",
        )
