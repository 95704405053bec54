"""The param groups and the key a scheduler targets: parsing ``betas[0]``, selecting by
tags, the base values, torch's resume by construction."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from schedkit._numbers import MAX_STEPS, as_real, show, too_large
from schedkit.errors import SpecError
from schedkit.schedule import BaseSchedule

#: matched whole (``fullmatch``: ``$`` would let "lr\n" through)
_KEY = re.compile(r"(?P<field>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?")


def parse_key(key: str) -> tuple[str, int | None]:
    """``"betas[0]"`` as ``("betas", 0)``, ``"lr"`` as ``("lr", None)``, else SpecError."""
    m = _KEY.fullmatch(key) if isinstance(key, str) else None
    if m is None:
        raise SpecError(
            f"expected a param-group key such as 'lr' or 'betas[0]', got {key!r}", "key"
        )
    index = m.group("index")
    return m.group("field"), None if index is None else int(index)


def selected(
    groups: list[dict[str, Any]], tags: frozenset[str | None] | None
) -> list[dict[str, Any]]:
    """The groups sharing a tag with ``tags``; ``None`` among them selects untagged groups."""
    if tags is None:
        return list(groups)
    return [g for g in groups if tags & set(g.get("tags") or (None,))]


def check_tags(groups: list[dict[str, Any]], tags: frozenset[str | None] | None) -> None:
    """Every tag given selects a group: a tag no group carries is a typo most often, never
    silently ignored beside one that matches (``None`` needs an untagged group)."""
    if not tags:
        return
    unmatched = [t for t in tags if not selected(groups, frozenset([t]))]
    if unmatched and len(unmatched) < len(tags):  # none at all: the binding's error
        raise no_group(groups, unmatched)


def no_group(groups: list[dict[str, Any]], tags: Iterable[str | None]) -> SpecError:
    """The error for tags that select no group: the tags the groups carry, the closest."""
    present = sorted({t for g in groups for t in g.get("tags") or ()})
    wanted = sorted(tags, key=str)
    close = [c for t in wanted if t is not None for c in difflib.get_close_matches(t, present)]
    hint = f"; did you mean {' or '.join(map(repr, dict.fromkeys(close)))}?" if close else ""
    return SpecError(
        f"tags {wanted} match no param group (the groups carry: {present or 'no tags'}){hint}",
        "tags",
    )


def as_float(value: Any, where: str) -> float:
    """A base value (a number or a one-element tensor) as a float, else SpecError."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise SpecError(
                f"expected a number or a one-element tensor, got shape {tuple(value.shape)}", where
            )
        return float(value.item())
    x = as_real(value)
    if x is None:
        why = " (too large for a float)" if too_large(value) else ""
        raise SpecError(f"expected a number, got {show(value)}{why}", where)
    return x


def step_number(value: Any, where: str, *, low: int = 0) -> int:
    """A step count from a user (``last_epoch``, a step to go to): a whole number from
    ``low`` to ``2**62`` (an integral float is taken as its int), else SpecError."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_STEPS:
        raise SpecError(
            f"expected a whole number of steps from {low} to 2**62, got {show(value)}", where
        )
    return value


def scheduled_key(family: Any, optimizer: Optimizer, key: str | None) -> str:
    """The hyperparameter to schedule: ``key``, or the family's own (:meth:`BaseSchedule.
    own_key`), ``lr`` when neither says; a key other than the family's own is refused."""
    own = (
        family.own_key(optimizer)
        if isinstance(family, type) and issubclass(family, BaseSchedule)
        else None
    )
    if own is None:
        return "lr" if key is None else key
    if key is not None and key != own:
        raise SpecError(
            f"{family.name!r} schedules {own!r} on this optimizer, "
            f"not {key!r}: give no key (or key={own!r})",
            "key",
        )
    return str(own)


def check_resume(
    optimizer: Optimizer, tags: frozenset[str | None] | None, key: str, last_epoch: Any
) -> None:
    """torch's resume by construction (``last_epoch=k``) needs ``initial_<key>`` in the groups."""
    if last_epoch == -1:
        return
    if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
        raise SpecError(f"expected a whole number >= -1, got {show(last_epoch)}", "last_epoch")
    if last_epoch >= MAX_STEPS:
        raise SpecError(f"expected a whole number < 2**62, got {show(last_epoch)}", "last_epoch")
    init_key = f"initial_{key}"
    for i, g in enumerate(optimizer.param_groups):
        if selected([g], tags) and init_key not in g:
            raise SpecError(
                f"resuming at last_epoch={last_epoch} needs each group's base value, which the "
                f"first run's scheduler wrote as {init_key!r} and the optimizer's state keeps; "
                "load the optimizer's state first (or start with last_epoch=-1)",
                f"param_groups[{i}].{init_key}",
            )
