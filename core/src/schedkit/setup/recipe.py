"""The :class:`Setup`: a validated, immutable recipe, its plain data and TOML, and its
build over a model (param groups, optimizer, schedulers, clipper)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch

from schedkit import _toml_out
from schedkit.clock import ClockedScheduler
from schedkit.components import build as build_component
from schedkit.durations import to_steps
from schedkit.errors import SpecError
from schedkit.groups import decide
from schedkit.schedule import per_update, plain
from schedkit.scheduler import Scheduler
from schedkit.setup.built import Built
from schedkit.setup.optimizers import optimizer_class
from schedkit.setup.problems import SetupError, trim
from schedkit.setup.routing import OptimizerTable, route
from schedkit.setup.run import Run
from schedkit.setup.tables import ResumePolicy, ScheduleEntry
from schedkit.setup.unit import OptimizerUnit
from schedkit.setup.validation import (
    dry_run,
    group_keys_refused,
    group_values_out_of_range,
    rule_options_refused,
)


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
    :param optimizers: the ``[optimizers.NAME]`` tables of a setup with several optimizers
        (then ``optimizer`` is empty and the lr fields unused): each with its own options,
        lr and ``params``.
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
    optimizers: tuple[OptimizerTable, ...] = ()
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
        if self.optimizers:
            out["optimizers"] = {t.name: t.to_dict() for t in self.optimizers}
        else:
            out["optimizer"] = self.tables()[0].to_dict()
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
                if entry.optimizers is not None:
                    table["optimizers"] = list(entry.optimizers)
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

    def tables(self) -> tuple[OptimizerTable, ...]:
        """Every optimizer of the setup: the ``[optimizers.NAME]`` tables, or the single
        ``[optimizer]`` as one table named ``optimizer``."""
        if self.optimizers:
            return self.optimizers
        return (
            OptimizerTable(
                "optimizer",
                self.optimizer,
                lr=self.lr,
                base_lr=self.base_lr,
                lr_scaling=self.lr_scaling,
                base_batch_size=self.base_batch_size,
            ),
        )

    def learning_rate(self, batch_size: int | None = None) -> float:
        """The lr to use: ``lr``, or ``base_lr`` scaled to ``batch_size`` (linear: the MAE
        and Goyal et al. rule ``base_lr * batch / base_batch_size``; sqrt: its square root).
        A setup with several optimizers has one per optimizer: :meth:`learning_rates`."""
        if self.optimizers:
            raise SpecError(
                "a setup with several optimizers has an lr per optimizer: learning_rates()",
                "optimizers",
            )
        return self.tables()[0].learning_rate(self._batch(batch_size))

    def learning_rates(self, batch_size: int | None = None) -> dict[str, float]:
        """Each optimizer's lr by its name (``optimizer`` for the single ``[optimizer]``)."""
        return {t.name: t.learning_rate(self._batch(batch_size)) for t in self.tables()}

    def _batch(self, batch_size: int | None) -> int | None:
        return batch_size if batch_size is not None else self.batch_size

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
        lrs: list[float | None] = []
        for table in self.tables():
            try:
                lrs.append(table.learning_rate(self._batch(batch_size)))
            except SpecError as e:
                out.append(e)
                lrs.append(None)
        spe = steps_per_epoch if steps_per_epoch is not None else self.steps_per_epoch
        return out + self._model_free_problems(tuple(lrs), spe, total_steps)

    def _model_free_problems(
        self,
        lrs: tuple[float | None, ...],
        steps_per_epoch: int | None,
        total_steps: int | None,
    ) -> list[SpecError]:
        """What :func:`~schedkit.setup.validation.dry_run` finds for this lr and run
        length, worked out once: :func:`load_setup` and :meth:`build` (or ``check``) with
        the same context ask it once between them."""
        key = (lrs, steps_per_epoch, total_steps)
        found = self._checked.get(key)
        if found is None:
            found = dry_run(
                list(zip(self.tables(), lrs, strict=True)),
                self.schedules,
                self.total,
                steps_per_epoch,
                total_steps,
            ) + rule_options_refused(self.tables(), self.rules)
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
        tables = self.tables()
        lrs = self.learning_rates(batch_size)
        try:
            decided = decide(model, self.rules)
            if not decided.infos:
                raise SpecError("the model has no trainable parameters")
        except SpecError as e:
            raise SetupError([e if e.path.startswith("rules[") else e.at("rules")]) from None
        shares: list[list[int] | None] = [None]
        if self.optimizers:
            try:
                shares = list(route(tables, decided.infos))
            except SpecError as e:
                raise SetupError([e]) from None
        units: list[OptimizerUnit] = []
        for table, share in zip(tables, shares, strict=True):
            args = {k: v for k, v in table.options.items() if k != "type"}
            args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
            cls = optimizer_class(table.options["type"])
            base = {"lr": lrs[table.name], "weight_decay": args.pop("weight_decay", 0.0)}
            groups = decided.groups(base, share)
            problems += group_values_out_of_range(groups, table.path)
            problems += group_keys_refused(groups, cls, self.rules, table.path)
            if problems:
                continue
            try:
                optimizer = cls(groups, lr=lrs[table.name], **args)  # type: ignore[call-arg]
            except Exception as e:  # torch's checks of the parameters it was given
                problems.append(
                    SpecError(
                        f"torch.optim.{cls.__name__} refuses its parameters: {trim(str(e), 200)}",
                        f"{table.path}.params" if table.params is not None else table.path,
                    )
                )
                continue
            schedulers: dict[str, Scheduler] = {}
            for entry in self.schedules:
                if entry.optimizers is not None and table.name not in entry.optimizers:
                    continue
                try:
                    schedulers[entry.name] = self._scheduler(
                        optimizer, entry, per_update(entry.schedule, spe), spe, total
                    )
                except SpecError as err:
                    at = f"schedules.{entry.name}"
                    problems.append(err.at(at if not self.optimizers else f"{at}.{table.name}"))
            units.append(OptimizerUnit(table.name, optimizer, schedulers, groups))
        clipper, on_skip = None, "advance"
        if self.clip is not None:
            spec = dict(self.clip)
            on_skip = spec.pop("on_skip", on_skip)
            clipper = build_component("clipper", spec, {}, "clip")
        if problems:
            raise SetupError(problems)
        resolved = self.to_dict()
        for t in tables:
            (resolved["optimizers"][t.name] if self.optimizers else resolved["optimizer"])["lr"] = (
                lrs[t.name]
            )
        if total is not None:
            resolved.setdefault("run", {})["total_steps"] = total
        for unit in units:
            for key, sch in unit.schedulers.items():
                resolved["schedules"][key].update(sch.schedule.spec())
        order = [(info.name, info.param) for info in decided.infos]
        return Built(
            units,
            clipper,
            total,
            resolved,
            named=bool(self.optimizers),
            order=order,
            on_skip=on_skip,
        )

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
