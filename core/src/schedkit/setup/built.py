"""A built setup: the optimizer, its schedulers and clipper stepped as one unit, saved and
restored as plain data (all of a state or none of it)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch

from schedkit._numbers import show
from schedkit.clipping import _unscale
from schedkit.clock import ClockedScheduler
from schedkit.errors import HorizonWarning, SpecError, StateError
from schedkit.groups import ParamGroups
from schedkit.protocols import Finite, JudgesLoss, StateChecked
from schedkit.scheduler import REPLAN_RTOL, Scheduler
from schedkit.setup.problems import NOT_HYPERPARAMETERS, ON_SKIP
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
    :param on_skip: what the schedulers do on a skipped step (a spike, a non-finite norm):
        ``"advance"`` (they step as always: the lr follows the step count, as OLMo-core's
        skip-step optimizers do) or ``"hold"`` (they do not step: a skipped step does not
        count, as Megatron-LM). The ``[clip]`` table's ``on_skip`` key.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedulers: Mapping[str, Scheduler],
        clipper: Any,
        total_steps: int | None,
        resolved: Mapping[str, Any],
        groups: ParamGroups | None = None,
        *,
        on_skip: str = "advance",
    ) -> None:
        if on_skip not in ON_SKIP:
            raise SpecError(f"expected one of {list(ON_SKIP)}, got {on_skip!r}", "clip.on_skip")
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
        """Clip, step the optimizer (through ``scaler`` when given), step every scheduler,
        and clear the gradients unless told not to.

        A step the clipper skips (``last_clip.skipped``: a spike under ``zclip``'s
        ``on_spike = "skip"``, a non-finite norm under ``nonfinite = "skip"``) does not step
        the optimizer; it is counted in :attr:`skipped_steps`, and the schedulers step or
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
        if metric is not None:
            observing = [s for s in self.schedulers.values() if s.observes_metrics]
            if not observing:
                raise SpecError("no schedule of this setup observes a metric", "metric")
            for s in observing:
                s.checked_metric(metric)
        skipped = self._clip(loss, scaler)
        if skipped:
            self.skipped_steps += 1
            if scaler is not None:  # the scale still follows the unscaled gradients
                _unscale(scaler, self.optimizer)
                scaler.update()
        elif scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        for s in self.schedulers.values() if not skipped or self.on_skip == "advance" else ():
            if metric is not None and s.observes_metrics:
                s.step(metric=metric)  # by name: a peer's step may take an epoch first
            elif consumed:
                s.step(**consumed)
            else:
                s.step()
        if self._horizon_watch is not None:
            self._past_horizon()
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)

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
                stacklevel=3,
            )

    def _clip(self, loss: Any, scaler: Any) -> bool:
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
            _unscale(scaler, self.optimizer)
        if (
            isinstance(self.clipper, JudgesLoss)
            and loss is not None
            and self.clipper.loss_spike(loss)
        ):
            self.optimizer.zero_grad(set_to_none=True)  # as a clipper's skip drops them
            self.last_clip = ClipResult(skipped=True, spike=True)
            return True
        if len(self.optimizer.param_groups) != self._clip_groups:
            self._clip_target = _model_order(self.optimizer, self.groups)
            self._clip_groups = len(self.optimizer.param_groups)
        self.last_clip = self.clipper(self._clip_target)
        return self.last_clip.skipped

    def state_dict(self) -> dict[str, Any]:
        """Plain data for the optimizer, every scheduler and the clipper."""
        return {
            "format": "schedkit.built",
            "version": 1,
            "setup": self.resolved,
            "optimizer": self.optimizer.state_dict(),
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "clipper": None if self.clipper is None else self.clipper.state_dict(),
            "skipped_steps": self.skipped_steps,
        }

    def load_state_dict(
        self,
        state: Mapping[str, Any],
        replan: bool | None = None,
        *,
        rtol: float | None = None,
        allow_jump: bool | None = None,
    ) -> None:
        """Restore what :meth:`state_dict` saved: all of it or, when any part does not fit
        (the optimizer's, a scheduler's or the clipper's), none of it (:class:`StateError`
        naming the key path).

        With ``replan`` (by default the setup's ``[resume] replan``) the run continues on
        this setup's plan: each scheduler takes the state's step and keeps its own schedule
        and base values (:meth:`Scheduler.load_state_dict` with ``replan=True``), and the
        param groups keep this setup's hyperparameters (only the optimizer's
        per-parameter state, its moments, comes from the state). A value that jumps at the
        resumed step in any scheduler refuses the whole load, naming both values and the
        step, unless ``allow_jump``; ``rtol`` and ``allow_jump`` default to ``[resume]``'s.
        """
        policy = self.resolved.get("resume") or {}
        replan = policy.get("replan", False) if replan is None else replan
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
                if replan:
                    s.check_replan(saved.state[k], **options)
                else:
                    s.check_state(saved.state[k])
            except StateError as e:
                raise e.at(f"schedulers.{k}") from None
        clip_state = reader.state.get("clipper")
        if isinstance(self.clipper, StateChecked) and clip_state is not None:
            try:
                self.clipper.check_state(clip_state)
            except StateError as e:
                raise e.at("clipper") from None
        # everything fits: apply (the optimizer first, the schedulers bind to its new groups)
        mine = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(reader.get("optimizer"))
        if replan:  # the plan's hyperparameters are this setup's
            for g, settings in zip(self.optimizer.param_groups, mine, strict=True):
                g.update(settings)
        for k, s in self.schedulers.items():
            s.load_state_dict(saved.state[k], replan, **(options if replan else {}))
            tables = self.resolved.get("schedules")
            if replan and isinstance(tables, dict) and isinstance(tables.get(k), dict):
                tables[k].update(s.schedule.spec())  # the plan as decided at the resume
        if self.clipper is not None and clip_state is not None:
            self.clipper.load_state_dict(clip_state)
        self.skipped_steps = skipped


def _check_loss(loss: Any) -> None:
    """A loss given to :meth:`Built.step`: a real number or a one-element tensor."""
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1 or loss.is_complex():
            shape = tuple(loss.shape)
            raise SpecError(f"expected a one-element real tensor, got shape {shape}", "loss")
    elif isinstance(loss, bool) or not isinstance(loss, (int, float)):
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
