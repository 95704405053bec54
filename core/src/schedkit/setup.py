"""TOML-declared setups: a whole optimisation recipe in one file, validated before anything
is built, built with one call.

.. code-block:: toml

    [run]
    total = "100ep"
    steps_per_epoch = 500

    [optimizer]
    type = "AdamW"
    base_lr = 1.5e-4         # lr = base_lr * batch_size / 256 (the MAE/Goyal rule)
    lr_scaling = "linear"
    weight_decay = 0.05

    [[rules]]
    type = "layer_decay"
    rate = 0.65

    [schedules.lr]
    type = "cosine"
    warmup = "5ep"           # total defaults to run.total

    [clip]
    type = "norm"
    max_norm = 1.0

A file can only name registered components and ``torch.optim`` optimizers: nothing is
imported or executed from it. Every problem is reported with its key path, all at once.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import re
import sys
import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import torch

from schedkit import _text, _toml_out
from schedkit._numbers import MAX_STEPS, as_real, show
from schedkit._scheduling.family import answers_transformers, transformers_schedule
from schedkit.clipping import _unscale
from schedkit.components import build as build_component
from schedkit.durations import NeedsContextError, check_duration, to_steps
from schedkit.errors import SchedkitError, SpecError, StateError
from schedkit.groups import ParamGroups, build_param_groups
from schedkit.hooks import family_hooks
from schedkit.protocols import Finite, Schedule, StateChecked
from schedkit.registry import default_registry
from schedkit.schedule import _fields_of, get_schedule, per_update, plain, resolve
from schedkit.scheduler import Scheduler, _parse_key
from schedkit.state_checks import StateReader, check_number
from schedkit.values import ClipResult

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TABLES = ("run", "optimizer", "rules", "schedules", "clip")
RUN_KEYS = ("total", "steps_per_epoch", "batch_size")
LR_KEYS = ("lr", "base_lr", "lr_scaling", "base_batch_size")
SCALINGS = ("linear", "sqrt")
#: param-group entries that are not hyperparameters
_NOT_HYPERPARAMETERS = ("params", "tags", "name")


class SetupError(SchedkitError, ValueError):
    """Every problem found in a setup, each a :class:`SpecError` with its key path."""

    def __init__(self, problems: list[SpecError], source: str = "") -> None:
        self.problems = [q for p in problems for q in p.all()]
        # file names, keys and values come from the file: shown escaped, one line each
        head = f"{_text.escape(source)}: " if source else ""
        n = len(self.problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} in the setup:"]
        lines += [f"  {_trim(_text.escape(str(p)))}" for p in self.problems]
        super().__init__("\n".join(lines))


def _trim(text: str, limit: int = 400) -> str:
    """One problem's text, cut short: a value's repr can be huge (a list of tensors)."""
    return text if len(text) <= limit else text[: limit - 25] + f"... ({len(text)} characters)"


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """A ``torch.optim`` optimizer class by its name (no imports from elsewhere)."""
    classes = {
        n: c
        for n, c in vars(torch.optim).items()
        if isinstance(c, type)
        and issubclass(c, torch.optim.Optimizer)
        and c is not torch.optim.Optimizer
    }
    if not isinstance(name, str) or name not in classes:
        same = [n for n in classes if isinstance(name, str) and n.lower() == name.lower()]
        close = same or difflib.get_close_matches(show(name), classes, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise SpecError(f"unknown optimizer {show(name)}{hint} (torch.optim classes only)")
    if name in _REFUSED:
        raise SpecError(f"{name} cannot be used in a setup: {_REFUSED[name]}")
    return classes[name]


#: optimizers a setup cannot drive, and why
_REFUSED = {
    "LBFGS": "it takes no per-parameter options (param groups) and steps with a closure",
    "SparseAdam": "it needs sparse gradients, and the setup's clipping and groups are dense",
}


def _plain_default(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, tuple):
        return all(_plain_default(v) for v in value)
    return False


def optimizer_defaults(cls: type[torch.optim.Optimizer]) -> dict[str, Any]:
    """The optimizer's keyword defaults that are plain data (filled into resolved setups)."""
    out = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "params", "lr") or p.default is inspect.Parameter.empty:
            continue
        if _plain_default(p.default):
            out[name] = list(p.default) if isinstance(p.default, tuple) else p.default
    return out


@attrs.frozen
class ScheduleEntry:
    """One ``[schedules.<key>]`` table: the hyperparameter, its schedule and target tags."""

    name: str
    schedule: Schedule
    tags: tuple[str, ...] | None = None
    #: the hyperparameter; the table's name unless the table says ``key = ...``
    key: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name)


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
    :param clip: the ``[clip]`` table: the gradient clipper, or ``None`` for none.
    :param total: the run's length: steps, or epochs as ``"90ep"``.
    :param steps_per_epoch: resolves durations in epochs (also given at build time).
    :param batch_size: the run's batch size, for ``lr_scaling`` (also given at build time).
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

    def to_dict(self) -> dict[str, Any]:
        """The setup as plain data, the same shape as the TOML file, defaults filled in."""
        out: dict[str, Any] = {}
        run = {
            "total": self.total,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.batch_size,
        }
        run = {k: v for k, v in run.items() if v is not None}
        if run:
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
        optimizer = dict(self.optimizer)
        out += _dry_run(optimizer, lr, self.schedules, self.total, spe, total_steps, strict=True)
        return out

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
        out_of_range = _group_values_out_of_range(groups)
        if out_of_range:
            raise SetupError(out_of_range)
        optimizer = cls(groups, lr=lr, **args)  # type: ignore[call-arg]
        schedulers: dict[str, Scheduler] = {}
        for entry in self.schedules:
            try:
                schedulers[entry.name] = Scheduler(
                    optimizer,
                    per_update(entry.schedule, spe),
                    key=entry.key,
                    tags=entry.tags,
                    steps_per_epoch=spe,
                    total_steps=total,
                )
            except SpecError as err:
                problems.append(err.at(f"schedules.{entry.name}"))
        clipper = None
        if self.clip is not None:
            clipper = build_component("clipper", self.clip, {}, "clip")
        if problems:
            raise SetupError(problems)
        resolved = self.to_dict()
        resolved["optimizer"]["lr"] = lr
        if total is not None:
            resolved.setdefault("run", {})["total_steps"] = total
        for key, s in schedulers.items():
            resolved["schedules"][key].update(s.schedule.spec())
        return Built(optimizer, schedulers, clipper, total, resolved, groups)


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
        # everything fits: apply (the optimizer first, the schedulers bind to its new groups)
        self.optimizer.load_state_dict(reader.get("optimizer"))
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
            if key not in _NOT_HYPERPARAMETERS and isinstance(key, str):
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


# -- loading and validation -----------------------------------------------------------


def _read_path(source: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The data of the TOML file at ``source`` (any suffix), and its name for messages."""
    path = Path(source)
    where = str(path)
    try:
        raw = path.read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a name with a null character
        reason = e.strerror if isinstance(e, OSError) else str(e)
        hint = ""
        if isinstance(source, str) and ("\n" in source or "=" in source):
            hint = "; TOML text is read by schedkit.loads_setup(text), a path by load_setup"
            where = "<path>"  # the text itself is no name to print
        raise SetupError([SpecError(f"cannot read the file: {reason}{hint}")], where) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark some editors write is dropped
    except UnicodeDecodeError as e:
        raise SetupError(
            [SpecError(f"not UTF-8 text (byte {e.start}: {raw[e.start : e.start + 1]!r})")],
            where,
        ) from None
    return _parse(text, where), where


def _parse(text: str, where: str) -> dict[str, Any]:
    """TOML text as data, every problem a :class:`SetupError` naming ``where``."""
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as e:
        raise SetupError([SpecError(f"TOML syntax error: {e}")], where) from None
    except ValueError as e:  # an integer of more digits than Python converts from text
        raise SetupError([SpecError(f"TOML value not read: {e}")], where) from None
    except RecursionError:
        raise SetupError([SpecError("TOML nested too deeply to read")], where) from None
    if _depth(data) > _MAX_DEPTH:
        raise SetupError([SpecError(f"nested more than {_MAX_DEPTH} levels deep")], where)
    return data


#: no setup needs more; deeper data would only make the checks recurse
_MAX_DEPTH = 32


def _depth(value: Any, limit: int = _MAX_DEPTH + 1) -> int:
    """How deeply ``value`` nests (counted up to ``limit``), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d >= limit:
            return d
        if isinstance(v, Mapping):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _unknown(key: str, known: Any, path: str) -> SpecError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return SpecError(f"unknown key{hint} (expected one of: {', '.join(known)})", path)


def _is_number(v: Any) -> bool:
    """A real number a float can hold (not a bool, not an int beyond the float range)."""
    return as_real(v) is not None


def _check_option(name: str, value: Any, param: inspect.Parameter) -> str | None:
    """What is wrong with an optimizer option, judged from its default and annotation
    (None: nothing). Strings are never booleans, numbers are finite, pairs are pairs."""
    default = param.default
    args = set(typing.get_args(param.annotation)) or {param.annotation}
    if isinstance(default, bool) or args == {bool, type(None)}:
        if isinstance(value, bool) or (value is None and default is None):
            return None
        return f"expected true or false, got {show(value)}"
    if _is_number(default):
        if not _is_number(value) or not math.isfinite(value):
            return f"expected a finite number, got {show(value)}"
        if abs(value) > _FLOAT32_MAX:
            return f"expected a number a float32 parameter can take, got {show(value)}"
        if value < 0 and default >= 0:
            return f"expected a number >= 0, got {show(value)}"
        return None
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            return f"expected a list of {len(default)} numbers, got {show(value)}"
        for i, (v, d) in enumerate(zip(value, default, strict=True)):
            if v is None and d is None:
                continue
            if not _is_number(v) or not math.isfinite(v):
                return f"expected finite numbers, got {show(value)} (item {i})"
            if name == "betas" and not 0.0 <= v < 1.0:
                return f"expected numbers in [0, 1), got {show(value)}"
        return None
    if _is_number(value) and not math.isfinite(value):
        return f"expected a finite number, got {show(value)}"
    return None


#: the largest value a float32 parameter's update can take (torch refuses larger ones)
_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _group_values_out_of_range(groups: Any) -> list[SpecError]:
    """Hyperparameters the rules computed that no float32 update takes (a rule's factor of
    1e300): found at build time, before the first step fails on them."""
    out = []
    for i, g in enumerate(groups):
        for k, v in g.items():
            if _is_number(v) and not (math.isfinite(v) and abs(v) <= _FLOAT32_MAX):
                out.append(
                    SpecError(
                        f"the rules give param group {i} {k} = {show(v)}: more than float32 "
                        "parameters take",
                        "rules",
                    )
                )
    return out


def _check_values(sched: Scheduler) -> None:
    """The scheduled values stay finite and within float32 over the run (sampled, with the
    milestones the family knows), so no step fails on them: raises SpecError."""
    horizon = (sched.schedule.horizon if isinstance(sched.schedule, Finite) else None) or 10_000
    steps = torch.linspace(0.0, float(horizon) * 1.25, 513, dtype=torch.float64)
    try:
        values = sched.schedule.values(steps)  # type: ignore[attr-defined]
    except (SpecError, OverflowError, ValueError, TypeError, RuntimeError):
        return  # families without tensor values are checked by their own validators
    top = max(abs(b) for b in sched.base_values) if sched.base_values else 1.0
    scaled = values * top
    bad = ~(scaled.isfinite() & (scaled.abs() <= _FLOAT32_MAX))
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise SpecError(
            f"the value reaches {float(scaled[i]):g} at step {int(steps[i])}: more than "
            "float32 parameters take"
        )


def _positive_int(value: Any, path: str, problems: list[SpecError]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(SpecError(f"expected a positive whole number, got {show(value)}", path))
        return None
    if value > MAX_STEPS:
        problems.append(SpecError(f"expected a whole number <= 2**62, got {show(value)}", path))
        return None
    return value


class _Loader:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[SpecError] = []

    def table(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, Mapping):
            self.problems.append(SpecError(f"expected a table, got {show(value)}", name))
            return {}
        return value

    def run(self) -> tuple[int | str | None, int | None, int | None]:
        run = self.table("run")
        for k in run:
            if k not in RUN_KEYS:
                self.problems.append(_unknown(k, RUN_KEYS, f"run.{k}"))
        total = run.get("total")
        if total is not None:
            try:
                total = check_duration(total)
            except SpecError as e:
                self.problems.append(e.at("run.total"))
                total = None
        spe = _positive_int(run.get("steps_per_epoch"), "run.steps_per_epoch", self.problems)
        batch = _positive_int(run.get("batch_size"), "run.batch_size", self.problems)
        return total, spe, batch

    def optimizer(self) -> dict[str, Any]:
        opt = self.data.get("optimizer")
        if not isinstance(opt, Mapping) or "type" not in opt:
            self.problems.append(
                SpecError("expected a table with a 'type' (e.g. type = \"AdamW\")", "optimizer")
            )
            return {"type": "SGD", "lr": 0.0}
        out = dict(opt)
        lr_keys = {k: out.pop(k) for k in LR_KEYS if k in out}
        try:
            cls = optimizer_class(out["type"])
        except SpecError as e:
            self.problems.append(e.at("optimizer.type"))
            return {"type": out["type"], **lr_keys}
        sig = inspect.signature(cls.__init__).parameters
        accepted = [n for n in sig if n not in ("self", "params", "lr")]
        defaults = optimizer_defaults(cls)
        for k, v in list(out.items()):
            if k == "type":
                continue
            if k not in accepted:
                self.problems.append(_unknown(k, [*accepted, *LR_KEYS], f"optimizer.{k}"))
                del out[k]
            else:
                problem = _check_option(k, v, sig[k])
                if problem is not None:
                    self.problems.append(SpecError(problem, f"optimizer.{k}"))
        self._lr(lr_keys)
        return {
            "type": out["type"],
            **defaults,
            **{k: v for k, v in out.items() if k != "type"},
            **lr_keys,
        }

    def _lr(self, keys: Mapping[str, Any]) -> None:
        if "lr" in keys and "base_lr" in keys:
            self.problems.append(
                SpecError("give lr, or base_lr with lr_scaling, not both", "optimizer.base_lr")
            )
        if "lr" not in keys and "base_lr" not in keys:
            self.problems.append(
                SpecError("expected lr (or base_lr with lr_scaling)", "optimizer.lr")
            )
        for k in ("lr", "base_lr"):
            v = keys.get(k)
            if v is not None and (
                not _is_number(v) or v < 0 or not math.isfinite(v) or v > _FLOAT32_MAX
            ):
                self.problems.append(
                    SpecError(f"expected a learning rate >= 0, got {show(v)}", f"optimizer.{k}")
                )
        if "base_lr" in keys and "lr_scaling" not in keys:
            self.problems.append(
                SpecError(
                    "missing: base_lr is scaled by the batch size, say how "
                    f"({' or '.join(map(repr, SCALINGS))}), or give lr instead",
                    "optimizer.lr_scaling",
                )
            )
        elif "base_lr" in keys and keys.get("lr_scaling") not in SCALINGS:
            self.problems.append(
                SpecError(
                    f"expected one of {', '.join(map(repr, SCALINGS))}, "
                    f"got {show(keys.get('lr_scaling'))}",
                    "optimizer.lr_scaling",
                )
            )
        if "lr_scaling" in keys and "base_lr" not in keys:
            self.problems.append(
                SpecError(
                    "lr_scaling scales base_lr; give base_lr instead of lr", "optimizer.lr_scaling"
                )
            )
        _positive_int(keys.get("base_batch_size"), "optimizer.base_batch_size", self.problems)

    def rules(self) -> tuple[Any, ...]:
        rules = self.data.get("rules", [])
        if not isinstance(rules, list):
            self.problems.append(SpecError("expected [[rules]] tables", "rules"))
            return ()
        out = []
        for i, spec in enumerate(rules):
            path = f"rules[{i}]"
            try:
                if not isinstance(spec, Mapping) or "type" not in spec:
                    raise SpecError("expected a table with a 'type'", path)
                out.append(build_component("rule", spec, {}, path))
            except SpecError as e:
                self.problems.append(e if e.path.startswith(path) else e.at(path))
            except SchedkitError as e:
                self.problems.append(SpecError(str(e), f"{path}.type"))
        return tuple(out)

    def schedules(self, total: int | str | None) -> tuple[ScheduleEntry, ...]:
        tables = self.table("schedules")
        out = []
        seen: dict[str, list[tuple[str, set[str] | None]]] = {}
        for key, table in tables.items():
            path = f"schedules.{key}"
            if not isinstance(table, Mapping) or "type" not in table:
                self.problems.append(
                    SpecError("expected a table with a 'type' (e.g. type = \"cosine\")", path)
                )
                continue
            target = table.get("key", key)
            where = f"{path}.key" if "key" in table else path
            try:
                field, _ = _parse_key(target)
            except SpecError as e:
                self.problems.append(SpecError(e.message, where))
                continue
            if field in _NOT_HYPERPARAMETERS:
                self.problems.append(
                    SpecError(f"{show(target)} is not a hyperparameter a schedule can drive", where)
                )
                continue
            tags = table.get("tags")
            mine: set[str] | None
            if tags is not None and (
                not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
            ):
                # reported once, here: a table whose tags are not understood selects no
                # groups for the clash check, so no other table is said to clash with it
                self.problems.append(
                    SpecError(f"expected a list of strings, got {show(tags)}", f"{path}.tags")
                )
                tags, mine = None, set()
            else:
                mine = None if tags is None else set(tags)
            clash = next(
                (
                    other
                    for other, theirs in seen.get(target, [])
                    if (mine is None or theirs is None or mine & theirs) and mine != set()
                ),
                None,
            )
            if clash is not None:
                self.problems.append(
                    SpecError(
                        f"{show(target)} is already scheduled by [schedules.{clash}] for the same "
                        "groups; one schedule per hyperparameter and group (compose them: "
                        "sequence, chain, scale; or give each its own tags)",
                        where,
                    )
                )
                continue
            if mine != set():
                seen.setdefault(target, []).append((key, mine))
            params = {k: v for k, v in table.items() if k not in ("type", "tags", "key")}
            if not isinstance(table["type"], str):
                self.problems.append(
                    SpecError(
                        f"expected a registered name, got {show(table['type'])}", f"{path}.type"
                    )
                )
                continue
            try:
                info = default_registry().get("schedule", table["type"])
                called = _transformers_form(table["type"], info.cls, params, self.data, path)
                if called is not None:
                    out.append(
                        ScheduleEntry(key, called, None if tags is None else tuple(tags), target)
                    )
                    continue
                if "total" in _fields_of(info.cls) and "total" not in params and total is not None:
                    params["total"] = total
                _warmup_ratio(params, self.data, path)
                base = _setup_absolute_base(info.cls, params, self.data, path)
                sched = get_schedule(
                    table["type"], _path=path, _base=base, _from_data=True, **params
                )
            except SpecError as e:
                self.problems.append(e if e.path.startswith(path) else e.at(path))
                continue
            except SchedkitError as e:
                self.problems.append(SpecError(str(e), f"{path}.type"))
                continue
            out.append(ScheduleEntry(key, sched, None if tags is None else tuple(tags), target))
        return tuple(out)

    def clip(self) -> dict[str, Any] | None:
        spec = self.data.get("clip")
        if spec is None:
            return None
        if not isinstance(spec, Mapping) or "type" not in spec:
            self.problems.append(
                SpecError("expected a table with a 'type' (e.g. type = \"norm\")", "clip")
            )
            return None
        try:
            return dict(build_component("clipper", spec, {}, "clip").spec())
        except SpecError as e:
            self.problems.append(e if e.path.startswith("clip") else e.at("clip"))
        except SchedkitError as e:
            self.problems.append(SpecError(str(e), "clip.type"))
        return None


# -- values a setup resolves against its own tables ------------------------------------

#: transformers' ``get_scheduler`` arguments, writable in a ``[schedules.*]`` table
TRANSFORMERS_KEYS = ("num_warmup_steps", "num_training_steps", "scheduler_specific_kwargs")


def _reference_lr(data: Mapping[str, Any]) -> float | None:
    """``[optimizer]``'s lr (``base_lr`` scaled by ``[run]``'s batch size), or None when it
    is not known before the build or not valid (its own problem is reported elsewhere)."""
    opt = data.get("optimizer")
    run = data.get("run")
    if not isinstance(opt, Mapping):
        return None
    lr: Any = opt.get("lr")
    if lr is None:
        base: Any = opt.get("base_lr")
        batch: Any = run.get("batch_size") if isinstance(run, Mapping) else None
        per: Any = opt.get("base_batch_size", 256)
        numbers = (base, batch, per)
        if not all(_is_number(v) for v in numbers):
            return None
        if per <= 0 or batch < 0 or opt.get("lr_scaling") not in SCALINGS:
            return None
        ratio = batch / per
        lr = base * (ratio if opt.get("lr_scaling") == "linear" else math.sqrt(ratio))
    ok = _is_number(lr) and math.isfinite(lr)
    return float(lr) if ok and lr > 0 else None


def _run_steps(data: Mapping[str, Any], value: Any) -> int | None:
    """A duration (``[run]`` total or a table's) in steps, when the file alone says it."""
    run = data.get("run")
    spe = run.get("steps_per_epoch") if isinstance(run, Mapping) else None
    try:
        steps = to_steps(check_duration(value), steps_per_epoch=spe)
    except SpecError:
        return None
    return steps


def _setup_absolute_base(
    cls: type, params: Mapping[str, Any], data: Mapping[str, Any], path: str
) -> float | None:
    """The base an absolute argument (``end_lr``, ``min_lr``) is a share of: ``[optimizer]``'s
    lr. Each group then gets its own base times that share, so under layer decay the end
    value is scaled per group, as timm scales ``lr_min`` by each group's ``lr_scale``."""
    absolute = [k for k in family_hooks(cls).absolute if k in params]
    if not absolute:
        return None
    lr = _reference_lr(data)
    if lr is None:
        raise SpecError(
            f"{show(absolute[0])} is an absolute value, resolved against [optimizer] lr; with "
            "base_lr scaling that needs [run] batch_size (or give the factor instead)",
            f"{path}.{absolute[0]}",
        )
    return lr


def _ratio_steps(ratio: Any, total: int, where: str) -> int:
    """transformers' ``get_warmup_steps``: ``ceil(total * ratio)``, in float as transformers
    computes it (``0.07`` of 200 steps is 15, where ``"7%"`` rounds to 14)."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise SpecError(f"expected a ratio in [0, 1), got {show(ratio)}", where)
    return math.ceil(total * ratio)


def _warmup_ratio(params: dict[str, Any], data: Mapping[str, Any], path: str) -> None:
    """Turn ``warmup_ratio`` (transformers' ``TrainingArguments.warmup_ratio``) into
    ``warmup`` steps of the table's ``total`` (by default ``[run]``'s)."""
    if "warmup_ratio" not in params:
        return
    where = f"{path}.warmup_ratio"
    if "warmup" in params:
        raise SpecError("give warmup or warmup_ratio, not both", where)
    run = data.get("run")
    total = params.get("total", run.get("total") if isinstance(run, Mapping) else None)
    steps = None if total is None else _run_steps(data, total)
    if steps is None:
        raise SpecError(
            "warmup_ratio needs the total in steps ([run] total, with steps_per_epoch for epochs)",
            where,
        )
    params["warmup"] = _ratio_steps(params.pop("warmup_ratio"), steps, where)


class _Defaults(dict[str, Any]):
    """``optimizer.defaults`` for transformers' call form in a file: the lr, when known."""

    def __missing__(self, key: str) -> Any:
        raise SpecError(
            f"needs [optimizer] {key} (with base_lr scaling, [run] batch_size) before the build"
        )


def _transformers_form(
    name: str, cls: type, params: dict[str, Any], data: Mapping[str, Any], path: str
) -> Schedule | None:
    """A table in transformers' call form (``num_warmup_steps``, ``num_training_steps``,
    ``warmup_ratio``, the scheduler-specific keys flat or in ``scheduler_specific_kwargs``)
    for one of transformers' names: the schedule ``get_scheduler`` gives for it."""
    if not answers_transformers(cls) or not any(k in params for k in TRANSFORMERS_KEYS):
        return None
    rest = dict(params)
    warmup = rest.pop("num_warmup_steps", None)
    total = rest.pop("num_training_steps", None)
    specific = rest.pop("scheduler_specific_kwargs", {})
    if not isinstance(specific, Mapping):
        raise SpecError(
            f"expected a table, got {show(specific)}", f"{path}.scheduler_specific_kwargs"
        )
    if total is None:
        run = data.get("run")
        run_total = run.get("total") if isinstance(run, Mapping) else None
        total = None if run_total is None else _run_steps(data, run_total)
    for key, value in (("num_warmup_steps", warmup), ("num_training_steps", total)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise SpecError(f"expected a whole number of steps, got {show(value)}", f"{path}.{key}")
    if "warmup_ratio" in rest:
        where = f"{path}.warmup_ratio"
        if warmup is not None:
            raise SpecError("give num_warmup_steps or warmup_ratio, not both", where)
        if total is None:
            raise SpecError("warmup_ratio needs num_training_steps or [run] total", where)
        warmup = _ratio_steps(rest.pop("warmup_ratio"), total, where)
    both = set(rest) & set(specific)
    if both:
        raise SpecError(f"given both flat and in scheduler_specific_kwargs: {sorted(both)}", path)
    kwargs = {**rest, **specific}
    lr = _reference_lr(data)
    optimizer = SimpleNamespace(defaults=_Defaults({} if lr is None else {"lr": lr}))
    try:
        schedule = transformers_schedule(cls, name, optimizer, warmup, total, kwargs)
    except SpecError as e:
        raise e.at(path) from None
    return schedule


def _trial_optimizer(optimizer: Mapping[str, Any], lr: float) -> torch.optim.Optimizer:
    """The setup's optimizer over one small parameter, stepped once: torch's own checks of
    its options (betas, nesterov without momentum...) run now, not at build time."""
    cls = optimizer_class(optimizer["type"])
    args = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in optimizer.items()
        if k not in ("type", *LR_KEYS)
    }
    p = torch.zeros(2, 2, requires_grad=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = cls([p], lr=lr, **args)  # type: ignore[call-arg, arg-type]
            p.grad = torch.zeros_like(p)
            opt.step()
    except Exception as e:  # torch's checks raise ValueError, TypeError, RuntimeError...
        lr_key = next((k for k in ("lr", "base_lr") if k in optimizer), "lr")
        where = _refused_option(str(e), [*args, lr_key])
        raise SpecError(
            f"torch.optim.{cls.__name__} refuses these options: {_trim(str(e), 200)}",
            "optimizer" if where is None else f"optimizer.{where}",
        ) from None
    return opt


#: how torch's messages name some options in prose ("Invalid epsilon value")
_OPTION_WORDS = {
    "eps": ("epsilon",),
    "betas": ("beta",),
    "etas": ("eta",),
    "lr": ("learning rate",),
    "base_lr": ("learning rate",),
}


def _refused_option(message: str, names: list[str]) -> str | None:
    """The option a torch optimizer's refusal names first (``Nesterov momentum requires a
    momentum and zero dampening``: ``nesterov``), with the item of a pair when the message
    says it (``Invalid beta parameter at index 1``: ``betas[1]``); None when it names none."""
    found: list[tuple[int, int, str, re.Match[str]]] = []
    for name in names:
        for word in (name, name.replace("_", " "), *_OPTION_WORDS.get(name, ())):
            m = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", message, re.IGNORECASE)
            if m is not None:
                found.append((m.start(), -len(word), name, m))
    if not found:
        return None
    _, _, name, m = min(found, key=lambda f: f[:2])
    index = re.match(r"[\w ]*? at index (\d+)", message[m.end() :])
    return f"{name}[{index.group(1)}]" if index else name


def _dry_run(
    optimizer: Mapping[str, Any] | None,
    lr: float | None,
    entries: tuple[ScheduleEntry, ...],
    total: int | str | None,
    spe: int | None,
    total_steps: int | None,
    *,
    strict: bool,
) -> list[SpecError]:
    """Everything a build checks that needs no model: the optimizer's options, each
    schedule resolved and bound to the optimizer's keys. ``strict``: durations that need
    ``steps_per_epoch`` or the total are problems too (at build time, and for ``check``);
    otherwise they wait for the build's arguments."""
    problems: list[SpecError] = []

    def report(e: SpecError, prefix: str) -> None:
        if strict or not isinstance(e, NeedsContextError):
            problems.append(e.at(prefix) if prefix else e)

    if total_steps is None and total is not None:
        try:
            total_steps = to_steps(total, steps_per_epoch=spe)
        except SpecError as e:
            report(e, "run.total")
    opt = None
    if optimizer is not None:
        try:
            opt = _trial_optimizer(optimizer, lr if lr is not None else 1e-3)
        except SpecError as e:
            problems.append(e)
    for entry in entries:
        try:
            schedule = per_update(entry.schedule, spe)
            if opt is None:
                resolve(schedule, steps_per_epoch=spe, total_steps=total_steps)
            else:
                _check_values(
                    Scheduler(
                        opt,
                        schedule,
                        key=entry.key,
                        steps_per_epoch=spe,
                        total_steps=total_steps,
                    )
                )
        except SpecError as e:
            report(e, f"schedules.{entry.name}")
    return problems


def load_setup(source: str | os.PathLike[str] | Mapping[str, Any]) -> Setup:
    """Read and validate a setup from a TOML file, or from the same as a dict.

    A string is always a path, whatever its suffix (``setup.cfg`` too); TOML text is read
    by :func:`loads_setup`.

    :param source: the path of a TOML file (``str`` or ``os.PathLike``), or the setup as a
        dict of tables.
    :returns: the :class:`Setup`, ready to :meth:`Setup.build` over a model.
    :raises SetupError: every problem found, each with its key path; a file that cannot be
        read, is not UTF-8 or not TOML is one problem naming the file.
    """
    if isinstance(source, Mapping):
        return _load(dict(source), "<dict>")
    if not isinstance(source, (str, os.PathLike)):
        raise SetupError(
            [SpecError(f"expected a path or a dict, got {type(source).__name__}: {source!r:.80}")]
        )
    return _load(*_read_path(source))


def loads_setup(text: str) -> Setup:
    """Read and validate a setup from TOML text (what :func:`load_setup` reads from a file).

    :param text: the setup as TOML text.
    :returns: the :class:`Setup`, ready to :meth:`Setup.build` over a model.
    :raises SetupError: every problem found, each with its key path.

    >>> setup = loads_setup('[optimizer]\\ntype = "SGD"\\nlr = 0.1\\n')  # doctest: +SKIP
    """
    if not isinstance(text, str):
        raise SetupError(
            [SpecError(f"expected TOML text (a str), got {type(text).__name__}: {text!r:.80}")]
        )
    return _load(_parse(text, "<text>"), "<text>")


def _load(data: dict[str, Any], where: str) -> Setup:
    """The validated setup from the data of a file, text or dict."""
    loader = _Loader(data)
    for k in data:
        if k not in TABLES:
            loader.problems.append(_unknown(k, TABLES, k))
    total, spe, batch = loader.run()
    optimizer = loader.optimizer()
    rules = loader.rules()
    entries = loader.schedules(total)
    clip = loader.clip()
    if not any(p.path.startswith("optimizer") for p in loader.problems):
        keys = {k: optimizer[k] for k in LR_KEYS if k in optimizer}
        lr = keys.get("lr", keys.get("base_lr"))
        trial_opt: Mapping[str, Any] | None = optimizer
    else:
        lr, trial_opt = None, None
    loader.problems += _dry_run(trial_opt, lr, entries, total, spe, None, strict=False)
    if loader.problems:
        raise SetupError(loader.problems, where)
    lr_keys = {k: optimizer.pop(k) for k in LR_KEYS if k in optimizer}
    return Setup(
        optimizer,
        lr=lr_keys.get("lr"),
        base_lr=lr_keys.get("base_lr"),
        lr_scaling=lr_keys.get("lr_scaling"),
        base_batch_size=lr_keys.get("base_batch_size", 256),
        rules=rules,
        schedules=entries,
        clip=clip,
        total=total,
        steps_per_epoch=spe,
        batch_size=batch,
    )
