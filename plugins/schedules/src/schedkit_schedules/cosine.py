"""The ``cosine`` family."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step
from schedkit_schedules._call_form import transformers_call_form


@attrs.frozen
class Cosine(schedkit.BaseSchedule):
    """Cosine annealing from 1 down to ``end`` over ``total`` steps, then held.

    With ``p = t / total`` (or ``t**k / total**k`` with ``k_decay``, timm's k-decay):
    ``c = (1 + cos(2*pi*cycles*p)) / 2`` and ``f(t) = end + (1 - end) * c**exponent``.
    The defaults (``cycles=0.5``, half a wave; ``exponent=1``, optax's exponent; ``k_decay=1``)
    give the cosine of SGDR (Loshchilov & Hutter, 2017) without restarts. From ``total`` on
    the curve holds its value at ``total`` (``end`` with the defaults).

    With ``end=0`` and a warmup this is transformers' ``cosine`` schedule, value for value;
    with ``end=min_lr_rate`` its ``cosine_with_min_lr``. ``end_lr`` (absolute) is converted to
    ``end`` by the scheduler.

    Example: ``get_schedule("cosine", total=10_000, warmup=500, end=0.01)``.
    """

    name = "cosine"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "min_lr": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    end: float = schedkit.factor(0.0, ge=0.0)
    cycles: float = schedkit.factor(0.5, gt=0.0)
    exponent: float = schedkit.factor(1.0, gt=0.0)
    k_decay: float = schedkit.factor(1.0, gt=0.0)
    _final: float = schedkit.field(init=False, eq=False, repr=False)
    _w: float = schedkit.field(init=False, eq=False, repr=False)
    _amp: float = schedkit.field(init=False, eq=False, repr=False)
    _plain: bool = schedkit.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # constants of the per-step formula, computed in the same order as written out
        object.__setattr__(self, "_w", math.pi * self.cycles * 2.0)
        object.__setattr__(self, "_amp", 1.0 - self.end)
        object.__setattr__(self, "_plain", self.k_decay == 1.0 and self.exponent == 1.0)
        object.__setattr__(self, "_final", self._at(1.0))

    def _at(self, progress: float) -> float:
        c = 0.5 * (1.0 + math.cos(self._w * progress))
        if self.exponent != 1.0:
            c = c**self.exponent
        return self.end + self._amp * c

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        if step >= self.total:
            return self._final
        if self._plain:  # the common case, inlined: this runs every training step
            return self.end + self._amp * (0.5 * (1.0 + math.cos(self._w * (step / self.total))))
        if self.k_decay == 1.0:
            return self._at(step / self.total)
        return self._at(_k_progress(step, self.total, self.k_decay))

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clamp(max=self.total)
        if self.k_decay == 1.0:
            p = t / self.total
        else:
            total = torch.tensor(float(self.total), dtype=t.dtype)
            p = t**self.k_decay / total**self.k_decay
            p = torch.where(torch.isfinite(p), p, (t / self.total) ** self.k_decay)
        c = 0.5 * (1.0 + torch.cos(math.pi * self.cycles * 2.0 * p))
        if self.exponent != 1.0:
            c = c**self.exponent
        return self.end + (1.0 - self.end) * c

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form


def _k_progress(step: float, total: int, k: float) -> float:
    """``step**k / total**k`` (timm's order of operations, so its floats), or
    ``(step / total)**k`` where the powers overflow (a large ``k_decay``): always in [0, 1]."""
    try:
        p = step**k / total**k
    except OverflowError:
        return float((step / total) ** k)
    return p if math.isfinite(p) else float((step / total) ** k)


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Cosine,
        aliases=["cosine_with_min_lr", "cosine_warmup_with_min_lr"],
        examples=[
            {"total": 100},
            {"total": 1000, "end": 0.1, "warmup": "10%"},
            {"total": 500, "cycles": 1.0, "exponent": 2.0, "k_decay": 1.5},
        ],
    )
