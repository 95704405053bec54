"""A built setup: the optimizer, its schedulers and clipper stepped as one unit, saved and
restored as plain data (all of a state or none of it)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from schedkit._numbers import as_real, show
from schedkit._scheduling.state import check_flag
from schedkit.clipping import _unscale
from schedkit.clock import ClockedScheduler
from schedkit.errors import HorizonWarning, SpecError, StateError
from schedkit.groups import ParamGroups
from schedkit.protocols import Finite, JudgesLoss, StateChecked
from schedkit.scheduler import REPLAN_RTOL, Scheduler
from schedkit.setup.optimizer_state import check_optimizer_state as _check_optimizer_state
from schedkit.setup.problems import ON_SKIP
from schedkit.setup.unit import OptimizerUnit
from schedkit.state_checks import StateReader
from schedkit.values import ClipResult


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
    :param on_skip: what the schedulers do on a step the clipper skips: ``"advance"`` or
        ``"hold"`` (``[clip] on_skip``).
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
        on_skip: str = "advance",
    ) -> None:
        if on_skip not in ON_SKIP:
            raise SpecError(f"expected one of {list(ON_SKIP)}, got {on_skip!r}", "clip.on_skip")
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
        self._horizon_watch = _horizon_watch(self.schedulers, total_steps)
        #: a clock that only counts what ``step(tokens=...)`` says
        self._told_only = any(
            isinstance(s, ClockedScheduler) and s.told_only for s in self.schedulers.values()
        )
        #: what the schedulers do on a skipped step: ``"advance"`` or ``"hold"``
        self.on_skip = on_skip
        #: how many optimizer steps :meth:`step` skipped (spikes of the norm or the loss,
        #: non-finite norms under ``nonfinite = "skip"``); saved by :meth:`state_dict`
        self.skipped_steps = 0
        #: whether the combined optimizer's last step was skipped (:meth:`combined`)
        self._last_skipped = False

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

    def step(
        self,
        metric: Any = None,
        *,
        loss: Any = None,
        scaler: Any = None,
        zero_grad: bool = True,
        tokens: int | None = None,
        samples: int | None = None,
    ) -> None:
        """Clip (one global norm over every optimizer's parameters), step each optimizer
        (through ``scaler`` when given), step every scheduler, and clear the gradients
        unless told not to.

        A step the clipper skips (``last_clip.skipped``: a spike under ``zclip``'s
        ``on_spike = "skip"``, a non-finite norm under ``nonfinite = "skip"``) does not step
        the optimizers; it is counted in :attr:`skipped_steps`, and the schedulers step or
        not as :attr:`on_skip` says.

        :param metric: the validation metric, given at the step that ends an epoch with a
            validation: the metric-driven schedulers (``plateau``,
            ``torch.ReduceLROnPlateau``, ``mmengine.ReduceOnPlateau*``) observe it, the
            others step as always. Checked before anything changes (a finite number, or
            mmengine's metrics dict for its aliases); given to a setup without a
            metric-driven schedule it is a :class:`SpecError`.
        :param loss: this step's training loss (a number or a one-element tensor), judged
            by a clipper that judges losses (:class:`~schedkit.plugin.JudgesLoss`,
            ``zclip``): a spike skips the step before anything is clipped. Under
            ``torch.distributed`` it is averaged over the ranks, so all decide alike.
        :param tokens: what this step consumed, for a setup on a token or sample clock
            (``[run] clock``); without it such a setup counts its batch ramp or its
            constant batch.
        :param samples: the same in samples.

        Past the end of the run's horizon it warns once (:class:`~schedkit.HorizonWarning`).
        """
        consumed = self._consumed(tokens, samples)
        self._check_metric(metric)
        skipped = self._clip(scaler, loss)
        if skipped:
            self.skipped_steps += 1
            if scaler is not None:  # the scale still follows the unscaled gradients
                for u in self._units:
                    _unscale(scaler, u.optimizer)
                scaler.update()
        else:
            self._step_optimizers(scaler)
        if not skipped or self.on_skip == "advance":
            self._step_schedulers(metric, consumed)
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

    def _clip(self, scaler: Any = None, loss: Any = None) -> bool:
        """Judge ``loss`` (when given) and clip: whether this step is skipped. Raises before
        anything changes when a loss is given that no clipper judges."""
        if loss is not None and not isinstance(self.clipper, JudgesLoss):
            raise SpecError(
                "no clipper of this setup judges a loss (a spike clipper such as zclip does)",
                "loss",
            )
        if self.clipper is None:
            return False
        if loss is not None:
            _check_loss(loss)
        if scaler is not None:
            for u in self._units:
                _unscale(scaler, u.optimizer)
        if (
            isinstance(self.clipper, JudgesLoss)
            and loss is not None
            and self.clipper.loss_spike(loss)
        ):
            for u in self._units:  # as a clipper's skip drops them
                u.optimizer.zero_grad(set_to_none=True)
            self.last_clip = ClipResult(skipped=True, spike=True)
            return True
        if self._group_count() != self._clip_groups:
            self._clip_target = self._model_order()
            self._clip_groups = self._group_count()
        self.last_clip = self.clipper(self._clip_target)
        return self.last_clip.skipped

    def _step_optimizers(self, scaler: Any = None) -> None:
        if scaler is not None:
            for u in self._units:
                scaler.step(u.optimizer)
            scaler.update()
        else:
            for u in self._units:
                u.optimizer.step()

    def _step_schedulers(
        self, metric: Any = None, consumed: Mapping[str, Any] | None = None
    ) -> None:
        for u in self._units:
            u.step_schedulers(metric, consumed)
        if self._horizon_watch is not None:
            self._past_horizon()

    def _consumed(self, tokens: Any, samples: Any) -> dict[str, Any] | None:
        """``step``'s tokens or samples, checked before anything changes: every scheduler is
        on a clock (:class:`~schedkit.ClockedScheduler`) and takes the amount."""
        if tokens is None and samples is None:
            if self._told_only:
                raise SpecError(
                    "this setup's clock counts what each step consumed: step(tokens=n) or "
                    "step(samples=n) (or give [run] tokens_per_step, batch_size and seq_len, "
                    "or a batch ramp)",
                    "tokens",
                )
            return None
        name = "tokens" if tokens is not None else "samples"
        clocked = [s for s in self.schedulers.values() if isinstance(s, ClockedScheduler)]
        if len(clocked) != len(self.schedulers) or not clocked:
            raise SpecError("this setup counts steps; a token or sample clock is [run] clock", name)
        for s in clocked:
            s._consumed(tokens, samples)
        return {"tokens": tokens} if tokens is not None else {"samples": samples}

    def _past_horizon(self) -> None:
        """Warn once when the first scheduler's clock has passed the run's end."""
        watched, end = self._horizon_watch  # type: ignore[misc]
        now = watched.consumed if isinstance(watched, ClockedScheduler) else watched.steps
        if now > end:
            self._horizon_watch = None
            unit = watched.clock if isinstance(watched, ClockedScheduler) else "steps"
            warnings.warn(
                f"the run went past the end of its schedules ({end} {unit}): they hold their "
                "last values from here; was the horizon computed with the gradient "
                "accumulation, the world size and drop_last? (schedkit check prints how)",
                HorizonWarning,
                stacklevel=4,
            )

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
        out["skipped_steps"] = self.skipped_steps
        return out

    def load_state_dict(
        self,
        state: Mapping[str, Any],
        replan: bool | None = None,
        *,
        rtol: float | None = None,
        allow_jump: bool | None = None,
    ) -> None:
        """Restore what :meth:`state_dict` saved: all of it or, when any part does not fit
        (an optimizer's, a scheduler's or the clipper's), none of it (:class:`StateError`
        naming the key path).

        With ``replan`` (by default the setup's ``[resume] replan``) the run continues on
        this setup's plan: each scheduler takes the state's step and keeps its own schedule
        and base values (:meth:`Scheduler.load_state_dict` with ``replan=True``), and the
        param groups keep this setup's hyperparameters (only the optimizers' per-parameter
        state, their moments, comes from the state). A value that jumps at the resumed step
        in any scheduler refuses the whole load, naming both values and the step, unless
        ``allow_jump``; ``rtol`` and ``allow_jump`` default to ``[resume]``'s.
        """
        policy = self.resolved.get("resume") or {}
        replan = policy.get("replan", False) if replan is None else replan
        check_flag(replan, "replan")
        options: dict[str, Any] = {
            "rtol": policy.get("rtol", REPLAN_RTOL) if rtol is None else rtol,
            "allow_jump": policy.get("allow_jump", False) if allow_jump is None else allow_jump,
        }
        reader = StateReader(state, what="setup state")
        if reader.state.get("format") != "schedkit.built":
            raise StateError(
                f"not a schedkit setup state (format {show(reader.state.get('format'))})"
            )
        reader.integer("version", ge=1, le=1)
        # states saved before skipped steps were counted have none
        skipped = reader.integer("skipped_steps") if "skipped_steps" in reader.state else 0
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
                    if replan:
                        s.check_replan(per_unit[u.name][k], **options)
                    else:
                        s.check_state(per_unit[u.name][k])
                except StateError as e:
                    raise e.at(f"schedulers.{prefix}{k}") from None
        clip_state = reader.state.get("clipper")
        if not replan and (clip_state is None) != (self.clipper is None):
            raise StateError(
                "the state has "
                + (
                    "no clipper, this setup one"
                    if clip_state is None
                    else "a clipper, this setup none"
                )
                + " (a replan may add or drop it)",
                "clipper",
            )
        if isinstance(self.clipper, StateChecked) and clip_state is not None:
            try:
                self.clipper.check_state(clip_state)
            except StateError as e:
                raise e.at("clipper") from None
        # everything fits: apply (each optimizer first, its schedulers bind to its groups)
        for u in self._units:
            u.load_state(optimizers[u.name], per_unit[u.name], options if replan else None)
        tables = self.resolved.get("schedules")
        if replan and isinstance(tables, dict):
            for u in self._units:
                for k, sch in u.schedulers.items():
                    if isinstance(tables.get(k), dict):
                        tables[k].update(sch.schedule.spec())  # the plan decided at the resume
        if self.clipper is not None and clip_state is not None:
            self.clipper.load_state_dict(clip_state)
        self.skipped_steps = skipped


def _check_loss(loss: Any) -> None:
    """A loss given to :meth:`Built.step`: a real number or a one-element tensor."""
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1 or loss.is_complex():
            shape = tuple(loss.shape)
            raise SpecError(f"expected a one-element real tensor, got shape {shape}", "loss")
    elif as_real(loss) is None:  # not a number, or an int no float holds
        raise SpecError(f"expected a number or a one-element tensor, got {show(loss)}", "loss")


def _horizon_watch(
    schedulers: Mapping[str, Scheduler], total_steps: int | None
) -> tuple[Scheduler, int] | None:
    """The scheduler whose clock tells when the run passes its end, and that end: the run's
    total, else the first scheduler's schedule's horizon (``None``: nothing to watch)."""
    first = next(iter(schedulers.values()), None)
    if first is None:
        return None
    end = total_steps
    if end is None and isinstance(first.schedule, Finite):
        end = first.schedule.horizon
    return None if end is None else (first, end)


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
