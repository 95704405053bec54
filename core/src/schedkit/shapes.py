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

#: Names of the anneal shapes a family may offer both ways (:func:`decay` and :func:`ramp`).
KINDS = ("linear", "cosine", "1-sqrt")
#: the same, as :mod:`schedkit.plugin` names it
SHAPES = KINDS
#: Names of every decay shape (:func:`decay`, ``decay_kind`` of ``wsd``...): :data:`KINDS`
#: and the cooldowns that only fall: ``exponential``, ``power`` (exponent ``p``) and ``1-square``.
DECAY_KINDS = (*KINDS, "exponential", "power", "1-square")
#: the same, as :mod:`schedkit.plugin` names it
DECAY_SHAPES = DECAY_KINDS


def _unknown(kind: str) -> SpecError:
    return SpecError(f"expected a decay shape in {list(DECAY_KINDS)}, got {kind!r}", "decay_kind")


def decay(kind: str, a: float, p: float = 1.0) -> float:
    """Fall from 1 at ``a=0`` to 0 at ``a=1``.

    ``linear`` 1-a; ``cosine`` (1+cos(pi a))/2; ``1-sqrt`` 1-sqrt(a) (the cooldown of
    warmup-stable-decay runs); ``1-square`` 1-a**2 (stays high, then falls fast);
    ``power`` 1-a**p (``p=1`` is linear, ``p=0.5`` the shape of 1-sqrt, ``p=2`` of
    1-square; for (1-a)**p use the ``polynomial`` family); ``exponential``
    2*0.5**a - 1 (Megatron-LM's exponential WSD cooldown, its floats). ``p`` is read only
    by ``power``. An unknown ``kind`` is a :class:`SpecError` on ``decay_kind``.
    """
    if kind == "linear":
        return 1.0 - a
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * a))
    if kind == "1-sqrt":
        return 1.0 - math.sqrt(a)
    if kind == "exponential":
        return (2.0 * math.pow(0.5, a)) - 1.0
    if kind == "1-square":
        return 1.0 - a * a
    if kind == "power":
        return 1.0 - float(a**p)
    raise _unknown(kind)


def ramp(kind: str, a: float) -> float:
    """Rise from 0 at ``a=0`` to 1 at ``a=1``: ``linear`` a, ``cosine`` (1-cos(pi a))/2,
    ``1-sqrt`` 1-sqrt(1-a)."""
    if kind == "linear":
        return a
    if kind == "cosine":
        return 0.5 * (1.0 - math.cos(math.pi * a))
    return 1.0 - math.sqrt(1.0 - a)


def decay_t(kind: str, a: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """:func:`decay` over a float64 tensor."""
    if kind == "linear":
        return 1.0 - a
    if kind == "cosine":
        return 0.5 * (1.0 + torch.cos(math.pi * a))
    if kind == "1-sqrt":
        return 1.0 - torch.sqrt(a)
    if kind == "exponential":
        return (2.0 * torch.pow(0.5, a)) - 1.0
    if kind == "1-square":
        return 1.0 - a * a
    if kind == "power":
        return 1.0 - torch.pow(a, p)
    raise _unknown(kind)


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
