"""``olmo.*``: OLMo-core's lr schedulers (``olmo_core.optim.scheduler``) by their registered names.

Each takes the arguments of OLMo-core's scheduler class (``warmup``, ``warmup_fraction``,
``decay``, ``alpha_f``, ``warmup_min_lr``...; the deprecated ``warmup_steps`` and
``decay_steps`` too) and gives OLMo-core's floats for every param group: OLMo-core's
``get_lr(initial_lr, current, t_max)`` computed in its arithmetic, ``initial_lr`` being each
group's own lr (absolute arguments such as ``warmup_min_lr`` are the same for every group).

Stepping: OLMo-core's trainer counts ``global_step`` from 1 and sets the lr of update ``k``
to ``get_lr(initial_lr, k, max_steps)`` just before the optimizer step. schedkit applies the
value of step ``k - 1`` to update ``k`` (step 0 at construction, one ``step()`` after each
update), so step ``s`` of an ``olmo.*`` schedule is OLMo-core's ``get_lr(.., s + 1, ..)``:
a plain loop (``optimizer.step(); scheduler.step()``) gives every update OLMo-core's lr.
``total_steps`` is the trainer's ``max_steps`` (OLMo-core's ``t_max``); a scheduler built
with ``total_steps`` or a setup's run total fills it.

Deliberate differences: steps only (``units = "tokens"`` is refused: the token count is not
a function of the step); past ``max_steps``, where OLMo-core's trainer stops (and some
formulas go negative), the value of the last step is held; a ``decay`` given without
``decay_fraction`` drops the default ``decay_fraction = 0.1`` (OLMo-core raises unless
``decay_fraction=None`` is passed, which TOML cannot write); the ``t_max``-ignored warnings
of ``composable`` and ``sequential`` are not issued.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

import schedkit
from schedkit import SpecError
from schedkit.plugin import Field, number, optional, show, steps, to_float
from schedkit_compat._base import ClosedForm

# -- fields ---------------------------------------------------------------------------


def _opt_float(default: Any = None, **bounds: float) -> Any:
    """A number or None, as OLMo-core's ``Optional[float]`` fields."""

    def convert(value: Any) -> Any:
        return None if value is None else to_float(value)

    return schedkit.field(default=default, converter=convert, validator=optional(number(**bounds)))


def _opt_steps(default: Any = None) -> Any:
    """A whole number of steps or None, as OLMo-core's ``Optional[int]`` fields."""
    return schedkit.field(default=default, validator=optional(steps()))


def _positive_steps_list(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple):
        raise SpecError(f"expected a list of steps, got {show(value)}", attribute.name)
    check = steps(positive=True)
    for v in value:
        check(inst, attribute, v)


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _floats(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(to_float(v) for v in value)
    return value


def _deprecated(params: dict[str, Any], old: str, new: str) -> None:
    """OLMo-core's deprecated spelling ``old`` of ``new``: taken when ``new`` is not given."""
    if old in params:
        value = params.pop(old)
        if params.get(new) is None:
            params[new] = value


def _translate(params: dict[str, Any]) -> dict[str, Any]:
    _deprecated(params, "warmup_steps", "warmup")
    _deprecated(params, "decay_steps", "decay")
    _deprecated(params, "schedulers_max_steps", "schedulers_max")
    return params


def _translate_decay(params: dict[str, Any]) -> dict[str, Any]:
    """As :func:`_translate`; a ``decay`` given alone drops the default ``decay_fraction``."""
    params = _translate(params)
    if params.get("decay") is not None and "decay_fraction" not in params:
        params["decay_fraction"] = None
    return params


def _exactly_one(a: Any, b: Any, names: tuple[str, str], how: str = "Either") -> None:
    if (a is None) == (b is None):
        raise SpecError(f"{how} '{names[1]}' or '{names[0]}' must be specified", names[0])


def _units(inst: Any, attribute: Field, value: Any) -> None:
    if value != "steps":
        raise SpecError(
            f"expected 'steps', got {show(value)}: OLMo-core's token units follow the tokens "
            "its trainer has seen, which a schedule of steps does not know",
            attribute.name,
        )


#: set while the schedulers of ``olmo.sequential`` are built: they take its ``t_max``
_NESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("olmo_nested", default=False)


# -- OLMo-core's helpers, in its arithmetic ----------------------------------------------


def _linear_warmup(initial: float, current: int, warmup: int, low: float) -> float:
    return low + (initial - low) * min(current, warmup) / warmup


def _linear_decay(initial: float, from_end: int, decay: int, low: float) -> float:
    return low + (initial - low) * min(from_end, decay) / decay


def _interpolate(shape: str, start: float, end: float, current: int, duration: int) -> float:
    if shape == "linear":
        return start + (end - start) * current / duration
    return end + (start - end) * (1 + math.cos(math.pi * current / duration)) / 2


# -- the base ---------------------------------------------------------------------------


@attrs.frozen
class OLMoScheduler(ClosedForm):
    """What every ``olmo.*`` alias shares: ``units`` and ``total_steps`` (the trainer's
    ``max_steps``), and the step of schedkit mapped onto OLMo-core's ``current``."""

    #: whether ``get_lr`` reads the trainer's ``t_max`` (then ``total_steps`` is needed)
    reads_t_max: ClassVar[bool] = True

    units: str = schedkit.field(default="steps", validator=_units)
    total_steps: int = schedkit.duration(default=0, position=False)

    @classmethod
    def translate(cls, params: dict[str, Any]) -> dict[str, Any]:
        """OLMo-core's deprecated spellings; a ``total_steps`` the curve needs but was not
        given is the run's total (``"100%"``: a scheduler's ``total_steps`` or a setup's
        ``[run] total``)."""
        params = _translate(params)
        if params.get("total_steps") is None:
            params.pop("total_steps", None)
            if cls.needs_total_for(params) and not _NESTED.get():
                params["total_steps"] = "100%"
        return params

    @classmethod
    def needs_total_for(cls, params: Mapping[str, Any]) -> bool:
        """Whether these arguments read the trainer's ``t_max``."""
        return cls.reads_t_max

    def __attrs_post_init__(self) -> None:
        if not self.total_steps and self.needs_total_for(self._arguments()) and not _NESTED.get():
            raise SpecError(
                f"{self.name} reads the trainer's max_steps (OLMo-core's t_max): give "
                "total_steps (a scheduler's total_steps or a setup's run total fills it)",
                "total_steps",
            )
        self.check()

    def _arguments(self) -> dict[str, Any]:
        return {
            f.alias or f.name: getattr(self, f.name) for f in attrs.fields(type(self)) if f.init
        }

    def check(self) -> None:
        """Cross-field checks of a subclass (OLMo-core's ``__post_init__``)."""

    def t_max(self) -> int:
        return self.total_steps

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        """OLMo-core's ``get_lr`` of this scheduler, in its arithmetic."""
        raise NotImplementedError

    def current(self, step: float) -> int:
        """OLMo-core's ``current`` for schedkit's step: the update it sets the lr of."""
        current = int(step) + 1
        if self.total_steps:
            current = min(current, self.total_steps)
        return current

    def at(self, step: float, base: float, index: int) -> float:
        return float(self.get_lr(base, self.current(step), self.t_max()))

    @property
    def horizon(self) -> int | None:
        return self.total_steps or None

    def spec(self) -> dict[str, Any]:
        """Every argument, but those left as None (OLMo-core's unset optional fields) and a
        ``total_steps`` not read."""
        out = super().spec()
        if not self.total_steps:
            out.pop("total_steps")
        return {k: v for k, v in out.items() if v is not None}


@attrs.frozen
class _Warmup(OLMoScheduler):
    """The warmup fields most OLMo-core schedulers have."""

    warmup: int | None = _opt_steps()
    warmup_fraction: float | None = _opt_float(ge=0.0, le=1.0)
    warmup_min_lr: float = schedkit.factor(0.0, ge=0.0)

    @classmethod
    def needs_total_for(cls, params: Mapping[str, Any]) -> bool:
        return params.get("warmup") is None

    def check(self) -> None:
        _exactly_one(self.warmup, self.warmup_fraction, ("warmup", "warmup_fraction"))

    def warmup_steps(self, t_max: int) -> int:
        if self.warmup is not None:
            return self.warmup
        assert self.warmup_fraction is not None
        return round(t_max * self.warmup_fraction)


def _decay_steps(decay: int | None, fraction: float | None, t_max: int) -> int:
    if decay is not None:
        return decay
    assert fraction is not None
    return round(t_max * fraction)


# -- the schedulers ---------------------------------------------------------------------


@attrs.frozen
class Constant(OLMoScheduler):
    """OLMo-core's ``ConstantScheduler``: each group's lr, unchanged.

    Example: ``{type = "olmo.constant"}``.
    """

    name = "olmo.constant"
    reads_t_max = False

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        return initial_lr


@attrs.frozen
class ConstantWithWarmup(_Warmup):
    """OLMo-core's ``ConstantWithWarmup``: a linear warmup from ``warmup_min_lr``
    (absolute) over ``warmup`` steps (or ``warmup_fraction`` of ``total_steps``, rounded),
    then each group's lr.

    Example: ``{type = "olmo.constant_with_warmup", warmup = 100}``.
    """

    name = "olmo.constant_with_warmup"

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        warmup = self.warmup_steps(t_max)
        if current <= warmup:
            return _linear_warmup(initial_lr, current, warmup, self.warmup_min_lr)
        return initial_lr


@attrs.frozen
class WSD(_Warmup):
    """OLMo-core's ``WSD`` (warmup-stable-decay): a linear warmup from ``warmup_min_lr``
    over ``warmup`` steps (or ``warmup_fraction`` of ``total_steps``), each group's lr, then
    a linear decay to ``decay_min_lr`` (absolute) over the last ``decay`` steps (or
    ``decay_fraction`` of ``total_steps``, 0.1 by default).

    Example: ``{type = "olmo.wsd", warmup = 100, decay_fraction = 0.2, total_steps = 1000}``.
    """

    name = "olmo.wsd"

    @classmethod
    def translate(cls, params: dict[str, Any]) -> dict[str, Any]:
        return super().translate(_translate_decay(params))

    decay: int | None = _opt_steps()
    decay_fraction: float | None = _opt_float(0.1, ge=0.0, le=1.0)
    decay_min_lr: float = schedkit.factor(0.0, ge=0.0)

    @classmethod
    def needs_total_for(cls, params: Mapping[str, Any]) -> bool:
        return True

    def check(self) -> None:
        super().check()
        _exactly_one(self.decay, self.decay_fraction, ("decay", "decay_fraction"))
        known = self.decay is not None or self.total_steps
        if known and _decay_steps(self.decay, self.decay_fraction, self.t_max()) == 0:
            raise SpecError("a decay of 0 steps: OLMo-core divides by it at the last step", "decay")

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        warmup = self.warmup_steps(t_max)
        if current <= warmup:
            return _linear_warmup(initial_lr, current, warmup, self.warmup_min_lr)
        decay = _decay_steps(self.decay, self.decay_fraction, t_max)
        if current >= t_max - decay:
            return _linear_decay(initial_lr, t_max - current, decay, self.decay_min_lr)
        return initial_lr


@attrs.frozen
class PowerLR(_Warmup):
    """OLMo-core's ``PowerLR``: a linear warmup, then the power law
    ``initial_lr * (current / warmup) ** b`` (``b`` negative), then a linear decay from the
    power law's value to ``decay_min_lr`` over the last ``decay`` steps (or
    ``decay_fraction`` of ``total_steps``, 0.1 by default).

    Example: ``{type = "olmo.power_lr", warmup = 100, b = -0.51, total_steps = 1000}``.
    """

    name = "olmo.power_lr"

    @classmethod
    def translate(cls, params: dict[str, Any]) -> dict[str, Any]:
        return super().translate(_translate_decay(params))

    b: float = schedkit.factor(-0.51, lt=0.0)
    decay: int | None = _opt_steps()
    decay_fraction: float | None = _opt_float(0.1, ge=0.0, le=1.0)
    decay_min_lr: float = schedkit.factor(0.0, ge=0.0)

    @classmethod
    def needs_total_for(cls, params: Mapping[str, Any]) -> bool:
        return True

    def check(self) -> None:
        super().check()
        _exactly_one(self.decay, self.decay_fraction, ("decay", "decay_fraction"), "Either")
        t_max = self.t_max()
        if (self.warmup is not None or t_max) and self.warmup_steps(t_max) == 0:
            raise SpecError("a warmup of 0 steps: OLMo-core's power law divides by it", "warmup")
        known = self.decay is not None or t_max
        if known and _decay_steps(self.decay, self.decay_fraction, t_max) == 0:
            raise SpecError("a decay of 0 steps: OLMo-core divides by it at the last step", "decay")

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        warmup = self.warmup_steps(t_max)
        decay = _decay_steps(self.decay, self.decay_fraction, t_max)
        if current <= warmup:
            return _linear_warmup(initial_lr, current, warmup, self.warmup_min_lr)
        if current >= t_max - decay:
            tail = initial_lr * ((t_max - decay) / warmup) ** self.b
            return _linear_decay(tail, t_max - current, decay, self.decay_min_lr)
        return float(initial_lr * (current / warmup) ** self.b)


@attrs.frozen
class _WithAlpha(_Warmup):
    """The schedulers decaying to ``alpha_f`` times each group's lr, with their own
    optional ``t_max`` (in place of the trainer's)."""

    alpha_f: float = schedkit.factor(0.1)
    t_max_: int | None = schedkit.field(
        default=None, alias="t_max", validator=optional(steps(positive=True))
    )

    @classmethod
    def needs_total_for(cls, params: Mapping[str, Any]) -> bool:
        return params.get("t_max") is None

    def horizon_steps(self, t_max: int) -> int:
        return t_max if self.t_max_ is None else self.t_max_

    @property
    def horizon(self) -> int | None:
        return (self.total_steps or None) if self.t_max_ is None else self.t_max_


@attrs.frozen
class LinearWithWarmup(_WithAlpha):
    """OLMo-core's ``LinearWithWarmup``: a linear warmup (``current < warmup``), then
    linear from each group's lr to ``alpha_f`` times it at ``t_max`` (its own, or the
    trainer's ``total_steps``), held there.

    Example: ``{type = "olmo.linear_with_warmup", warmup = 100, total_steps = 1000}``.
    """

    name = "olmo.linear_with_warmup"

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        t_max = self.horizon_steps(t_max)
        eta_min = initial_lr * self.alpha_f
        warmup = self.warmup_steps(t_max)
        if current < warmup:
            return _linear_warmup(initial_lr, current, warmup, self.warmup_min_lr)
        if current >= t_max:
            return eta_min
        current, t_max = current - warmup, t_max - warmup
        return initial_lr - (initial_lr - eta_min) * (current / t_max)


@attrs.frozen
class InvSqrtWithWarmup(_Warmup):
    """OLMo-core's ``InvSqrtWithWarmup``: a linear warmup, then
    ``eta_min + (lr - eta_min) * sqrt(warmup / current)`` with ``eta_min = alpha_f * lr``.

    Example: ``{type = "olmo.inv_sqrt_with_warmup", warmup = 100}``.
    """

    name = "olmo.inv_sqrt_with_warmup"

    alpha_f: float = schedkit.factor(0.1)

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        warmup = self.warmup_steps(t_max)
        if current < warmup:
            return _linear_warmup(initial_lr, current, warmup, self.warmup_min_lr)
        eta_min = initial_lr * self.alpha_f
        return eta_min + (initial_lr - eta_min) * math.sqrt(warmup / current)

    @property
    def horizon(self) -> int | None:
        return None


@attrs.frozen
class CosWithWarmup(_WithAlpha):
    """OLMo-core's ``CosWithWarmup``: a linear warmup, then a half cosine from each
    group's lr to ``alpha_f`` times it at ``t_max`` (its own, or the trainer's
    ``total_steps``), held there.

    Example: ``{type = "olmo.cos_with_warmup", warmup = 100, total_steps = 1000}``.
    """

    name = "olmo.cos_with_warmup"

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        t_max = self.horizon_steps(t_max)
        eta_min = initial_lr * self.alpha_f
        warmup = self.warmup_steps(t_max)
        if current < warmup:
            return _linear_warmup(initial_lr, current, warmup, self.warmup_min_lr)
        if current >= t_max:
            return eta_min
        current, t_max = current - warmup, t_max - warmup
        return eta_min + (initial_lr - eta_min) * (1 + math.cos(math.pi * current / t_max)) / 2


@attrs.frozen
class HalfCosWithWarmup(_WithAlpha):
    """OLMo-core's ``HalfCosWithWarmup``: the second half of a cosine from each group's
    lr to ``alpha_f`` times it, after a linear warmup to the cosine's midpoint
    (``eta_min + (lr - eta_min) / 2``).

    Example: ``{type = "olmo.half_cos_with_warmup", warmup = 100, total_steps = 1000}``.
    """

    name = "olmo.half_cos_with_warmup"

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        t_max = self.horizon_steps(t_max)
        eta_min = initial_lr * self.alpha_f
        warmup = self.warmup_steps(t_max)
        if current < warmup:
            max_lr = eta_min + (initial_lr - eta_min) / 2
            return _linear_warmup(max_lr, current, warmup, self.warmup_min_lr)
        if current >= t_max:
            return eta_min
        current, t_max = current - warmup, t_max - warmup
        current += t_max
        t_max *= 2
        return eta_min + (initial_lr - eta_min) * (1 + math.cos(math.pi * current / t_max)) / 2


@attrs.frozen
class CosWithWarmupAndLinearDecay(CosWithWarmup):
    """OLMo-core's ``CosWithWarmupAndLinearDecay``: ``olmo.cos_with_warmup`` cut short
    ``decay`` steps (or ``decay_fraction`` of the trainer's ``total_steps``, 0.1 by
    default) before the end and followed by a linear decay to ``decay_min_lr``.

    Example: ``{type = "olmo.cos_with_warmup_and_linear_decay", warmup = 100,
    total_steps = 1000, decay = 200}``.
    """

    name = "olmo.cos_with_warmup_and_linear_decay"

    @classmethod
    def translate(cls, params: dict[str, Any]) -> dict[str, Any]:
        return super().translate(_translate_decay(params))

    decay: int | None = _opt_steps()
    decay_fraction: float | None = _opt_float(0.1, ge=0.0, le=1.0)
    decay_min_lr: float = schedkit.factor(0.0, ge=0.0)

    @classmethod
    def needs_total_for(cls, params: Mapping[str, Any]) -> bool:
        return True

    def check(self) -> None:
        super().check()
        _exactly_one(self.decay, self.decay_fraction, ("decay", "decay_fraction"))
        known = self.decay is not None or self.total_steps
        if known and _decay_steps(self.decay, self.decay_fraction, self.t_max()) == 0:
            raise SpecError("a decay of 0 steps: OLMo-core divides by it at the last step", "decay")

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        decay = _decay_steps(self.decay, self.decay_fraction, t_max)
        if current >= t_max - decay:
            final = super().get_lr(initial_lr, t_max - decay, t_max)
            return _linear_decay(final, t_max - current, decay, self.decay_min_lr)
        return super().get_lr(initial_lr, current, t_max)

    @property
    def horizon(self) -> int | None:
        return self.total_steps or None


@attrs.frozen
class Exponential(OLMoScheduler):
    """OLMo-core's ``ExponentialScheduler``: an exponential rise from ``lr_min``
    (absolute, > 0) to each group's lr at ``total_steps``:
    ``lr_min * (lr / lr_min) ** (current / t_max)``.

    Example: ``{type = "olmo.exponential", lr_min = 1e-7, total_steps = 1000}``.
    """

    name = "olmo.exponential"

    lr_min: float = schedkit.factor(1e-9, gt=0.0)

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        if current >= t_max:
            return initial_lr
        if current == 0:
            return self.lr_min
        ratio = current / t_max
        return float(self.lr_min * (initial_lr / self.lr_min) ** ratio)


@attrs.frozen
class WSDS(OLMoScheduler):
    """OLMo-core's ``WSDS`` (warmup-stable-decay, simplified, for continual pretraining):
    periods of ``period_lengths`` steps, each at its peak (each group's lr times
    ``period_lr_multipliers[i]``, 1 by default) and then linearly decaying to
    ``decay_min_lr`` over its last ``decay`` steps (or ``decay_fraction`` of its length); a
    linear warmup of ``warmup`` steps (or ``warmup_fraction`` of the first period) opens
    the first period. After the last period, ``decay_min_lr``. The trainer's
    ``max_steps`` is not read.

    Example: ``{type = "olmo.wsds", period_lengths = [1000, 1000, 2000], warmup = 100,
    decay_fraction = 0.1}``.
    """

    name = "olmo.wsds"
    reads_t_max = False

    period_lengths: tuple[int, ...] = schedkit.field(
        factory=tuple, converter=_tuple, validator=_positive_steps_list
    )
    period_lr_multipliers: tuple[float, ...] | None = schedkit.field(
        default=None, converter=_floats
    )
    warmup: int | None = _opt_steps()
    warmup_fraction: float | None = _opt_float(ge=0.0, le=1.0)
    decay: int | None = _opt_steps()
    decay_fraction: float | None = _opt_float(ge=0.0, le=1.0)
    warmup_min_lr: float = schedkit.factor(0.0)
    decay_min_lr: float = schedkit.factor(0.0, ge=0.0)
    _warmup_steps: int = attrs.field(init=False, eq=False, repr=False)
    _ends: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)
    _lengths: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)

    def check(self) -> None:
        lengths = self.period_lengths
        if not lengths:
            raise SpecError("'period_lengths' must be provided and non-empty.", "period_lengths")
        mults = self.period_lr_multipliers
        if mults is not None:
            if not isinstance(mults, tuple) or len(mults) != len(lengths):
                raise SpecError(
                    "'period_lr_multipliers' length must match 'period_lengths' length.",
                    "period_lr_multipliers",
                )
            for m in mults:
                number(gt=0.0)(self, attrs.fields(type(self)).period_lr_multipliers, m)
        _exactly_one(
            self.warmup, self.warmup_fraction, ("warmup", "warmup_fraction"), "Exactly one of"
        )
        _exactly_one(self.decay, self.decay_fraction, ("decay", "decay_fraction"), "Exactly one of")
        first = lengths[0]
        if self.warmup is not None:
            warmup = self.warmup
        else:
            assert self.warmup_fraction is not None
            warmup = round(self.warmup_fraction * first)
        if warmup + self._decay(first) > first:
            raise SpecError(
                f"First period: warmup ({warmup}) + decay ({self._decay(first)}) = "
                f"{warmup + self._decay(first)} exceeds period length ({first}).",
                "period_lengths",
            )
        for i, length in enumerate(lengths[1:], start=1):
            if self._decay(length) > length:
                raise SpecError(
                    f"Period {i}: decay ({self._decay(length)}) exceeds period length ({length}).",
                    "period_lengths",
                )
        for i, length in enumerate(lengths):
            if self._decay(length) == 0:
                raise SpecError(
                    f"Period {i}: a decay of 0 steps: OLMo-core divides by it at the period's end",
                    "decay",
                )
        adjusted = (first - warmup, *lengths[1:])
        ends, total = [], 0
        for length in adjusted:
            total += length
            ends.append(total)
        object.__setattr__(self, "_warmup_steps", warmup)
        object.__setattr__(self, "_ends", tuple(ends))
        object.__setattr__(self, "_lengths", adjusted)

    def _decay(self, length: int) -> int:
        if self.decay is not None:
            return int(self.decay)
        assert self.decay_fraction is not None
        return round(self.decay_fraction * length)

    def _peak(self, initial_lr: float, i: int) -> float:
        if self.period_lr_multipliers is None:
            return initial_lr
        return initial_lr * self.period_lr_multipliers[i]

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        warmup = self._warmup_steps
        if current < warmup:
            return _linear_warmup(self._peak(initial_lr, 0), current, warmup, self.warmup_min_lr)
        x = current - warmup
        if x >= self._ends[-1]:
            return self.decay_min_lr
        i = next(k for k, end in enumerate(self._ends) if x <= end)
        start = 0 if i == 0 else self._ends[i - 1]
        length = self._lengths[i]
        pos = min(max(x - start, 0), length)
        decay = self._decay(self.period_lengths[i])
        stable = length - decay
        if pos < stable:
            return self._peak(initial_lr, i)
        return _linear_decay(
            self._peak(initial_lr, i), decay - (pos - stable), decay, self.decay_min_lr
        )

    @property
    def horizon(self) -> int | None:
        return self._warmup_steps + self._ends[-1]


# -- stages: composable and sequential's override --------------------------------------

_SHAPES = ("linear", "cosine")


@attrs.frozen
class Stage:
    """One stage of ``olmo.composable`` (OLMo-core's ``ComposableSchedulerStage``)."""

    duration: int = schedkit.field(validator=steps(positive=True))
    shape: str = schedkit.choice("linear", "cosine")
    start_lr: float | None = _opt_float(ge=0.0)
    start_lr_fraction: float | None = _opt_float(ge=0.0)
    end_lr: float | None = _opt_float(ge=0.0)
    end_lr_fraction: float | None = _opt_float(ge=0.0)

    def __attrs_post_init__(self) -> None:
        if self.start_lr is not None and self.start_lr_fraction is not None:
            raise SpecError(
                "Specify at most one of 'start_lr' or 'start_lr_fraction' for a stage.",
                "start_lr",
            )
        if (self.end_lr is None) == (self.end_lr_fraction is None):
            raise SpecError(
                "Specify exactly one of 'end_lr' or 'end_lr_fraction' for each stage.", "end_lr"
            )

    def end(self, initial_lr: float) -> float:
        return _from_initial(initial_lr, self.end_lr, self.end_lr_fraction)


@attrs.frozen
class OverrideDecay:
    """The late decay of ``olmo.composable`` and ``olmo.sequential`` (OLMo-core's
    ``OverrideDecay``): from the main schedule's value at ``start`` to ``end_lr`` (or
    ``end_lr_fraction`` of each group's lr) over ``duration`` steps, then held."""

    start: int = schedkit.field(validator=steps())
    duration: int = schedkit.field(validator=steps(positive=True))
    shape: str = schedkit.choice("linear", "cosine")
    end_lr: float | None = _opt_float(ge=0.0)
    end_lr_fraction: float | None = _opt_float(ge=0.0)

    def __attrs_post_init__(self) -> None:
        if (self.end_lr is None) == (self.end_lr_fraction is None):
            raise SpecError(
                "Specify exactly one of 'end_lr' or 'end_lr_fraction' for override decay.",
                "end_lr",
            )

    def end(self, initial_lr: float) -> float:
        return _from_initial(initial_lr, self.end_lr, self.end_lr_fraction)


def _from_initial(initial_lr: float, value: float | None, fraction: float | None) -> float:
    if value is not None:
        return value
    assert fraction is not None
    return initial_lr * fraction


def _record(cls: type[Any], value: Any, where: str) -> Any:
    """A table (TOML, a dict) as the record ``cls``, errors at ``where``."""
    if isinstance(value, cls) or value is None:
        return value
    if not isinstance(value, Mapping):
        raise SpecError(f"expected a table, got {show(value)}", where)
    names = {f.name for f in attrs.fields(cls)}
    for key in value:
        if key not in names:
            raise SpecError(
                f"unknown key (expected one of: {', '.join(sorted(names))})", f"{where}.{key}"
            )
    try:
        return cls(**value)
    except SpecError as e:
        raise e.at(where) from None
    except TypeError as e:
        raise SpecError(str(e), where) from None


def _stages(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_record(Stage, v, f"stages[{i}]") for i, v in enumerate(value))
    raise SpecError(f"expected a list of stages, got {show(value)}", "stages")


def _override(value: Any) -> Any:
    return _record(OverrideDecay, value, "override_decay")


def _as_dict(record: Any) -> dict[str, Any]:
    return {k: v for k, v in attrs.asdict(record).items() if v is not None}


def _override_lr(override: OverrideDecay, initial_lr: float, current: int, main: Any) -> float:
    start_lr = main(initial_lr, override.start)
    end_lr = override.end(initial_lr)
    at = current - override.start
    if at < override.duration:
        return _interpolate(override.shape, start_lr, end_lr, at, override.duration)
    return end_lr


@attrs.frozen
class Composable(OLMoScheduler):
    """OLMo-core's ``ComposableScheduler``: stages one after another, each linear or
    cosine from its start (``start_lr``, ``start_lr_fraction`` of each group's lr, or the
    previous stage's end) to its end (``end_lr`` or ``end_lr_fraction``) over its
    ``duration``; after the last, its end holds. With ``override_decay`` (``start``,
    ``duration``, ``shape``, ``end_lr`` / ``end_lr_fraction``) the stages give way at
    ``start`` to a decay from their value there. The trainer's ``max_steps`` is not read.

    Example: ``{type = "olmo.composable", stages = [{duration = 100, end_lr_fraction = 1.0},
    {duration = 900, shape = "cosine", end_lr_fraction = 0.1}]}``.
    """

    name = "olmo.composable"
    reads_t_max = False

    stages: tuple[Stage, ...] = schedkit.field(factory=tuple, converter=_stages)
    override_decay: OverrideDecay | None = schedkit.field(default=None, converter=_override)

    def check(self) -> None:
        if not self.stages:
            raise SpecError("'stages' must be specified and non-empty.", "stages")

    def _main(self, initial_lr: float, current: int) -> float:
        current = max(current, 0)
        stage_start = 0
        previous = initial_lr
        for stage in self.stages:
            if stage.start_lr is None and stage.start_lr_fraction is None:
                start_lr = previous
            else:
                start_lr = _from_initial(initial_lr, stage.start_lr, stage.start_lr_fraction)
            end_lr = stage.end(initial_lr)
            stage_end = stage_start + stage.duration
            if current < stage_end:
                return _interpolate(
                    stage.shape, start_lr, end_lr, current - stage_start, stage.duration
                )
            previous = end_lr
            stage_start = stage_end
        return previous

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        current = max(current, 0)
        o = self.override_decay
        if o is None or current < o.start:
            return self._main(initial_lr, current)
        return _override_lr(o, initial_lr, current, self._main)

    @property
    def horizon(self) -> int | None:
        main = sum(s.duration for s in self.stages)
        o = self.override_decay
        return main if o is None else o.start + o.duration

    def spec(self) -> dict[str, Any]:
        out = super().spec()
        out["stages"] = [_as_dict(s) for s in self.stages]
        if self.override_decay is not None:
            out["override_decay"] = _as_dict(self.override_decay)
        return out


def _olmo_schedules(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple) or not value:
        raise SpecError("expected at least one olmo.* scheduler, got none", attribute.name)
    for i, v in enumerate(value):
        if not isinstance(v, OLMoScheduler):
            raise SpecError(
                f"expected an olmo.* scheduler (OLMo-core chains its own), got {show(v)}",
                f"{attribute.name}[{i}]",
            )


def _sub_schedulers(value: Any) -> Any:
    """Specs of ``olmo.*`` schedulers built without a ``total_steps`` of their own: the
    sequence passes each its ``t_max``, as OLMo-core does."""
    if not isinstance(value, (list, tuple)):
        return value
    out = []
    token = _NESTED.set(True)
    try:
        for i, v in enumerate(value):
            if isinstance(v, Mapping):
                try:
                    v = schedkit.get_schedule(dict(v))
                except SpecError as e:
                    raise e.at(f"schedulers[{i}]") from None
            out.append(v)
    finally:
        _NESTED.reset(token)
    return tuple(out)


@attrs.frozen
class Sequential(OLMoScheduler):
    """OLMo-core's ``SequentialScheduler``: ``schedulers`` (``olmo.*`` specs) one after
    another, scheduler ``i`` running for ``schedulers_max[i]`` steps (the last until the
    end) with ``t_max`` its own length, and starting from the lr the one before ended at.
    ``override_decay`` as in ``olmo.composable``.

    Example: ``{type = "olmo.sequential", schedulers = [{type = "olmo.constant_with_warmup",
    warmup = 100}, {type = "olmo.cos_with_warmup", warmup = 0}], schedulers_max = [500],
    total_steps = 2000}``.
    """

    name = "olmo.sequential"

    schedulers: tuple[OLMoScheduler, ...] = schedkit.field(
        factory=tuple, converter=_sub_schedulers, validator=_olmo_schedules
    )
    schedulers_max: tuple[int, ...] | None = schedkit.field(
        default=None, converter=_tuple, validator=optional(_positive_steps_list)
    )
    override_decay: OverrideDecay | None = schedkit.field(default=None, converter=_override)

    def check(self) -> None:
        maxes = self.schedulers_max
        if maxes is None:
            raise SpecError("'schedulers_max' must be specified", "schedulers_max")
        if len(maxes) == len(self.schedulers):
            object.__setattr__(self, "schedulers_max", maxes[:-1])
        if len(self.schedulers_max or ()) + 1 != len(self.schedulers):
            raise SpecError(
                "Max steps must be set for all schedulers except the last when using "
                "'SequentialScheduler'",
                "schedulers_max",
            )

    def _sequential(self, initial_lr: float, current: int, t_max: int) -> float:
        maxes = self.schedulers_max or ()
        for sched, sched_max in zip(self.schedulers[:-1], maxes, strict=True):
            if current <= sched_max:
                return float(sched.get_lr(initial_lr, current, min(t_max, sched_max)))
            initial_lr = sched.get_lr(initial_lr, sched_max, sched_max)
            current -= sched_max
            t_max -= sched_max
        return float(self.schedulers[-1].get_lr(initial_lr, current, t_max))

    def get_lr(self, initial_lr: float, current: int, t_max: int) -> float:
        o = self.override_decay
        if o is None or current < o.start:
            return self._sequential(initial_lr, current, t_max)
        return _override_lr(o, initial_lr, current, lambda lr, at: self._sequential(lr, at, t_max))

    def spec(self) -> dict[str, Any]:
        out = super().spec()
        out["schedulers"] = [s.spec() for s in self.schedulers]
        if self.override_decay is not None:
            out["override_decay"] = _as_dict(self.override_decay)
        return out


#: the scheduler classes of ``olmo_core.optim.scheduler`` by their registered names
SCHEDULES: dict[str, type[OLMoScheduler]] = {
    c.name.split(".", 1)[1]: c
    for c in (
        Constant,
        ConstantWithWarmup,
        WSD,
        PowerLR,
        LinearWithWarmup,
        InvSqrtWithWarmup,
        CosWithWarmup,
        HalfCosWithWarmup,
        CosWithWarmupAndLinearDecay,
        Exponential,
        WSDS,
        Composable,
        Sequential,
    )
}

_SHARED = """
    Step ``s`` gives OLMo-core's lr of update ``s + 1`` (its trainer's ``global_step``,
    from 1), for every param group (``initial_lr`` is the group's lr). ``total_steps``:
    the trainer's ``max_steps`` (OLMo-core's ``t_max``; where the curve reads it, the run's
    total by default: a scheduler's ``total_steps`` or a setup's ``[run] total``); past it
    the last value holds. ``units``: ``"steps"`` only. The deprecated ``warmup_steps`` and
    ``decay_steps`` are taken.
"""

for _cls in SCHEDULES.values():
    _cls.__doc__ = (_cls.__doc__ or "").rstrip() + "\n" + _SHARED

#: OLMo-core's class names, as aliases of its registered names
CLASS_NAMES = {
    "constant": "ConstantScheduler",
    "constant_with_warmup": "ConstantWithWarmup",
    "wsd": "WSD",
    "power_lr": "PowerLR",
    "linear_with_warmup": "LinearWithWarmup",
    "inv_sqrt_with_warmup": "InvSqrtWithWarmup",
    "cos_with_warmup": "CosWithWarmup",
    "half_cos_with_warmup": "HalfCosWithWarmup",
    "cos_with_warmup_and_linear_decay": "CosWithWarmupAndLinearDecay",
    "exponential": "ExponentialScheduler",
    "wsds": "WSDS",
    "composable": "ComposableScheduler",
    "sequential": "SequentialScheduler",
}

EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "constant": [{}],
    "constant_with_warmup": [{"warmup": 10}, {"warmup_fraction": 0.2, "total_steps": 100}],
    "wsd": [
        {"warmup": 10, "total_steps": 100},
        {"warmup_fraction": 0.05, "decay": 30, "decay_min_lr": 1e-5, "total_steps": 200},
    ],
    "power_lr": [
        {"warmup": 10, "total_steps": 200},
        {"warmup": 20, "b": -0.3, "decay": 50, "total_steps": 300},
    ],
    "linear_with_warmup": [{"warmup": 10, "total_steps": 100}],
    "inv_sqrt_with_warmup": [{"warmup": 10}, {"warmup": 20, "alpha_f": 0.0}],
    "cos_with_warmup": [
        {"warmup": 10, "total_steps": 100},
        {"warmup_fraction": 0.1, "alpha_f": 0.0, "t_max": 80},
    ],
    "half_cos_with_warmup": [{"warmup": 10, "total_steps": 100}],
    "cos_with_warmup_and_linear_decay": [{"warmup": 10, "total_steps": 100, "decay": 20}],
    "exponential": [{"lr_min": 1e-4, "total_steps": 100}],
    "wsds": [
        {"period_lengths": [100, 100, 200], "warmup": 10, "decay_fraction": 0.2},
        {
            "period_lengths": [60, 60],
            "period_lr_multipliers": [1.0, 0.5],
            "warmup_fraction": 0.1,
            "decay": 15,
        },
    ],
    "composable": [
        {
            "stages": [
                {"duration": 20, "start_lr_fraction": 0.0, "end_lr_fraction": 1.0},
                {"duration": 80, "shape": "cosine", "end_lr_fraction": 0.1},
            ]
        },
        {
            "stages": [
                {"duration": 10, "start_lr_fraction": 0.0, "end_lr_fraction": 1.0},
                {"duration": 200, "end_lr_fraction": 1.0},
            ],
            "override_decay": {"start": 120, "duration": 40, "end_lr_fraction": 0.0},
        },
    ],
    "sequential": [
        {
            "schedulers": [
                {"type": "olmo.constant_with_warmup", "warmup": 10},
                {"type": "olmo.cos_with_warmup", "warmup": 0},
            ],
            "schedulers_max": [40],
            "total_steps": 120,
        }
    ],
}


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    for short, cls in SCHEDULES.items():
        registry.add(cls, aliases=[f"olmo.{CLASS_NAMES[short]}"], examples=EXAMPLES[short])
