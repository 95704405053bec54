"""transformers' schedules where their floats differ from the native families' (quirks kept).

``schedkit.get_scheduler(name, optimizer, num_warmup_steps=..., num_training_steps=...,
scheduler_specific_kwargs=...)`` — transformers' call form — reproduces transformers' lr
for every step up to ``num_training_steps``. Most names map onto native families exactly
(``linear``, ``cosine``, ``constant``...); the ones here keep transformers' own formulas,
because their floats (or their quirks) cannot come from a native curve:

- ``transformers.polynomial``: divides by the optimizer's *default* lr (``lr_init``), not
  the group's, and clamps only after ``num_training_steps``.
- ``transformers.cosine_with_restarts``: equal hard restarts over the run.
- ``transformers.cosine_warmup_with_min_lr``: its warmup starts at ``1/num_warmup_steps`` and
  its decay is one step ahead.
- ``transformers.warmup_stable_decay``: its warmup starts at ``min_lr_ratio``.

``reduce_lr_on_plateau`` in the call form is torch's ``ReduceLROnPlateau`` (what
transformers builds): the ``torch.ReduceLROnPlateau`` alias, ``min_lr`` an absolute floor
per group.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import SpecError, StateError
from schedkit.plugin import (
    Field,
    ScheduleHooks,
    StateReader,
    as_real,
    as_steps,
    check_number,
    decay,
    fields,
    instance_of,
    number,
    optional,
    ramp,
    record_spec,
    show,
    steps,
    to_float,
)


def need(name: str, warmup: int | None, total: int | None) -> tuple[int, int]:
    """Both step counts, or the error transformers gives."""
    if warmup is None:
        raise SpecError(f"{name} requires `num_warmup_steps`, please provide that argument.")
    if total is None:
        raise SpecError(f"{name} requires `num_training_steps`, please provide that argument.")
    return warmup, total


def no_more(name: str, kwargs: Mapping[str, Any]) -> None:
    """transformers passes unknown kwargs on and fails; so do we, naming them."""
    if kwargs:
        raise SpecError(f"{name} does not take {sorted(kwargs)} in scheduler_specific_kwargs")


def min_lr_rate(
    optimizer: torch.optim.Optimizer, min_lr: float | None, rate: float | None
) -> float:
    """transformers' rule: ``min_lr`` (absolute, over the optimizer's default lr) or the rate."""
    if min_lr is not None and rate is not None:
        raise SpecError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        return float(_real(min_lr, "min_lr") / _real(optimizer.defaults["lr"], "lr"))
    if rate is None:
        raise SpecError(
            "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )
    return _real(rate, "min_lr_rate")


def _real(value: Any, name: str) -> float:
    """A number of transformers' arguments as a float, or SpecError naming it (a string, a
    number no float holds); the schedule's own validation judges its range."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    real = as_real(value)
    if real is None:
        raise SpecError(f"expected a number, got {show(value)}", name)
    return real


def _warm(step: float, warmup: int) -> float:
    return float(step) / float(max(1, warmup))


@attrs.frozen
class Polynomial(schedkit.BaseSchedule):
    """transformers' ``polynomial``: linear warmup, then a polynomial decay to ``lr_end``.

    ``f(t) = ((lr_init - lr_end) * (1 - (t - w)/(T - w))**power + lr_end) / lr_init`` with
    ``lr_init`` the optimizer's *default* lr (transformers' quirk: a group with another lr
    still gets this factor); after ``T`` the factor is ``lr_end / lr_init``.
    """

    name = "transformers.polynomial"

    num_warmup_steps: int = schedkit.duration(position=False)
    num_training_steps: int = schedkit.duration(positive=True, horizon=True, position=False)
    lr_end: float = schedkit.factor(1e-7, ge=0.0)
    power: float = schedkit.factor(1.0, gt=0.0)
    #: the optimizer's default lr, which transformers reads from the optimizer (by keyword)
    lr_init: float = schedkit.field(kw_only=True, converter=to_float, validator=number(gt=0.0))

    def __attrs_post_init__(self) -> None:
        if not self.lr_init > self.lr_end:
            raise SpecError(
                f"lr_end ({self.lr_end}) must be smaller than initial lr ({self.lr_init})", "lr_end"
            )
        if self.num_training_steps <= self.num_warmup_steps:
            raise SpecError("expected more steps than the warmup", "num_training_steps")

    def __call__(self, step: float) -> float:
        w, total = self.num_warmup_steps, self.num_training_steps
        if step < w:
            return _warm(step, w)
        if step > total:
            return self.lr_end / self.lr_init
        lr_range = self.lr_init - self.lr_end
        pct_remaining = 1 - (step - w) / (total - w)
        return float((lr_range * pct_remaining**self.power + self.lr_end) / self.lr_init)


@attrs.frozen
class CosineWithRestarts(schedkit.BaseSchedule):
    """transformers' ``cosine_with_restarts``: linear warmup, then ``num_cycles`` equal
    half-cosines from 1 to 0, each restarting at 1 (hard restarts); 0 from ``T`` on.

    ``f(t) = (1 + cos(pi * ((cycles * p) % 1))) / 2`` with ``p = (t - w) / (T - w)``.
    """

    name = "transformers.cosine_with_restarts"

    num_warmup_steps: int = schedkit.duration(position=False)
    num_training_steps: int = schedkit.duration(positive=True, horizon=True, position=False)
    num_cycles: int = schedkit.field(default=1, validator=instance_of(int))

    def __call__(self, step: float) -> float:
        w, total = self.num_warmup_steps, self.num_training_steps
        if step < w:
            return _warm(step, w)
        progress = float(step - w) / float(max(1, total - w))
        if progress >= 1.0:
            return 0.0
        return max(
            0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(self.num_cycles) * progress) % 1.0)))
        )


@attrs.frozen
class CosineWarmupWithMinLR(schedkit.BaseSchedule):
    """transformers' ``cosine_warmup_with_min_lr``: a warmup from ``1/w`` (or from
    ``warmup_lr_rate``) to 1, then a cosine one step ahead down to ``min_lr_rate``.

    Warmup: ``(t + 1) / w``, or ``r + (1 - r) * t / (w - 1)`` with ``warmup_lr_rate=r``; then
    ``p = (t - w + 1) / (T - w)`` and ``f = c * (1 - m) + m`` with the cosine ``c`` of
    ``num_cycles`` waves.
    """

    name = "transformers.cosine_warmup_with_min_lr"

    num_warmup_steps: int = schedkit.duration(position=False)
    num_training_steps: int = schedkit.duration(positive=True, horizon=True, position=False)
    num_cycles: float = schedkit.factor(0.5, gt=0.0)
    min_lr_rate: float = schedkit.factor(0.0, ge=0.0)
    warmup_lr_rate: float | None = schedkit.field(default=None)

    @classmethod
    def build(
        cls, optimizer: torch.optim.Optimizer, warmup: int, total: int, **kwargs: Any
    ) -> CosineWarmupWithMinLR:
        rate = min_lr_rate(optimizer, kwargs.pop("min_lr", None), kwargs.pop("min_lr_rate", None))
        cycles = kwargs.pop("num_cycles", 0.5)
        warmup_rate = kwargs.pop("warmup_lr_rate", None)
        no_more("cosine_warmup_with_min_lr", kwargs)
        return cls(warmup, total, cycles, min_lr_rate=rate, warmup_lr_rate=warmup_rate)

    def __call__(self, step: float) -> float:
        current = float(step)
        w = float(self.num_warmup_steps)
        total = float(self.num_training_steps)
        if current < w:
            if self.warmup_lr_rate is None:
                return (current + 1.0) / max(1.0, w)
            r = float(self.warmup_lr_rate)
            return r + (1.0 - r) * current / max(1, w - 1)
        progress = (current - w + 1.0) / max(1.0, total - w)
        factor = 0.5 * (1.0 + math.cos(math.pi * self.num_cycles * 2.0 * progress))
        factor = factor * (1 - self.min_lr_rate) + self.min_lr_rate
        return max(0.0, factor)


def _optional_duration() -> Any:
    """A number of steps (``"5ep"`` in specs too) that may be left out."""
    metadata = schedkit.duration(position=False).metadata
    return schedkit.field(default=None, validator=optional(steps()), metadata=metadata)


@attrs.frozen
class WarmupStableDecay(schedkit.BaseSchedule):
    """transformers' ``warmup_stable_decay``: warmup from ``min_lr_ratio`` to 1, a stable
    phase at 1, a decay to ``min_lr_ratio`` (linear, cosine or 1-sqrt), then held.

    The parameters in transformers' order (``get_wsd_schedule``): the stable phase is
    ``num_stable_steps``, or what ``num_training_steps`` leaves after the warmup and the
    decay. Warmup: ``ramp(t/w) * (1 - m) + m``; decay: ``decay(p) * (1 - m) + m``.
    """

    name = "transformers.warmup_stable_decay"

    num_warmup_steps: int = schedkit.duration(position=False)
    num_decay_steps: int = schedkit.duration(position=False)
    num_training_steps: int | None = _optional_duration()
    num_stable_steps: int | None = _optional_duration()
    warmup_type: str = schedkit.choice("linear", "cosine", "1-sqrt")
    decay_type: str = schedkit.choice("cosine", "linear", "1-sqrt")
    min_lr_ratio: float = schedkit.factor(0.0, ge=0.0)
    num_cycles: float = schedkit.factor(0.5, gt=0.0)

    def __attrs_post_init__(self) -> None:
        if self.num_stable_steps is None and self.num_training_steps is None:
            raise SpecError(
                "Either num_training_steps or num_stable_steps must be specified.",
                "num_stable_steps",
            )

    def spec(self) -> dict[str, Any]:
        """The parameters given (a step count left out is not written as None)."""
        out = super().spec()
        for key in ("num_training_steps", "num_stable_steps"):
            if out.get(key) is None:
                out.pop(key, None)
        return out

    @property
    def stable(self) -> int:
        """The stable phase's length, as transformers works it out."""
        if self.num_stable_steps is not None:
            return self.num_stable_steps
        assert self.num_training_steps is not None
        return self.num_training_steps - self.num_warmup_steps - self.num_decay_steps

    @property
    def horizon(self) -> int:
        return self.num_warmup_steps + self.stable + self.num_decay_steps

    def __call__(self, step: float) -> float:
        m = self.min_lr_ratio
        w, stable, dec = self.num_warmup_steps, self.stable, self.num_decay_steps
        if step < w:
            progress = float(step) / float(max(1, w))
            return max(0.0, ramp(self.warmup_type, progress) * (1.0 - m) + m)
        if step < w + stable:
            return 1.0
        if step < w + stable + dec:
            progress = float(step - w - stable) / float(max(1, dec))
            if self.decay_type == "cosine":
                factor = 0.5 * (1.0 + math.cos(math.pi * float(self.num_cycles) * 2.0 * progress))
            else:
                factor = decay(self.decay_type, progress)
            return max(0.0, factor * (1.0 - m) + m)
        return m


def _floats_or_list(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(to_float(v) for v in value)
    return to_float(value)


def _lrs(default: float) -> Any:
    """A number, or one per param group (transformers' ``min_lr`` / ``max_lr``)."""
    check = number(ge=0.0)

    def validate(inst: Any, attribute: Field, value: Any) -> None:
        for v in value if isinstance(value, tuple) else (value,):
            check(inst, attribute, v)

    return schedkit.field(default=default, converter=_floats_or_list, validator=validate)


def _flag(default: bool) -> Any:
    return schedkit.field(default=default, validator=instance_of(bool))


@attrs.define(eq=False)
class Greedy(ScheduleHooks):
    """transformers' ``greedy`` (``GreedyLR``): each group's lr divided by ``factor`` after
    more than ``patience`` improving steps (up to ``max_lr``), multiplied by it after more
    than ``patience`` steps without improvement (down to ``min_lr``); a change of at most
    ``eps`` is skipped. ``cooldown`` steps pass after a decrease, ``increase_cooldown``
    (transformers' ``warmup``) after an increase; with ``smooth`` the metric is averaged
    over the last ``window_size`` values; ``reset_start`` steps with every group at its
    ``min_lr`` reset the lrs and the history. ``min_lr`` / ``max_lr`` are absolute (a list:
    one per group).

    Fed with ``scheduler.step(metric)``; transformers' floats, group by group, and its
    history is plain state. transformers' ``verbose`` prints; here it is accepted and
    ignored (no output per step).

    Example: ``get_scheduler("greedy", opt, scheduler_specific_kwargs={"patience": 5})``.
    """

    name = "transformers.greedy"

    mode: str = schedkit.choice("min", "max")
    factor: float = schedkit.factor(0.95, gt=0.0, lt=1.0)
    patience: int = schedkit.field(default=10, validator=steps())
    threshold: float = schedkit.factor(1e-6, ge=0.0)
    threshold_mode: str = schedkit.choice("abs", "rel")
    cooldown: int = schedkit.field(default=0, validator=steps())
    increase_cooldown: int = schedkit.field(default=0, validator=steps())
    min_lr: float | tuple[float, ...] = _lrs(1e-3)
    max_lr: float | tuple[float, ...] = _lrs(1.0)
    eps: float = schedkit.factor(1e-8, ge=0.0)
    verbose: bool = _flag(False)
    smooth: bool = _flag(False)
    window_size: int = schedkit.field(default=50, validator=steps(positive=True))
    reset_start: int = schedkit.field(default=500, validator=steps())
    lrs: list[float] = schedkit.field(init=False, factory=list)
    init_lrs: list[float] = schedkit.field(init=False, factory=list)
    best: float = schedkit.field(init=False, default=math.inf)
    bad_steps: int = schedkit.field(init=False, default=0)
    good_steps: int = schedkit.field(init=False, default=0)
    cooldown_left: int = schedkit.field(init=False, default=0)
    increase_cooldown_left: int = schedkit.field(init=False, default=0)
    reset_left: int = schedkit.field(init=False, default=0)
    window: list[float] = schedkit.field(init=False, factory=list)
    window_sum: float = schedkit.field(init=False, default=0.0)

    accepts_warmup: ClassVar[bool] = False

    def __attrs_post_init__(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.reset_left = self.reset_start

    # -- the schedule -----------------------------------------------------------------

    def __call__(self, step: float) -> float:
        if not self.lrs or not self.init_lrs[0]:
            return 1.0
        return self.lrs[0] / self.init_lrs[0]

    def values(self, steps: Any) -> torch.Tensor:
        """The current factor at every step (its future depends on metrics not seen yet)."""
        return torch.full_like(as_steps(steps), self(0))

    @property
    def horizon(self) -> None:
        return None

    def spec(self) -> dict[str, Any]:
        return record_spec(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Greedy) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(json.dumps(self.spec(), sort_keys=True))

    def _limit(self, value: float | tuple[float, ...], index: int, name: str) -> float:
        if not isinstance(value, tuple):
            return value
        if index >= len(value):
            raise SpecError(f"has {len(value)} values, but group {index} is scheduled too", name)
        return value[index]

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        self._limit(self.min_lr, index, "min_lr")
        self._limit(self.max_lr, index, "max_lr")
        while len(self.lrs) <= index:
            self.lrs.append(base)
            self.init_lrs.append(base)
        lrs = self.lrs
        return lambda step: lrs[index]

    def epoch_step(self, epoch: Any) -> int:
        """transformers' ``step(metrics, epoch)``: the epoch given becomes the count."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise SpecError(f"expected a whole epoch >= 0, got {epoch!r}", "epoch")
        return epoch

    from_transformers: ClassVar[Any] = None  # set below, once the call form is defined

    # -- history ----------------------------------------------------------------------

    def _better(self, current: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < self.best * (1.0 - self.threshold)
            return current < self.best - self.threshold
        if self.threshold_mode == "rel":
            return current > self.best * (1.0 + self.threshold)
        return current > self.best + self.threshold

    def observe(self, metric: float, step: int) -> None:
        """One step of transformers' ``GreedyLR.step(metrics)``."""
        current = float(metric)
        if self.smooth:
            self.window.append(current)
            self.window_sum += current
            if len(self.window) > self.window_size:
                self.window_sum -= self.window.pop(0)
            current = self.window_sum / len(self.window)
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_steps = self.good_steps = 0
        elif self.increase_cooldown_left > 0:
            self.increase_cooldown_left -= 1
            self.bad_steps = self.good_steps = 0
        else:
            if self._better(current):
                self.best = current
                self.bad_steps = 0
                self.good_steps += 1
            else:
                self.bad_steps += 1
                self.good_steps = 0
            if self.good_steps > self.patience:
                self._increase()
                self.increase_cooldown_left = self.increase_cooldown
                self.good_steps = 0
            elif self.bad_steps > self.patience:
                self._reduce()
                self.cooldown_left = self.cooldown
                self.bad_steps = 0

    def _reduce(self) -> None:
        all_at_min = True
        for i, old in enumerate(self.lrs):
            floor = self._limit(self.min_lr, i, "min_lr")
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                self.lrs[i] = new
            if self.lrs[i] > floor:
                all_at_min = False
        if all_at_min:
            self.reset_left -= 1
            if self.reset_left <= 0:
                self._reset()

    def _increase(self) -> None:
        for i, old in enumerate(self.lrs):
            new = min(old / self.factor, self._limit(self.max_lr, i, "max_lr"))
            if new - old > self.eps:
                self.lrs[i] = new
        self.reset_left = self.reset_start

    def _reset(self) -> None:
        self.lrs[:] = self.init_lrs
        self.best = math.inf if self.mode == "min" else -math.inf
        self.bad_steps = self.good_steps = 0
        self.cooldown_left = self.increase_cooldown_left = 0
        self.reset_left = self.reset_start
        self.window, self.window_sum = [], 0.0

    _STATE = (
        "lrs",
        "init_lrs",
        "best",
        "bad_steps",
        "good_steps",
        "cooldown_left",
        "increase_cooldown_left",
        "reset_left",
        "window",
        "window_sum",
    )

    def state_dict(self) -> dict[str, Any]:
        return {k: copy.copy(getattr(self, k)) for k in self._STATE}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take a state from :meth:`state_dict`, every entry checked first (numbers that a
        float holds, counts >= 0, as many ``lrs`` as ``init_lrs``); a bad one raises
        StateError naming it and changes nothing."""
        reader = StateReader(state, what="transformers.greedy state")
        lists = {
            k: self._numbers(reader, k, ge)
            for k, ge in (("lrs", 0.0), ("init_lrs", 0.0), ("window", None))
        }
        if len(lists["lrs"]) != len(lists["init_lrs"]):
            raise StateError(
                f"{len(lists['lrs'])} lrs for {len(lists['init_lrs'])} init_lrs: expected "
                "one of each per group",
                "lrs",
            )
        values: dict[str, Any] = {
            **lists,
            "best": reader.number("best", inf=True),
            "window_sum": reader.number("window_sum"),
        }
        for k in ("bad_steps", "good_steps", "cooldown_left", "increase_cooldown_left"):
            values[k] = reader.integer(k)
        values["reset_left"] = reader.integer("reset_left")
        for k, v in values.items():
            if k == "lrs":
                self.lrs[:] = v  # the groups' curves hold this list
            else:
                setattr(self, k, v)

    @staticmethod
    def _numbers(reader: StateReader, key: str, ge: float | None) -> list[float]:
        value = reader.get(key)
        if not isinstance(value, (list, tuple)):
            raise StateError(f"expected a list of numbers, got {show(value)}", reader.where(key))
        return [check_number(v, f"{reader.where(key)}[{i}]", ge=ge) for i, v in enumerate(value)]


# -- transformers' call form ----------------------------------------------------------

Steps = int | None
Kw = dict[str, Any]
Schedule = schedkit.Schedule


def _linear(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w, t = need("linear", warmup, total)
    return schedkit.get_schedule("linear", total=t, warmup=w)


def _cosine(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w, t = need("cosine", warmup, total)
    return schedkit.get_schedule("cosine", total=t, cycles=kw.pop("num_cycles", 0.5), warmup=w)


def _cosine_min(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w, t = need("cosine_with_min_lr", warmup, total)
    end = min_lr_rate(opt, kw.pop("min_lr", None), kw.pop("min_lr_rate", None))
    return schedkit.get_schedule(
        "cosine", total=t, end=end, cycles=kw.pop("num_cycles", 0.5), warmup=w
    )


def _cosine_warmup_min(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w, t = need("cosine_warmup_with_min_lr", warmup, total)
    rate = min_lr_rate(opt, kw.pop("min_lr", None), kw.pop("min_lr_rate", None))
    return CosineWarmupWithMinLR(
        w,
        t,
        kw.pop("num_cycles", 0.5),
        min_lr_rate=rate,
        warmup_lr_rate=kw.pop("warmup_lr_rate", None),
    )


def _restarts(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w, t = need("cosine_with_restarts", warmup, total)
    return CosineWithRestarts(w, t, kw.pop("num_cycles", 1))


def _polynomial(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w, t = need("polynomial", warmup, total)
    return Polynomial(
        w, t, kw.pop("lr_end", 1e-7), kw.pop("power", 1.0), lr_init=opt.defaults["lr"]
    )


def _constant(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    return schedkit.get_schedule("constant")


def _constant_warmup(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w = _warmup_only("constant_with_warmup", warmup)
    return schedkit.get_schedule("constant", warmup=w)


def _inverse_sqrt(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    w = _warmup_only("inverse_sqrt", warmup)
    timescale = kw.pop("timescale", None) or w or 10_000
    return schedkit.get_schedule("inverse_sqrt", timescale=timescale, warmup=w)


def _wsd(opt: Any, warmup: Steps, total: Steps, kw: Kw) -> Schedule:
    w = _warmup_only("warmup_stable_decay", warmup)
    if "num_decay_steps" not in kw:
        raise SpecError("warmup_stable_decay needs num_decay_steps in scheduler_specific_kwargs")
    decay = kw.pop("num_decay_steps")
    stable = kw.pop("num_stable_steps", None)
    if stable is None:
        if total is None:
            raise SpecError("Either num_training_steps or num_stable_steps must be specified.")
        stable = total - w - decay
    options = {
        k: kw.pop(k) for k in ("warmup_type", "decay_type", "min_lr_ratio", "num_cycles") if k in kw
    }
    return WarmupStableDecay(w, decay, num_stable_steps=stable, **options)


def _plateau(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    # transformers builds torch's ReduceLROnPlateau: each group's lr is reduced on its own
    # and floored at min_lr (absolute), so the torch alias (schedkit-compat) gives its floats
    keys = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "eps",
    )
    return schedkit.get_schedule(
        "torch.ReduceLROnPlateau", **{k: kw.pop(k) for k in keys if k in kw}
    )


def _greedy(opt: Any, warmup: Steps, total: Steps, kw: Kw) -> Schedule:
    keys = [f.name for f in fields(Greedy) if f.init and f.name != "increase_cooldown"]
    options = {k: kw.pop(k) for k in keys if k in kw}
    if "warmup" in kw:
        options["increase_cooldown"] = kw.pop("warmup")
    return Greedy(**options)


def _warmup_only(name: str, warmup: int | None) -> int:
    if warmup is None:
        raise SpecError(f"{name} requires `num_warmup_steps`, please provide that argument.")
    return warmup


#: transformers' scheduler names and how each maps onto schedkit, float for float.
CALL_FORM = {
    "linear": _linear,
    "cosine": _cosine,
    "cosine_with_min_lr": _cosine_min,
    "cosine_warmup_with_min_lr": _cosine_warmup_min,
    "cosine_with_restarts": _restarts,
    "polynomial": _polynomial,
    "constant": _constant,
    "constant_with_warmup": _constant_warmup,
    "inverse_sqrt": _inverse_sqrt,
    "warmup_stable_decay": _wsd,
    "reduce_lr_on_plateau": _plateau,
    "greedy": _greedy,
}


def call_form(
    cls: type,
    /,
    name: str,
    optimizer: torch.optim.Optimizer,
    num_warmup_steps: int | None,
    num_training_steps: int | None,
    **kwargs: Any,
) -> schedkit.Schedule:
    """What a family's ``from_transformers`` is: transformers' ``get_scheduler(name, ...)``
    as a schedule that gives transformers' lr at every step up to ``num_training_steps``."""
    translate = CALL_FORM.get(name)
    if translate is None:
        raise SpecError(
            f"{name!r} is not one of transformers' schedules; use schedkit's parameters"
        )
    rest = dict(kwargs)
    schedule = translate(optimizer, num_warmup_steps, num_training_steps, rest)
    no_more(name, rest)
    return schedule


#: Set as ``from_transformers`` on the families whose names transformers uses.
transformers_call_form: Any = classmethod(call_form)
Greedy.from_transformers = transformers_call_form


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Greedy,
        aliases=["greedy"],
        examples=[{}, {"patience": 2, "min_lr": 1e-4, "smooth": True, "window_size": 5}],
    )
    registry.add(
        Polynomial, examples=[{"num_warmup_steps": 10, "num_training_steps": 100, "lr_init": 1e-3}]
    )
    registry.add(
        CosineWithRestarts,
        examples=[{"num_warmup_steps": 10, "num_training_steps": 100, "num_cycles": 3}],
    )
    registry.add(
        CosineWarmupWithMinLR,
        examples=[
            {"num_warmup_steps": 10, "num_training_steps": 100, "min_lr_rate": 0.1},
            {"num_warmup_steps": 10, "num_training_steps": 100, "warmup_lr_rate": 0.05},
        ],
    )
    registry.add(
        WarmupStableDecay,
        examples=[
            {"num_warmup_steps": 10, "num_stable_steps": 50, "num_decay_steps": 40},
            {
                "num_warmup_steps": 5,
                "num_stable_steps": 0,
                "num_decay_steps": 20,
                "warmup_type": "1-sqrt",
                "decay_type": "1-sqrt",
                "min_lr_ratio": 0.1,
            },
        ],
    )
