"""The ``cosine_restarts`` family."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step, steps
from schedkit_schedules._call_form import transformers_call_form


@attrs.frozen
class CosineRestarts(schedkit.BaseSchedule):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017).

    Cycle ``i`` lasts ``period * period_mult**i`` steps and starts from a peak of
    ``decay**i``; within it the factor falls by a half cosine to ``end``:
    ``f = end + (peak - end) * (1 + cos(pi * t_cur / t_i)) / 2``. After ``limit`` cycles
    (0: never) it holds ``end``. torch's ``CosineAnnealingWarmRestarts`` is ``decay=1``; timm's
    cosine scheduler names these ``cycle_mul``, ``cycle_decay`` and ``cycle_limit``.

    With ``cycle_warmup = w`` every cycle (the first too) starts with a linear warmup from
    ``end`` to its peak over ``w`` steps, ``end + (peak - end) * t_cur / w``, and the half
    cosine spans the rest of the cycle, ``t_i - w`` steps (pytorch-optimizer's
    ``CosineAnnealingWarmupRestarts``, whose ``gamma`` is ``decay``; its exact floats and
    stepping are the ``pytorch_optimizer.CosineAnnealingWarmupRestarts`` alias).

    Example: ``get_schedule("cosine_restarts", period=1000, period_mult=2, decay=0.5)``.

    :param period: the first cycle's length in steps.
    :param period_mult: each cycle is this many times longer than the one before (>= 1).
    :param decay: each cycle's peak is this many times the one before (0 to 1).
    :param limit: the number of cycles, then ``end`` is held (0: no limit).
    :param end: the factor each cycle falls to (and starts its warmup from).
    :param cycle_warmup: the steps of the linear warmup at the start of every cycle
        (0: none; less than ``period``).
    """

    name = "cosine_restarts"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "min_lr": "end"}

    period: int = schedkit.duration(positive=True, position=False)
    period_mult: float = schedkit.factor(1.0, ge=1.0, le=1e6)
    decay: float = schedkit.factor(1.0, ge=0.0, le=1.0)
    limit: int = schedkit.field(default=0, validator=steps())
    end: float = schedkit.factor(0.0, ge=0.0)
    cycle_warmup: int = schedkit.duration(default=0, position=False)

    def __attrs_post_init__(self) -> None:
        if self.cycle_warmup >= self.period:
            raise schedkit.SpecError(
                f"expected fewer steps than a cycle (period = {self.period}), "
                f"got {self.cycle_warmup}",
                "cycle_warmup",
            )

    def _cycle(self, step: float) -> tuple[int, float, float]:
        """Index of the cycle, its length and the position within it."""
        if self.period_mult == 1.0:
            i = int(step // self.period)
            return i, float(self.period), step - self.period * i
        mult = self.period_mult
        i = math.floor(math.log(1 - step / self.period * (1 - mult), mult))
        t_i = mult**i * self.period
        return i, t_i, step - (1 - mult**i) / (1 - mult) * self.period

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        i, t_i, t_cur = self._cycle(step)
        if self.limit and i >= self.limit:
            return self.end
        peak = self.decay**i
        w = self.cycle_warmup
        if w:
            if t_cur < w:
                return self.end + (peak - self.end) * (t_cur / w)
            t_cur, t_i = t_cur - w, t_i - w
        return self.end + 0.5 * (peak - self.end) * (1.0 + math.cos(math.pi * t_cur / t_i))

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        if self.period_mult == 1.0:
            i = torch.div(t, self.period, rounding_mode="floor")
            t_i = torch.full_like(t, float(self.period))
            t_cur = t - self.period * i
        else:
            mult = self.period_mult
            i = torch.floor(torch.log(1 - t / self.period * (1 - mult)) / math.log(mult))
            t_i = mult**i * self.period
            t_cur = t - (1 - mult**i) / (1 - mult) * self.period
        peak = self.decay**i
        w = self.cycle_warmup
        if w:
            ramp = self.end + (peak - self.end) * (t_cur / w)
            cos = self.end + 0.5 * (peak - self.end) * (
                1.0 + torch.cos(math.pi * (t_cur - w).clamp(min=0.0) / (t_i - w))
            )
            out = torch.where(t_cur < w, ramp, cos)
        else:
            out = self.end + 0.5 * (peak - self.end) * (1.0 + torch.cos(math.pi * t_cur / t_i))
        if self.limit:
            out = torch.where(i >= self.limit, torch.full_like(out, self.end), out)
        return out

    def spec(self) -> dict[str, Any]:
        """Every parameter, but ``cycle_warmup`` left at 0 (so the specs, and the states,
        written before it existed stay equal)."""
        out = super().spec()
        for key, default in (("cycle_warmup", 0),):
            if out.get(key) == default:
                del out[key]
        return out

    @property
    def horizon(self) -> int | None:
        if not self.limit:
            return None
        if self.period_mult == 1.0:
            return self.period * self.limit
        return math.ceil(self.period * (self.period_mult**self.limit - 1) / (self.period_mult - 1))

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        CosineRestarts,
        aliases=["cosine_with_restarts"],
        examples=[
            {"period": 50},
            {"period": 20, "period_mult": 2.0, "decay": 0.5, "limit": 3, "end": 0.01},
            {"period": 30, "decay": 0.8, "warmup": 10},
            {"period": 40, "period_mult": 1.5, "decay": 0.7, "cycle_warmup": 8, "end": 0.05},
        ],
    )
