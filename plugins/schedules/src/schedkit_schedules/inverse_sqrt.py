"""The ``inverse_sqrt`` family."""

from __future__ import annotations

import math

import attrs
import torch

import schedkit
from schedkit.plugin import bad_step
from schedkit_schedules._call_form import transformers_call_form


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
        if not step >= 0:
            raise bad_step(step)
        return 1.0 / math.sqrt((step + self.timescale) / self.timescale)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 / torch.sqrt((t + self.timescale) / self.timescale)

    #: transformers' call form (``get_scheduler(name, opt, num_warmup_steps=...)``)
    from_transformers = transformers_call_form


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(InverseSqrt, examples=[{"timescale": 100}, {"timescale": 20, "warmup": 20}])
