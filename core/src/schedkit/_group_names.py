"""The names of param groups: each rule's part (its ``group_name`` hook, or its tags, or
its name) joined in rule order, made unique in group order."""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from schedkit.errors import SpecError
from schedkit.protocols import NamesGroups
from schedkit.values import ParamInfo, RuleEffect


def default_group_name(rule: Any, effect: RuleEffect | None) -> str | None:
    """The name part of a rule without a ``group_name``: its effect's tags, else its name."""
    if effect is None:
        return None
    if effect.tags:
        return "+".join(sorted(effect.tags))
    return getattr(rule, "name", "") or type(rule).__name__


def part_namer(rule: Any) -> Callable[[torch.nn.Module, Any, list[ParamInfo]], str | None]:
    """How ``rule`` names its part of a group: its ``group_name``, else the default."""
    own = rule.group_name if isinstance(rule, NamesGroups) else None

    def part(model: torch.nn.Module, effect: Any, params: list[ParamInfo]) -> str | None:
        name = default_group_name(rule, effect) if own is None else own(model, effect, params)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"group_name returned {name!r}, expected a str or None")
        return name or None

    return part


def group_names(
    model: torch.nn.Module,
    rules: Sequence[Any],
    columns: list[list[RuleEffect | None]],
    infos: Sequence[ParamInfo],
    index_of: Mapping[tuple[int, ...], int],
    count: int,
    labels: Sequence[str],
) -> list[str]:
    """A name per group (``count`` of them; ``index_of``: each decision key's group, ``infos``
    the parameters in model order), from the rules that made it: each rule's part (its
    ``group_name`` for the parameters it decided alike) joined by ``/`` in rule order,
    several parts of one rule in a merged group by ``+``; ``default`` when no rule gave
    one. Names are made unique in group order: a second ``x`` is ``x#2``."""
    parts: list[list[str]] = [[] for _ in range(count)]
    for j, (rule, column) in enumerate(zip(rules, columns, strict=True)):
        # the parameters of each distinct effect, in model order (sorted at C speed)
        effect_of = dict(zip(map(id, column), column, strict=True))
        params: dict[int, list[ParamInfo]] = {k: [] for k in effect_of}
        append_for = {k: v.append for k, v in params.items()}
        collections.deque(
            map(operator.call, map(append_for.__getitem__, map(id, column)), infos), maxlen=0
        )
        namer = part_namer(rule)
        try:
            part_of = {k: namer(model, effect_of[k], ps) for k, ps in params.items()}
        except (TypeError, ValueError) as e:
            where = labels[j].rsplit(" (", 1)[-1].rstrip(")")
            raise SpecError(f"cannot name its groups: {e}", where) from None
        of_group: dict[int, dict[str, None]] = {}
        for key, index in index_of.items():
            part = part_of[key[j]]
            if part is not None:
                of_group.setdefault(index, {})[part] = None
        for index, found in of_group.items():
            parts[index].append("+".join(found))
    names = ["/".join(p) or "default" for p in parts]
    seen: collections.Counter[str] = collections.Counter()
    taken = set(names)
    out = []
    for name in names:
        seen[name] += 1
        unique = name
        if seen[name] > 1:
            k = seen[name]
            while f"{name}#{k}" in taken:
                k += 1
            unique = f"{name}#{k}"
            taken.add(unique)
        out.append(unique)
    return out
