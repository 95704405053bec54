"""What ``optimizer.load_state_dict`` would refuse, checked before anything is loaded:
shared by :class:`~schedkit.setup.built.Built` and the combined optimizer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from schedkit._numbers import show
from schedkit.errors import StateError
from schedkit.setup.problems import NOT_HYPERPARAMETERS
from schedkit.state_checks import StateReader, check_number


def check_optimizer_state(
    optimizer: torch.optim.Optimizer, state: Any, where: str = "optimizer"
) -> None:
    """What ``optimizer.load_state_dict`` would refuse, checked before anything is loaded;
    ``where``: the state's key path."""
    reader = StateReader(state, where, "optimizer state")
    groups = reader.get("param_groups")
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
        raise StateError("expected a list of param groups", f"{where}.param_groups")
    if len(groups) != len(optimizer.param_groups):
        raise StateError(
            f"the state has {len(groups)} param groups, the optimizer "
            f"{len(optimizer.param_groups)}",
            f"{where}.param_groups",
        )
    for i, (saved, mine) in enumerate(zip(groups, optimizer.param_groups, strict=True)):
        params = saved.get("params")
        if not isinstance(params, list) or len(params) != len(mine["params"]):
            n = len(params) if isinstance(params, list) else repr(params)
            raise StateError(
                f"the state has {n} parameters in this group, the optimizer {len(mine['params'])}",
                f"{where}.param_groups[{i}].params",
            )
        for key, value in saved.items():
            if key not in NOT_HYPERPARAMETERS and isinstance(key, str):
                _check_group_value(value, mine.get(key), f"{where}.param_groups[{i}].{key}")
    per_param = reader.get("state")
    if not isinstance(per_param, Mapping):
        raise StateError("expected a dict of per-parameter state", f"{where}.state")
    saved_ids = {i for g in groups for i in g["params"] if isinstance(i, int)}
    for key, entry in per_param.items():
        if key not in saved_ids:
            raise StateError(
                f"state of parameter {show(key)}, which no saved param group holds",
                f"{where}.state",
            )
        if not isinstance(entry, Mapping):
            raise StateError(f"expected a dict, got {show(entry)}", f"{where}.state.{key}")
        for name, value in entry.items():
            _check_finite(value, f"{where}.state.{key}.{name}")


def _check_finite(value: Any, where: str) -> None:
    """A per-parameter entry (a moment, the step): NaN or an infinity there would make the
    next update NaN without a word."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise StateError("expected finite values, got NaN or an infinity", where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise StateError(f"expected a finite number, got {value}", where)


def _numeric(value: Any) -> bool:
    """An int, float or tensor (not a bool), whatever its size."""
    return isinstance(value, (int, float, torch.Tensor)) and not isinstance(value, bool)


def _check_group_value(value: Any, mine: Any, where: str) -> None:
    """One saved hyperparameter of a param group: a number (or each number of a tuple such
    as ``betas``) finite and within the float range, since torch's own state never holds
    another; a tensor (a tensor ``lr``) with finite values; a number where this optimizer
    has one. Flags and names (bools, ``None``, text) are the optimizer's to judge."""
    if isinstance(value, (tuple, list)) and (
        any(_numeric(v) for v in value) or isinstance(mine, (tuple, list))
    ):
        if isinstance(mine, (tuple, list)) and len(value) != len(mine):
            raise StateError(f"expected {len(mine)} values, got {show(value)}", where)
        ours = mine if isinstance(mine, (tuple, list)) else [None] * len(value)
        for v, m in zip(value, ours, strict=True):
            _check_group_value(v, m, where)
        return
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise StateError(f"expected finite values, got {show(value)}", where)
        return
    if _numeric(value):
        check_number(value, where)
    elif _numeric(mine):
        raise StateError(f"expected a number, got {show(value)}", where)
