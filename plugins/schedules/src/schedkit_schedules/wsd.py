"""The ``wsd`` (warmup-stable-decay) family."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import DECAY_SHAPES, MAX_STEPS, bad_step, decay_t, show
from schedkit.plugin import decay as decay_shape
from schedkit_schedules._call_form import transformers_call_form


def _decay_start(instance: Any, attribute: Any, value: Any) -> None:
    if value is None or value == "resume":
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_STEPS:
        raise SpecError(
            f'expected a step >= 0 or "resume" (the step the run resumes at), got {show(value)}',
            attribute.name,
        )


@attrs.frozen
class WSD(schedkit.BaseSchedule):
    """Warmup-stable-decay (the "trapezoid" of MiniCPM and of LLM pretraining runs).

    The stable phase lasts until ``total - decay``, then the factor falls to ``end`` over
    ``decay`` steps and holds. ``decay_kind`` is the cooldown's shape over its progress
    ``a`` (0 to 1): ``linear`` 1-a, ``cosine`` (1+cos(pi a))/2, ``1-sqrt`` 1-sqrt(a),
    ``1-square`` 1-a**2, ``power`` 1-a**p with ``p = decay_power``, ``exponential``
    2*0.5**a - 1 (Megatron-LM's). The stable length follows from ``total`` and ``decay`` (a
    number of steps or a share such as ``"20%"``). The warmup is every schedule's ``warmup``
    (``warmup_kind`` may be ``1-sqrt`` too), and ``total`` includes it.

    ``stable_kind`` is the stable phase: ``constant`` (1, the default), ``rsqrt``
    ``sqrt(ref / (ref + t))`` or ``power`` ``(ref / (ref + t)) ** stable_power`` (the
    power-law of the Power scheduler and of OLMo-core's ``PowerLR``), with ``t`` the steps
    since the stable phase began and ``ref = stable_ref`` steps (for OLMo's form, the
    warmup's length); the cooldown then falls from the stable phase's last value:
    ``end + (s - end) * shape(a)``.

    ``decay_start`` decides the cooldown later: a step of the run (counted from step 0, the
    warmup included) where the decay begins, or ``"resume"``: the step at which a run
    resumes on this plan (``load_state_dict(state, replan=True)``, ``[resume] replan =
    true``). The decay then lasts ``decay`` steps and holds ``end`` until ``total``. Until a
    resume decides it, ``"resume"`` decays at ``total - decay`` as without it; once decided,
    the step is kept in the scheduler's state, and a later resume on the same plan keeps a
    decay that has begun (``"resume"`` moves only a decay still ahead).

    Example: ``get_schedule("wsd", total=100_000, warmup=2000, decay="20%", decay_kind="1-sqrt")``.

    :param total: the steps of the whole run (with the warmup): the cooldown ends there.
    :param decay: the cooldown's length, steps or a share of ``total`` (``"20%"``).
    :param decay_kind: the cooldown's shape (see above).
    :param end: the factor the cooldown ends at and holds.
    :param decay_power: the exponent ``p`` of ``decay_kind = "power"`` (> 0).
    :param stable_kind: the stable phase: ``constant``, ``rsqrt`` or ``power``.
    :param stable_power: the exponent of ``stable_kind = "power"`` (> 0; 0.5 is ``rsqrt``).
    :param stable_ref: the steps ``ref`` of a ``rsqrt`` or ``power`` stable phase (> 0 there).
    :param decay_start: the step the cooldown begins at, ``"resume"`` (decided when a run
        resumes on this plan), or unset: ``total - decay``.
    """

    name = "wsd"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "min_lr": "end"}

    total: int = schedkit.duration(positive=True, horizon=True)
    decay: int = schedkit.duration(positive=True, position=False)
    decay_kind: str = schedkit.choice("linear", *DECAY_SHAPES[1:])
    end: float = schedkit.factor(0.0, ge=0.0)
    decay_power: float = schedkit.factor(1.0, gt=0.0)
    stable_kind: str = schedkit.choice("constant", "rsqrt", "power")
    stable_power: float = schedkit.factor(0.5, gt=0.0)
    stable_ref: int = schedkit.duration(default=0, position=False)
    #: the step the decay begins at, ``"resume"``, or None: ``total - decay``
    decay_start: int | str | None = schedkit.field(default=None, validator=_decay_start)
    _start: int = schedkit.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.decay > self.total:
            raise SpecError(
                f"expected at most total ({self.total}) steps, got {self.decay}", "decay"
            )
        if self.stable_kind != "constant" and self.stable_ref <= 0:
            raise SpecError(
                f"a {self.stable_kind} stable phase needs stable_ref > 0 (the steps its "
                "curve is measured in, e.g. the warmup's length), got 0",
                "stable_ref",
            )
        start = self.decay_start if isinstance(self.decay_start, int) else None
        if start is not None and start + self.decay > self.total:
            raise SpecError(
                f"a decay of {self.decay} steps from step {start} ends after total "
                f"({self.total}): give a later total or a shorter decay",
                "decay_start",
            )
        object.__setattr__(self, "_start", self.total - self.decay if start is None else start)

    def _stable(self, t: float) -> float:
        kind = self.stable_kind
        if kind == "constant":
            return 1.0
        ref = float(self.stable_ref)
        if kind == "rsqrt":
            return math.sqrt(ref / (ref + t))
        return float((ref / (ref + t)) ** self.stable_power)

    def _stable_t(self, t: torch.Tensor) -> torch.Tensor:
        if self.stable_kind == "constant":
            return torch.ones_like(t)
        ref = float(self.stable_ref)
        if self.stable_kind == "rsqrt":
            return torch.sqrt(ref / (ref + t))
        return (ref / (ref + t)) ** self.stable_power

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        start = self._start
        if step < start:
            return self._stable(step)
        if step >= start + self.decay:
            return self.end
        progress = float(step - start) / float(self.decay)
        top = self._stable(start)
        return self.end + (top - self.end) * decay_shape(
            self.decay_kind, progress, self.decay_power
        )

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        start = self._start
        progress = ((t - start) / self.decay).clamp(0.0, 1.0)
        top = self._stable(start)
        cooldown = self.end + (top - self.end) * decay_t(
            self.decay_kind, progress, self.decay_power
        )
        if self.stable_kind == "constant":
            return cooldown
        return torch.where(t < start, self._stable_t(t.clamp(max=start)), cooldown)

    def spec(self) -> dict[str, Any]:
        """Every parameter, but the stable phase's, ``decay_power`` and ``decay_start`` left
        at their defaults (so the specs, and the states, written before they existed stay
        equal)."""
        out = super().spec()
        for key, default in (
            ("decay_power", 1.0),
            ("stable_kind", "constant"),
            ("stable_power", 0.5),
            ("stable_ref", 0),
            ("decay_start", None),  # the spec of a WSD without it, as before it existed
        ):
            if key in out and out[key] == default:
                del out[key]
        return out

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
            {"total": 300, "decay": 100, "decay_kind": "exponential"},
            {"total": 300, "decay": 100, "decay_kind": "power", "decay_power": 3.0},
            {"total": 300, "decay": 100, "decay_kind": "1-square", "end": 0.1},
            {"total": 1000, "decay": 200, "stable_kind": "rsqrt", "stable_ref": 50, "warmup": 50},
            {
                "total": 1000,
                "decay": 100,
                "stable_kind": "power",
                "stable_power": 0.3,
                "stable_ref": 100,
                "decay_kind": "cosine",
            },
            {"total": 500, "decay": 100, "decay_start": 250, "warmup": 20},
            {"total": 500, "decay": 100, "decay_start": "resume"},
        ],
    )
