"""A built setup: the optimizer, its schedulers and clipper stepped as one unit, saved and
restored as plain data (all of a state or none of it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from schedkit._numbers import show
from schedkit.clipping import _unscale
from schedkit.errors import SpecError, StateError
from schedkit.groups import ParamGroups
from schedkit.protocols import StateChecked
from schedkit.scheduler import Scheduler
from schedkit.setup.optimizer_state import check_optimizer_state as _check_optimizer_state
from schedkit.state_checks import StateReader
from schedkit.values import ClipResult


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

    def step_schedulers(self, metric: Any = None) -> None:
        """Every scheduler once (the metric to those that observe one)."""
        for s in self.schedulers.values():
            if metric is not None and s.observes_metrics:
                s.step(metric=metric)  # by name: a peer's step may take an epoch first
            else:
                s.step()

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state and each scheduler's."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
        }

    def load_state(self, optimizer: Any, schedulers: Mapping[str, Any]) -> None:
        """Apply a checked state: the optimizer first (the schedulers bind to its groups)."""
        self.optimizer.load_state_dict(optimizer)
        for k, s in self.schedulers.items():
            s.load_state_dict(schedulers[k])


class Built:
    """A setup made real: steps as one unit after ``backward()``, saves as plain data.

    Made by :meth:`Setup.build`, not by hand. It holds one :class:`OptimizerUnit` per
    optimizer (``units``); with a single ``[optimizer]``, ``optimizer``, ``schedulers`` and
    ``groups`` are that one optimizer's. With ``[optimizers.NAME]`` tables,
    ``optimizers`` maps each name to its optimizer, ``schedulers`` holds every scheduler as
    ``"<optimizer>.<schedule>"`` and ``groups`` is None (each unit has its own).

    :param units: the optimizers, each with its schedulers and groups.
    :param clipper: the gradient clipper, or ``None``: it clips every optimizer's
        gradients at once (one global norm).
    :param total_steps: the run's length in steps, when known.
    :param resolved: the setup with everything computed at build time (lr, steps, schedules).
    :param named: the setup has ``[optimizers.NAME]`` tables (its state names them).
    :param order: every trainable parameter with its name, in the model's order (what the
        clipper sees).
    """

    def __init__(
        self,
        units: Sequence[OptimizerUnit],
        clipper: Any,
        total_steps: int | None,
        resolved: Mapping[str, Any],
        *,
        named: bool = False,
        order: Sequence[tuple[str, torch.Tensor]] | None = None,
    ) -> None:
        #: each optimizer with its schedulers and groups, by name, in the setup's order
        self.units = {u.name: u for u in units}
        #: each optimizer by its name (``optimizer`` for a single ``[optimizer]`` table)
        self.optimizers = {u.name: u.optimizer for u in units}
        self.named = named
        if named:
            self.schedulers = {f"{u.name}.{k}": s for u in units for k, s in u.schedulers.items()}
            self.groups: ParamGroups | None = None
        else:
            (only,) = units
            self.schedulers = only.schedulers
            #: the param groups as built, with ``table()`` and ``explain(name)``
            self.groups = only.groups
        self.clipper = clipper
        self.total_steps = total_steps
        #: the setup with everything computed at build time: lr, steps, schedules
        self.resolved = dict(resolved)
        self.last_clip: ClipResult | None = None
        self._units = list(units)
        self._order = None if order is None else list(order)
        self._clip_target: Any = self._model_order()
        self._clip_groups = self._group_count()

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer of a setup with one; a setup with several names them in
        :attr:`optimizers` (this raises :class:`SpecError` there)."""
        if len(self._units) != 1:
            raise SpecError(
                f"this setup has {len(self._units)} optimizers "
                f"({', '.join(self.optimizers)}): use built.optimizers[name]",
                "optimizers",
            )
        return self._units[0].optimizer

    def _group_count(self) -> int:
        return sum(len(u.optimizer.param_groups) for u in self._units)

    def _model_order(self) -> Any:
        if len(self._units) == 1:
            return _model_order(self._units[0].optimizer, self._units[0].groups)
        return _all_in_order(self._order or [], [u.optimizer for u in self._units])

    def step(self, metric: Any = None, *, scaler: Any = None, zero_grad: bool = True) -> None:
        """Clip (one global norm over every optimizer's parameters), step each optimizer
        (through ``scaler`` when given), step every scheduler, and clear the gradients
        unless told not to.

        :param metric: the validation metric, given at the step that ends an epoch with a
            validation: the metric-driven schedulers (``plateau``,
            ``torch.ReduceLROnPlateau``, ``mmengine.ReduceOnPlateau*``) observe it, the
            others step as always. Checked before anything changes (a finite number, or
            mmengine's metrics dict for its aliases); given to a setup without a
            metric-driven schedule it is a :class:`SpecError`.
        """
        self._check_metric(metric)
        self._clip(scaler)
        self._step_optimizers(scaler)
        self._step_schedulers(metric)
        if zero_grad:
            for u in self._units:
                u.optimizer.zero_grad(set_to_none=True)

    # the parts of a step, in order (the combined optimizer and scheduler of
    # :meth:`combined` run them apart, as a trainer calls them)

    def _check_metric(self, metric: Any) -> None:
        if metric is not None:
            observing = [s for s in self.schedulers.values() if s.observes_metrics]
            if not observing:
                raise SpecError("no schedule of this setup observes a metric", "metric")
            for s in observing:
                s.checked_metric(metric)

    def _clip(self, scaler: Any = None) -> None:
        if self.clipper is not None:
            if scaler is not None:
                for u in self._units:
                    _unscale(scaler, u.optimizer)
            if self._group_count() != self._clip_groups:
                self._clip_target = self._model_order()
                self._clip_groups = self._group_count()
            self.last_clip = self.clipper(self._clip_target)

    def _step_optimizers(self, scaler: Any = None) -> None:
        if scaler is not None:
            for u in self._units:
                scaler.step(u.optimizer)
            scaler.update()
        else:
            for u in self._units:
                u.optimizer.step()

    def _step_schedulers(self, metric: Any = None) -> None:
        for u in self._units:
            u.step_schedulers(metric)

    def combined(self) -> tuple[Any, Any]:
        """One optimizer and one scheduler standing for all of this setup's, for a trainer
        that takes one of each (the transformers Trainer's ``optimizers=(opt, sched)``,
        Lightning's ``configure_optimizers``): the optimizer's ``step()`` clips (the
        setup's ``[clip]``, one global norm) and steps every optimizer, the scheduler's
        ``step()`` steps every scheduler; their states hold every optimizer's and every
        scheduler's. See :class:`~schedkit.setup.combined.CombinedOptimizer`."""
        from schedkit.setup.combined import CombinedOptimizer, CombinedScheduler

        optimizer = CombinedOptimizer(self)
        return optimizer, CombinedScheduler(self, optimizer)

    def state_dict(self) -> dict[str, Any]:
        """Plain data for every optimizer, every scheduler and the clipper.

        A setup with one ``[optimizer]`` saves it under ``optimizer``; with
        ``[optimizers.NAME]`` tables, each under ``optimizers.NAME``. ``schedulers`` is
        keyed as :attr:`schedulers`."""
        states = {u.name: u.state_dict() for u in self._units}
        out: dict[str, Any] = {"format": "schedkit.built", "version": 1, "setup": self.resolved}
        if self.named:
            out["optimizers"] = {n: st["optimizer"] for n, st in states.items()}
        else:
            out["optimizer"] = states[self._units[0].name]["optimizer"]
        out["schedulers"] = {
            (f"{n}.{k}" if self.named else k): v
            for n, st in states.items()
            for k, v in st["schedulers"].items()
        }
        out["clipper"] = None if self.clipper is None else self.clipper.state_dict()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved: all of it or, when any part does not fit
        (an optimizer's, a scheduler's or the clipper's), none of it (:class:`StateError`
        naming the key path)."""
        reader = StateReader(state, what="setup state")
        if reader.state.get("format") != "schedkit.built":
            raise StateError(
                f"not a schedkit setup state (format {show(reader.state.get('format'))})"
            )
        reader.integer("version", ge=1, le=1)
        optimizers: dict[str, Any]
        if self.named:
            saved_opts = reader.mapping("optimizers")
            if set(saved_opts.state) != set(self.units):
                raise StateError(
                    f"the state has optimizers {sorted(saved_opts.state)}, this setup "
                    f"{sorted(self.units)}",
                    "optimizers",
                )
            optimizers = {n: saved_opts.state[n] for n in self.units}
        else:
            optimizers = {self._units[0].name: reader.get("optimizer")}
        saved = reader.mapping("schedulers")
        if set(saved.state) != set(self.schedulers):
            raise StateError(
                f"the state has schedulers {sorted(saved.state)}, this setup "
                f"{sorted(self.schedulers)}",
                "schedulers",
            )
        per_unit: dict[str, dict[str, Any]] = {}
        for u in self._units:
            prefix = f"{u.name}." if self.named else ""
            per_unit[u.name] = {k: saved.state[prefix + k] for k in u.schedulers}
            where = f"optimizers.{u.name}" if self.named else "optimizer"
            _check_optimizer_state(u.optimizer, optimizers[u.name], where)
            for k, s in u.schedulers.items():
                try:
                    s.check_state(per_unit[u.name][k])
                except StateError as e:
                    raise e.at(f"schedulers.{prefix}{k}") from None
        clip_state = reader.state.get("clipper")
        if isinstance(self.clipper, StateChecked) and clip_state is not None:
            try:
                self.clipper.check_state(clip_state)
            except StateError as e:
                raise e.at("clipper") from None
        # everything fits: apply (each optimizer first, its schedulers bind to its groups)
        for u in self._units:
            u.load_state(optimizers[u.name], per_unit[u.name])
        if self.clipper is not None and clip_state is not None:
            self.clipper.load_state_dict(clip_state)


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


def _all_in_order(
    order: Sequence[tuple[str, torch.Tensor]], optimizers: Sequence[torch.optim.Optimizer]
) -> list[tuple[str, torch.Tensor]]:
    """What ``Built.step()`` clips with several optimizers: every parameter in the model's
    order (as ``clip_grad_norm_(model.parameters())`` sums them: one global norm), then
    those an optimizer holds beyond the built groups (``add_param_group``)."""
    pairs = list(order)
    known = {id(p) for _, p in pairs}
    for oi, opt in enumerate(optimizers):
        for gi, g in enumerate(opt.param_groups):
            for pi, p in enumerate(g["params"]):
                if id(p) not in known:
                    known.add(id(p))
                    pairs.append((f"optimizers[{oi}].param_groups[{gi}]['params'][{pi}]", p))
    return pairs
