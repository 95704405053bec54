"""The ``wsds`` family: warmup-stable-decay with several cooldowns in one run."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import DECAY_SHAPES, Field, bad_step, decay_t, number, to_float
from schedkit.plugin import decay as decay_shape


def _to_floats(value: Any) -> Any:
    return tuple(to_float(x) for x in value) if isinstance(value, (list, tuple)) else value


def _peaks(inst: object, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple):
        raise SpecError(f"expected a list of factors, got {value!r}", attribute.name)
    check = number(gt=0.0)
    for v in value:
        check(inst, attribute, v)


@attrs.frozen
class WSDS(schedkit.BaseSchedule):
    """Warmup-stable-decay with repeated cooldowns (WSD-S, OLMo-core's ``WSDS``).

    The run is cut into periods ending at ``ends`` (positions from step 0 of the run, like
    milestones; the last is the horizon). Each period is a stable phase at its peak
    (``peaks[i]``, 1 by default) followed by a cooldown to ``end`` over its last ``decay``
    steps (or ``decay_fraction`` of its length), along ``decay_kind`` (every shape of
    ``wsd``: ``linear``, ``cosine``, ``1-sqrt``, ``1-square``, ``power`` with
    ``decay_power``, ``exponential``). The next period starts at its peak again, so a
    checkpoint taken at the end of any period is a fully cooled-down model, and training
    can continue from the stable phase. After the last period the factor holds ``end``.
    The warmup is every schedule's ``warmup``: with the default ``shift`` it takes the
    first steps of the first period (the positions count from step 0 of the run).

    Example: ``get_schedule("wsds", ends=[10_000, 20_000, 40_000], decay_fraction=0.1,
    warmup=1000)``.

    :param ends: where each period ends (increasing positions); the last is the horizon.
    :param decay: the steps of each cooldown (0: use ``decay_fraction``).
    :param decay_fraction: each cooldown as a share of its period (0: use ``decay``).
    :param peaks: the factor of each period's stable phase (empty: 1 for all).
    :param decay_kind: the cooldowns' shape (as ``wsd``'s).
    :param decay_power: the exponent ``p`` of ``decay_kind = "power"``.
    :param end: the factor every cooldown ends at.
    """

    name = "wsds"
    absolute: ClassVar[Mapping[str, str]] = {"end_lr": "end", "min_lr": "end"}

    ends: tuple[int, ...] = schedkit.durations()
    decay: int = schedkit.duration(default=0, position=False)
    decay_fraction: float = schedkit.factor(0.0, ge=0.0, le=1.0)
    peaks: tuple[float, ...] = schedkit.field(factory=tuple, converter=_to_floats, validator=_peaks)
    decay_kind: str = schedkit.choice("linear", *DECAY_SHAPES[1:])
    decay_power: float = schedkit.factor(1.0, gt=0.0)
    end: float = schedkit.factor(0.0, ge=0.0)
    _starts: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)
    _decays: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.ends:
            raise SpecError("expected at least one period end, got none", "ends")
        if self.ends[0] <= 0:
            raise SpecError(f"expected a first period end > 0, got {self.ends[0]}", "ends")
        if (self.decay > 0) == (self.decay_fraction > 0):
            raise SpecError(
                "expected exactly one of decay (steps) and decay_fraction (a share of each "
                f"period), got decay={self.decay} and decay_fraction={self.decay_fraction}",
                "decay",
            )
        if self.peaks and len(self.peaks) != len(self.ends):
            raise SpecError(
                f"expected one peak per period ({len(self.ends)}), got {len(self.peaks)}",
                "peaks",
            )
        starts = (0, *self.ends[:-1])
        decays = []
        for i, (s, e) in enumerate(zip(starts, self.ends, strict=True)):
            d = self.decay if self.decay else round(self.decay_fraction * (e - s))
            if d > e - s:
                raise SpecError(
                    f"period {i} ({s} to {e}) is {e - s} steps, shorter than its cooldown "
                    f"({d} steps)",
                    "decay",
                )
            decays.append(max(d, 1) if self.decay_fraction else d)
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_decays", tuple(decays))

    def _peak(self, i: int) -> float:
        return self.peaks[i] if self.peaks else 1.0

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        i = bisect.bisect_right(self.ends, step)
        if i >= len(self.ends):
            return self.end
        e = self.ends[i]
        d = self._decays[i]
        start = e - d
        peak = self._peak(i)
        if step < start:
            return peak
        a = float(step - start) / float(d)
        return self.end + (peak - self.end) * decay_shape(self.decay_kind, a, self.decay_power)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        ends = torch.tensor(self.ends, dtype=t.dtype)
        i = torch.bucketize(t, ends, right=True).clamp(max=len(self.ends) - 1)
        e = ends[i]
        d = torch.tensor(self._decays, dtype=t.dtype)[i]
        peak = torch.tensor([self._peak(k) for k in range(len(self.ends))], dtype=t.dtype)[i]
        a = ((t - (e - d)) / d).clamp(0.0, 1.0)
        out = self.end + (peak - self.end) * decay_t(self.decay_kind, a, self.decay_power)
        return torch.where(t >= self.ends[-1], torch.full_like(t, self.end), out)

    @property
    def horizon(self) -> int:
        return self.ends[-1]


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        WSDS,
        aliases=["wsd_s"],
        examples=[
            {"ends": [100, 200, 300], "decay_fraction": 0.2},
            {
                "ends": [100, 250, 400],
                "decay": 30,
                "peaks": [1.0, 0.7, 0.5],
                "decay_kind": "1-sqrt",
                "end": 0.05,
                "warmup": 20,
            },
        ],
    )
