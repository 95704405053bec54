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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import decay, ramp


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
        return float(min_lr / optimizer.defaults["lr"])
    if rate is None:
        raise SpecError(
            "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )
    return float(rate)


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
    lr_init: float = schedkit.factor(gt=0.0)
    lr_end: float = schedkit.factor(1e-7, ge=0.0)
    power: float = schedkit.factor(1.0, gt=0.0)

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
    num_cycles: int = attrs.field(default=1, validator=attrs.validators.instance_of(int))

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
    min_lr_rate: float = schedkit.factor(0.0, ge=0.0)
    num_cycles: float = schedkit.factor(0.5, gt=0.0)
    warmup_lr_rate: float | None = attrs.field(default=None)

    @classmethod
    def build(
        cls, optimizer: torch.optim.Optimizer, warmup: int, total: int, **kwargs: Any
    ) -> CosineWarmupWithMinLR:
        rate = min_lr_rate(optimizer, kwargs.pop("min_lr", None), kwargs.pop("min_lr_rate", None))
        cycles = kwargs.pop("num_cycles", 0.5)
        warmup_rate = kwargs.pop("warmup_lr_rate", None)
        no_more("cosine_warmup_with_min_lr", kwargs)
        return cls(warmup, total, rate, cycles, warmup_rate)

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


@attrs.frozen
class WarmupStableDecay(schedkit.BaseSchedule):
    """transformers' ``warmup_stable_decay``: warmup from ``min_lr_ratio`` to 1, a stable
    phase at 1, a decay to ``min_lr_ratio`` (linear, cosine or 1-sqrt), then held.

    Warmup: ``ramp(t/w) * (1 - m) + m``; decay: ``decay(p) * (1 - m) + m``.
    """

    name = "transformers.warmup_stable_decay"

    num_warmup_steps: int = schedkit.duration(position=False)
    num_stable_steps: int = schedkit.duration(position=False)
    num_decay_steps: int = schedkit.duration(position=False)
    warmup_type: str = schedkit.choice("linear", "cosine", "1-sqrt")
    decay_type: str = schedkit.choice("cosine", "linear", "1-sqrt")
    min_lr_ratio: float = schedkit.factor(0.0, ge=0.0)
    num_cycles: float = schedkit.factor(0.5, gt=0.0)

    @property
    def horizon(self) -> int:
        return self.num_warmup_steps + self.num_stable_steps + self.num_decay_steps

    def __call__(self, step: float) -> float:
        m = self.min_lr_ratio
        w, stable, dec = self.num_warmup_steps, self.num_stable_steps, self.num_decay_steps
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
        w, t, rate, kw.pop("num_cycles", 0.5), kw.pop("warmup_lr_rate", None)
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
    return Polynomial(w, t, opt.defaults["lr"], kw.pop("lr_end", 1e-7), kw.pop("power", 1.0))


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
    return WarmupStableDecay(w, stable, decay, **options)


def _plateau(
    opt: Any, warmup: int | None, total: int | None, kw: dict[str, Any]
) -> schedkit.Schedule:
    if "min_lr" in kw:
        kw["min_value"] = kw.pop("min_lr") / opt.defaults["lr"]
    keys = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_value",
        "eps",
    )
    return schedkit.get_schedule("plateau", **{k: kw.pop(k) for k in keys if k in kw})


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


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
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
