"""``timm.*``: timm's schedulers by their factory names, its layer-decay groups and its AGC.

The schedules take the arguments of timm's scheduler classes (``t_initial``, ``lr_min``,
``warmup_t``, ``warmup_lr_init``, ``warmup_prefix``, ``cycle_mul``, ``cycle_decay``,
``cycle_limit``, ``k_decay``, ``noise_*``...) and count epochs by default, as timm does
(``t_in_epochs = true``): ``step(epoch)`` sets the schedule to ``epoch`` and
``step_update`` does nothing; with ``updates_per_epoch``, a scheduler stepped per update
holds each epoch's value over its updates. With ``t_in_epochs = false`` they are stepped
per update: step ``t`` of the scheduler is timm's ``step_update(num_updates=t)``, for
every param group, with timm's floats. Their schedulers take timm's own calls
(``step(epoch, metric)``, ``step_update(num_updates, metric)``, ``get_cycle_length()``).
A group carrying timm's
``lr_scale`` gets the value times it, as timm's schedulers do, ``warmup_lr_init`` and
``lr_min`` included; so does a group from ``timm.layer_decay`` (which writes the scaled lr
and keeps the scale as ``timm_lr_scale``).
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import itertools
import math
import operator
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect, SpecError
from schedkit.plugin import (
    MAX_STEPS,
    Field,
    NeedsContextError,
    Stepping,
    evolve,
    instance_of,
    optional,
    show,
    steps,
)
from schedkit_clipping.agc import AGC
from schedkit_compat import torch_
from schedkit_compat._base import ClosedForm, count, step_list

# -- the schedules --------------------------------------------------------------------


def _noise_range(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _check_noise_range(inst: Any, attribute: Field, value: Any) -> None:
    ok = value is None or (
        isinstance(value, int)
        or (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value))
    )
    items = value if isinstance(value, tuple) else () if value is None else (value,)
    if not ok or isinstance(value, bool) or any(abs(v) > MAX_STEPS for v in items):
        raise SpecError(
            f"expected a step or [start, end] steps, at most 2**62, got {show(value)}",
            attribute.name,
        )


class TimmStepping(Stepping):
    """timm's stepping API on the scheduler of a ``timm.*`` schedule, with timm's
    positional order and keywords: ``step(epoch, metric=None)`` after each epoch and
    ``step_update(num_updates, metric=None)`` after each update. With ``t_in_epochs`` true
    (timm's default) the first sets the schedule to ``epoch`` and the second does
    nothing; with ``t_in_epochs`` false, the other way round, as in timm. ``step()``
    without an epoch advances one step (torch's convention, what trainers and
    ``Built.step()`` call; ``step(metric=m)`` feeds ``timm.plateau`` at that step).
    ``get_cycle_length(cycles=0)`` is timm's, for the cyclic schedules.

    With ``t_in_epochs`` true and ``updates_per_epoch`` given, the steps count updates
    (``step()`` and ``Built.step()`` once per update) and the schedule moves once every
    ``updates_per_epoch`` of them, as ``train.py``'s ``step(epoch + 1)`` at each epoch
    end; ``step(epoch)`` then goes to the epoch's first update, so train.py's calls and
    per-update ``step()`` calls agree."""

    def step(self, scheduler: Any, epoch: int | None = None, metric: float | None = None) -> None:
        if epoch is None:
            super().step(scheduler, metric)
            return
        t = _whole(epoch, "epoch")  # checked whichever call moves the schedule
        if _counts_epochs(scheduler.schedule):
            sched = scheduler.schedule
            per = sched.updates_per_epoch if isinstance(sched, TimmSchedule) else None
            if per is not None:
                t *= per  # the steps count updates: go to the epoch's first one
            _goto(scheduler, t, metric)

    def methods(self, scheduler: Any) -> dict[str, Callable[..., Any]]:
        return {
            "step_update": functools.partial(self.step_update, scheduler),
            "get_cycle_length": functools.partial(self.get_cycle_length, scheduler),
        }

    def step_update(self, scheduler: Any, num_updates: int, metric: float | None = None) -> None:
        t = _whole(num_updates, "num_updates")
        if not _counts_epochs(scheduler.schedule):
            _goto(scheduler, t, metric)

    def get_cycle_length(self, scheduler: Any, cycles: int = 0) -> int:
        if not isinstance(scheduler.schedule, Cycles):
            raise TypeError(
                f"{scheduler.schedule.spec()['type']!r} has no cycles (timm's class has no "
                "get_cycle_length either)"
            )
        return int(scheduler.schedule.cycle_length(cycles))


#: the policy of every ``timm.*`` schedule
TIMM_STEPPING = TimmStepping()
#: schedkit's own stepping, what timm's calls come to
_SCHEDKIT = Stepping()


def _counts_epochs(schedule: schedkit.Schedule) -> bool:
    """timm's ``t_in_epochs``: whether ``step(epoch)`` moves the schedule (else
    ``step_update``)."""
    return schedule.t_in_epochs if isinstance(schedule, (TimmSchedule, Plateau)) else True


def _whole(t: object, name: str) -> int:
    """``t`` as a step count, else a :class:`SpecError` at ``name``. timm's own
    ``step``/``step_update`` compute with any number: an integer, or a float with no
    fraction (``3.0``, what ``epoch + 1`` gives on a float epoch), is that step; a
    fractional step has no value in schedkit's schedules, which count whole steps;
    a negative one, a bool or a string is a mistake (timm gives a nonsense rate or a raw
    ``TypeError``)."""
    if isinstance(t, float) and math.isfinite(t) and t.is_integer():
        t = int(t)
    if not isinstance(t, bool):
        try:
            n = operator.index(t)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            if n >= 0:
                return n
    raise SpecError(f"expected a whole number of steps >= 0, got {t!r}", name)


def _goto(scheduler: schedkit.Scheduler, t: int, metric: float | None = None) -> None:
    """Move ``scheduler`` to step ``t`` (checked by :func:`_whole`) and write its values
    (timm's schedulers are set to a step, not advanced); a metric-driven one
    (``timm.plateau``) observes ``metric`` at ``t``, the others ignore it, as timm's do."""
    scheduler.last_epoch = t - 1
    if metric is not None and scheduler.observes_metrics:
        _SCHEDKIT.step(scheduler, metric)
    else:
        _SCHEDKIT.step(scheduler)


# -- timm's parameters, declared once; each class lists its own in its timm class's
# -- order (the same names, defaults and order as the class's __init__)
T_INITIAL = count(positive=True)
LR_MIN = schedkit.factor(0.0, ge=0.0)
CYCLE_MUL = schedkit.factor(1.0, gt=0.0)
CYCLE_DECAY = schedkit.factor(1.0, ge=0.0)
CYCLE_LIMIT = count(1)
WARMUP_T = count(0)
WARMUP_LR_INIT = schedkit.factor(0.0, ge=0.0)
WARMUP_PREFIX = schedkit.field(default=False, validator=instance_of(bool))
#: timm's switch: which of ``step(epoch)`` and ``step_update(num_updates)`` moves the
#: schedule (see :class:`TimmStepping`); durations count what moves it
T_IN_EPOCHS = schedkit.field(default=True, validator=instance_of(bool))
NOISE_RANGE_T = schedkit.field(default=None, converter=_noise_range, validator=_check_noise_range)
NOISE_PCT = schedkit.factor(0.67, gt=0.0)
NOISE_STD = schedkit.factor(1.0, ge=0.0)
NOISE_SEED = schedkit.field(default=42, validator=steps())
K_DECAY = schedkit.factor(1.0, gt=0.0)
DECAY_RATE = schedkit.factor(1.0, ge=0.0)
#: schedkit's, after timm's parameters: with ``t_in_epochs``, the updates of an epoch when
#: the scheduler is stepped per update (the schedule holds each epoch's value over its
#: updates, as timm's ``train.py`` does); durations still count epochs. A setup takes it
#: from ``[run] steps_per_epoch``.
UPDATES_PER_EPOCH = schedkit.field(default=None, validator=optional(steps(positive=True)))


def in_range(r: int | tuple[int, int] | None, t: int) -> bool:
    """Whether step ``t`` is in timm's ``noise_range_t``."""
    if r is None:
        return False
    if isinstance(r, tuple):
        return r[0] <= t < r[1]
    return t >= r


def draw(kind: str, seed: int, pct: float, std: float) -> float:
    """timm's noise draw for one step, from its own seeded generator."""
    g = torch.Generator()
    g.manual_seed(seed)
    if kind == "normal":
        while True:
            n = float(torch.randn(1, generator=g).item()) * std
            if abs(n) < pct:
                return n
    return 2 * (float(torch.rand(1, generator=g).item()) - 0.5) * pct


@attrs.frozen
class TimmSchedule(ClosedForm):
    """What timm's schedulers share: the linear warmup from ``warmup_lr_init`` (absolute)
    over ``warmup_t`` steps (``warmup_prefix``: the curve starts after it), and the noise:
    from step ``noise_range_t`` (or within ``[start, end)``) each value is multiplied by
    ``1 + n``, ``n`` drawn with the seed ``noise_seed + t`` (``noise_std`` times a normal
    draw, redrawn until ``|n| < noise_pct``). Each family declares its parameters itself,
    in its timm class's order."""

    if TYPE_CHECKING:
        warmup_t: int
        warmup_lr_init: float
        warmup_prefix: bool
        t_in_epochs: bool
        noise_range_t: int | tuple[int, int] | None
        noise_pct: float
        noise_std: float
        noise_seed: int
        updates_per_epoch: int | None

    stepping: ClassVar[Stepping] = TIMM_STEPPING

    def __attrs_post_init__(self) -> None:
        if self.updates_per_epoch is not None and not self.t_in_epochs:
            raise SpecError(
                "updates_per_epoch is for t_in_epochs = true (with t_in_epochs = false the "
                "durations already count updates)",
                "updates_per_epoch",
            )

    def per_update(self, steps_per_epoch: int | None) -> TimmSchedule:
        """As a setup steps it, once per update (``Built.step()``): with ``t_in_epochs``
        the epoch's updates are ``updates_per_epoch``, else the run's ``steps_per_epoch``;
        with neither, a :class:`NeedsContextError` at ``t_in_epochs`` naming both ways
        out."""
        if not self.t_in_epochs or self.updates_per_epoch is not None:
            return self
        if steps_per_epoch is None:
            raise NeedsContextError(
                "t_in_epochs = true counts epochs, and a setup steps once per update: give "
                "[run] steps_per_epoch (the updates per epoch), or set t_in_epochs = false "
                "to count updates",
                "t_in_epochs",
            )
        return evolve(self, updates_per_epoch=steps_per_epoch)

    def decay(self, t: float, base: float) -> float:
        """The curve after the warmup, at ``t`` counted as timm counts it."""
        raise NotImplementedError

    def warmup_target(self, base: float) -> float:
        return base

    def noisy(self, t: int) -> bool:
        return in_range(self.noise_range_t, t)

    def noise(self, t: int) -> float:
        return draw("normal", self.noise_seed + t, self.noise_pct, self.noise_std)

    def at(self, step: float, base: float, index: int) -> float:
        t = int(step)
        if self.updates_per_epoch is not None:
            t //= self.updates_per_epoch  # the epoch of this update
        if t == 0:  # what timm writes when it is built
            return self.warmup_lr_init if self.warmup_t else base
        if t < self.warmup_t:
            s = (self.warmup_target(base) - self.warmup_lr_init) / self.warmup_t
            value = self.warmup_lr_init + t * s
        else:
            value = self.decay(t - self.warmup_t if self.warmup_prefix else t, base)
        if self.noisy(t):
            value = value + value * self.noise(t)
        return value

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        scale, base = group_scale(group, base)
        if scale is None:
            return super().per_group(group, base, index)

        def lr(step: float) -> float:
            return self.at(step, base, index) * scale

        return lr


#: The key ``timm.layer_decay`` writes beside the scaled lr: the ``lr_scale`` timm's
#: ``param_groups_layer_decay`` would have given the group.
APPLIED_SCALE = "timm_lr_scale"


def group_scale(group: Mapping[str, Any], base: float) -> tuple[float | None, float]:
    """The group's timm ``lr_scale`` and the lr timm's scheduler would scale by it.

    timm's own groups carry ``lr_scale`` beside the unscaled lr: timm computes the value
    (``warmup_lr_init`` and ``lr_min`` included) from that lr, then multiplies it by the
    scale. Groups from ``timm.layer_decay`` hold the lr already scaled and the scale as
    ``timm_lr_scale``: the unscaled lr is ``lr / scale`` (within one float step of the
    optimizer's lr), so ``warmup_lr_init`` and ``lr_min`` are scaled per group as in timm.
    """
    if group.get("lr_scale") is not None:
        return float(group["lr_scale"]), base
    applied = group.get(APPLIED_SCALE)
    if applied is None or float(applied) == 0.0:
        return None, base
    scale = float(applied)
    return scale, base / scale


@attrs.frozen
class Cycles(TimmSchedule):
    """timm's cycles: ``t_initial`` steps, each next one ``cycle_mul`` times longer with its
    peak ``cycle_decay`` times lower, ``cycle_limit`` of them, then ``lr_min``."""

    if TYPE_CHECKING:
        t_initial: int
        lr_min: float
        cycle_mul: float
        cycle_decay: float
        cycle_limit: int

    def shape(self, t_curr: float, t_i: float, top: float) -> float:
        raise NotImplementedError

    def cycle_length(self, cycles: int = 0) -> int:
        """timm's ``get_cycle_length``: the steps of ``cycles`` cycles (default
        ``cycle_limit``), the warmup included when it is a prefix."""
        cycles = max(1, cycles or self.cycle_limit)
        if self.cycle_mul == 1.0:
            t = self.t_initial * cycles
        else:
            mul = self.cycle_mul
            t = math.floor(-self.t_initial * (mul**cycles - 1) / (1 - mul))
        return t + self.warmup_t if self.warmup_prefix else t

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        try:  # timm's get_cycle_length: cycle_mul ** cycle_limit must be a float
            self.cycle_length()
        except OverflowError:
            raise SpecError(
                f"cycle_mul ** cycle_limit = {self.cycle_mul:g} ** {self.cycle_limit} is "
                "more than a float holds (timm's get_cycle_length raises OverflowError)",
                "cycle_limit",
            ) from None

    def decay(self, t: float, base: float) -> float:
        mul, n = self.cycle_mul, self.t_initial
        if mul != 1:
            x = 1 - t / n * (1 - mul)
            # where timm raises, every cycle is over (x <= 0: cycle_mul < 1 shortens the
            # cycles, which then end at a finite step), or the logarithm is taken in parts
            if x <= 0:
                log = math.inf
            elif math.isfinite(x):
                log = math.log(x, mul)
            else:
                log = math.log(t / n * (mul - 1), mul)
            i = math.floor(log) if math.isfinite(log) else self.cycle_limit
            if i >= self.cycle_limit:
                return self.lr_min
            t_i = mul**i * n
            t_curr = t - (1 - mul**i) / (1 - mul) * n
        else:
            i = int(t // n)
            t_i = n
            t_curr = t - (n * i)
        if i >= self.cycle_limit:
            return self.lr_min
        return self.shape(t_curr, t_i, base * self.cycle_decay**i)


@attrs.frozen
class Cosine(Cycles):
    """timm's ``cosine`` (``CosineLRScheduler``): SGDR cosine cycles from the lr to
    ``lr_min``; ``k_decay`` bends the curve (``t ** k / T ** k``).

    Example: ``{type = "timm.cosine", t_initial = 1000, lr_min = 1e-5, warmup_t = 50,
    warmup_lr_init = 1e-6, t_in_epochs = false}``.
    """

    name = "timm.cosine"

    t_initial: int = T_INITIAL
    lr_min: float = LR_MIN
    cycle_mul: float = CYCLE_MUL
    cycle_decay: float = CYCLE_DECAY
    cycle_limit: int = CYCLE_LIMIT
    warmup_t: int = WARMUP_T
    warmup_lr_init: float = WARMUP_LR_INIT
    warmup_prefix: bool = WARMUP_PREFIX
    t_in_epochs: bool = T_IN_EPOCHS
    noise_range_t: int | tuple[int, int] | None = NOISE_RANGE_T
    noise_pct: float = NOISE_PCT
    noise_std: float = NOISE_STD
    noise_seed: int = NOISE_SEED
    k_decay: float = K_DECAY
    updates_per_epoch: int | None = UPDATES_PER_EPOCH

    def shape(self, t_curr: float, t_i: float, top: float) -> float:
        k, low = self.k_decay, self.lr_min
        return low + 0.5 * (top - low) * (1 + math.cos(math.pi * t_curr**k / t_i**k))


@attrs.frozen
class Tanh(Cycles):
    """timm's ``tanh`` (``TanhLRScheduler``): the lr falls along ``tanh`` from ``lb`` to
    ``ub`` over each cycle. Without ``warmup_prefix`` the warmup rises to the curve's value
    at ``warmup_t``, as timm's.

    Example: ``{type = "timm.tanh", t_initial = 1000, warmup_t = 50, t_in_epochs = false}``.
    """

    name = "timm.tanh"

    t_initial: int = T_INITIAL
    lb: float = schedkit.factor(-7.0)
    ub: float = schedkit.factor(3.0)
    lr_min: float = LR_MIN
    cycle_mul: float = CYCLE_MUL
    cycle_decay: float = CYCLE_DECAY
    cycle_limit: int = CYCLE_LIMIT
    warmup_t: int = WARMUP_T
    warmup_lr_init: float = WARMUP_LR_INIT
    warmup_prefix: bool = WARMUP_PREFIX
    t_in_epochs: bool = T_IN_EPOCHS
    noise_range_t: int | tuple[int, int] | None = NOISE_RANGE_T
    noise_pct: float = NOISE_PCT
    noise_std: float = NOISE_STD
    noise_seed: int = NOISE_SEED
    updates_per_epoch: int | None = UPDATES_PER_EPOCH

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.lb >= self.ub:
            raise SpecError(f"expected lb < ub, got {self.lb} and {self.ub}", "lb")

    def warmup_target(self, base: float) -> float:
        return base if self.warmup_prefix else self.decay(self.warmup_t, base)

    def shape(self, t_curr: float, t_i: float, top: float) -> float:
        tr = t_curr / t_i
        low = self.lr_min
        return low + 0.5 * (top - low) * (1 - math.tanh(self.lb * (1.0 - tr) + self.ub * tr))


@attrs.frozen
class Poly(Cycles):
    """timm's ``poly`` (``PolyLRScheduler``): ``(1 - t ** k / T ** k) ** power`` from the
    lr to ``lr_min`` over each cycle.

    Example: ``{type = "timm.poly", t_initial = 1000, power = 0.5, t_in_epochs = false}``.
    """

    name = "timm.poly"

    t_initial: int = T_INITIAL
    power: float = schedkit.factor(0.5, ge=0.0)
    lr_min: float = LR_MIN
    cycle_mul: float = CYCLE_MUL
    cycle_decay: float = CYCLE_DECAY
    cycle_limit: int = CYCLE_LIMIT
    warmup_t: int = WARMUP_T
    warmup_lr_init: float = WARMUP_LR_INIT
    warmup_prefix: bool = WARMUP_PREFIX
    t_in_epochs: bool = T_IN_EPOCHS
    noise_range_t: int | tuple[int, int] | None = NOISE_RANGE_T
    noise_pct: float = NOISE_PCT
    noise_std: float = NOISE_STD
    noise_seed: int = NOISE_SEED
    k_decay: float = K_DECAY
    updates_per_epoch: int | None = UPDATES_PER_EPOCH

    def shape(self, t_curr: float, t_i: float, top: float) -> float:
        k, low = self.k_decay, self.lr_min
        return float(low + (top - low) * (1 - t_curr**k / t_i**k) ** self.power)


@attrs.frozen
class Step(TimmSchedule):
    """timm's ``step`` (``StepLRScheduler``): the lr times ``decay_rate`` every ``decay_t``
    steps (the warmup is a prefix by default, as timm's).

    Example: ``{type = "timm.step", decay_t = 30, decay_rate = 0.1}``.
    """

    name = "timm.step"

    decay_t: float = schedkit.factor(gt=0.0)
    decay_rate: float = DECAY_RATE
    warmup_t: int = WARMUP_T
    warmup_lr_init: float = WARMUP_LR_INIT
    warmup_prefix: bool = schedkit.field(default=True, validator=instance_of(bool))
    t_in_epochs: bool = T_IN_EPOCHS
    noise_range_t: int | tuple[int, int] | None = NOISE_RANGE_T
    noise_pct: float = NOISE_PCT
    noise_std: float = NOISE_STD
    noise_seed: int = NOISE_SEED
    updates_per_epoch: int | None = UPDATES_PER_EPOCH

    def decay(self, t: float, base: float) -> float:
        return float(base * (self.decay_rate ** (t // self.decay_t)))


@attrs.frozen
class MultiStep(TimmSchedule):
    """timm's ``multistep`` (``MultiStepLRScheduler``): the lr times ``decay_rate`` at each
    of ``decay_t``, one step early as timm counts (``bisect(decay_t, t + 1)``).

    Example: ``{type = "timm.multistep", decay_t = [30, 60], decay_rate = 0.1}``.
    """

    name = "timm.multistep"

    decay_t: tuple[int, ...] = step_list(increasing=True)
    decay_rate: float = DECAY_RATE
    warmup_t: int = WARMUP_T
    warmup_lr_init: float = WARMUP_LR_INIT
    warmup_prefix: bool = schedkit.field(default=True, validator=instance_of(bool))
    t_in_epochs: bool = T_IN_EPOCHS
    noise_range_t: int | tuple[int, int] | None = NOISE_RANGE_T
    noise_pct: float = NOISE_PCT
    noise_std: float = NOISE_STD
    noise_seed: int = NOISE_SEED
    updates_per_epoch: int | None = UPDATES_PER_EPOCH

    def decay(self, t: float, base: float) -> float:
        return float(base * (self.decay_rate ** bisect.bisect_right(self.decay_t, t + 1)))


@attrs.define(eq=False)
class Plateau(torch_.ReduceLROnPlateau):
    """timm's ``plateau`` (``PlateauLRScheduler``): torch's ``ReduceLROnPlateau`` (mode
    ``max`` by default) behind timm's warmup: the lr rises from ``warmup_lr_init`` over
    ``warmup_t`` epochs, metrics count only after it, and the noise is added to one
    epoch's lr and taken back at the next, as timm's.

    Step it as timm's: ``scheduler.step(epoch, metric)`` after each epoch (``metric``
    may be left out; ``step_update`` does nothing). ``step(metric=m)`` without an epoch
    (``Built.step(metric)``) is the next epoch. ``noise_seed`` ``None`` is timm's 42. Its
    state, unlike timm's, keeps the plateau's counters.

    Example: ``{type = "timm.plateau", decay_rate = 0.5, patience_t = 3, warmup_t = 2}``.
    """

    name = "timm.plateau"

    decay_rate: float = schedkit.factor(0.1, gt=0.0, lt=1.0)
    patience_t: int = schedkit.field(default=10, validator=steps())
    threshold: float = schedkit.factor(1e-4, ge=0.0)
    cooldown_t: int = schedkit.field(default=0, validator=steps())
    warmup_t: int = schedkit.field(default=0, validator=steps())
    warmup_lr_init: float = schedkit.factor(0.0, ge=0.0)
    lr_min: float = schedkit.factor(0.0, ge=0.0)
    mode: str = schedkit.choice("max", "min")
    noise_range_t: int | tuple[int, int] | None = NOISE_RANGE_T
    noise_type: str = schedkit.choice("normal", "uniform")
    noise_pct: float = NOISE_PCT
    noise_std: float = NOISE_STD
    noise_seed: int | None = schedkit.field(default=None, validator=optional(steps()))
    # torch's names, set from timm's
    factor: float = schedkit.field(init=False, default=0.1)
    patience: int = schedkit.field(init=False, default=10)
    cooldown: int = schedkit.field(init=False, default=0)
    min_lr: float = schedkit.field(init=False, default=0.0)
    threshold_mode: str = schedkit.field(init=False, default="rel")
    eps: float = schedkit.field(init=False, default=1e-8)

    stepping: ClassVar[Stepping] = TIMM_STEPPING
    #: timm's plateau counts epochs: ``step(epoch)`` moves it, ``step_update`` does not
    t_in_epochs: ClassVar[bool] = True

    def __attrs_post_init__(self) -> None:
        self.factor = self.decay_rate
        self.patience = self.patience_t
        self.cooldown = self.cooldown_t
        self.min_lr = self.lr_min
        super().__attrs_post_init__()

    def noise(self, t: int) -> float:
        seed = 42 if self.noise_seed is None else self.noise_seed
        return draw(self.noise_type, seed + t, self.noise_pct, self.noise_std)

    def observe(self, metric: float, step: int) -> None:
        if step > self.warmup_t:  # timm feeds the plateau only after its warmup
            super().observe(metric, step)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        t = self.warmup_t
        s = (base - self.warmup_lr_init) / t if t else 0.0
        start = self.warmup_lr_init + t * s if t else base
        after = super().per_group(group, start, index)

        def lr(step: float) -> float:
            k = int(step)
            if t and k <= t:
                return self.warmup_lr_init + k * s
            value = after(step)
            if in_range(self.noise_range_t, k):  # timm: added for one step, then taken back
                value = value + value * self.noise(k)
            return value

        return lr

    def __call__(self, step: float) -> float:
        return self.per_group({}, 1.0, 0)(step)


# -- layer decay ----------------------------------------------------------------------

#: timm's marker for "same layer as the previous group" (``norm`` after the last block)
MATCH_PREV_GROUP = 99999.0


def _matcher_ordinals(
    names: Iterable[str], matcher: Mapping[str, Any] | Callable[[str], Any]
) -> dict[str, int]:
    """timm's ``group_with_matcher(..., reverse=True)``: each name's layer id."""
    if isinstance(matcher, Mapping):
        compiled: list[tuple[re.Pattern[str], tuple[int], Any]] = []
        for ordinal, spec in enumerate(matcher.values()):
            if spec is None:
                continue
            if isinstance(spec, (tuple, list)):
                compiled += [(re.compile(s[0]), (ordinal,), s[1]) for s in spec]
            else:
                compiled.append((re.compile(spec), (ordinal,), None))

        def key(name: str) -> tuple[float, ...]:
            for regex, prefix, suffix in compiled:
                m = regex.match(name)
                if m:
                    parts = (prefix, m.groups(), suffix)
                    return tuple(
                        float(x) for x in itertools.chain.from_iterable(p for p in parts if p)
                    )
            return (math.inf,)

    else:
        fn = matcher

        def key(name: str) -> tuple[float, ...]:
            got = fn(name)
            return tuple(got) if isinstance(got, Iterable) else (got,)

    grouping: dict[tuple[float, ...], list[str]] = defaultdict(list)
    for n in names:
        grouping[key(n)].append(n)
    out: dict[str, int] = {}
    lid = -1
    for k in sorted(grouping):
        if lid < 0 or k[-1] != MATCH_PREV_GROUP:
            lid += 1
        for n in grouping[k]:
            out[n] = lid
    return out


def _auto_layers(model: torch.nn.Module, names: list[str], per_group: int = 12) -> dict[str, int]:
    """timm's ``auto_group_layers``: runs of 12 parameters below the classifier, which is
    on top (with no classifier named in ``pretrained_cfg``, everything is)."""
    head = getattr(model, "pretrained_cfg", {}).get("classifier", None)

    def in_head(n: str) -> bool:
        if not head:
            return True
        if isinstance(head, (tuple, list)):
            return any(n.startswith(h) for h in head)
        return n.startswith(head)

    trunk = [n for n in names if not in_head(n)]
    out = {n: i // per_group for i, n in enumerate(trunk)}
    top = -(-len(trunk) // per_group)
    out.update({n: top for n in names if in_head(n)})
    return out


def _strings(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, set, frozenset)) else value


@attrs.frozen
class LayerDecay(schedkit.BaseRule):
    """timm's layer-decay groups (``create_optimizer_v2(..., layer_decay=...)``, i.e.
    ``param_groups_layer_decay``): the layers from the model's ``group_matcher()`` (else
    timm's automatic grouping), the lr times ``max(min_scale, layer_decay ** (top -
    layer))``, and no weight decay for 1-D parameters and the names matching
    ``no_weight_decay_list`` or the model's ``no_weight_decay()`` (fnmatch patterns).

    The lr is written scaled (timm writes ``lr_scale`` for its schedulers to apply), and
    the scale is kept in the group as ``timm_lr_scale``, so the ``timm.*`` schedules scale
    ``warmup_lr_init`` and ``lr_min`` per group as timm's schedulers do.

    Example: ``{type = "timm.layer_decay", layer_decay = 0.65}``.
    """

    name = "timm.layer_decay"

    layer_decay: float = schedkit.factor(0.75, gt=0.0, le=1.0)
    min_scale: float = schedkit.factor(0.0, ge=0.0, le=1.0)
    no_weight_decay_list: tuple[str, ...] = schedkit.field(default=(), converter=_strings)
    weight_decay_exclude_1d: bool = schedkit.field(default=True, validator=instance_of(bool))

    def layers(self, model: torch.nn.Module) -> dict[str, int]:
        """The layer id of every parameter name, as timm numbers them."""
        names = [n for n, _ in model.named_parameters()]
        matcher = getattr(model, "group_matcher", None)
        if callable(matcher):
            return _matcher_ordinals(names, matcher(coarse=False))
        return _auto_layers(model, names)

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        layer_of = self.layers(model)
        top = max(layer_of.values(), default=0)
        scales = [max(self.min_scale, self.layer_decay ** (top - i)) for i in range(top + 1)]
        effects = [RuleEffect(values={APPLIED_SCALE: s}, multipliers={"lr": s}) for s in scales]
        no_decay_effects = [
            RuleEffect(values={"weight_decay": 0.0, APPLIED_SCALE: s}, multipliers={"lr": s})
            for s in scales
        ]
        patterns = set(self.no_weight_decay_list)
        own = getattr(model, "no_weight_decay", None)
        if callable(own):
            patterns |= set(own())

        def decide(info: ParamInfo) -> RuleEffect:
            layer = layer_of.get(info.name, top)
            flat = self.weight_decay_exclude_1d and info.param.ndim <= 1
            if flat or any(fnmatch.fnmatch(info.name, p) for p in patterns):
                return no_decay_effects[layer]
            return effects[layer]

        return decide


# -- clipping -------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class TimmAGC(AGC):
    """timm's ``adaptive_clip_grad`` (``--clip-mode agc``): unit-wise AGC with timm's
    arguments ``clip_factor``, ``eps`` and ``norm_type``.

    Example: ``{type = "timm.agc", clip_factor = 0.01}``.
    """

    name = "timm.agc"


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Cosine,
        examples=[
            {"t_initial": 100, "lr_min": 0.001, "warmup_t": 10, "warmup_lr_init": 0.0001},
            {
                "t_initial": 30,
                "cycle_mul": 2.0,
                "cycle_decay": 0.5,
                "cycle_limit": 3,
                "k_decay": 1.5,
                "noise_range_t": [10, 60],
                "noise_pct": 0.1,
            },
        ],
    )
    registry.add(
        Tanh, examples=[{"t_initial": 100, "warmup_t": 5}, {"t_initial": 40, "cycle_limit": 2}]
    )
    registry.add(
        Poly, examples=[{"t_initial": 100}, {"t_initial": 50, "power": 2.0, "warmup_t": 5}]
    )
    registry.add(Step, examples=[{"decay_t": 30, "decay_rate": 0.1, "warmup_t": 3}])
    registry.add(MultiStep, examples=[{"decay_t": [30, 60], "decay_rate": 0.1}])
    registry.add(Plateau, examples=[{}, {"decay_rate": 0.5, "patience_t": 2, "warmup_t": 3}])


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        LayerDecay,
        examples=[{}, {"layer_decay": 0.5, "min_scale": 0.1, "no_weight_decay_list": ["*token"]}],
    )


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(TimmAGC, examples=[{}, {"clip_factor": 0.05, "eps": 0.01}])
