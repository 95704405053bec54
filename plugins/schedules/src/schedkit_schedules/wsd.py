"""The ``wsd`` (warmup-stable-decay) family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import MAX_STEPS, bad_step, decay_t
from schedkit.plugin import decay as decay_shape
from schedkit_schedules._call_form import transformers_call_form


def _decay_start(instance: Any, attribute: Any, value: Any) -> None:
    if value is None or value == "resume":
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEPS:
        raise SpecError(
            f'expected a step >= 0 or "resume" (the step the run resumes at), got {value!r}',
            attribute.name,
        )


@attrs.frozen
class WSD(schedkit.BaseSchedule):
    """Warmup-stable-decay (the "trapezoid" of MiniCPM and of LLM pretraining runs).

    The factor stays at 1 until ``total - decay``, then falls to ``end`` over ``decay``
    steps (``decay_kind``: ``linear``, ``cosine`` or ``1-sqrt``) and holds. The stable
    length follows from ``total`` and ``decay`` (a number of steps or a share such as
    ``"20%"``). The warmup is every schedule's ``warmup`` (``warmup_kind`` may be
    ``1-sqrt`` too), and ``total`` includes it.

    ``decay_start`` decides the cooldown later: a step of the run (counted from step 0, the
    warmup included) where the decay begins, or ``"resume"``: the step at which a run
    resumes on this plan (``load_state_dict(state, replan=True)``, ``[resume] replan =
    true``). The decay then lasts ``decay`` steps and holds ``end`` until ``total``. Until a
    resume decides it, ``"resume"`` decays at ``total - decay`` as without it; once decided,
    the step is kept in the scheduler's state, and a later resume on the same plan keeps a
    decay that has begun (``"resume"`` moves only a decay still ahead).

    Example: ``get_schedule("wsd", total=100_000, warmup=2000, decay="20%", decay_kind="1-sqrt")``.
    """

    name = "wsd"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "min_lr": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    decay: int = schedkit.duration(positive=True, position=False)
    decay_kind: str = schedkit.choice("linear", "cosine", "1-sqrt")
    end: float = schedkit.factor(0.0, ge=0.0)
    #: the step the decay begins at, ``"resume"``, or None: ``total - decay``
    decay_start: int | str | None = schedkit.field(default=None, validator=_decay_start)
    _start: int = schedkit.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.decay > self.total:
            raise SpecError(
                f"expected at most total ({self.total}) steps, got {self.decay}", "decay"
            )
        start = self.decay_start if isinstance(self.decay_start, int) else None
        if start is not None and start + self.decay > self.total:
            raise SpecError(
                f"a decay of {self.decay} steps from step {start} ends after total "
                f"({self.total}): give a later total or a shorter decay",
                "decay_start",
            )
        object.__setattr__(self, "_start", self.total - self.decay if start is None else start)

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        start = self._start
        if step < start:
            return 1.0
        if step >= start + self.decay:
            return self.end
        progress = float(step - start) / float(self.decay)
        return self.end + (1.0 - self.end) * decay_shape(self.decay_kind, progress)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        progress = ((t - self._start) / self.decay).clamp(0.0, 1.0)
        return self.end + (1.0 - self.end) * decay_t(self.decay_kind, progress)

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        if spec["decay_start"] is None:  # the spec of a WSD without it, as before it existed
            del spec["decay_start"]
        return spec

    def shifted(self, steps: int) -> WSD:
        if not steps or not isinstance(self.decay_start, int):
            return super().shifted(steps)
        if self.decay_start < steps:
            raise SpecError(
                f"expected a step after the warmup ({steps} steps), got {self.decay_start}",
                "decay_start",
            )
        # the decay's start first, then the rest: each copy checked holds together
        moved = attrs.evolve(self, decay_start=self.decay_start - steps)
        return super(WSD, moved).shifted(steps)

    def resumed(self, step: int, previous: Any) -> WSD:
        """``decay_start = "resume"`` becomes ``step``, unless ``previous`` (the plan the
        state was written by) is a WSD whose decay had begun by then: that one goes on."""
        if self.decay_start != "resume":
            return self
        start = step
        if isinstance(previous, WSD) and previous._start <= step:
            start = previous._start  # the decay had begun: it goes on
        return attrs.evolve(self, decay_start=start)

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
            {"total": 500, "decay": 100, "decay_start": 250, "warmup": 20},
            {"total": 500, "decay": 100, "decay_start": "resume"},
        ],
    )
