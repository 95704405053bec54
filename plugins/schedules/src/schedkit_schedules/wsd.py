"""The ``wsd`` (warmup-stable-decay) family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import DECAY_SHAPES, bad_step, decay_t
from schedkit.plugin import decay as decay_shape
from schedkit_schedules._call_form import transformers_call_form


@attrs.frozen
class WSD(schedkit.BaseSchedule):
    """Warmup-stable-decay (the "trapezoid" of MiniCPM and of LLM pretraining runs).

    The factor stays at 1 until ``total - decay``, then falls to ``end`` over ``decay``
    steps and holds. ``decay_kind`` is the cooldown's shape over its progress ``a`` (0 to
    1): ``linear`` 1-a, ``cosine`` (1+cos(pi a))/2, ``1-sqrt`` 1-sqrt(a), ``1-square``
    1-a**2, ``power`` 1-a**p with ``p = decay_power``, ``exponential`` 2*0.5**a - 1
    (Megatron-LM's). The stable
    length follows from ``total`` and ``decay`` (a number of steps or a share such as
    ``"20%"``). The warmup is every schedule's ``warmup`` (``warmup_kind`` may be
    ``1-sqrt`` too), and ``total`` includes it.

    Example: ``get_schedule("wsd", total=100_000, warmup=2000, decay="20%", decay_kind="1-sqrt")``.
    """

    name = "wsd"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "min_lr": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    decay: int = schedkit.duration(positive=True, position=False)
    decay_kind: str = schedkit.choice("linear", *DECAY_SHAPES[1:])
    end: float = schedkit.factor(0.0, ge=0.0)
    decay_power: float = schedkit.factor(1.0, gt=0.0)

    def __attrs_post_init__(self) -> None:
        if self.decay > self.total:
            raise SpecError(
                f"expected at most total ({self.total}) steps, got {self.decay}", "decay"
            )

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        start = self.total - self.decay
        if step < start:
            return 1.0
        if step >= self.total:
            return self.end
        progress = float(step - start) / float(self.decay)
        return self.end + (1.0 - self.end) * decay_shape(
            self.decay_kind, progress, self.decay_power
        )

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        start = self.total - self.decay
        progress = ((t - start) / self.decay).clamp(0.0, 1.0)
        return self.end + (1.0 - self.end) * decay_t(self.decay_kind, progress, self.decay_power)

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        WSD,
        aliases=["warmup_stable_decay"],
        examples=[
            {"total": 100, "decay": 20},
            {
                "total": 1000,
                "decay": "20%",
                "decay_kind": "1-sqrt",
                "end": 0.1,
                "warmup": 50,
                "warmup_kind": "1-sqrt",
            },
            {"total": 300, "decay": 100, "decay_kind": "cosine"},
            {"total": 300, "decay": 100, "decay_kind": "exponential"},
            {"total": 300, "decay": 100, "decay_kind": "power", "decay_power": 3.0},
            {"total": 300, "decay": 100, "decay_kind": "1-square", "end": 0.1},
        ],
    )
