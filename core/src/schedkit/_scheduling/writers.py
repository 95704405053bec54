"""The functions that write a step's values into the param groups, built once per binding
so that a step does no dispatch of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from schedkit.protocols import EpochFromCurrent, FollowsCurrent, StartsFromCurrent

#: a curve's method that computes from the group's current value, or None
Chained = Callable[[float, float], float] | None
Picker = Callable[[Any], Chained]


def _offers(cls: type, protocol: type, _seen: dict[tuple[type, type], bool] = {}) -> bool:  # noqa: B006
    """Whether instances of ``cls`` offer ``protocol`` (its methods), answered once per class."""
    key = (cls, protocol)
    known = _seen.get(key)
    if known is None:
        known = _seen[key] = issubclass(cls, protocol)
    return known


def follow_of(curve: Any) -> Chained:
    """``curve.follow`` (:class:`~schedkit.protocols.FollowsCurrent`), or None."""
    return curve.follow if _offers(type(curve), FollowsCurrent) else None


def initial_of(curve: Any) -> Chained:
    """``curve.initial`` (:class:`~schedkit.protocols.StartsFromCurrent`), or None."""
    return curve.initial if _offers(type(curve), StartsFromCurrent) else None


def epoch_of(curve: Any) -> Chained:
    """``curve.epoch`` (:class:`~schedkit.protocols.EpochFromCurrent`), or None."""
    return curve.epoch if _offers(type(curve), EpochFromCurrent) else None


def offers(curve: Any, protocol: type) -> bool:
    """Whether ``curve`` offers ``protocol`` (a protocol of methods), cached per class."""
    return _offers(type(curve), protocol)


def writer(
    groups: list[dict[str, Any]], bases: list[float], field: str, index: int | None
) -> Callable[[float], None]:
    """A function writing ``base * factor`` into each group, with no per-step dispatch."""
    floats: list[tuple[dict[str, Any], float]] = []
    tensors: list[tuple[torch.Tensor, float]] = []
    items: list[tuple[dict[str, Any], float]] = []
    for g, b in zip(groups, bases, strict=True):
        value = g[field] if index is None else g[field][index]
        if isinstance(value, torch.Tensor):
            tensors.append((value, b))
        elif index is None:
            floats.append((g, b))
        else:
            items.append((g, b))

    # Groups that share a base value share one product: fewer multiplications and float
    # objects per step (merged groups often differ in weight decay only).
    shared: dict[float, list[dict[str, Any]]] = {}
    for g, b in floats:
        shared.setdefault(b, []).append(g)
    buckets = [(b, gs) for b, gs in shared.items()]
    if len(buckets) == len(floats) and len(floats) > 1:
        buckets = []
    else:
        floats = []

    if not (tensors or items):
        # the common cases get a function with a single loop: it runs every step
        if len(buckets) == 1:
            ((base, same),) = buckets

            def write_one(f: float) -> None:
                v = base * f
                for g in same:
                    g[field] = v

            return write_one
        if not buckets:

            def write_floats(f: float) -> None:
                for g, b in floats:
                    g[field] = b * f

            return write_floats

    def write(f: float) -> None:
        for g, b in floats:
            g[field] = b * f
        for b, gs in buckets:
            v = b * f
            for g in gs:
                g[field] = v
        for t, b in tensors:
            t.fill_(b * f)
        for g, b in items:
            set_item(g, field, index, b * f)

    return write


def set_item(group: dict[str, Any], field: str, index: Any, value: float) -> None:
    """Replace one item of a tuple or list hyperparameter (Adam's ``betas[0]``)."""
    old = group[field]
    new = list(old)
    new[index] = value
    group[field] = type(old)(new)


def group_writer(
    groups: list[dict[str, Any]],
    curves: list[Callable[[float], float]],
    field: str,
    index: int | None,
    pick: Picker | None = follow_of,
) -> Callable[[float], None]:
    """A function writing each group's own ``curve(step)`` (schedules with ``per_group``).

    A curve that ``pick`` finds a chained method on (:func:`follow_of`: torch's chainable
    ``get_lr``) is given the group's current value too, ``curve.follow(step, current)``:
    it then reads what another scheduler on the same optimizer wrote, as torch's do.
    """
    floats = []
    chained = []
    others = []
    for g, c in zip(groups, curves, strict=True):
        value = g[field] if index is None else g[field][index]
        from_current = pick(c) if pick is not None else None
        if index is None and not isinstance(value, torch.Tensor):
            if from_current is None:
                floats.append((g, c))
            else:
                chained.append((g, from_current))
        else:
            others.append((g, c, from_current))

    def write(step: float) -> None:
        for g, c in floats:
            g[field] = c(step)
        for g, chain in chained:
            g[field] = chain(step, g[field])
        for g, c, f in others:
            old = g[field] if index is None else g[field][index]
            v = c(step) if f is None else f(step, float(old))
            if isinstance(old, torch.Tensor):
                old.fill_(v)
            else:
                set_item(g, field, index, v)

    return write
