"""``composer.*``: Composer's schedulers (``composer.optim.scheduler``) by their class names.

Each takes the arguments of its Composer class, times as Composer's time strings
(``"10ep"``, ``"100ba"``, ``"1000sp"``, ``"2000tok"``, ``"0.1dur"``), and gives the factor
Composer's Trainer applies (its ``compile_composer_scheduler``: a ``LambdaLR`` whose
factor multiplies each group's initial lr), float for float, for every param group.

Composer computes from its trainer's ``State``; the alias takes what it reads there as
arguments of its own, after Composer's, named as the Trainer names them:

- ``max_duration`` (the Trainer's: a time string, or a whole number of epochs), for
  ``"dur"`` times and the ``*WithWarmup`` schedulers' check that ``t_max`` covers it;
- ``dataloader_len``: the batches of an epoch, for ``"ep"`` times (and a ``max_duration``
  in epochs);
- ``samples_per_batch`` and ``tokens_per_batch``, for ``"sp"`` and ``"tok"`` times:
  schedkit's step ``k`` is Composer's timestamp after ``k`` batches (``k *
  samples_per_batch`` samples, ``k * tokens_per_batch`` tokens: a constant batch);
- ``scale_schedule_ratio`` (the Trainer's): the times are scaled as Composer scales them
  (``int(t * ratio)``, ``"dur"`` times through the scaled ``max_duration``, the warmup
  only with ``scale_warmup``).

Step ``k`` of the scheduler is the value after ``k`` batches, as Composer's Trainer steps
its schedulers every batch. ``"iter"`` and wall-clock times are refused (Composer refuses
wall-clock times in schedulers; iterations are not batches).
"""

from __future__ import annotations

import math
import re
import textwrap
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

import schedkit
from schedkit import SpecError
from schedkit.plugin import (
    MAX_STEPS,
    Field,
    instance_of,
    number,
    optional,
    show,
    steps,
    to_float,
)

#: a time: its value (an int, a float for ``"dur"``) and its unit
Time = tuple[float, str]

_TIME = re.compile(r"^(.+)(iter|ep|ba|sp|tok|dur|sec)$", flags=re.IGNORECASE)
_TIMEDELTA = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$")
#: the units a time may take here
UNITS = ("ep", "ba", "sp", "tok", "dur")


def _whole(value: float, name: str) -> int:
    """A converted time as Composer's ``int(...)`` takes it, within schedkit's step limit
    (an infinite or huge product was a raw OverflowError)."""
    if not value <= MAX_STEPS:
        raise SpecError(f"the time comes to {show(value)}: more than 2**62", name)
    return int(value)


def parse_time(value: Any, name: str) -> Time:
    """Composer's ``Time.from_timestring``: a number then a unit; a whole number but for
    ``"dur"``. :class:`SpecError` at ``name`` for anything else, wall-clock and iteration
    times included."""
    if not isinstance(value, str):
        raise SpecError(f"expected a time string such as '10ep' or '0.5dur', got {value!r}", name)
    if value and _TIMEDELTA.match(value):
        raise SpecError(f"{value!r} is a wall-clock time, which Composer's schedulers refuse", name)
    match = _TIME.match(value)
    if match is None or match.group(2) not in (*UNITS, "iter", "sec"):
        raise SpecError(f"expected a number and a unit ({', '.join(UNITS)}), got {value!r}", name)
    unit = match.group(2)
    if unit in ("iter", "sec"):
        raise SpecError(
            f"{value!r}: {'iterations' if unit == 'iter' else 'wall-clock time'} cannot time "
            f"a schedule here (give one of {', '.join(UNITS)})",
            name,
        )
    try:
        number_ = float(match.group(1))
    except ValueError:
        raise SpecError(f"{match.group(1)!r} is not a number in {value!r}", name) from None
    if not math.isfinite(number_) or number_ < 0:
        raise SpecError(f"expected a finite time >= 0, got {value!r}", name)
    if unit == "dur":
        return number_, unit
    if int(number_) != number_:
        raise SpecError(f"{value!r}: {unit} times are whole numbers", name)
    return int(number_), unit


def _check_time(inst: Any, attribute: Field, value: Any) -> None:
    parse_time(value, attribute.name)


def _time(default: Any = attrs.NOTHING) -> Any:
    return schedkit.field(default=default, validator=_check_time)


def _times_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _check_times(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple):
        raise SpecError(f"expected a list of time strings, got {value!r}", attribute.name)
    for i, v in enumerate(value):
        parse_time(v, f"{attribute.name}[{i}]")


def _times() -> Any:
    return schedkit.field(converter=_times_tuple, validator=_check_times)


def _check_max_duration(inst: Any, attribute: Field, value: Any) -> None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return
    t = parse_time(value, attribute.name)
    if t[1] == "dur" or t[0] <= 0:
        raise SpecError(
            f"expected a positive time in ep, ba, sp or tok, got {value!r}", attribute.name
        )


def _real(default: Any = attrs.NOTHING, **bounds: float) -> Any:
    return schedkit.field(default=default, converter=to_float, validator=number(**bounds))


def _flag() -> Any:
    return schedkit.field(default=False, validator=instance_of(bool))


@attrs.frozen
class ComposerSchedule(schedkit.BaseSchedule):
    """What Composer's schedulers share: the State they read, and its time conversions
    (Composer's ``_convert_time``), computed once when the alias is built."""

    accepts_warmup: ClassVar[bool] = False
    #: the time arguments (each converted when built)
    time_args: ClassVar[tuple[str, ...]] = ()

    #: the Trainer's ``max_duration``: a time string, or a whole number of epochs
    max_duration: str | int | None = schedkit.field(
        default=None, validator=_check_max_duration, kw_only=True
    )
    #: the batches of an epoch (the State's ``dataloader_len``), for epoch times
    dataloader_len: int | None = schedkit.field(
        default=None, validator=optional(steps(positive=True)), kw_only=True
    )
    #: the samples of a batch, for times in samples
    samples_per_batch: int | None = schedkit.field(
        default=None, validator=optional(steps(positive=True)), kw_only=True
    )
    #: the tokens of a batch, for times in tokens
    tokens_per_batch: int | None = schedkit.field(
        default=None, validator=optional(steps(positive=True)), kw_only=True
    )
    #: the Trainer's ``scale_schedule_ratio``
    scale_schedule_ratio: float = schedkit.field(
        default=1.0, converter=to_float, validator=number(gt=0.0), kw_only=True
    )
    #: the converted times, by argument and ratio (filled as they are asked for)
    _converted: dict[tuple[str, int | None, float | None], Time] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        for name in self.time_args:
            value = getattr(self, name)
            for i, v in enumerate(value) if isinstance(value, tuple) else ((None, value),):
                where = name if i is None else f"{name}[{i}]"
                self.unit_of(self.convert(parse_time(v, where), where), where)
        self.check()

    def check(self) -> None:
        """Further checks of the converted times (Composer's errors at its first call)."""

    # -- the State's quantities --------------------------------------------------------

    def duration(self, name: str = "max_duration", needs: str = "a 'dur' time") -> Time:
        """The Trainer's ``max_duration``, scaled by ``scale_schedule_ratio`` as the Trainer
        scales it (a whole number is epochs, as the Trainer takes it); ``needs`` says what
        needs it when it is not given."""
        md = self.max_duration
        if md is None:
            raise SpecError(f"{needs} needs max_duration (the Trainer's)", name)
        value, unit = (md, "ep") if isinstance(md, int) else parse_time(md, "max_duration")
        if self.scale_schedule_ratio != 1.0:
            value = _whole(value * self.scale_schedule_ratio, "scale_schedule_ratio")
            if value == 0:
                raise SpecError(
                    "scale_schedule_ratio reduces max_duration to 0 (Composer refuses it)",
                    "scale_schedule_ratio",
                )
        return value, unit

    def batches_per_epoch(self, name: str) -> int:
        if self.dataloader_len is None:
            raise SpecError("an epoch time needs dataloader_len (the batches of an epoch)", name)
        return self.dataloader_len

    def convert(self, t: Time, name: str, ssr: float = 1.0) -> Time:
        """Composer's ``_convert_time(t, state, ssr)``."""
        value, unit = t
        if unit == "dur":
            md_value, md_unit = self.duration(name)
            if md_unit == "ep":
                return _whole(value * self.batches_per_epoch(name) * md_value, name), "ba"
            return _whole(value * md_value, name), md_unit
        if unit == "ep":
            value, unit = value * self.batches_per_epoch(name), "ba"
        return _whole(value * ssr, name), unit

    def unit_of(self, t: Time, name: str) -> Time:
        """``t``, checked that the clock counts its unit (samples and tokens need their
        count per batch)."""
        if t[1] == "sp" and self.samples_per_batch is None:
            raise SpecError("a time in samples needs samples_per_batch", name)
        if t[1] == "tok" and self.tokens_per_batch is None:
            raise SpecError("a time in tokens needs tokens_per_batch", name)
        return t

    def time(self, name: str, ssr: float | None = None, index: int | None = None) -> Time:
        """The argument ``name`` (its item ``index``) converted, with the scale schedule
        ratio by default; computed once."""
        key = (name, index, ssr)
        found = self._converted.get(key)
        if found is None:
            ratio = self.scale_schedule_ratio if ssr is None else ssr
            value = getattr(self, name)
            where = name
            if index is not None:
                value, where = value[index], f"{name}[{index}]"
            found = self.convert(parse_time(value, where), where, ratio)
            self._converted[key] = found
        return found

    def now(self, step: float, unit: str) -> int:
        """Composer's ``state.timestamp.get(unit)`` after ``step`` batches."""
        k = int(step)
        if unit == "ba":
            return k
        if unit == "sp":
            assert self.samples_per_batch is not None
            return k * self.samples_per_batch
        assert self.tokens_per_batch is not None
        return k * self.tokens_per_batch

    #: whether the curve stops changing after its last time (a decay that goes on forever,
    #: restarts, does not)
    ends: ClassVar[bool] = True

    @property
    def horizon(self) -> int | None:
        """The batch from which the curve no longer changes: after its last time."""
        if not self.ends:
            return None
        last = 0
        for name in self.time_args:
            value = getattr(self, name)
            items = range(len(value)) if isinstance(value, tuple) else (None,)
            for i in items:
                t, unit = self.time(name, index=i)
                per = {"ba": 1, "sp": self.samples_per_batch, "tok": self.tokens_per_batch}[unit]
                last = max(last, math.ceil(t / (per or 1)))
        return last + 1

    def positive(self, t: Time, name: str, why: str = "Composer divides by it") -> Time:
        if t[0] == 0:
            raise SpecError(f"converts to 0 {t[1]} ({why}): give a longer time", name)
        return t


def _cosine_anneal(x: float, min_y: float = 0.0, max_y: float = 1.0) -> float:
    """Composer's ``_cosine_anneal``."""
    x = min(max(x, 0.0), 1.0)
    return min_y + (max_y - min_y) * (1 + math.cos(x * math.pi)) / 2


@attrs.frozen
class StepScheduler(ComposerSchedule):
    """Composer's ``StepScheduler``: ``gamma ** floor(t / step_size)``.

    Example: ``{type = "composer.StepScheduler", step_size = "30ep", gamma = 0.1,
    dataloader_len = 100}``.
    """

    name = "composer.StepScheduler"
    ends = False
    time_args = ("step_size",)

    #: the time between two decays
    step_size: str = _time()
    #: the factor of each decay
    gamma: float = _real(0.1, ge=0.0)

    def check(self) -> None:
        self.positive(self.time("step_size"), "step_size")

    def __call__(self, step: float) -> float:
        value, unit = self.time("step_size")
        return self.gamma ** int(self.now(step, unit) / value)


@attrs.frozen
class MultiStepScheduler(ComposerSchedule):
    """Composer's ``MultiStepScheduler``: ``gamma`` once more at each milestone reached.

    Example: ``{type = "composer.MultiStepScheduler", milestones = ["30ep", "60ep"],
    gamma = 0.1, dataloader_len = 100}``.
    """

    name = "composer.MultiStepScheduler"
    time_args = ("milestones",)

    #: the times of the decays
    milestones: tuple[str, ...] = _times()
    #: the factor of each decay
    gamma: float = _real(0.1, ge=0.0)

    def __call__(self, step: float) -> float:
        factor = 1.0
        for i in range(len(self.milestones)):
            value, unit = self.time("milestones", index=i)
            if self.now(step, unit) >= value:
                factor *= self.gamma
        return factor


@attrs.frozen
class ConstantScheduler(ComposerSchedule):
    """Composer's ``ConstantScheduler``: ``alpha`` until ``t_max``, 1.0 from then on.

    Example: ``{type = "composer.ConstantScheduler", alpha = 0.5, t_max = "100ba"}``.
    """

    name = "composer.ConstantScheduler"
    time_args = ("t_max",)

    #: the factor until ``t_max``
    alpha: float = _real(1.0, ge=0.0)
    #: when the factor returns to 1.0
    t_max: str = _time("1dur")

    def __call__(self, step: float) -> float:
        value, unit = self.time("t_max")
        if self.now(step, unit) < value:
            return self.alpha
        return 1.0


@attrs.frozen
class LinearScheduler(ComposerSchedule):
    """Composer's ``LinearScheduler``: from ``alpha_i`` to ``alpha_f`` over ``t_max``,
    then ``alpha_f``.

    Example: ``{type = "composer.LinearScheduler", alpha_i = 1.0, alpha_f = 0.1,
    t_max = "1dur", max_duration = "1000ba"}``.
    """

    name = "composer.LinearScheduler"
    time_args = ("t_max",)

    #: the factor at the start
    alpha_i: float = _real(1.0, ge=0.0)
    #: the factor from ``t_max`` on
    alpha_f: float = _real(0.0, ge=0.0)
    #: the length of the ramp
    t_max: str = _time("1dur")

    def check(self) -> None:
        self.positive(self.time("t_max"), "t_max")

    def __call__(self, step: float) -> float:
        value, unit = self.time("t_max")
        frac = min(1.0, self.now(step, unit) / value)
        return self.alpha_i + frac * (self.alpha_f - self.alpha_i)


@attrs.frozen
class ExponentialScheduler(ComposerSchedule):
    """Composer's ``ExponentialScheduler``: ``gamma ** (t / decay_period)``, continuous.

    Example: ``{type = "composer.ExponentialScheduler", gamma = 0.95, decay_period =
    "1ep", dataloader_len = 100}``.
    """

    name = "composer.ExponentialScheduler"
    ends = False
    time_args = ("decay_period",)

    #: the factor over one ``decay_period``
    gamma: float = _real(ge=0.0)
    #: the time over which the factor is multiplied by ``gamma``
    decay_period: str = _time("1ep")

    def check(self) -> None:
        self.positive(self.time("decay_period"), "decay_period")

    def __call__(self, step: float) -> float:
        value, unit = self.time("decay_period")
        out: float = self.gamma ** float(self.now(step, unit) / value)
        return out


@attrs.frozen
class CosineAnnealingScheduler(ComposerSchedule):
    """Composer's ``CosineAnnealingScheduler``: a half cosine from 1.0 to ``alpha_f``
    over ``t_max``, then ``alpha_f``.

    Example: ``{type = "composer.CosineAnnealingScheduler", t_max = "1dur", alpha_f =
    0.01, max_duration = "10ep", dataloader_len = 100}``.
    """

    name = "composer.CosineAnnealingScheduler"
    time_args = ("t_max",)

    #: the length of the half cosine
    t_max: str = _time("1dur")
    #: the factor at its end
    alpha_f: float = _real(0.0, ge=0.0)

    def check(self) -> None:
        self.positive(self.time("t_max"), "t_max")

    def __call__(self, step: float) -> float:
        value, unit = self.time("t_max")
        return _cosine_anneal(self.now(step, unit) / value, min_y=self.alpha_f)


@attrs.frozen
class CosineAnnealingWarmRestartsScheduler(ComposerSchedule):
    """Composer's ``CosineAnnealingWarmRestartsScheduler`` (SGDR): half cosines from 1.0
    to ``alpha_f``, the first ``t_0`` long, each next ``t_mult`` times longer (rounded down
    as Composer rounds it).

    Example: ``{type = "composer.CosineAnnealingWarmRestartsScheduler", t_0 = "100ba",
    t_mult = 2.0, alpha_f = 0.01}``.
    """

    name = "composer.CosineAnnealingWarmRestartsScheduler"
    ends = False
    time_args = ("t_0",)

    #: the length of the first cosine
    t_0: str = _time()
    #: each next cosine is this many times longer (at least 1: Composer fails once the
    #: cosines shrink to nothing)
    t_mult: float = _real(1.0, ge=1.0)
    #: the factor at the end of each cosine
    alpha_f: float = _real(0.0, ge=0.0)

    def check(self) -> None:
        self.positive(self.time("t_0"), "t_0", "Composer refuses intervals of 0")

    def __call__(self, step: float) -> float:
        length, unit = self.time("t_0")
        now = self.now(step, unit)
        end = length
        while end <= now:
            grown = int(self.t_mult * length)
            if grown == length:  # the intervals stay this long: jump to the current one
                end += ((now - end) // length + 1) * length
                break
            length = grown
            end += length
        start = end - length
        return _cosine_anneal((now - start) / length, min_y=self.alpha_f)


@attrs.frozen
class PolynomialScheduler(ComposerSchedule):
    """Composer's ``PolynomialScheduler``: ``alpha_f + (1 - t / t_max) ** power * (1 -
    alpha_f)``, then ``alpha_f``.

    Example: ``{type = "composer.PolynomialScheduler", power = 2.0, t_max = "1dur",
    max_duration = "1000ba"}``.
    """

    name = "composer.PolynomialScheduler"
    time_args = ("t_max",)

    #: the exponent
    power: float = _real(ge=0.0)
    #: the length of the decay
    t_max: str = _time("1dur")
    #: the factor at its end
    alpha_f: float = _real(0.0, ge=0.0)

    def check(self) -> None:
        self.positive(self.time("t_max"), "t_max")

    def __call__(self, step: float) -> float:
        value, unit = self.time("t_max")
        frac = min(1.0, self.now(step, unit) / value)
        coeff: float = (1 - frac) ** self.power
        return self.alpha_f + coeff * (1.0 - self.alpha_f)


@attrs.frozen
class WithWarmup(ComposerSchedule):
    """What Composer's ``*WithWarmupScheduler`` share: a linear warmup from 0 over
    ``t_warmup`` (not scaled by ``scale_schedule_ratio`` unless ``scale_warmup``: then
    only its slope is), then the schedule."""

    if TYPE_CHECKING:  # declared by each family, in its Composer class's order
        t_warmup: str
        scale_warmup: bool

    #: the factor the warmup reaches
    warmup_peak: ClassVar[str | None] = None

    def warmup(self, step: float, peak: float) -> float | None:
        """The warmup's value at ``step``, or None after it."""
        end, unit = self.time("t_warmup", 1.0)
        now = self.now(step, unit)
        if now >= end:
            return None
        length, unit = self.time("t_warmup", None if self.scale_warmup else 1.0)
        frac = min(1.0, self.now(step, unit) / length)
        return 0.0 + frac * (peak - 0.0)

    def check(self) -> None:
        end = self.time("t_warmup", 1.0)
        if end[0] > 0 and self.scale_warmup:
            self.positive(self.time("t_warmup"), "t_warmup")


@attrs.frozen
class WithWarmupAndMax(WithWarmup):
    """A warmup, then a decay over ``t_max`` (which must cover ``max_duration`` and share
    the warmup's unit, as Composer checks at each call: here when built)."""

    if TYPE_CHECKING:
        t_max: str

    def check(self) -> None:
        super().check()
        self.duration("t_warmup", "a warmup scheduler")  # Composer asserts it
        warm = self.time("t_warmup", 1.0)
        top = self.time("t_max")
        if warm[1] != top[1]:
            raise SpecError(
                f"t_warmup converts to {warm[1]} and t_max to {top[1]}: Composer needs "
                "them in the same unit",
                "t_max",
            )
        md_value, md_unit = self.duration("t_max")
        covered = True
        if top[1] == md_unit:
            covered = top[0] >= md_value
        elif top[1] == "ba" and md_unit == "ep" and self.dataloader_len is not None:
            covered = top[0] >= md_value * self.dataloader_len
        if not covered:
            raise SpecError(
                f"t_max ({top[0]}{top[1]}) must be at least max_duration ({md_value}{md_unit}), "
                "as Composer requires (else the schedule ends before the training)",
                "t_max",
            )

    def progress(self, step: float) -> float:
        """Composer's ``frac_of_total`` after the warmup."""
        warm, unit = self.time("t_warmup", 1.0)
        top, _ = self.time("t_max")
        now = self.now(step, unit)
        frac = (now - warm) / (top - warm) if top > warm else 0.0
        return min(1.0, frac)


@attrs.frozen
class MultiStepWithWarmupScheduler(WithWarmup):
    """Composer's ``MultiStepWithWarmupScheduler``: a linear warmup from 0 to 1 over
    ``t_warmup``, then ``MultiStepScheduler`` (``gamma`` at each milestone reached).

    Example: ``{type = "composer.MultiStepWithWarmupScheduler", t_warmup = "100ba",
    milestones = ["1000ba", "2000ba"], gamma = 0.1, max_duration = "3000ba"}``.
    """

    name = "composer.MultiStepWithWarmupScheduler"
    time_args = ("t_warmup", "milestones")

    #: the length of the warmup
    t_warmup: str = _time()
    #: the times of the decays
    milestones: tuple[str, ...] = _times()
    #: the factor of each decay
    gamma: float = _real(0.1, ge=0.0)
    #: scale the warmup by ``scale_schedule_ratio`` too
    scale_warmup: bool = _flag()

    def check(self) -> None:
        super().check()
        self.duration("t_warmup", "a warmup scheduler")  # Composer asserts it

    def __call__(self, step: float) -> float:
        warm = self.warmup(step, 1.0)
        if warm is not None:
            return warm
        factor = 1.0
        for i in range(len(self.milestones)):
            value, unit = self.time("milestones", index=i)
            if self.now(step, unit) >= value:
                factor *= self.gamma
        return factor


@attrs.frozen
class LinearWithWarmupScheduler(WithWarmupAndMax):
    """Composer's ``LinearWithWarmupScheduler``: a linear warmup from 0 to ``alpha_i``
    over ``t_warmup``, then linear from ``alpha_i`` to ``alpha_f`` at ``t_max``.

    Example: ``{type = "composer.LinearWithWarmupScheduler", t_warmup = "0.1dur",
    alpha_f = 0.0, max_duration = "1000ba"}``.
    """

    name = "composer.LinearWithWarmupScheduler"
    time_args = ("t_warmup", "t_max")

    #: the length of the warmup
    t_warmup: str = _time()
    #: the factor at the end of the warmup
    alpha_i: float = _real(1.0, ge=0.0)
    #: the factor at ``t_max``
    alpha_f: float = _real(0.0, ge=0.0)
    #: the end of the decay (at least ``max_duration``)
    t_max: str = _time("1dur")
    #: scale the warmup by ``scale_schedule_ratio`` too
    scale_warmup: bool = _flag()

    def __call__(self, step: float) -> float:
        warm = self.warmup(step, self.alpha_i)
        if warm is not None:
            return warm
        return self.alpha_i + self.progress(step) * (self.alpha_f - self.alpha_i)


@attrs.frozen
class ConstantWithWarmupScheduler(WithWarmupAndMax):
    """Composer's ``ConstantWithWarmupScheduler``: a linear warmup from 0 to ``alpha``
    over ``t_warmup``, then ``alpha`` (Composer's ``LinearWithWarmupScheduler`` from
    ``alpha`` to ``alpha``).

    Example: ``{type = "composer.ConstantWithWarmupScheduler", t_warmup = "100ba",
    max_duration = "1000ba"}``.
    """

    name = "composer.ConstantWithWarmupScheduler"
    time_args = ("t_warmup", "t_max")

    #: the length of the warmup
    t_warmup: str = _time()
    #: the factor after the warmup
    alpha: float = _real(1.0, ge=0.0)
    #: the end of the schedule (at least ``max_duration``)
    t_max: str = _time("1dur")
    #: scale the warmup by ``scale_schedule_ratio`` too
    scale_warmup: bool = _flag()

    def __call__(self, step: float) -> float:
        warm = self.warmup(step, self.alpha)
        if warm is not None:
            return warm
        return self.alpha + self.progress(step) * (self.alpha - self.alpha)


@attrs.frozen
class CosineAnnealingWithWarmupScheduler(WithWarmupAndMax):
    """Composer's ``CosineAnnealingWithWarmupScheduler``: a linear warmup from 0 to 1
    over ``t_warmup``, then a half cosine to ``alpha_f`` at ``t_max``.

    Example: ``{type = "composer.CosineAnnealingWithWarmupScheduler", t_warmup =
    "0.05dur", alpha_f = 0.1, max_duration = "2e9tok", tokens_per_batch = 1048576}``.
    """

    name = "composer.CosineAnnealingWithWarmupScheduler"
    time_args = ("t_warmup", "t_max")

    #: the length of the warmup
    t_warmup: str = _time()
    #: the end of the cosine (at least ``max_duration``)
    t_max: str = _time("1dur")
    #: the factor at its end
    alpha_f: float = _real(0.0, ge=0.0)
    #: scale the warmup by ``scale_schedule_ratio`` too
    scale_warmup: bool = _flag()

    def __call__(self, step: float) -> float:
        warm = self.warmup(step, 1.0)
        if warm is not None:
            return warm
        return _cosine_anneal(self.progress(step), min_y=self.alpha_f)


@attrs.frozen
class PolynomialWithWarmupScheduler(WithWarmupAndMax):
    """Composer's ``PolynomialWithWarmupScheduler``: a linear warmup from 0 to 1 over
    ``t_warmup``, then ``alpha_f + (1 - frac) ** power * (1 - alpha_f)`` to ``t_max``.

    Example: ``{type = "composer.PolynomialWithWarmupScheduler", t_warmup = "100ba",
    power = 2.0, max_duration = "1000ba"}``.
    """

    name = "composer.PolynomialWithWarmupScheduler"
    time_args = ("t_warmup", "t_max")

    #: the length of the warmup
    t_warmup: str = _time()
    #: the exponent
    power: float = _real(2.0, ge=0.0)
    #: the end of the decay (at least ``max_duration``)
    t_max: str = _time("1dur")
    #: the factor at its end
    alpha_f: float = _real(0.0, ge=0.0)
    #: scale the warmup by ``scale_schedule_ratio`` too
    scale_warmup: bool = _flag()

    def __call__(self, step: float) -> float:
        warm = self.warmup(step, 1.0)
        if warm is not None:
            return warm
        coeff: float = (1 - self.progress(step)) ** self.power
        return self.alpha_f + coeff * (1.0 - self.alpha_f)


#: every alias, by Composer's class name
SCHEDULES: dict[str, type[ComposerSchedule]] = {
    c.name.split(".", 1)[1]: c
    for c in (
        StepScheduler,
        MultiStepScheduler,
        ConstantScheduler,
        LinearScheduler,
        ExponentialScheduler,
        CosineAnnealingScheduler,
        CosineAnnealingWarmRestartsScheduler,
        PolynomialScheduler,
        MultiStepWithWarmupScheduler,
        ConstantWithWarmupScheduler,
        LinearWithWarmupScheduler,
        CosineAnnealingWithWarmupScheduler,
        PolynomialWithWarmupScheduler,
    )
}

#: two examples of each (the conformance kit builds and checks them)
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "StepScheduler": [
        {"step_size": "10ba"},
        {"step_size": "2ep", "gamma": 0.5, "dataloader_len": 7, "scale_schedule_ratio": 1.5},
    ],
    "MultiStepScheduler": [
        {"milestones": ["10ba", "30ba"]},
        {"milestones": ["40sp", "0.5dur"], "max_duration": "50ba", "samples_per_batch": 4},
    ],
    "ConstantScheduler": [
        {"alpha": 0.5, "t_max": "20ba"},
        {"alpha": 0.25, "max_duration": "2ep", "dataloader_len": 10},
    ],
    "LinearScheduler": [
        {"alpha_i": 1.0, "alpha_f": 0.1, "t_max": "50ba"},
        {"t_max": "0.5dur", "max_duration": "1000tok", "tokens_per_batch": 16},
    ],
    "ExponentialScheduler": [
        {"gamma": 0.9, "decay_period": "5ba"},
        {"gamma": 0.5, "dataloader_len": 20},
    ],
    "CosineAnnealingScheduler": [
        {"t_max": "40ba", "alpha_f": 0.1},
        {"max_duration": "3ep", "dataloader_len": 12, "scale_schedule_ratio": 0.5},
    ],
    "CosineAnnealingWarmRestartsScheduler": [
        {"t_0": "10ba"},
        {"t_0": "8ba", "t_mult": 1.5, "alpha_f": 0.05},
    ],
    "PolynomialScheduler": [
        {"power": 2.0, "t_max": "30ba"},
        {"power": 0.5, "t_max": "0.8dur", "alpha_f": 0.1, "max_duration": "40ba"},
    ],
    "MultiStepWithWarmupScheduler": [
        {"t_warmup": "5ba", "milestones": ["20ba", "40ba"], "max_duration": "60ba"},
        {
            "t_warmup": "0.1dur",
            "milestones": ["0.5dur"],
            "gamma": 0.5,
            "scale_warmup": True,
            "max_duration": "50ba",
            "scale_schedule_ratio": 2.0,
        },
    ],
    "ConstantWithWarmupScheduler": [
        {"t_warmup": "5ba", "max_duration": "30ba"},
        {"t_warmup": "64sp", "alpha": 0.5, "max_duration": "320sp", "samples_per_batch": 8},
    ],
    "LinearWithWarmupScheduler": [
        {"t_warmup": "5ba", "max_duration": "40ba"},
        {"t_warmup": "0.1dur", "alpha_i": 0.9, "alpha_f": 0.1, "max_duration": "60ba"},
    ],
    "CosineAnnealingWithWarmupScheduler": [
        {"t_warmup": "5ba", "max_duration": "50ba", "alpha_f": 0.1},
        {"t_warmup": "0.05dur", "max_duration": "4096tok", "tokens_per_batch": 32},
    ],
    "PolynomialWithWarmupScheduler": [
        {"t_warmup": "4ba", "max_duration": "40ba"},
        {
            "t_warmup": "0.1dur",
            "power": 1.5,
            "alpha_f": 0.2,
            "max_duration": "3ep",
            "dataloader_len": 9,
        },
    ],
}


#: what each parameter is, in the words ``schedkit show`` prints after a docstring
PARAMETERS: dict[str, str] = {
    "step_size": "the time between two decays",
    "milestones": "the times of the decays",
    "gamma": "the factor of each decay (``ExponentialScheduler``: over one ``decay_period``)",
    "decay_period": "the time over which the factor is multiplied by ``gamma``",
    "alpha": "the factor held",
    "alpha_i": "the factor at the start (after the warmup, with one)",
    "alpha_f": "the factor at the end",
    "t_max": "the end of the curve, a time",
    "t_0": "the length of the first cosine",
    "t_mult": "how many times longer each next cosine is (at least 1)",
    "power": "the exponent of the polynomial",
    "t_warmup": "the length of the linear warmup from 0, a time",
    "scale_warmup": "whether ``scale_schedule_ratio`` scales the warmup's slope too",
    "max_duration": "the Trainer's ``max_duration`` (a time, or a whole number of epochs)",
    "dataloader_len": "the batches of an epoch, for times in epochs",
    "samples_per_batch": "the samples of a batch, for times in samples",
    "tokens_per_batch": "the tokens of a batch, for times in tokens",
    "scale_schedule_ratio": "the Trainer's ``scale_schedule_ratio``, applied as it applies it",
}


def _describe(cls: type[ComposerSchedule]) -> None:
    """Append a sentence per parameter to the docstring of ``cls``."""
    fields = [f for f in attrs.fields(cls) if f.init]
    names = [f.alias or f.name for f in sorted(fields, key=lambda f: f.kw_only)]
    about = " ".join(f"``{n}``: {PARAMETERS[n]}." for n in names)
    text = textwrap.fill(f"Parameters: {about}", 84, subsequent_indent="    ")
    cls.__doc__ = f"{(cls.__doc__ or '').rstrip()}\n\n    {text}\n    "


for _cls in SCHEDULES.values():
    _describe(_cls)


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    for name, cls in SCHEDULES.items():
        registry.add(cls, examples=EXAMPLES[name])
