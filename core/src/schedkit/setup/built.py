"""A built setup: the optimizer, its schedulers and clipper stepped as one unit, saved and
restored as plain data (all of a state or none of it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from schedkit._numbers import show
from schedkit.clipping import _unscale
from schedkit.errors import SpecError, StateError
from schedkit.groups import ParamGroups
from schedkit.protocols import StateChecked
from schedkit.scheduler import Scheduler
from schedkit.setup.problems import NOT_HYPERPARAMETERS
from schedkit.state_checks import StateReader, check_number
from schedkit.values import ClipResult


class Built:
    """A setup made real: steps as one unit after ``backward()``, saves as plain data.

    Made by :meth:`Setup.build`, not by hand.

    :param optimizer: the optimizer over the model's param groups.
    :param schedulers: one :class:`Scheduler` per scheduled key (``"lr"``, ``"weight_decay"``...).
    :param clipper: the gradient clipper, or ``None``.
    :param total_steps: the run's length in steps, when known.
    :param resolved: the setup with everything computed at build time (lr, steps, schedules).
    :param groups: the param groups as built by the rules, or ``None``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedulers: Mapping[str, Scheduler],
        clipper: Any,
        total_steps: int | None,
        resolved: Mapping[str, Any],
        groups: ParamGroups | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.schedulers = dict(schedulers)
        self.clipper = clipper
        self.total_steps = total_steps
        #: the setup with everything computed at build time: lr, steps, schedules
        self.resolved = dict(resolved)
        self.last_clip: ClipResult | None = None
        #: the param groups as built, with ``table()`` and ``explain(name)``
        self.groups = groups
        self._clip_target: Any = _model_order(optimizer, groups)
        self._clip_groups = len(optimizer.param_groups)

    def step(self, metric: Any = None, *, scaler: Any = None, zero_grad: bool = True) -> None:
        """Clip, step the optimizer (through ``scaler`` when given), step every scheduler,
        and clear the gradients unless told not to.

        :param metric: the validation metric, given at the step that ends an epoch with a
            validation: the metric-driven schedulers (``plateau``,
            ``torch.ReduceLROnPlateau``, ``mmengine.ReduceOnPlateau*``) observe it, the
            others step as always. Checked before anything changes (a finite number, or
            mmengine's metrics dict for its aliases); given to a setup without a
            metric-driven schedule it is a :class:`SpecError`.
        """
        if metric is not None:
            observing = [s for s in self.schedulers.values() if s.observes_metrics]
            if not observing:
                raise SpecError("no schedule of this setup observes a metric", "metric")
            for s in observing:
                s.checked_metric(metric)
        if self.clipper is not None:
            if scaler is not None:
                _unscale(scaler, self.optimizer)
            if len(self.optimizer.param_groups) != self._clip_groups:
                self._clip_target = _model_order(self.optimizer, self.groups)
                self._clip_groups = len(self.optimizer.param_groups)
            self.last_clip = self.clipper(self._clip_target)
        if scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        for s in self.schedulers.values():
            if metric is not None and s.observes_metrics:
                s.step(metric=metric)  # by name: a peer's step may take an epoch first
            else:
                s.step()
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> dict[str, Any]:
        """Plain data for the optimizer, every scheduler and the clipper."""
        return {
            "format": "schedkit.built",
            "version": 1,
            "setup": self.resolved,
            "optimizer": self.optimizer.state_dict(),
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "clipper": None if self.clipper is None else self.clipper.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved: all of it or, when any part does not fit
        (the optimizer's, a scheduler's or the clipper's), none of it (:class:`StateError`
        naming the key path)."""
        reader = StateReader(state, what="setup state")
        if reader.state.get("format") != "schedkit.built":
            raise StateError(
                f"not a schedkit setup state (format {show(reader.state.get('format'))})"
            )
        reader.integer("version", ge=1, le=1)
        _check_optimizer_state(self.optimizer, reader.get("optimizer"))
        saved = reader.mapping("schedulers")
        missing = sorted(set(self.schedulers) - set(saved.state))
        extra = sorted(set(saved.state) - set(self.schedulers))
        if missing or extra:
            raise StateError(
                f"the state has schedulers {sorted(saved.state)}, this setup "
                f"{sorted(self.schedulers)}",
                "schedulers",
            )
        for k, s in self.schedulers.items():
            try:
                s.check_state(saved.state[k])
            except StateError as e:
                raise e.at(f"schedulers.{k}") from None
        clip_state = reader.state.get("clipper")
        if isinstance(self.clipper, StateChecked) and clip_state is not None:
            try:
                self.clipper.check_state(clip_state)
            except StateError as e:
                raise e.at("clipper") from None
        # everything fits: apply (the optimizer first, the schedulers bind to its new groups);
        # the groups keep this build's names (a state saved before groups had names, or
        # under other names, holds the same groups in the same order: checked above)
        names = [g.get("name") for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(reader.get("optimizer"))
        for g, name in zip(self.optimizer.param_groups, names, strict=True):
            if name is not None:
                g["name"] = name
        for k, s in self.schedulers.items():
            s.load_state_dict(saved.state[k])
        if self.clipper is not None and clip_state is not None:
            self.clipper.load_state_dict(clip_state)


def _check_optimizer_state(optimizer: torch.optim.Optimizer, state: Any) -> None:
    """What ``optimizer.load_state_dict`` would refuse, checked before anything is loaded."""
    reader = StateReader(state, "optimizer", "optimizer state")
    groups = reader.get("param_groups")
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
        raise StateError("expected a list of param groups", "optimizer.param_groups")
    if len(groups) != len(optimizer.param_groups):
        raise StateError(
            f"the state has {len(groups)} param groups, the optimizer "
            f"{len(optimizer.param_groups)}",
            "optimizer.param_groups",
        )
    for i, (saved, mine) in enumerate(zip(groups, optimizer.param_groups, strict=True)):
        params = saved.get("params")
        if not isinstance(params, list) or len(params) != len(mine["params"]):
            n = len(params) if isinstance(params, list) else repr(params)
            raise StateError(
                f"the state has {n} parameters in this group, the optimizer {len(mine['params'])}",
                f"optimizer.param_groups[{i}].params",
            )
        for key, value in saved.items():
            if key not in NOT_HYPERPARAMETERS and isinstance(key, str):
                _check_group_value(value, mine.get(key), f"optimizer.param_groups[{i}].{key}")
    if not isinstance(reader.get("state"), Mapping):
        raise StateError("expected a dict of per-parameter state", "optimizer.state")


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


def _model_order(optimizer: torch.optim.Optimizer, groups: ParamGroups | None) -> Any:
    """What ``Built.step()`` clips: the parameters with their names in the model's order
    (``named_parameters()``), as ``clip_grad_norm_(model.parameters())`` sees them, so the
    total norm is summed in the same order and equals torch's to the last bit; the
    optimizer's param-group order would differ in the last bits. Parameters the optimizer
    holds beyond the built groups (``add_param_group``) follow, by their place in the groups."""
    infos = getattr(groups, "_infos", None)
    if infos is None:
        return optimizer
    pairs = [(info.name, info.param) for info in infos]
    known = {id(p) for _, p in pairs}
    for gi, g in enumerate(optimizer.param_groups):
        for pi, p in enumerate(g["params"]):
            if id(p) not in known:
                known.add(id(p))
                pairs.append((f"param_groups[{gi}]['params'][{pi}]", p))
    return pairs
