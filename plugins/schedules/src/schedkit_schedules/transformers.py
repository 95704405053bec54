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
from schedkit.shapes import decay, ramp


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
