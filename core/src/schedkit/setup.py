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
import sys
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import torch

from schedkit import _toml_out
from schedkit.clipping import _unscale
from schedkit.components import build as build_component
from schedkit.durations import check_duration, to_steps
from schedkit.errors import SchedkitError, SpecError
from schedkit.groups import ParamGroups, build_param_groups
from schedkit.protocols import ClipResult, Schedule
from schedkit.registry import default_registry
from schedkit.schedule import _fields_of, get_schedule, plain
from schedkit.scheduler import Scheduler, _parse_key

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TABLES = ("run", "optimizer", "rules", "schedules", "clip")
RUN_KEYS = ("total", "steps_per_epoch", "batch_size")
LR_KEYS = ("lr", "base_lr", "lr_scaling", "base_batch_size")
SCALINGS = ("linear", "sqrt")


class SetupError(SchedkitError, ValueError):
    """Every problem found in a setup, each a :class:`SpecError` with its key path."""

    def __init__(self, problems: list[SpecError], source: str = "") -> None:
        self.problems = problems
        head = f"{source}: " if source else ""
        n = len(problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} in the setup:"]
        lines += [f"  {p}" for p in problems]
        super().__init__("\n".join(lines))


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
        close = difflib.get_close_matches(str(name), classes, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise SpecError(f"unknown optimizer {name!r}{hint} (torch.optim classes only)")
    return classes[name]


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

    def build(
        self,
        model: torch.nn.Module,
        *,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
        batch_size: int | None = None,
    ) -> Built:
        """The optimizer over ``model``'s param groups, one scheduler per key, the clipper."""
        problems: list[SpecError] = []
        spe = steps_per_epoch if steps_per_epoch is not None else self.steps_per_epoch
        total = total_steps
        if total is None and self.total is not None:
            try:
                total = to_steps(self.total, steps_per_epoch=spe)
            except SpecError as e:
                problems.append(e.at("run.total"))
        try:
            lr = self.learning_rate(batch_size)
        except SpecError as e:
            raise SetupError([e]) from None
        args = {k: v for k, v in self.optimizer.items() if k != "type"}
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
        cls = optimizer_class(self.optimizer["type"])
        try:
            groups = build_param_groups(
                model, self.rules, lr=lr, weight_decay=args.pop("weight_decay", 0.0)
            )
        except SpecError as e:
            raise SetupError([e.at("rules")]) from None
        optimizer = cls(groups, lr=lr, **args)  # type: ignore[call-arg]
        schedulers: dict[str, Scheduler] = {}
        for entry in self.schedules:
            try:
                schedulers[entry.name] = Scheduler(
                    optimizer,
                    entry.schedule,
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
    """A setup made real: steps as one unit after ``backward()``, saves as plain data."""

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

    def step(self, *, scaler: Any = None, zero_grad: bool = True) -> None:
        """Clip, step the optimizer (through ``scaler`` when given), step every scheduler,
        and clear the gradients unless told not to."""
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
        """Restore what :meth:`state_dict` saved."""
        if state.get("format") != "schedkit.built":
            raise SpecError(f"not a schedkit setup state (format {state.get('format')!r})")
        self.optimizer.load_state_dict(state["optimizer"])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        if self.clipper is not None and state.get("clipper") is not None:
            self.clipper.load_state_dict(state["clipper"])


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


def _read(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    if isinstance(source, Mapping):
        return dict(source), "<dict>"
    where = "<text>"
    if isinstance(source, Path) or ("\n" not in source and source.strip().endswith(".toml")):
        path = Path(source)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SetupError([SpecError(f"cannot read the file: {e.strerror}")], where) from None
    else:
        text = source
    try:
        return tomllib.loads(text), where
    except tomllib.TOMLDecodeError as e:
        raise SetupError([SpecError(f"TOML syntax error: {e}")], where) from None


def _unknown(key: str, known: Any, path: str) -> SpecError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return SpecError(f"unknown key{hint} (expected one of: {', '.join(known)})", path)


def _positive_int(value: Any, path: str, problems: list[SpecError]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(SpecError(f"expected a positive whole number, got {value!r}", path))
        return None
    return value


class _Loader:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[SpecError] = []

    def table(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, Mapping):
            self.problems.append(SpecError(f"expected a table, got {value!r}", name))
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
            elif (
                k in defaults
                and isinstance(defaults[k], (int, float))
                and not isinstance(defaults[k], bool)
            ):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    self.problems.append(
                        SpecError(f"expected a number, got {v!r}", f"optimizer.{k}")
                    )
                elif v < 0:
                    self.problems.append(
                        SpecError(f"expected a number >= 0, got {v!r}", f"optimizer.{k}")
                    )
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
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or v < 0
                or not math.isfinite(v)
            ):
                self.problems.append(
                    SpecError(f"expected a learning rate >= 0, got {v!r}", f"optimizer.{k}")
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
                    f"got {keys.get('lr_scaling')!r}",
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
        for key, table in tables.items():
            path = f"schedules.{key}"
            if not isinstance(table, Mapping) or "type" not in table:
                self.problems.append(
                    SpecError("expected a table with a 'type' (e.g. type = \"cosine\")", path)
                )
                continue
            target = table.get("key", key)
            try:
                _parse_key(target)
            except SpecError as e:
                self.problems.append(
                    SpecError(e.message, f"{path}.key" if "key" in table else path)
                )
                continue
            params = {k: v for k, v in table.items() if k not in ("type", "tags", "key")}
            tags = table.get("tags")
            if tags is not None and (
                not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
            ):
                self.problems.append(
                    SpecError(f"expected a list of strings, got {tags!r}", f"{path}.tags")
                )
                tags = None
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
                base = _absolute_base(info.cls, params, self.data, path)
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
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            return None
        if per <= 0 or batch < 0 or opt.get("lr_scaling") not in SCALINGS:
            return None
        ratio = batch / per
        lr = base * (ratio if opt.get("lr_scaling") == "linear" else math.sqrt(ratio))
    ok = isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr)
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


def _absolute_base(
    cls: type, params: Mapping[str, Any], data: Mapping[str, Any], path: str
) -> float | None:
    """The base an absolute argument (``end_lr``, ``min_lr``) is a share of: ``[optimizer]``'s
    lr. Each group then gets its own base times that share, so under layer decay the end
    value is scaled per group, as timm scales ``lr_min`` by each group's ``lr_scale``."""
    absolute = [k for k in getattr(cls, "absolute", {}) if k in params]
    if not absolute:
        return None
    lr = _reference_lr(data)
    if lr is None:
        raise SpecError(
            f"{absolute[0]!r} is an absolute value, resolved against [optimizer] lr; with "
            "base_lr scaling that needs [run] batch_size (or give the factor instead)",
            f"{path}.{absolute[0]}",
        )
    return lr


def _ratio_steps(ratio: Any, total: int, where: str) -> int:
    """transformers' ``get_warmup_steps``: ``ceil(total * ratio)``, in float as transformers
    computes it (``0.07`` of 200 steps is 15, where ``"7%"`` rounds to 14)."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise SpecError(f"expected a ratio in [0, 1), got {ratio!r}", where)
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
    translate = getattr(cls, "from_transformers", None)
    if translate is None or not any(k in params for k in TRANSFORMERS_KEYS):
        return None
    rest = dict(params)
    warmup = rest.pop("num_warmup_steps", None)
    total = rest.pop("num_training_steps", None)
    specific = rest.pop("scheduler_specific_kwargs", {})
    if not isinstance(specific, Mapping):
        raise SpecError(f"expected a table, got {specific!r}", f"{path}.scheduler_specific_kwargs")
    if total is None:
        run = data.get("run")
        run_total = run.get("total") if isinstance(run, Mapping) else None
        total = None if run_total is None else _run_steps(data, run_total)
    for key, value in (("num_warmup_steps", warmup), ("num_training_steps", total)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise SpecError(f"expected a whole number of steps, got {value!r}", f"{path}.{key}")
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
        schedule: Schedule = translate(name, optimizer, warmup, total, **kwargs)
    except SpecError as e:
        raise e.at(path) from None
    return schedule


def load_setup(source: str | Path | Mapping[str, Any]) -> Setup:
    """Read and validate a setup from a TOML file path, TOML text or a dict.

    Raises :class:`SetupError` listing every problem with its key path.
    """
    data, where = _read(source)
    loader = _Loader(data)
    for k in data:
        if k not in TABLES:
            loader.problems.append(_unknown(k, TABLES, k))
    total, spe, batch = loader.run()
    optimizer = loader.optimizer()
    rules = loader.rules()
    entries = loader.schedules(total)
    clip = loader.clip()
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
