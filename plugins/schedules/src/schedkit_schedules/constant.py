"""The ``constant`` family."""

from __future__ import annotations

from typing import Any

import attrs
import torch

import schedkit


@attrs.frozen
class Constant(schedkit.BaseSchedule):
    """A constant factor: ``f(t) = value`` (default 1, the base value itself).

    With ``warmup`` it is transformers' ``constant_with_warmup``.

    Example: ``get_schedule("constant", warmup=500)``.
    """

    name = "constant"

    value: float = schedkit.factor(1.0, ge=0.0)

    def __call__(self, step: float) -> float:
        return self.value

    @property
    def horizon(self) -> int:
        return 0

    def _values(self, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(t, self.value)

    @classmethod
    def from_transformers(
        cls,
        name: str,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | None,
        num_training_steps: int | None,
        **kwargs: Any,
    ) -> schedkit.Schedule:
        """transformers' ``constant`` and ``constant_with_warmup``."""
        from schedkit_schedules import transformers as hf

        hf.no_more(name, kwargs)
        if name == "constant":
            return cls()
        if num_warmup_steps is None:
            raise schedkit.SpecError(
                f"{name} requires `num_warmup_steps`, please provide that argument."
            )
        return schedkit.get_schedule("constant", warmup=num_warmup_steps)


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Constant, aliases=["constant_with_warmup"], examples=[{}, {"value": 0.5, "warmup": 10}]
    )
