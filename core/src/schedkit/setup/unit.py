"""One optimizer of a built setup with its schedulers and param groups: what ``Built``
steps, saves and loads for each optimizer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from schedkit.groups import ParamGroups
from schedkit.scheduler import Scheduler


class OptimizerUnit:
    """One optimizer of a built setup with its schedulers and param groups: what
    :class:`Built` steps, saves and loads for each optimizer.

    :param name: the optimizer's name (``optimizer`` for a single ``[optimizer]``).
    :param optimizer: the optimizer over its param groups.
    :param schedulers: its schedulers, by the ``[schedules.*]`` table's name.
    :param groups: its param groups as built by the rules.
    """

    __slots__ = ("groups", "name", "optimizer", "schedulers")

    def __init__(
        self,
        name: str,
        optimizer: torch.optim.Optimizer,
        schedulers: Mapping[str, Scheduler],
        groups: ParamGroups | None = None,
    ) -> None:
        self.name = name
        self.optimizer = optimizer
        self.schedulers = dict(schedulers)
        self.groups = groups

    def __repr__(self) -> str:
        return (
            f"OptimizerUnit({self.name!r}, {type(self.optimizer).__name__}, "
            f"schedulers={sorted(self.schedulers)})"
        )

    def step_schedulers(
        self, metric: Any = None, consumed: Mapping[str, Any] | None = None
    ) -> None:
        """Every scheduler once (the metric to those that observe one; what the step
        consumed, ``tokens`` or ``samples``, to those on a clock)."""
        for s in self.schedulers.values():
            if metric is not None and s.observes_metrics:
                s.step(metric=metric)  # by name: a peer's step may take an epoch first
            elif consumed:
                s.step(**consumed)
            else:
                s.step()

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state and each scheduler's."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
        }

    def load_state(
        self, optimizer: Any, schedulers: Mapping[str, Any], replan: Mapping[str, Any] | None
    ) -> None:
        """Apply a checked state: the optimizer first (the schedulers bind to its groups).
        With ``replan`` (the options of :meth:`Scheduler.load_state_dict`'s replan), the
        groups keep their hyperparameters and the schedulers their plans; either way the
        groups keep their names."""
        mine = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(optimizer)
        for g, settings in zip(self.optimizer.param_groups, mine, strict=True):
            if replan is not None:  # the plan's hyperparameters are this setup's
                g.update(settings)
            elif "name" in settings:
                # the groups keep this build's names (a state saved before groups had
                # names, or under other names, holds the same groups in the same order)
                g["name"] = settings["name"]
        for k, s in self.schedulers.items():
            if replan is None:
                s.load_state_dict(schedulers[k])
            else:
                s.load_state_dict(schedulers[k], True, **replan)
