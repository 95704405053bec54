"""The ``inverse_sqrt`` family."""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch

import schedkit


@attrs.frozen
class InverseSqrt(schedkit.BaseSchedule):
    """Inverse square root decay: ``f(t) = 1 / sqrt((t + timescale) / timescale)``.

    1 at ``t = 0``, halved at ``t = 3 * timescale``. Behind a warmup of ``w`` steps with
    ``timescale = w`` it is ``sqrt(w / step)``: the schedule of "Attention is all you need"
    and fairseq, and transformers' ``inverse_sqrt`` value for value.

    Example: ``get_schedule("inverse_sqrt", warmup=4000, timescale=4000)``.
    """

    name = "inverse_sqrt"

    timescale: int = schedkit.duration(default=10_000, positive=True, position=False)

    def __call__(self, step: float) -> float:
        return 1.0 / math.sqrt((step + self.timescale) / self.timescale)

    def _values(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 / torch.sqrt((t + self.timescale) / self.timescale)

    @classmethod
    def from_transformers(
        cls,
        name: str,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | None,
        num_training_steps: int | None,
        **kwargs: Any,
    ) -> schedkit.Schedule:
        """transformers' ``inverse_sqrt`` (timescale defaults to the warmup, or 10000)."""
        from schedkit_schedules import transformers as hf

        if num_warmup_steps is None:
            raise schedkit.SpecError(
                f"{name} requires `num_warmup_steps`, please provide that argument."
            )
        timescale = kwargs.pop("timescale", None) or num_warmup_steps or 10_000
        hf.no_more(name, kwargs)
        return schedkit.get_schedule("inverse_sqrt", timescale=timescale, warmup=num_warmup_steps)


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(InverseSqrt, examples=[{"timescale": 100}, {"timescale": 20, "warmup": 20}])
