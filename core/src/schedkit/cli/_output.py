"""How the commands print: JSON, aligned tables, text the terminal may not encode."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    """``data`` as indented JSON (what no JSON type holds as its ``str``)."""
    print(json.dumps(data, indent=2, default=str))


def table(rows: list[list[str]], header: list[str]) -> str:
    """``rows`` under ``header`` in left-aligned columns."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def write_stdout(text: str) -> None:
    """``text`` on standard output, as UTF-8 when the terminal's encoding cannot hold it."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
