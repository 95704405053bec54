"""Generate the `schedkit convert` examples of docs/migrating.md at build time.

Each pair in examples/converted/index.json is shown as written by its library and as
the converter writes it now, in place of the marker line in migrating.md.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import schedkit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "converted"
MARKER = "<!-- schedkit convert: generated sections -->"
FLAGS = {
    "steps_per_epoch": "--steps-per-epoch",
    "dataset_size": "--dataset-size",
    "world_size": "--world-size",
}


def section(entry: dict[str, Any]) -> str:
    source = EXAMPLES / entry["file"]
    conv = schedkit.convert(entry["source"], source, **entry["facts"])
    flags = [f"{FLAGS[k]} {v}" for k, v in entry["facts"].items()]
    command = " ".join(
        [
            "schedkit convert --from",
            entry["source"],
            shlex.quote(entry["file"]),
            *flags,
            "-o",
            entry["setup"],
        ]
    )
    lang = {".json": "json", ".py": "python"}.get(source.suffix, "yaml")
    return "\n".join(
        [
            # the file names the section: the page's table of contents already lists each
            # library once, under its own section
            f"### {entry['source']}: `{entry['file']}`",
            "",
            f"Before: {entry['about']} (`examples/converted/{entry['file']}`).",
            "",
            f"```{lang}",
            source.read_text().rstrip(),
            "```",
            "",
            f"After: `{command}`",
            "",
            "```toml",
            conv.toml.rstrip(),
            "```",
            "",
            "Ignored (`--verbose`): " + (", ".join(f"`{k}`" for k in conv.ignored) or "none") + ".",
            "",
        ]
    )


def generated() -> str:
    index = json.loads((EXAMPLES / "index.json").read_text())
    return "\n".join(section(e) for e in index)


def page(text: str) -> str:
    """migrating.md with the marker replaced by the generated sections."""
    if MARKER not in text:
        raise ValueError(f"docs/migrating.md has lost its marker {MARKER!r}")
    return text.replace(MARKER, generated())


def _mkdocs() -> None:
    import mkdocs_gen_files

    text = (ROOT / "docs" / "migrating.md").read_text()
    with mkdocs_gen_files.open("migrating.md", "w") as f:
        f.write(page(text))


if __name__ in {"__main__", "<run_path>"}:
    _mkdocs()
