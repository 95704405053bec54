"""The param groups a model's rules made, ready for any ``torch.optim`` optimizer, able to
explain themselves (``table()``, ``rows()``, ``explain(name)``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from schedkit.values import ParamInfo, RuleEffect

Decision = Sequence[tuple[str, RuleEffect]]
"""What the rules decided for one parameter: (rule label, effect) in rule order."""


class ParamGroups(list[dict[str, Any]]):
    """The groups, ready for any ``torch.optim`` optimizer, that can explain themselves."""

    def __init__(
        self,
        groups: list[dict[str, Any]],
        base: Mapping[str, Any],
        decided: Mapping[tuple[int, ...], Decision],
        infos: Sequence[ParamInfo],
        keys: Sequence[tuple[int, ...]],
        index_of: Mapping[tuple[int, ...], int],
    ) -> None:
        super().__init__(groups)
        self._base = dict(base)
        self._decided = decided
        # each parameter's decision, in model order; the by-name tables are made when asked
        self._infos = infos
        self._keys = keys
        self._index_of = index_of
        self._by_name: dict[str, tuple[int, ...]] | None = None
        self._note_makers: list[Callable[[], list[str]]] = []

    @property
    def notes(self) -> list[str]:
        """What the rules say about how they placed the parameters (the layout layer decay's
        ``auto`` chose, the parameters that fell to its rest rule): worked out when asked,
        from rules with a ``placement_notes(model)`` method."""
        return [n for make in self._note_makers for n in make()]

    @property
    def _decision_of(self) -> dict[str, tuple[int, ...]]:
        if self._by_name is None:
            names = [i.name for i in self._infos]
            self._by_name = dict(zip(names, self._keys, strict=True))
        return self._by_name

    @property
    def _where(self) -> dict[str, int]:
        index_of = self._index_of
        return {n: index_of[k] for n, k in self._decision_of.items()}

    def group_of(self, name: str) -> int:
        """The index of the group holding the parameter ``name``."""
        key = self._decision_of.get(name)
        if key is None:
            raise KeyError(f"no trainable parameter named {name!r}")
        return self._index_of[key]

    def explain(self, name: str) -> str:
        """Which rule set each value of a parameter, in order."""
        group = self[self.group_of(name)]
        steps: dict[str, list[str]] = {k: [f"default {v!r}"] for k, v in self._base.items()}
        for label, effect in self._decided[self._decision_of[name]]:
            for key, value in effect.values.items():
                steps[key] = [f"{label} set {value!r}"]
            for key, mult in effect.multipliers.items():
                steps[key].append(f"{label} x{mult:g}")
        index = self.group_of(name)
        lines = [f"{name}: group {index} ({self.names[index]})"]
        for key, how in steps.items():
            # the base value: a scheduler keeps it as initial_<key> and changes <key>
            value = group.get(f"initial_{key}", group[key])
            lines.append(f"  {key} = {value!r}: " + ", then ".join(how))
        lines.append(f"  tags = {list(group.get('tags', []))}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    @property
    def names(self) -> list[str]:
        """Each group's name (``blocks.3/decay``), as its ``"name"`` entry holds it."""
        return [str(g.get("name", f"pg{i + 1}")) for i, g in enumerate(self)]

    def labels(self) -> list[str]:
        """What made each group, short: the rules that changed its settings and its tags."""
        made: dict[int, list[str]] = {}
        for key, i in self._index_of.items():
            parts = made.setdefault(i, [])
            for label, effect in self._decided[key]:
                rule = label.split(" (", 1)[0]
                mults = "".join(f" x{m:.3g}" for m in effect.multipliers.values())
                text = rule + mults
                if text not in parts:
                    parts.append(text)
        out = []
        for i, (g, name) in enumerate(zip(self, self.names, strict=True)):
            parts = made.get(i, [])
            text = ", ".join(parts[:3]) + (" ..." if len(parts) > 3 else "") or "defaults"
            tags = ",".join(g.get("tags", []))
            text = f"{text} [{tags}]" if tags else text
            out.append(f"{name}: {text}")
        return out

    def named_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """Every grouped parameter with its full name, in model order."""
        return [(i.name, i.param) for i in self._infos]

    def rows(self) -> list[dict[str, Any]]:
        """One summary per group: name, count, numel, lr, weight decay, tags, first names."""
        names: dict[int, list[str]] = {}
        for n, i in self._where.items():
            names.setdefault(i, []).append(n)
        return [
            {
                "group": i,
                "name": name,
                "params": len(g["params"]),
                "numel": sum(p.numel() for p in g["params"]),
                "lr": g.get("initial_lr", g.get("lr")),
                "weight_decay": g.get("initial_weight_decay", g.get("weight_decay")),
                "tags": list(g.get("tags", [])),
                "names": names.get(i, []),
            }
            for i, (g, name) in enumerate(zip(self, self.names, strict=True))
        ]

    def table(self) -> str:
        """The groups as a text table for logs and the command line."""
        header = ["group", "name", "params", "numel", "lr", "weight_decay", "tags", "e.g."]
        rows = [
            [
                str(r["group"]),
                r["name"],
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
