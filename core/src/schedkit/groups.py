"""The param-group builder: rules decide each parameter's hyperparameters, groups are merged.

``build_param_groups(model, rules, lr=..., weight_decay=...)`` walks every trainable
parameter once (tied parameters once, frozen ones skipped), asks each rule in order, and
merges parameters with identical settings and tags into one group, so the number of groups
is the number of distinct settings (foreach and fused optimizers launch per group).

Precedence, per parameter: start from the defaults; each rule in order may set explicit
values (they replace the current value), then multipliers (they scale the current value),
then tags (added). Later rules act on what earlier rules left, so ``[layer_decay,
no_weight_decay, overrides]`` lets an override's ``lr_mult`` scale the decayed lr while an
override's ``lr`` replaces it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import attrs
import torch

from schedkit.components import build
from schedkit.errors import SpecError
from schedkit.protocols import ParamInfo, ParamRule, RuleEffect
from schedkit.schedule import attrs_spec


@attrs.frozen
class BaseRule:
    """Base class of param-group rules: a ``name``, ``spec()`` from the fields, ``bind()``.

    Subclasses are ``attrs.frozen`` classes with validated fields; ``bind(model)`` returns
    the function that decides for each parameter.
    """

    name: ClassVar[str] = ""

    def spec(self) -> dict[str, Any]:
        """Plain-data description, every parameter included, that rebuilds this rule."""
        return attrs_spec(self)

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        raise NotImplementedError


class UnplacedParameter(SpecError):
    """A rule cannot decide for a parameter it must decide for (e.g. an unknown depth)."""


def trainable_parameters(model: torch.nn.Module) -> Iterator[ParamInfo]:
    """Every trainable parameter once, with its full name and owning module, in model order.

    A tied parameter is reported once, under its first name (as ``named_parameters``);
    frozen parameters (``requires_grad=False``) are skipped.
    """
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for local, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            if not param.requires_grad:
                continue
            name = f"{module_name}.{local}" if module_name else local
            yield ParamInfo(name, param, module, module_name)


def _rule(rule: Any, index: int) -> tuple[str, ParamRule]:
    if isinstance(rule, (str, Mapping)):
        try:
            rule = build("rule", rule, {}, f"rules[{index}]")
        except SpecError as e:
            raise e if e.path.startswith("rules[") else e.at(f"rules[{index}]") from None
    if not isinstance(rule, ParamRule):
        raise SpecError(f"expected a rule, a rule name or a spec, got {rule!r}", f"rules[{index}]")
    try:
        label = str(rule.spec().get("type", type(rule).__name__))
    except SpecError:
        label = type(rule).__name__
    return f"{label} (rules[{index}])", rule


class ParamGroups(list[dict[str, Any]]):
    """The groups, ready for any ``torch.optim`` optimizer, that can explain themselves."""

    def __init__(
        self,
        groups: list[dict[str, Any]],
        origin: Mapping[str, dict[str, list[str]]],
        where: Mapping[str, int],
    ) -> None:
        super().__init__(groups)
        self._origin = dict(origin)
        self._where = dict(where)

    def group_of(self, name: str) -> int:
        """The index of the group holding the parameter ``name``."""
        if name not in self._where:
            raise KeyError(f"no trainable parameter named {name!r}")
        return self._where[name]

    def explain(self, name: str) -> str:
        """Which rule set each value of a parameter, in order."""
        group = self[self.group_of(name)]
        lines = [f"{name}: group {self.group_of(name)}"]
        for key, steps in self._origin[name].items():
            value = group[key]
            lines.append(f"  {key} = {value!r}: " + ", then ".join(steps))
        tags = group.get("tags") or []
        lines.append(f"  tags = {tags}")
        return "\n".join(lines)

    def rows(self) -> list[dict[str, Any]]:
        """One summary per group: count, numel, lr, weight decay, tags, first names."""
        out = []
        for i, g in enumerate(self):
            names = [n for n, j in self._where.items() if j == i]
            out.append(
                {
                    "group": i,
                    "params": len(g["params"]),
                    "numel": sum(p.numel() for p in g["params"]),
                    "lr": g.get("lr"),
                    "weight_decay": g.get("weight_decay"),
                    "tags": list(g.get("tags", [])),
                    "names": names,
                }
            )
        return out

    def table(self) -> str:
        """The groups as a text table for logs and the command line."""
        header = ["group", "params", "numel", "lr", "weight_decay", "tags", "e.g."]
        rows = [
            [
                str(r["group"]),
                str(r["params"]),
                f"{r['numel']:,}",
                f"{r['lr']:.6g}",
                f"{r['weight_decay']:.6g}",
                ",".join(r["tags"]) or "-",
                r["names"][0],
            ]
            for r in self.rows()
        ]
        widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]
        )


def build_param_groups(
    model: torch.nn.Module,
    rules: Iterable[ParamRule | str | Mapping[str, Any]] = (),
    *,
    lr: float,
    weight_decay: float = 0.0,
    **defaults: Any,
) -> ParamGroups:
    """Param groups for ``model`` from ``rules``, merged to the distinct settings.

    Each group holds the real ``lr`` and ``weight_decay`` (and any other default) for its
    parameters, and ``tags`` when rules gave some, so schedulers apply their schedules on top
    of these base values.

    >>> groups = build_param_groups(
    ...     model, ["no_weight_decay"], lr=1e-3, weight_decay=0.05
    ... )  # doctest: +SKIP
    >>> torch.optim.AdamW(groups)  # doctest: +SKIP
    """
    base: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay, **defaults}
    bound: list[tuple[str, Callable[[ParamInfo], RuleEffect | None]]] = []
    for i, r in enumerate(rules):
        label, rule = _rule(r, i)
        bound.append((label, rule.bind(model)))
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    index: dict[tuple[Any, ...], int] = {}
    origin: dict[str, dict[str, list[str]]] = {}
    where: dict[str, int] = {}
    unplaced: list[str] = []
    for info in trainable_parameters(model):
        settings = dict(base)
        steps = {k: ["default"] for k in settings}
        tags: set[str] = set()
        for label, decide in bound:
            try:
                effect = decide(info)
            except UnplacedParameter as e:
                unplaced.append(f"{info.name}: {e.message}")
                break
            if effect is None:
                continue
            for key, value in effect.values.items():
                settings[key] = value
                steps[key] = [f"{label} set {value!r}"]
            for key, mult in effect.multipliers.items():
                if key not in settings:
                    raise SpecError(
                        f"{label} scales {key!r}, which has no value to scale", info.name
                    )
                settings[key] = settings[key] * mult
                steps[key].append(f"{label} x{mult:g}")
            tags |= effect.tags
        same = (tuple(sorted(settings.items(), key=lambda kv: kv[0])), tuple(sorted(tags)))
        group = groups.get(same)
        if group is None:
            group = {"params": [], **settings}
            if tags:
                group["tags"] = sorted(tags)
            groups[same] = group
            index[same] = len(index)
        group["params"].append(info.param)
        origin[info.name] = steps
        where[info.name] = index[same]
    if unplaced:
        raise UnplacedParameter(
            f"{len(unplaced)} parameter(s) could not be placed:\n  " + "\n  ".join(unplaced)
        )
    if not groups:
        raise SpecError("the model has no trainable parameters")
    return ParamGroups(list(groups.values()), origin, where)
