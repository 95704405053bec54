"""A setup's tables read into components: each key checked, each component built by the
registry, every problem collected with its key path (none raised on the first)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from schedkit._numbers import show
from schedkit.components import build as build_component
from schedkit.errors import SchedkitError, SpecError
from schedkit.protocols import Schedule
from schedkit.registry import default_registry
from schedkit.schedule import _fields_of, get_schedule
from schedkit.scheduler import REPLAN_RTOL, _parse_key
from schedkit.setup.call_forms import absolute_base_lr, transformers_form, warmup_from_ratio
from schedkit.setup.optimizers import (
    check_option,
    optimizer_class,
    optimizer_defaults,
    parameters,
)
from schedkit.setup.problems import (
    FLOAT32_MAX,
    LR_KEYS,
    NOT_HYPERPARAMETERS,
    ON_SKIP,
    RESUME_KEYS,
    RUN_KEYS,
    SCALINGS,
    is_number,
    positive_int,
    unknown_key,
)
from schedkit.setup.routing import OptimizerTable, Selector
from schedkit.setup.run import Run, read_run


@attrs.frozen
class ScheduleEntry:
    """One ``[schedules.<key>]`` table: the hyperparameter, its schedule and target tags."""

    name: str
    schedule: Schedule
    tags: tuple[str, ...] | None = None
    #: the hyperparameter; the table's name unless the table says ``key = ...``
    key: str = ""
    #: the optimizers it drives (``optimizers = [...]``), None: all of them
    optimizers: tuple[str, ...] | None = None

    def __attrs_post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name)


def _flag(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"expected true or false, got {show(value)}", attribute.name)


def _tolerance(instance: Any, attribute: Any, value: Any) -> None:
    if not is_number(value) or not 0 <= value <= 1:
        raise SpecError(
            f"expected a relative tolerance between 0 and 1, got {show(value)}", attribute.name
        )


@attrs.frozen
class ResumePolicy:
    """The ``[resume]`` table: how :meth:`schedkit.Built.load_state_dict` takes a state.

    :param replan: continue on this setup's schedules from the state's step, instead of
        requiring the state's own (``Scheduler.load_state_dict(state, replan=True)``).
    :param rtol: the relative change of each scheduled value accepted at the resumed step.
    :param allow_jump: accept any change there.
    """

    replan: bool = attrs.field(default=False, validator=_flag)
    rtol: float = attrs.field(default=REPLAN_RTOL, validator=_tolerance)
    allow_jump: bool = attrs.field(default=False, validator=_flag)

    def to_dict(self) -> dict[str, Any]:
        """The table as plain data, only what differs from the defaults."""
        default = ResumePolicy()
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(ResumePolicy)
            if getattr(self, f.name) != getattr(default, f.name)
        }


class TableReader:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[SpecError] = []

    def table(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, Mapping):
            self.problems.append(SpecError(f"expected a table, got {show(value)}", name))
            return {}
        return value

    def run(self) -> Run:
        """The ``[run]`` table: the horizon, the clock, what a step consumes."""
        return read_run(self.table("run"), RUN_KEYS, self.problems)

    def optimizer(self) -> dict[str, Any]:
        """The single ``[optimizer]`` table: ``type``, its options with the class's
        defaults filled in, and the learning-rate keys."""
        opt = self.data.get("optimizer")
        if not isinstance(opt, Mapping) or "type" not in opt:
            self.problems.append(
                SpecError("expected a table with a 'type' (e.g. type = \"AdamW\")", "optimizer")
            )
            return {"type": "SGD", "lr": 0.0}
        return self._options(opt, "optimizer")

    def optimizers(self) -> tuple[OptimizerTable, ...]:
        """The ``[optimizers.NAME]`` tables, each an optimizer with its own options, lr and
        ``params`` (at most one without: it takes the rest)."""
        tables = self.table("optimizers")
        if not tables:
            self.problems.append(
                SpecError("expected at least one [optimizers.NAME] table", "optimizers")
            )
        out = []
        rest: list[str] = []
        for name, opt in tables.items():
            path = f"optimizers.{name}"
            if not isinstance(opt, Mapping) or "type" not in opt:
                self.problems.append(
                    SpecError("expected a table with a 'type' (e.g. type = \"Muon\")", path)
                )
                continue
            opt = dict(opt)
            selector = None
            if "params" in opt:
                selector = Selector.read(opt.pop("params"), f"{path}.params", self.problems)
            else:
                rest.append(path)
                if len(rest) == 2:
                    self.problems.append(
                        SpecError(
                            f"{rest[0]} already takes the parameters no params table takes; "
                            "give this one params",
                            path,
                        )
                    )
            options = self._options(opt, path)
            lr_keys = {k: options.pop(k) for k in LR_KEYS if k in options}
            out.append(
                OptimizerTable(
                    str(name),
                    options,
                    lr=lr_keys.get("lr"),
                    base_lr=lr_keys.get("base_lr"),
                    lr_scaling=lr_keys.get("lr_scaling"),
                    base_batch_size=lr_keys.get("base_batch_size", 256),
                    params=selector,
                )
            )
        return tuple(out)

    def _options(self, opt: Mapping[str, Any], path: str) -> dict[str, Any]:
        """One optimizer table's ``type`` and options checked against the class (defaults
        filled in) and its learning-rate keys, problems under ``path``."""
        out = dict(opt)
        lr_keys = {k: out.pop(k) for k in LR_KEYS if k in out}
        try:
            cls = optimizer_class(out["type"])
        except SpecError as e:
            self.problems.append(e.at(f"{path}.type"))
            return {"type": out["type"], **lr_keys}
        sig = parameters(cls)
        accepted = [n for n in sig if n not in ("self", "params", "lr")]
        defaults = optimizer_defaults(cls)
        for k, v in list(out.items()):
            if k == "type":
                continue
            if k not in accepted:
                known = [*accepted, *LR_KEYS] + (["params"] if path != "optimizer" else [])
                self.problems.append(unknown_key(k, known, f"{path}.{k}"))
                del out[k]
            else:
                problem = check_option(k, v, sig[k])
                if problem is not None:
                    self.problems.append(SpecError(problem, f"{path}.{k}"))
        self._lr(lr_keys, path)
        return {
            "type": out["type"],
            **defaults,
            **{k: v for k, v in out.items() if k != "type"},
            **lr_keys,
        }

    def _lr(self, keys: Mapping[str, Any], path: str = "optimizer") -> None:
        if "lr" in keys and "base_lr" in keys:
            self.problems.append(
                SpecError("give lr, or base_lr with lr_scaling, not both", f"{path}.base_lr")
            )
        if "lr" not in keys and "base_lr" not in keys:
            self.problems.append(
                SpecError("expected lr (or base_lr with lr_scaling)", f"{path}.lr")
            )
        for k in ("lr", "base_lr"):
            v = keys.get(k)
            if v is not None and (
                not is_number(v) or v < 0 or not math.isfinite(v) or v > FLOAT32_MAX
            ):
                self.problems.append(
                    SpecError(f"expected a learning rate >= 0, got {show(v)}", f"{path}.{k}")
                )
        if "base_lr" in keys and "lr_scaling" not in keys:
            self.problems.append(
                SpecError(
                    "missing: base_lr is scaled by the batch size, say how "
                    f"({' or '.join(map(repr, SCALINGS))}), or give lr instead",
                    f"{path}.lr_scaling",
                )
            )
        elif "base_lr" in keys and keys.get("lr_scaling") not in SCALINGS:
            self.problems.append(
                SpecError(
                    f"expected one of {', '.join(map(repr, SCALINGS))}, "
                    f"got {show(keys.get('lr_scaling'))}",
                    f"{path}.lr_scaling",
                )
            )
        if "lr_scaling" in keys and "base_lr" not in keys:
            self.problems.append(
                SpecError(
                    "lr_scaling scales base_lr; give base_lr instead of lr", f"{path}.lr_scaling"
                )
            )
        positive_int(keys.get("base_batch_size"), f"{path}.base_batch_size", self.problems)

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

    def schedules(
        self, total: int | str | None, names: tuple[str, ...] | None = None
    ) -> tuple[ScheduleEntry, ...]:
        """The ``[schedules.*]`` tables; ``names``: the ``[optimizers.NAME]`` tables' names
        a table's ``optimizers`` may choose from (None: a single ``[optimizer]``)."""
        tables = self.table("schedules")
        out = []
        seen: dict[str, list[tuple[str, set[str] | None, set[str] | None]]] = {}
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
            if field in NOT_HYPERPARAMETERS:
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
            chosen = self._chosen(table.get("optimizers"), names, f"{path}.optimizers")
            if chosen is False:
                continue
            mine_opt = None if chosen is None else set(chosen)
            clash = next(
                (
                    other
                    for other, theirs, theirs_opt in seen.get(target, [])
                    if (mine is None or theirs is None or mine & theirs)
                    and mine != set()
                    and (mine_opt is None or theirs_opt is None or mine_opt & theirs_opt)
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
                seen.setdefault(target, []).append((key, mine, mine_opt))
            params = {
                k: v for k, v in table.items() if k not in ("type", "tags", "key", "optimizers")
            }
            tagged = None if tags is None else tuple(tags)
            if not isinstance(table["type"], str):
                self.problems.append(
                    SpecError(
                        f"expected a registered name, got {show(table['type'])}", f"{path}.type"
                    )
                )
                continue
            try:
                info = default_registry().get("schedule", table["type"])
                called = transformers_form(table["type"], info.cls, params, self.data, path)
                if called is not None:
                    out.append(ScheduleEntry(key, called, tagged, target, chosen))
                    continue
                if "total" in _fields_of(info.cls) and "total" not in params and total is not None:
                    params["total"] = total
                warmup_from_ratio(params, self.data, path)
                base = absolute_base_lr(info.cls, params, self.data, path)
                sched = get_schedule(
                    table["type"], _path=path, _base=base, _from_data=True, **params
                )
            except SpecError as e:
                self.problems.append(e if e.path.startswith(path) else e.at(path))
                continue
            except SchedkitError as e:
                self.problems.append(SpecError(str(e), f"{path}.type"))
                continue
            out.append(ScheduleEntry(key, sched, tagged, target, chosen))
        return tuple(out)

    def resume(self) -> ResumePolicy:
        table = self.table("resume")
        given: dict[str, Any] = {}
        for k, v in table.items():
            if k not in RESUME_KEYS:
                self.problems.append(unknown_key(k, RESUME_KEYS, f"resume.{k}"))
                continue
            try:
                ResumePolicy(**{k: v})  # each key checked alone: every problem reported
            except SpecError as e:
                self.problems.append(e.at("resume"))
                continue
            given[k] = float(v) if k == "rtol" else v
        return ResumePolicy(**given)

    def _chosen(
        self, value: Any, names: tuple[str, ...] | None, where: str
    ) -> tuple[str, ...] | Literal[False] | None:
        """A schedule table's ``optimizers``: the names chosen, None for all of them, False
        when the value is a problem (reported)."""
        if value is None:
            return None
        if names is None:
            self.problems.append(
                SpecError("only a setup with [optimizers.NAME] tables chooses optimizers", where)
            )
            return False
        chosen = [value] if isinstance(value, str) else value
        if (
            not isinstance(chosen, list)
            or not chosen
            or not all(isinstance(n, str) for n in chosen)
        ):
            self.problems.append(
                SpecError(f"expected a list of optimizer names, got {show(value)}", where)
            )
            return False
        unknown = [n for n in chosen if n not in names]
        if unknown:
            self.problems.append(unknown_key(unknown[0], names, where))
            return False
        return tuple(dict.fromkeys(chosen))

    def clip(self) -> dict[str, Any] | None:
        spec = self.data.get("clip")
        if spec is None:
            return None
        if not isinstance(spec, Mapping) or "type" not in spec:
            self.problems.append(
                SpecError("expected a table with a 'type' (e.g. type = \"norm\")", "clip")
            )
            return None
        spec = dict(spec)
        on_skip = spec.pop("on_skip", None)
        if on_skip is not None and on_skip not in ON_SKIP:
            self.problems.append(
                SpecError(f"expected one of {list(ON_SKIP)}, got {on_skip!r}", "clip.on_skip")
            )
            return None
        try:
            out = dict(build_component("clipper", spec, {}, "clip").spec())
            # not the clipper's: what the schedulers do on a step it skips (Built.on_skip)
            return out if on_skip is None else {**out, "on_skip": on_skip}
        except SpecError as e:
            self.problems.append(e if e.path.startswith("clip") else e.at("clip"))
        except SchedkitError as e:
            self.problems.append(SpecError(str(e), "clip.type"))
        return None
