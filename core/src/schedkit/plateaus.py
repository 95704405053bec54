"""Reduce-on-plateau's two questions, for every schedule that reduces on a plateau.

schedkit's ``plateau`` family and the drop-in aliases of torch's ``ReduceLROnPlateau`` and
mmengine's ``ReduceOnPlateau*`` ask them the same way, to the float: whether a metric
improves on the best seen, and whether a metric is a number at all.
"""

from __future__ import annotations

import math
from typing import Any

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


def finite_metric(metric: Any, where: str = "metric") -> float:
    """``metric`` as a float (a number, or a one-element tensor), or a
    :class:`SpecError` at ``where`` for anything else, NaN and infinities included: a
    NaN validation loss counted as "no improvement" would reduce silently."""
    if isinstance(metric, bool):
        raise SpecError(f"expected a finite number, got {metric!r}", where)
    try:
        value = float(metric)
    except (TypeError, ValueError, RuntimeError):
        raise SpecError(f"expected a finite number, got {metric!r}", where) from None
    if not math.isfinite(value):
        raise SpecError(f"expected a finite number, got {value!r}", where)
    return value
