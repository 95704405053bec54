"""The ``wsd`` (warmup-stable-decay) family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.shapes import decay as decay_shape
from schedkit.shapes import decay_t


@attrs.frozen
class WSD(schedkit.BaseSchedule):
    """Warmup-stable-decay (the "trapezoid" of MiniCPM and of LLM pretraining runs).

    The factor stays at 1 until ``total - decay``, then falls to ``end`` over ``decay``
    steps (``decay_kind``: ``linear``, ``cosine`` or ``1-sqrt``) and holds. The stable
    length follows from ``total`` and ``decay`` (a number of steps or a share such as
    ``"20%"``). The warmup is every schedule's ``warmup`` (``warmup_kind`` may be
    ``1-sqrt`` too), and ``total`` includes it.

    Example: ``get_schedule("wsd", total=100_000, warmup=2000, decay="20%", decay_kind="1-sqrt")``.
    """

    name = "wsd"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "min_lr": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    decay: int = schedkit.duration(positive=True, position=False)
    decay_kind: str = schedkit.choice("linear", "cosine", "1-sqrt")
    end: float = schedkit.factor(0.0, ge=0.0)

    def __attrs_post_init__(self) -> None:
        if self.decay > self.total:
            raise SpecError(
                f"expected at most total ({self.total}) steps, got {self.decay}", "decay"
            )

    def __call__(self, step: float) -> float:
        start = self.total - self.decay
        if step < start:
            return 1.0
        if step >= self.total:
            return self.end
        progress = float(step - start) / float(self.decay)
        return self.end + (1.0 - self.end) * decay_shape(self.decay_kind, progress)

    def _values(self, t: torch.Tensor) -> torch.Tensor:
        start = self.total - self.decay
        progress = ((t - start) / self.decay).clamp(0.0, 1.0)
        return self.end + (1.0 - self.end) * decay_t(self.decay_kind, progress)

    @classmethod
    def from_transformers(
        cls,
        name: str,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | None,
        num_training_steps: int | None,
        **kwargs: Any,
    ) -> schedkit.Schedule:
        """transformers' ``warmup_stable_decay`` (its warmup starts at ``min_lr_ratio``)."""
        from schedkit_schedules import transformers as hf

        if num_warmup_steps is None:
            raise SpecError(f"{name} requires `num_warmup_steps`, please provide that argument.")
        if "num_decay_steps" not in kwargs:
            raise SpecError(
                "warmup_stable_decay needs num_decay_steps in scheduler_specific_kwargs"
            )
        decay = kwargs.pop("num_decay_steps")
        stable = kwargs.pop("num_stable_steps", None)
        if stable is None:
            if num_training_steps is None:
                raise SpecError("Either num_training_steps or num_stable_steps must be specified.")
            stable = num_training_steps - num_warmup_steps - decay
        return hf.WarmupStableDecay(num_warmup_steps, stable, decay, **kwargs)


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
        ],
    )
