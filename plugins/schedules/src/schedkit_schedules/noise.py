"""The ``noise`` wrapper."""

from __future__ import annotations

import attrs
import torch

import schedkit
from schedkit import SpecError
from schedkit.plugin import Shiftable, bad_step, evolve, steps


@attrs.frozen
class Noise(schedkit.BaseSchedule):
    """Multiplicative noise on another schedule, reproducible and resumable (timm's
    ``noise_*`` options): ``f(t) = g(t) * (1 + n(t))`` for ``start <= t < stop``.

    ``n(t)`` comes from a generator seeded with ``seed + t``, so every step's noise is the
    same in every run and after any resume. ``normal``: a normal draw times ``std``, drawn
    again until ``|n| < pct``; ``uniform``: uniform in ``(-pct, pct)``. ``stop`` 0 means
    no end.

    Example: ``get_schedule("noise", schedule={"type": "cosine", "total": 1000}, pct=0.1)``.
    """

    name = "noise"

    schedule: schedkit.Schedule = schedkit.schedule()
    kind: str = schedkit.choice("normal", "uniform")
    pct: float = schedkit.factor(0.67, gt=0.0, lt=1.0)
    std: float = schedkit.factor(1.0, gt=0.0)
    seed: int = schedkit.field(default=42, validator=steps())
    start: int = schedkit.duration(default=0)
    stop: int = schedkit.duration(default=0)

    def __attrs_post_init__(self) -> None:
        if self.stop and self.stop <= self.start:
            raise SpecError(f"expected stop > start ({self.start}), got {self.stop}", "stop")
        if self.kind == "normal" and self.std > 1000 * self.pct:
            # normal noise is drawn until |n| < pct (timm's loop): past this ratio a draw
            # takes thousands of tries, and the loop never ends for std = 1e300
            raise SpecError(
                f"expected std <= 1000 * pct ({1000 * self.pct:g}), got {self.std}", "std"
            )
        if self.seed >= 2**63:
            raise SpecError(f"expected a seed < 2**63, got {self.seed}", "seed")

    def noise(self, step: float) -> float:
        """The relative noise at ``step`` (0 outside ``[start, stop)``)."""
        if step < self.start or (self.stop and step >= self.stop):
            return 0.0
        g = torch.Generator()
        g.manual_seed(self.seed + int(step))
        if self.kind == "normal":
            while True:
                n = torch.randn(1, generator=g, dtype=torch.float32).item() * self.std
                if abs(n) < self.pct:
                    return float(n)
        return float(2 * (torch.rand(1, generator=g, dtype=torch.float32).item() - 0.5) * self.pct)

    def __call__(self, step: float) -> float:
        if not step >= 0:
            raise bad_step(step)
        v = self.schedule(step)
        return v + v * self.noise(step)

    @property
    def horizon(self) -> int | None:
        return None

    def shifted(self, steps: int) -> Noise:
        inner = self.schedule
        return evolve(
            self, schedule=inner.shifted(steps) if isinstance(inner, Shiftable) else inner
        )


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        Noise,
        examples=[
            {"schedule": {"type": "cosine", "total": 100}},
            {
                "schedule": {"type": "constant"},
                "kind": "uniform",
                "pct": 0.2,
                "start": 10,
                "stop": 50,
                "seed": 7,
            },
        ],
    )
