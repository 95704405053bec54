"""TOML-declared setups: a whole optimisation recipe in one file, validated before anything
is built.

.. code-block:: toml

    [run]
    total = "10ep"
    steps_per_epoch = 100

    [optimizer]
    type = "AdamW"
    lr = 3e-4
    weight_decay = 0.05

    [schedules.lr]
    type = "cosine"
    warmup = "1ep"          # total defaults to run.total

A file can only name registered components and ``torch.optim`` optimizers: nothing is
imported or executed from it. Every problem is reported with its key path, all at once.
"""

from __future__ import annotations

import difflib
import inspect
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from schedkit.durations import check_duration
from schedkit.errors import SchedkitError, SpecError
from schedkit.protocols import Schedule
from schedkit.registry import default_registry
from schedkit.schedule import _fields_of, get_schedule
from schedkit.scheduler import Scheduler, _parse_key

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_TABLES = {"run": "the run's horizon", "optimizer": "the optimizer", "schedules": "schedules"}
_RUN_KEYS = ("total", "steps_per_epoch")
_SCHEDULE_KEYS = ("type", "tags")


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
    if name not in classes:
        close = difflib.get_close_matches(name, classes, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise SpecError(f"unknown optimizer {name!r}{hint} (torch.optim classes only)")
    return classes[name]


@attrs.frozen
class ScheduleEntry:
    """One ``[schedules.<key>]`` table: the hyperparameter, its schedule and target tags."""

    key: str
    schedule: Schedule
    tags: tuple[str, ...] | None = None


@attrs.frozen
class Setup:
    """A validated, immutable recipe; :meth:`build` makes it real for a model."""

    optimizer: Mapping[str, Any] = attrs.field(converter=dict)
    schedules: tuple[ScheduleEntry, ...] = ()
    total: int | str | None = None
    steps_per_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The setup as plain data, the same shape as the TOML file."""
        out: dict[str, Any] = {}
        run = {
            k: v
            for k, v in (("total", self.total), ("steps_per_epoch", self.steps_per_epoch))
            if v is not None
        }
        if run:
            out["run"] = run
        out["optimizer"] = dict(self.optimizer)
        if self.schedules:
            out["schedules"] = {}
            for entry in self.schedules:
                table = entry.schedule.spec()
                if entry.tags is not None:
                    table["tags"] = list(entry.tags)
                out["schedules"][entry.key] = table
        return out

    def build(
        self,
        model: torch.nn.Module,
        *,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
    ) -> Built:
        """The optimizer over ``model``'s trainable parameters and one scheduler per key."""
        spe = steps_per_epoch if steps_per_epoch is not None else self.steps_per_epoch
        total = total_steps
        if total is None and self.total is not None:
            from schedkit.durations import to_steps

            try:
                total = to_steps(self.total, steps_per_epoch=spe)
            except SpecError as e:
                raise SetupError([e.at("run.total")]) from None
        params = dict(self.optimizer)
        cls = optimizer_class(params.pop("type"))
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = cls(trainable, **params)
        schedulers: dict[str, Scheduler] = {}
        problems = []
        for entry in self.schedules:
            try:
                schedulers[entry.key] = Scheduler(
                    optimizer,
                    entry.schedule,
                    key=entry.key,
                    tags=entry.tags,
                    steps_per_epoch=spe,
                    total_steps=total,
                )
            except SpecError as err:
                problems.append(err.at(f"schedules.{entry.key}"))
        if problems:
            raise SetupError(problems)
        return Built(optimizer, schedulers, total)


class Built:
    """A setup made real: steps as one unit after ``backward()``, saves as plain data."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedulers: Mapping[str, Scheduler],
        total_steps: int | None,
    ) -> None:
        self.optimizer = optimizer
        self.schedulers = dict(schedulers)
        self.total_steps = total_steps

    def step(self, *, zero_grad: bool = True) -> None:
        """Optimizer step, then every scheduler; gradients are cleared unless told not to."""
        self.optimizer.step()
        for s in self.schedulers.values():
            s.step()
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> dict[str, Any]:
        """Plain data for the optimizer and every scheduler."""
        return {
            "format": "schedkit.built",
            "version": 1,
            "optimizer": self.optimizer.state_dict(),
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.optimizer.load_state_dict(state["optimizer"])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])


# -- loading and validation -----------------------------------------------------------


def _read(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    if isinstance(source, Mapping):
        return dict(source), "<dict>"
    text: str
    where = "<text>"
    if isinstance(source, Path) or ("\n" not in source and source.endswith(".toml")):
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


def _check_run(run: Any, problems: list[SpecError]) -> tuple[int | str | None, int | None]:
    if not isinstance(run, Mapping):
        problems.append(SpecError(f"expected a table, got {run!r}", "run"))
        return None, None
    for k in run:
        if k not in _RUN_KEYS:
            problems.append(_unknown(k, _RUN_KEYS, f"run.{k}"))
    total = run.get("total")
    if total is not None:
        try:
            total = check_duration(total)
        except SpecError as e:
            problems.append(e.at("run.total"))
            total = None
    spe = run.get("steps_per_epoch")
    if spe is not None and (isinstance(spe, bool) or not isinstance(spe, int) or spe <= 0):
        problems.append(
            SpecError(f"expected a positive whole number, got {spe!r}", "run.steps_per_epoch")
        )
        spe = None
    return total, spe


def _check_optimizer(opt: Any, problems: list[SpecError]) -> dict[str, Any]:
    if not isinstance(opt, Mapping) or "type" not in opt:
        problems.append(
            SpecError("expected a table with a 'type' (e.g. type = \"AdamW\")", "optimizer")
        )
        return {"type": "SGD", "lr": 0.0}
    try:
        cls = optimizer_class(opt["type"])
    except SpecError as e:
        problems.append(e.at("optimizer.type"))
        return dict(opt)
    sig = inspect.signature(cls.__init__)
    accepted = [n for n in sig.parameters if n not in ("self", "params")]
    for k, v in opt.items():
        if k == "type":
            continue
        if k not in accepted:
            problems.append(_unknown(k, accepted, f"optimizer.{k}"))
        elif isinstance(v, str) and k in ("lr", "weight_decay", "momentum", "eps"):
            problems.append(SpecError(f"expected a number, got {v!r}", f"optimizer.{k}"))
    return dict(opt)


def _schedule_entries(
    tables: Any, total: int | str | None, problems: list[SpecError]
) -> Iterator[ScheduleEntry]:
    if not isinstance(tables, Mapping):
        problems.append(
            SpecError(f"expected tables such as [schedules.lr], got {tables!r}", "schedules")
        )
        return
    for key, table in tables.items():
        path = f"schedules.{key}"
        try:
            _parse_key(key)
        except SpecError as e:
            problems.append(SpecError(e.message, path))
            continue
        if not isinstance(table, Mapping) or "type" not in table:
            problems.append(
                SpecError("expected a table with a 'type' (e.g. type = \"cosine\")", path)
            )
            continue
        params = {k: v for k, v in table.items() if k not in _SCHEDULE_KEYS}
        tags = table.get("tags")
        if tags is not None and (
            not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
        ):
            problems.append(SpecError(f"expected a list of strings, got {tags!r}", f"{path}.tags"))
            tags = None
        try:
            info = default_registry().get("schedule", table["type"])
            if "total" in _fields_of(info.cls) and "total" not in params and total is not None:
                params["total"] = total
            sched = get_schedule(table["type"], _path=path, **params)
        except SpecError as e:
            problems.append(e if e.path.startswith(path) else e.at(path))
            continue
        except SchedkitError as e:
            problems.append(SpecError(str(e), f"{path}.type"))
            continue
        yield ScheduleEntry(key, sched, None if tags is None else tuple(tags))


def load_setup(source: str | Path | Mapping[str, Any]) -> Setup:
    """Read and validate a setup from a TOML file path, TOML text or a dict.

    Raises :class:`SetupError` listing every problem with its key path.
    """
    data, where = _read(source)
    problems: list[SpecError] = []
    for k in data:
        if k not in _TABLES:
            problems.append(_unknown(k, _TABLES, k))
    total, spe = _check_run(data.get("run", {}), problems)
    optimizer = _check_optimizer(data.get("optimizer"), problems)
    entries = tuple(_schedule_entries(data.get("schedules", {}), total, problems))
    if problems:
        raise SetupError(problems, where)
    return Setup(optimizer, entries, total, spe)
