"""Reduce-on-plateau's two questions, for every schedule that reduces on a plateau.

schedkit's ``plateau`` family and the drop-in aliases of torch's ``ReduceLROnPlateau`` and
mmengine's ``ReduceOnPlateau*`` ask them the same way, to the float: whether a metric
improves on the best seen, and whether a metric is a number at all.
"""

from __future__ import annotations

import math
from typing import Any

from schedkit._numbers import show
from schedkit.errors import SpecError


def improves(
    metric: float, best: float, *, mode: str, threshold: float, threshold_mode: str
) -> bool:
    """Whether ``metric`` beats ``best`` by ``threshold``: torch's ``is_better``.

    ``mode`` ``"min"`` (lower is better) or ``"max"``; ``threshold_mode`` ``"rel"`` (by a
    fraction of ``best``: ``metric < best * (1 - threshold)`` for ``"min"``) or ``"abs"``
    (by an amount: ``metric < best - threshold``). torch's and mmengine's arithmetic, so
    a reduction falls on the same step as theirs.
    """
    if mode == "min":
        if threshold_mode == "rel":
            return metric < best * (1.0 - threshold)
        return metric < best - threshold
    if threshold_mode == "rel":
        return metric > best * (threshold + 1.0)
    return metric > best + threshold


def metric_float(metric: Any, where: str = "metric") -> float:
    """``metric`` as a float, as torch's ``float(metrics)`` takes it (NaN included), or a
    :class:`SpecError` at ``where`` for what ``float`` refuses: a string, a tensor of more
    than one element, an int beyond the float range."""
    try:
        return float(metric)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise SpecError(f"expected a number, got {show(metric)}", where) from None


def finite_metric(metric: Any, where: str = "metric") -> float:
    """``metric`` as a float (a number, or a one-element tensor), or a
    :class:`SpecError` at ``where`` for anything else, NaN and infinities included: a
    NaN validation loss counted as "no improvement" would reduce silently."""
    if isinstance(metric, bool):
        raise SpecError(f"expected a finite number, got {metric!r}", where)
    try:
        value = float(metric)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise SpecError(f"expected a finite number, got {show(metric)}", where) from None
    if not math.isfinite(value):
        raise SpecError(f"expected a finite number, got {value!r}", where)
    return value
