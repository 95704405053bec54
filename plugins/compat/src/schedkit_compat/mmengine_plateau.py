"""``mmengine.ReduceOnPlateauLR`` and ``mmengine.ReduceOnPlateauMomentum``, alone or in an
``mmengine.param_scheduler`` list.

mmengine's ``ReduceOnPlateauParamScheduler`` counts epochs with ``step()`` (its runner
calls it after every training epoch) and observes the monitored metric with
``step(metrics)`` (after every validation): when the metric has not improved for more
than ``patience`` validations inside ``[begin, end)``, each group's current value becomes
``max(value * factor, min_value)`` (skipped when the change is at most ``eps``), then
``cooldown`` validations pass before counting again.

schedkit's scheduler takes both in one call: ``scheduler.step(metric)`` is the epoch's
``step()`` followed by ``step({monitor: metric})``; ``scheduler.step()`` an epoch (or,
with ``steps_per_epoch``, an iteration) without validation. The reduction applies after
every update of that step, as mmengine's runner validates after the epoch's updates, so
the other schedulers of a list go on from the reduced value (an affine ``PolyLR`` or
``CosineAnnealingLR`` included). The history (best metric, counters, and the steps at
which a reduction fell) is plain state: a resumed run replays the list with the same
reductions and has mmengine's floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch

import schedkit
from schedkit import SpecError, StateError
from schedkit.plugin import StateReader, fields, finite_metric, improves, instance_of
from schedkit_compat._base import count, each_group, pick
from schedkit_compat.mmengine_schedulers import (
    INF,
    MMEngineStepping,
    Momentum,
    ParamSchedulerList,
    Part,
    _bound,
    _flag,
    _last_step,
    _Run,
)

#: the state's format (a later release converts older ones)
VERSION = 1
_MODES = {"less": "min", "greater": "max"}


class _Watch:
    """One ``ReduceOnPlateau*`` of a list: mmengine's ``best``, ``num_bad_epochs`` and
    ``cooldown_counter``."""

    __slots__ = ("bad", "best", "cooldown_left")

    def __init__(self, part: ReduceOnPlateauLR) -> None:
        # mmengine's "worse than anything" is its INF (1e9), not an infinity: kept
        self.best = float(INF) if part.rule == "less" else -float(INF)
        self.bad = 0
        self.cooldown_left = 0


class _History:
    """What the metrics did to a list: each watcher's counters and the reductions, as
    ``(step, position in the list)`` in the order they fell."""

    __slots__ = ("epoch_of", "generation", "parts", "plot", "reductions", "spe", "watches")

    def __init__(self, parts: tuple[Part, ...], spe: int | None) -> None:
        self.parts = parts
        self.spe = spe
        self.watches = {
            i: _Watch(p) for i, p in enumerate(parts) if isinstance(p, ReduceOnPlateauLR)
        }
        self.reductions: list[tuple[int, int]] = []
        #: changed when the reductions change other than by one more at the end
        self.generation = 0
        self.plot: _Replay | None = None

    def observe(self, metric: float, step: int) -> None:
        """mmengine's ``step(metrics)`` after the updates of ``step`` (checked first)."""
        value = finite_metric(metric)
        # the watchers' _global_step: the epochs done (each epoch-based step() counts one)
        epoch = step if self.spe is None else step // self.spe
        fell: list[tuple[int, int]] = []
        counters: dict[int, tuple[float, int, int]] = {}
        for i, watch in self.watches.items():
            part = self.parts[i]
            assert isinstance(part, ReduceOnPlateauLR)
            if not part.begin <= epoch < part.end:
                continue
            best, bad, cooldown_left = watch.best, watch.bad, watch.cooldown_left
            if improves(
                value,
                best,
                mode=_MODES[part.rule],
                threshold=part.threshold,
                threshold_mode=part.threshold_rule,
            ):
                best, bad = value, 0
            else:
                bad += 1
            if cooldown_left > 0:
                cooldown_left -= 1
                bad = 0  # mmengine ignores bad epochs in cooldown
            if bad > part.patience:
                fell.append((step, i))
                cooldown_left, bad = part.cooldown, 0
            counters[i] = (best, bad, cooldown_left)
        for i, (best, bad, cooldown_left) in counters.items():
            watch = self.watches[i]
            watch.best, watch.bad, watch.cooldown_left = best, bad, cooldown_left
        if fell:
            if self.reductions and self.reductions[-1][0] > step:
                self.generation += 1  # an earlier step than a reduction seen: replay all
                self.reductions = sorted([*self.reductions, *fell], key=lambda r: r[0])
            else:
                self.reductions.extend(fell)

    def curve(self, base: float, index: int) -> _Replay:
        return _Replay(self, base, index)

    def value(self, step: float) -> float:
        """The value of a group whose base is 1.0, with the reductions so far (plots)."""
        if self.plot is None:
            self.plot = _Replay(self, 1.0, 0)
        return self.plot(step)

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "watches": [
                {"best": w.best, "bad_epochs": w.bad, "cooldown_left": w.cooldown_left}
                for w in self.watches.values()
            ],
            "reductions": [[step, i] for step, i in self.reductions],
        }

    def load_state_dict(self, state: Any) -> None:
        """Take a state from :meth:`state_dict`; every entry is checked before any is taken."""
        reader = StateReader(state, what="mmengine ReduceOnPlateau state")
        version = reader.integer("version", ge=1)
        if version > VERSION:
            raise StateError(
                f"state version {version} is newer than this schedkit reads ({VERSION})",
                "version",
            )
        raw = reader.get("watches")
        if not isinstance(raw, (list, tuple)) or len(raw) != len(self.watches):
            raise StateError(
                f"expected a list of {len(self.watches)} entries (one per ReduceOnPlateau "
                f"of the list), got {raw!r}",
                "watches",
            )
        counters = []
        for n, (i, entry) in enumerate(zip(self.watches, raw, strict=True)):
            part = self.parts[i]
            assert isinstance(part, ReduceOnPlateauLR)
            sub = StateReader(entry, f"watches[{n}]", what="mmengine ReduceOnPlateau state")
            counters.append(
                (
                    sub.number("best"),
                    sub.integer("bad_epochs"),
                    sub.integer("cooldown_left", le=part.cooldown),
                )
            )
        fell = reader.get("reductions")
        if not isinstance(fell, (list, tuple)):
            raise StateError(f"expected a list of [step, position], got {fell!r}", "reductions")
        reductions: list[tuple[int, int]] = []
        for n, item in enumerate(fell):
            ok = (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
                and item[0] >= 0
                and item[1] in self.watches
                and (not reductions or reductions[-1][0] <= item[0])
            )
            if not ok:
                raise StateError(
                    "expected [step, position of a ReduceOnPlateau in the list], in step "
                    f"order, got {item!r}",
                    f"reductions[{n}]",
                )
            reductions.append((int(item[0]), int(item[1])))
        for watch, (best, bad, cooldown_left) in zip(self.watches.values(), counters, strict=True):
            watch.best, watch.bad, watch.cooldown_left = best, bad, cooldown_left
        self.reductions = reductions
        self.generation += 1


class _Replay:
    """One group's value: the list replayed as mmengine's runner steps it (the schedulers'
    own updates, :class:`schedkit_compat.mmengine_schedulers._Run`), with each reduction applied
    after the updates of its step. Going forward costs one update per scheduler and step;
    a step before the last one asked, or reductions changed behind it, replays from the
    start.

    What it needs of ``_Run``: ``_Run(parts, base, index, steps_per_epoch)``, ``run(k)``
    (the value at step ``k``, going forward from ``run.step``), a writable ``run.value``
    (the value at ``run.step``, which the next steps update) and its curve state. Its own
    curve state is the run's: the value at the step, reductions included, so a resume
    replays nothing (the reductions themselves are the schedule's state, loaded first).
    """

    __slots__ = ("applied", "base", "floors", "generation", "history", "index", "run")

    def __init__(self, history: _History, base: float, index: int) -> None:
        self.history = history
        self.base = base
        self.index = index
        # each watcher's floor for this group, looked up now: a short list fails at binding
        self.floors = {
            i: pick(p.min_value, index, "min_value")
            for i, p in enumerate(history.parts)
            if isinstance(p, ReduceOnPlateauLR)
        }
        self._start()

    def _start(self) -> None:
        self.run = _Run(self.history.parts, self.base, self.index, self.history.spe)
        self.applied = 0
        self.generation = self.history.generation

    def _reduce(self, i: int, value: float) -> float:
        """mmengine's ``_get_value`` and its ``eps`` test, for this group."""
        part = self.history.parts[i]
        assert isinstance(part, ReduceOnPlateauLR)
        new = max(float(value) * part.factor, self.floors[i])
        return new if value - new > part.eps else value

    def curve_state(self, step: int) -> dict[str, float]:
        """The group's value at ``step``, the reductions up to it applied."""
        self(step)
        return self.run.curve_state(step)

    def load_curve_state(self, step: int, state: Any) -> None:
        """Continue from ``state`` (of :meth:`curve_state`) at ``step``, checked first."""
        self.run.load_curve_state(step, state)
        self.generation = self.history.generation
        self.applied = sum(1 for at, _ in self.history.reductions if at <= step)

    def initial(self, step: float, current: float) -> float:
        """The constructor's value: the run's first step from the group's value."""
        if int(step) == 0:
            self._start()
            self.run.initial(0, current)
        return self(step)

    def follow(self, step: float, current: float) -> float:
        """The next step from the group's value ``current`` (another scheduler's, when two
        share the optimizer), its reductions applied; any other step: :meth:`__call__`."""
        k = int(step)
        fell = self.history.reductions
        behind = self.applied < len(fell) and fell[self.applied][0] < k
        if self.generation != self.history.generation or k != self.run.step + 1 or behind:
            return self(k)
        self.run.follow(k, current)
        return self(k)

    def __call__(self, step: float) -> float:
        k = int(step)
        history = self.history
        if self.generation != history.generation or k < self.run.step:
            self._start()
        fell = history.reductions
        if self.applied < len(fell) and fell[self.applied][0] < self.run.step:
            self._start()  # a reduction behind the replay (a step set back): from the start
        while self.applied < len(fell) and fell[self.applied][0] <= k:
            at, i = fell[self.applied]
            value = self.run(at)
            self.run.value = self._reduce(i, value)
            self.applied += 1
        return float(self.run(k))


# -- the aliases --------------------------------------------------------------------------


class PlateauStepping(MMEngineStepping):
    """mmengine's ``step(metrics=...)`` by keyword, besides schedkit's ``step(metric)``
    (each the epoch's ``step()`` and then mmengine's ``step(metrics)``)."""

    def step(
        self,
        scheduler: Any,
        metric: Any = None,
        epoch: Any = None,
        *,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        if metrics is not None:
            if metric is not None:
                raise TypeError("step() takes the metric or mmengine's metrics, not both")
            metric = metrics
        super().step(scheduler, metric, epoch)


#: the policy of the metric-driven ``mmengine.*`` schedules
PLATEAU_STEPPING = PlateauStepping()


def _history(owner: Any) -> _History:
    """The owner's history, made on first use (a frozen record has no place for it at
    construction)."""
    history: _History | None = owner._history_box[0]
    if history is None:
        if isinstance(owner, ReduceOnPlateauLR):
            history = _History((owner,), owner.steps_per_epoch)
        else:
            history = _History(tuple(owner.schedulers), owner.steps_per_epoch)
        owner._history_box[0] = history
    return history


def _box() -> Any:
    return schedkit.field(init=False, eq=False, repr=False, factory=lambda: [None])


class _Observing:
    """What the stateful aliases share: the history behind ``observe``, the per-group
    curves and the state."""

    _history_box: list[_History | None]

    def observe(self, metric: float, step: int) -> None:
        """Count the epoch of ``step`` with ``metric`` (mmengine's ``step(metrics)``)."""
        _history(self).observe(metric, step)

    def metric_of(self, metrics: Mapping[str, Any]) -> Any:
        """The monitored metric of mmengine's ``step(metrics)`` dict (``scheduler.step(
        {"loss": 0.3})`` is ``scheduler.step(0.3)`` for ``monitor = "loss"``)."""
        monitor = next(p.monitor for p in _history(self).parts if isinstance(p, ReduceOnPlateauLR))
        if monitor not in metrics:
            raise SpecError(
                f"the metrics have no {monitor!r} (the monitor); "
                f"they have {sorted(map(str, metrics))}",
                "metric",
            )
        return metrics[monitor]

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return _history(self).curve(base, index)

    def __call__(self, step: float) -> float:
        return _history(self).value(step)

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        history = _history(self)
        return torch.tensor([history.value(s) for s in t.tolist()], dtype=torch.float64)

    def state_dict(self) -> dict[str, Any]:
        return _history(self).state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _history(self).load_state_dict(state)


@attrs.frozen(cache_hash=True)
class ReduceOnPlateauLR(_Observing, Part):
    """mmengine's ``ReduceOnPlateauLR``: after more than ``patience`` validations without
    improvement of the metric, each group's lr becomes ``max(lr * factor, min_value)``
    (absolute; a list gives each group its own), skipped when the change is at most
    ``eps``; then ``cooldown`` validations pass before counting again. ``rule`` ``less``
    (a loss) or ``greater`` (an accuracy); the metric improves when it beats the best by
    ``threshold`` (``threshold_rule`` ``rel``: a fraction of the best, ``abs``: an
    amount). Only validations of epochs in ``[begin, end)`` count.

    Fed with ``scheduler.step(metric)`` after each validation (mmengine's runner: the
    epoch's ``step()``, then ``step({monitor: metric})``), ``scheduler.step()`` after an
    epoch without one; with ``steps_per_epoch`` a step is an iteration and the metric
    comes with the step that ends the epoch. ``monitor`` names the metric, as in the
    config; schedkit is given its value. It composes in ``mmengine.param_scheduler``
    (after a warmup ``LinearLR``, say) as mmengine composes it. By epochs only
    (``by_epoch = true``, not converted), as mmengine; a NaN or infinite metric is an
    error (mmengine would count it as no improvement). The state holds the best metric,
    the counters and the steps of the reductions, so a resumed run has mmengine's floats.

    Example: ``{type = "mmengine.ReduceOnPlateauLR", monitor = "loss", patience = 3,
    factor = 0.5, min_value = 1e-6}``, then ``scheduler.step(val_loss)`` every epoch.
    """

    name = "mmengine.ReduceOnPlateauLR"
    per_group_lists = ("min_value",)
    stepping = PLATEAU_STEPPING
    peer_attributes = (
        "begin",
        "end",
        "by_epoch",
        "verbose",
        "monitor",
        "rule",
        "factor",
        "patience",
        "threshold",
        "threshold_rule",
        "cooldown",
        "eps",
        "min_values",
        "best",
        "num_bad_epochs",
        "cooldown_counter",
    )

    monitor: str = schedkit.field(default="loss", validator=instance_of(str))
    rule: str = schedkit.choice("less", "greater")
    factor: float = schedkit.factor(0.1, ge=0.0, lt=1.0)
    patience: int = count(10)
    threshold: float = schedkit.factor(1e-4, ge=0.0)
    threshold_rule: str = schedkit.choice("rel", "abs")
    cooldown: int = count(0)
    min_value: float | tuple[float, ...] = each_group(0.0, ge=0.0)
    eps: float = schedkit.factor(1e-8, ge=0.0)
    begin: int = _bound(0, kw_only=False)
    end: int = _bound(INF, kw_only=False)
    last_step: int = _last_step(kw_only=False)
    by_epoch: bool = _flag(True, kw_only=False)
    verbose: bool = _flag(False, kw_only=False)
    _history_box: list[_History | None] = _box()

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.by_epoch:
            raise SpecError(
                "mmengine's ReduceOnPlateau* step by epochs only (by_epoch = true)", "by_epoch"
            )
        if self.convert_to_iter_based:
            raise SpecError(
                "mmengine's ReduceOnPlateau* step by epochs only and cannot be converted to "
                "iterations",
                "convert_to_iter_based",
            )

    def peer_get(self, name: str, scheduler: Any) -> Any:
        watch = _history(self).watches[0]
        if name == "min_values":
            n = len(scheduler.base_values)
            return [pick(self.min_value, i, "min_value") for i in range(n)]
        if name == "best":
            return watch.best
        if name == "num_bad_epochs":
            return watch.bad
        if name == "cooldown_counter":
            return watch.cooldown_left
        return super().peer_get(name, scheduler)

    def value(self, act: Any, current: float) -> float:
        """An epoch's ``step()`` leaves the value alone: it moves only on a reduction."""
        return current

    def next_change(self, act: Any, last: int, current: float) -> int | None:
        """Never by its own updates (the reductions are applied apart): a replay skips it."""
        return None


@attrs.frozen(cache_hash=True)
class ReduceOnPlateauMomentum(Momentum, ReduceOnPlateauLR):
    """mmengine's ``ReduceOnPlateauMomentum``: ``mmengine.ReduceOnPlateauLR``'s values for
    the momentum (``momentum``, or ``betas[0]`` for the Adam family, picked as mmengine
    picks it),
    fed with ``scheduler.step(metric)`` after each validation.

    Example: ``{type = "mmengine.ReduceOnPlateauMomentum", patience = 2, factor = 0.9,
    min_value = 0.5}``.
    """

    name = "mmengine.ReduceOnPlateauMomentum"


#: the aliases by mmengine class name
PLATEAU: dict[str, type[ReduceOnPlateauLR]] = {
    "ReduceOnPlateauLR": ReduceOnPlateauLR,
    "ReduceOnPlateauMomentum": ReduceOnPlateauMomentum,
}


@attrs.frozen(cache_hash=True)
class ObservingList(_Observing, ParamSchedulerList):
    """(the docstring is ``mmengine.param_scheduler``'s, with the paragraph below)"""

    _history_box: list[_History | None] = _box()
    stepping = PLATEAU_STEPPING

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        subs = kwargs.get("schedulers", args[0] if args else None)
        if isinstance(subs, (list, tuple)):  # an iterator is left whole for __init__
            try:  # specs (dicts) as the field's converter makes them schedules
                convert = fields(ParamSchedulerList).schedulers.converter
                parts = convert(subs) if callable(convert) else subs
            except schedkit.SchedkitError:
                parts = ()  # __init__ reports it, with its key path
            if parts and not any(isinstance(s, ReduceOnPlateauLR) for s in parts):
                # no metric to observe: the list keeps no history (and no state)
                return ParamSchedulerList(*args, **kwargs)
        return super().__new__(cls)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        monitors: dict[str, int] = {}
        for i, sub in enumerate(self.schedulers):
            if isinstance(sub, ReduceOnPlateauLR):
                monitors.setdefault(sub.monitor, i)
                if len(monitors) > 1:
                    raise SpecError(
                        f"one metric feeds the list: {sorted(monitors)} are monitored "
                        "(give every ReduceOnPlateau* of the list the same monitor)",
                        f"schedulers[{i}].monitor",
                    )


ObservingList.__doc__ = (ParamSchedulerList.__doc__ or "").rstrip() + (
    """

    A list with ``mmengine.ReduceOnPlateauLR`` (or ``ReduceOnPlateauMomentum``) observes
    the metric: ``scheduler.step(metric)`` after each validation, the reductions falling
    after the updates of that step (an epoch's end, with ``steps_per_epoch``: the step
    that ends it), the schedulers after them going on from the reduced value, as
    mmengine's runner steps them. Every ReduceOnPlateau* of a list monitors the same
    metric. Its history is plain state; a list without one keeps none.
    """
)


def add_schedules(registry: schedkit.Registrar, examples: list[dict[str, Any]]) -> None:
    """Register the aliases and the list (``examples``: the list's own, without a plateau)."""
    plateau_examples: list[dict[str, Any]] = [
        {},
        {
            "rule": "greater",
            "patience": 2,
            "factor": 0.5,
            "cooldown": 1,
            "min_value": 0.01,
            "threshold_rule": "abs",
            "begin": 3,
            "end": 60,
        },
    ]
    for cls in PLATEAU.values():
        registry.add(cls, examples=plateau_examples)
    registry.add(
        ObservingList,
        name=ParamSchedulerList.name,
        examples=[
            *examples,
            {
                "steps_per_epoch": 3,
                "schedulers": [
                    {"type": "mmengine.LinearLR", "start_factor": 0.1, "by_epoch": False, "end": 6},
                    {"type": "mmengine.ReduceOnPlateauLR", "patience": 1, "factor": 0.5},
                    {"type": "mmengine.PolyLR", "power": 2.0, "eta_min": 0.001, "end": 40},
                ],
            },
        ],
    )
