"""The :class:`Setup`: a validated, immutable recipe, its plain data and TOML, and its
build over a model (param groups, optimizer, schedulers, clipper)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import torch

from schedkit import _toml_out
from schedkit.clock import ClockedScheduler
from schedkit.components import build as build_component
from schedkit.durations import to_steps
from schedkit.errors import SpecError
from schedkit.groups import build_param_groups
from schedkit.schedule import per_update, plain
from schedkit.scheduler import Scheduler
from schedkit.setup.built import Built
from schedkit.setup.optimizers import optimizer_class
from schedkit.setup.problems import SetupError
from schedkit.setup.run import Run
from schedkit.setup.tables import ResumePolicy, ScheduleEntry
from schedkit.setup.validation import dry_run, group_values_out_of_range


@attrs.frozen
class Setup:
    """A validated, immutable recipe; :meth:`build` makes it real for a model.

    ``optimizer`` holds the optimizer's type and arguments (defaults filled in), without the
    learning rate, which is ``lr`` or ``base_lr`` scaled by the batch size at build time.
    Made by :func:`load_setup` from a TOML file or a dict, which checks every key first.

    :param optimizer: the ``[optimizer]`` table: ``type`` (a ``torch.optim`` class name) and
        its arguments, without the learning rate.
    :param lr: the learning rate as is (or ``base_lr`` with ``lr_scaling``).
    :param base_lr: the learning rate at ``base_batch_size``, scaled to the run's batch size.
    :param lr_scaling: how ``base_lr`` scales with the batch size: ``"linear"`` or ``"sqrt"``.
    :param base_batch_size: the batch size ``base_lr`` was tuned for.
    :param rules: the ``[[rules]]`` tables: param-group rules, applied in order.
    :param schedules: the ``[schedules.<key>]`` tables, one per scheduled hyperparameter.
    :param clip: the ``[clip]`` table: the gradient clipper, or ``None`` for none; its
        ``on_skip`` key (not the clipper's) says what the schedulers do on a skipped step.
    :param total: the run's length: steps, or epochs as ``"90ep"``.
    :param steps_per_epoch: resolves durations in epochs (also given at build time).
    :param batch_size: the run's global batch size, for ``lr_scaling`` (also given at build
        time).
    :param run: the ``[run]`` table read (:class:`~schedkit.setup.run.Run`): the horizon and
        how it was derived, the clock (steps, tokens or samples), the batch ramp. ``total``
        and ``steps_per_epoch`` are in the clock's unit.
    :param resume: the ``[resume]`` table: how :meth:`Built.load_state_dict` takes a state
        of another plan (``replan``, ``rtol``, ``allow_jump``).
    """

    optimizer: Mapping[str, Any] = attrs.field(converter=dict)
    lr: float | None = None
    base_lr: float | None = None
    lr_scaling: str | None = None
    base_batch_size: int = 256
    rules: tuple[Any, ...] = ()
    schedules: tuple[ScheduleEntry, ...] = ()
    clip: Mapping[str, Any] | None = None
    total: int | str | None = None
    steps_per_epoch: int | None = None
    batch_size: int | None = None
    run: Run | None = None
    resume: ResumePolicy = attrs.field(factory=ResumePolicy)
    #: the model-free problems found for each build context (lr, steps per epoch, total
    #: steps): a setup is validated once per context, by its load or its first build
    _checked: dict[tuple[Any, ...], list[SpecError]] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )

    def to_dict(self) -> dict[str, Any]:
        """The setup as plain data, the same shape as the TOML file, defaults filled in."""
        out: dict[str, Any] = {}
        if self.run is not None and self.run.table:
            out["run"] = dict(self.run.table)
        run = {
            "total": self.total,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.batch_size,
        }
        run = {k: v for k, v in run.items() if v is not None}
        if run and "run" not in out:
            out["run"] = run
        opt = {"type": self.optimizer["type"]}
        if self.lr is not None:
            opt["lr"] = self.lr
        else:
            opt.update(
                base_lr=self.base_lr,
                lr_scaling=self.lr_scaling,
                base_batch_size=self.base_batch_size,
            )
        opt.update({k: v for k, v in self.optimizer.items() if k != "type"})
        out["optimizer"] = opt
        if self.rules:
            out["rules"] = [r.spec() for r in self.rules]
        if self.schedules:
            out["schedules"] = {}
            for entry in self.schedules:
                table = entry.schedule.spec()
                if entry.key != entry.name:
                    table["key"] = entry.key
                if entry.tags is not None:
                    table["tags"] = list(entry.tags)
                out["schedules"][entry.name] = table
        if self.clip is not None:
            out["clip"] = dict(self.clip)
        resume = self.resume.to_dict()
        if resume:
            out["resume"] = resume
        return plain(out)  # type: ignore[no-any-return]

    def to_toml(self) -> str:
        """The fully resolved setup as TOML; it loads back to an equal setup."""
        return _toml_out.dumps(self.to_dict())

    def learning_rate(self, batch_size: int | None = None) -> float:
        """The lr to use: ``lr``, or ``base_lr`` scaled to ``batch_size`` (linear: the MAE
        and Goyal et al. rule ``base_lr * batch / base_batch_size``; sqrt: its square root)."""
        if self.lr is not None:
            return self.lr
        batch = batch_size if batch_size is not None else self.batch_size
        if batch is None:
            raise SpecError(
                "lr scaling needs the effective batch size: build(model, batch_size=...) or "
                "[run] batch_size",
                "optimizer.base_lr",
            )
        assert self.base_lr is not None
        ratio = batch / self.base_batch_size
        return self.base_lr * (ratio if self.lr_scaling == "linear" else math.sqrt(ratio))

    def problems(
        self,
        *,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
        batch_size: int | None = None,
    ) -> list[SpecError]:
        """Every problem a build with these arguments would meet that needs no model: the
        lr (scaling needs a batch size), durations (epochs need ``steps_per_epoch``, shares
        the total), warmups longer than their schedules, the optimizer's own checks.
        ``schedkit check`` and :meth:`build` both ask it: one validation."""
        out: list[SpecError] = []
        lr = None
        try:
            lr = self.learning_rate(batch_size)
        except SpecError as e:
            out.append(e)
        spe = steps_per_epoch if steps_per_epoch is not None else self.steps_per_epoch
        return out + self._model_free_problems(lr, spe, total_steps)

    def _model_free_problems(
        self, lr: float | None, steps_per_epoch: int | None, total_steps: int | None
    ) -> list[SpecError]:
        """What :func:`~schedkit.setup.validation.dry_run` finds for this lr and run
        length, worked out once: :func:`load_setup` and :meth:`build` (or ``check``) with
        the same context ask it once between them."""
        key = (lr, steps_per_epoch, total_steps)
        found = self._checked.get(key)
        if found is None:
            lr_key = "base_lr" if self.lr is None and self.base_lr is not None else "lr"
            found = dry_run(
                self.optimizer,
                lr,
                self.schedules,
                self.total,
                steps_per_epoch,
                total_steps,
                lr_key,
            )
            self._checked[key] = found
        return list(found)

    def build(
        self,
        model: torch.nn.Module,
        *,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
        batch_size: int | None = None,
    ) -> Built:
        """The optimizer over ``model``'s param groups, one scheduler per key, the clipper.

        Checks first what :meth:`problems` checks (as ``schedkit check`` does), so a setup
        that passes it only fails here for what depends on the model (a rule, tags).

        :param model: the model whose parameters the optimizer trains.
        :param steps_per_epoch: resolves durations given in epochs; overrides the setup's
            ``run.steps_per_epoch``.
        :param total_steps: the run's length in steps, for durations given as shares and
            schedules without their own ``total``.
        :param batch_size: the global batch size, for an lr given as ``base_lr`` with
            ``lr_scaling``.
        :returns: the :class:`Built` setup.
        :raises SetupError: every problem found, each with its key path.
        """
        problems = self.problems(
            steps_per_epoch=steps_per_epoch, total_steps=total_steps, batch_size=batch_size
        )
        if problems:
            raise SetupError(problems)
        spe = steps_per_epoch if steps_per_epoch is not None else self.steps_per_epoch
        total = total_steps
        if total is None and self.total is not None:
            total = to_steps(self.total, steps_per_epoch=spe)
        lr = self.learning_rate(batch_size)
        args = {k: v for k, v in self.optimizer.items() if k != "type"}
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
        cls = optimizer_class(self.optimizer["type"])
        try:
            groups = build_param_groups(
                model, self.rules, lr=lr, weight_decay=args.pop("weight_decay", 0.0)
            )
        except SpecError as e:
            raise SetupError([e if e.path.startswith("rules[") else e.at("rules")]) from None
        out_of_range = group_values_out_of_range(groups)
        if out_of_range:
            raise SetupError(out_of_range)
        optimizer = cls(groups, lr=lr, **args)  # type: ignore[call-arg]
        schedulers: dict[str, Scheduler] = {}
        for entry in self.schedules:
            try:
                schedulers[entry.name] = self._scheduler(
                    optimizer, entry, per_update(entry.schedule, spe), spe, total
                )
            except SpecError as err:
                problems.append(err.at(f"schedules.{entry.name}"))
        clipper, on_skip = None, "advance"
        if self.clip is not None:
            spec = dict(self.clip)
            on_skip = spec.pop("on_skip", on_skip)
            clipper = build_component("clipper", spec, {}, "clip")
        if problems:
            raise SetupError(problems)
        resolved = self.to_dict()
        resolved["optimizer"]["lr"] = lr
        if total is not None:
            resolved.setdefault("run", {})["total_steps"] = total
        for key, s in schedulers.items():
            resolved["schedules"][key].update(s.schedule.spec())
        return Built(optimizer, schedulers, clipper, total, resolved, groups, on_skip=on_skip)

    def _scheduler(
        self,
        optimizer: torch.optim.Optimizer,
        entry: ScheduleEntry,
        schedule: Any,
        spe: int | None,
        total: int | None,
    ) -> Scheduler:
        """One entry's scheduler: on the run's clock (a :class:`ClockedScheduler` on a token
        or sample clock, the lr following a batch ramp when the run says so)."""
        run = self.run
        options: dict[str, Any] = {
            "key": entry.key,
            "tags": entry.tags,
            "steps_per_epoch": spe,
            "total_steps": total,
        }
        if run is None or run.clock == "steps":
            return Scheduler(optimizer, schedule, **options)
        follow = run.follow_lr and entry.key == "lr"
        return ClockedScheduler(
            optimizer,
            schedule,
            clock=run.clock,
            seq_len=run.seq_len,
            ramp=run.ramp,
            lr_scaling=self.lr_scaling if follow else None,
            per_step=run.per_step(),
            **options,
        )
