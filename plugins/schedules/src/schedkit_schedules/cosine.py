"""The ``cosine`` family."""

from __future__ import annotations

import math

import attrs

import schedkit


@attrs.frozen
class Cosine(schedkit.BaseSchedule):
    """Half a cosine from 1 down to ``end`` over ``total`` steps, then ``end``.

    ``f(t) = end + (1 - end) * (1 + cos(pi * t / total)) / 2`` for ``t < total``
    (SGDR, Loshchilov & Hutter 2017, without restarts). With ``end=0`` and a warmup this is
    transformers' cosine schedule, value for value.

    Example: ``get_schedule("cosine", total=10_000, warmup=500, end=0.01)``.
    """

    name = "cosine"

    total: int = schedkit.duration(positive=True, horizon=True)
    end: float = schedkit.factor(0.0, ge=0.0)

    def __call__(self, step: float) -> float:
        if step >= self.total:
            return self.end
        return self.end + (1.0 - self.end) * (0.5 * (1.0 + math.cos(math.pi * (step / self.total))))


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(Cosine, examples=[{"total": 100}, {"total": 1000, "end": 0.1, "warmup": "10%"}])
