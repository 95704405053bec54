"""Text the ``schedkit`` command prints: tables of schedules at their milestones."""

from __future__ import annotations

import re
from typing import Any


def table(rows: list[list[str]], header: list[str], indent: str = "") -> str:
    """Left-aligned columns; the last one may run long."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def schedule_section(schedules: dict[str, Any], total: int, unit: str = "step") -> str:
    """Every scheduled key: its spec, what made each group, and each group's value at the
    milestones (one column per group); ``unit`` heads the milestones' column (``tokens``
    or ``samples`` on a clocked run)."""
    out: list[str] = []
    for key, s in schedules.items():
        spec = s["spec"]
        desc = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
        out.append(f"  {key}: {spec.get('type', '')} ({desc})".replace(" ()", ""))
        groups = s["groups"]
        for g in groups:
            if g["group"] >= 0:
                out.append(f"    group {g['group']}: {g['label']}")
        header = [unit] + [f"g{g['group']}" if g["group"] >= 0 else key for g in groups] + [""]
        rows = []
        for m in s["milestones"]:
            note = ""
            if m["step"] == s["warmup_end"]:
                note = "<- warmup end"
            elif m["step"] == s["decay_start"]:
                note = "<- decay start"
            elif m["step"] == total:
                note = "<- final"
            rows.append([str(m["step"]), *(f"{v:.4g}" for v in m["values"]), note])
        out.append(table(rows, header, indent="    "))
    return "\n".join(out)


_ROLE = re.compile(r":(?:[a-z]+:)?[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(doc: str) -> str:
    """A docstring for the terminal: reST roles and double-backtick literals as plain text."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", doc))
