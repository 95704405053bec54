"""``pytorch_optimizer.*``: pytorch-optimizer's ``CosineAnnealingWarmupRestarts``.

It takes pytorch-optimizer's arguments and gives its floats and its stepping: the lr is
``min_lr`` when the scheduler is built (pytorch-optimizer writes it over every group), and
after ``k`` calls to ``step()`` the value of position ``k`` in its cycles. Its values are
absolute: every param group gets the same lr, whatever its own. The native family with the
same shape is ``cosine_restarts`` with ``cycle_warmup`` (factors of each group's lr; its
cycle lengths are ``period * period_mult**i``, where pytorch-optimizer truncates each
cycle's cosine part to whole steps).
"""

from __future__ import annotations

import math

import attrs

import schedkit
from schedkit import SpecError
from schedkit_compat._base import Absolute, count


@attrs.frozen
class CosineAnnealingWarmupRestarts(Absolute):
    """pytorch-optimizer's ``CosineAnnealingWarmupRestarts``: cycles of a linear warmup
    from ``min_lr`` to the cycle's peak over ``warmup_steps``, then a half cosine back to
    ``min_lr``. The first cycle lasts ``first_cycle_steps``; each next one
    ``max(1, int((previous - warmup_steps) * cycle_mult)) + warmup_steps``; the peak of
    cycle ``i`` is ``max_lr * gamma**i``. Values are absolute (every group gets them); the
    lr is ``min_lr`` when the scheduler is built.

    Example: ``{type = "pytorch_optimizer.CosineAnnealingWarmupRestarts",
    first_cycle_steps = 100, max_lr = 0.001, min_lr = 1e-6, warmup_steps = 10}``.
    """

    name = "pytorch_optimizer.CosineAnnealingWarmupRestarts"

    first_cycle_steps: int = count(positive=True)
    cycle_mult: float = schedkit.factor(1.0, gt=0.0)
    max_lr: float = schedkit.factor(1e-4, ge=0.0)
    min_lr: float = schedkit.factor(1e-6, ge=0.0)
    warmup_steps: int = count(0)
    gamma: float = schedkit.factor(0.9, ge=0.0)

    def __attrs_post_init__(self) -> None:
        if self.warmup_steps >= self.first_cycle_steps:
            raise SpecError(
                "warmup_steps must be smaller than first_cycle_steps "
                f"({self.warmup_steps} >= {self.first_cycle_steps})",
                "warmup_steps",
            )

    def _position(self, k: int) -> tuple[int, int, int]:
        """The cycle, the step in it and its length after ``k`` calls to ``step()``."""
        w = self.warmup_steps
        cycle, at, length = 0, k, self.first_cycle_steps
        while at >= length:
            following = max(1, int((length - w) * self.cycle_mult)) + w
            if following == length:  # every cycle from here on is as long
                n = at // length
                return cycle + n, at - n * length, length
            at -= length
            cycle += 1
            length = following
        return cycle, at, length

    def value(self, step: float) -> float:
        k = int(step)
        if k == 0:  # built: pytorch-optimizer writes min_lr over every group
            return self.min_lr
        cycle, at, length = self._position(k)
        peak = self.max_lr * (self.gamma**cycle)
        low = self.min_lr
        w = self.warmup_steps
        if at < w:
            return (peak - low) * at / w + low
        return low + (peak - low) * (1 + math.cos(math.pi * (at - w) / (length - w))) / 2.0


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        CosineAnnealingWarmupRestarts,
        examples=[
            {"first_cycle_steps": 40, "max_lr": 1.0, "min_lr": 0.01, "warmup_steps": 8},
            {
                "first_cycle_steps": 30,
                "cycle_mult": 1.5,
                "max_lr": 1.0,
                "min_lr": 0.0,
                "warmup_steps": 5,
                "gamma": 0.7,
            },
        ],
    )
