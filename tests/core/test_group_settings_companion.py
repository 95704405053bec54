"""A companion curve that reads its group's own settings (``GroupSettingsCompanion``):
each group gets its curve from the settings it carries, after an
``optimizer.load_state_dict`` too, and a state whose value cannot be computed is refused."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest
import torch

import schedkit
from schedkit.plugin import GroupSettingsCompanion


class _Decay:
    """The weight decay of a group: its ``wd`` setting times the step."""

    def __call__(self, step: float) -> float:
        return 0.0

    def for_group(self, group: Mapping[str, Any], index: int) -> Callable[[float], float]:
        wd = group.get("wd", 1.0)
        return lambda step: wd * step


@attrs.frozen
class _WithDecay(schedkit.BaseSchedule):
    """A constant lr and a weight decay of each group's own ``wd`` times the step."""

    name = "with_decay"

    def __call__(self, step: float) -> float:
        return 1.0

    def companions(self) -> dict[str, Any]:
        return {"weight_decay": _Decay()}


def _opt() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    groups = [
        {"params": [params[0]]},
        {"params": [params[1]], "wd": 0.5},
        {"params": [params[2]], "wd": 2.0},
    ]
    return torch.optim.AdamW(groups, lr=0.1)


def test_each_group_gets_its_own_curve() -> None:
    assert isinstance(_Decay(), GroupSettingsCompanion)
    opt = _opt()
    sched = schedkit.Scheduler(opt, _WithDecay())
    for _ in range(3):
        sched.step()
    assert [g["weight_decay"] for g in opt.param_groups] == [3.0, 1.5, 6.0]
    # new group dicts (a loaded optimizer state) are read anew
    opt.load_state_dict(opt.state_dict())
    sched.step()
    assert [g["weight_decay"] for g in opt.param_groups] == [4.0, 2.0, 8.0]


def test_a_state_is_checked_on_each_groups_curve() -> None:
    opt = _opt()
    opt.param_groups[2]["wd"] = float("inf")
    sched = schedkit.Scheduler(opt, _WithDecay())
    state = sched.state_dict()
    state["step"] = 5
    with pytest.raises(schedkit.StateError, match="not a finite number"):
        sched.load_state_dict(state)
