"""Shapes shared by schedule families: ramps and decays over a progress ``a`` in [0, 1].

Each has a float version (for ``__call__``, one step at a time) and works on float64
tensors too (for ``values()``, whole curves at once), so families do not repeat the
formulas. Float expressions follow the order of the libraries whose values schedkit
reproduces (transformers, torch), so results agree to the last bit.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch

from schedkit.errors import SpecError

X = TypeVar("X", float, torch.Tensor)

#: Names of the anneal shapes a family may offer (``decay_kind``, ``anneal``...).
KINDS = ("linear", "cosine", "1-sqrt")
#: the same, as :mod:`schedkit.plugin` names it
SHAPES = KINDS


def decay(kind: str, a: float) -> float:
    """Fall from 1 at ``a=0`` to 0 at ``a=1``: ``linear`` 1-a, ``cosine`` (1+cos(pi a))/2,
    ``1-sqrt`` 1-sqrt(a) (the cooldown of warmup-stable-decay runs)."""
    if kind == "linear":
        return 1.0 - a
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * a))
    return 1.0 - math.sqrt(a)


def ramp(kind: str, a: float) -> float:
    """Rise from 0 at ``a=0`` to 1 at ``a=1``: ``linear`` a, ``cosine`` (1-cos(pi a))/2,
    ``1-sqrt`` 1-sqrt(1-a)."""
    if kind == "linear":
        return a
    if kind == "cosine":
        return 0.5 * (1.0 - math.cos(math.pi * a))
    return 1.0 - math.sqrt(1.0 - a)


def decay_t(kind: str, a: torch.Tensor) -> torch.Tensor:
    """:func:`decay` over a float64 tensor."""
    if kind == "linear":
        return 1.0 - a
    if kind == "cosine":
        return 0.5 * (1.0 + torch.cos(math.pi * a))
    return 1.0 - torch.sqrt(a)


def ramp_t(kind: str, a: torch.Tensor) -> torch.Tensor:
    """:func:`ramp` over a float64 tensor."""
    if kind == "linear":
        return a
    if kind == "cosine":
        return 0.5 * (1.0 - torch.cos(math.pi * a))
    return 1.0 - torch.sqrt(1.0 - a)


def lerp(start: Any, end: Any, w: X) -> X:
    """``start*(1-w) + end*w``: exact at both ends (w=0 gives start, w=1 gives end)."""
    out: X = start * (1.0 - w) + end * w
    return out


def anneal(kind: str, start: float, end: float, pct: float) -> float:
    """torch's ``OneCycleLR`` anneal from ``start`` to ``end`` at ``pct`` (0 to 1) of a phase:
    ``kind`` ``"cos"`` (``end + (start - end) / 2 * (cos(pi * pct) + 1)``) or ``"linear"``
    (``(end - start) * pct + start``), torch's floats exactly."""
    if kind == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def as_steps(steps: object) -> torch.Tensor:
    """Steps (a sequence or a tensor) as a float64 tensor; negative or NaN steps are refused."""
    if isinstance(steps, torch.Tensor):
        t = steps.to(torch.float64)
    else:
        t = torch.as_tensor(steps, dtype=torch.float64)
    if not bool((t >= 0).all()):
        bad = t[~(t >= 0)][0].item()
        raise SpecError(f"expected steps >= 0, got {bad}", "step")
    return t


def bad_step(step: float) -> SpecError:
    """The error for a schedule evaluated at a negative or NaN step (families raise it from
    ``__call__`` after one comparison, ``if not step >= 0``, which NaN fails too)."""
    return SpecError(f"expected a step >= 0, got {step!r}", "step")
