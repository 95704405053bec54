"""Generate the Examples page and put every example file on the site, to read and download.

The setups in ``examples/`` and the converted configs of ``examples/converted/`` are the
files the docs point at: on the site each is a section of ``examples.md`` (its comment
header as the description, the file as written) and a file of its own under
``examples/`` (the same path as in a checkout), so the docs' links to them work on the
site alone, without a repository to link to.
"""

from __future__ import annotations

import json
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LANG = {".toml": "toml", ".json": "json", ".py": "python", ".yaml": "yaml"}


def describe(path: Path) -> str:
    """The leading comment block of a setup, as one paragraph."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def publish(path: Path) -> str:
    """Copy an example onto the site; the link to it from ``examples.md``."""
    rel = path.relative_to(ROOT).as_posix()
    with mkdocs_gen_files.open(rel, "w", encoding="utf-8") as f:
        f.write(path.read_text(encoding="utf-8"))
    return rel


def setups() -> list[str]:
    out = []
    for path in sorted(EXAMPLES.glob("*.toml")):
        rel = publish(path)
        out += [
            f"## {path.name} {{#{path.stem}}}",
            "",
            describe(path),
            "",
            f"[Download `{path.name}`]({rel}) · "
            f"`schedkit check {rel}` · `schedkit preview {rel}` · `schedkit plot {rel}`",
            "",
            f"```{LANG[path.suffix]}",
            path.read_text(encoding="utf-8").rstrip(),
            "```",
            "",
        ]
    return out


def converted() -> list[str]:
    folder = EXAMPLES / "converted"
    entries = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    out = [
        "## Converted configs {#converted}",
        "",
        "Each config as its library writes it, and the setup `schedkit convert` makes of it "
        "(the [Migrating](migrating.md#bring-your-config-schedkit-convert) page shows both "
        "side by side).",
        "",
        "| source | config | setup | what it is |",
        "| --- | --- | --- | --- |",
    ]
    published = set()
    for entry in entries:
        config = publish(folder / entry["file"])
        setup = publish(folder / entry["setup"])
        published |= {entry["file"], entry["setup"]}
        out.append(
            f"| {entry['source']} | [{entry['file']}]({config}) | "
            f"[{entry['setup']}]({setup}) | {entry['about']} |"
        )
    # the bases a config's _base_ chain reads
    for path in sorted(folder.iterdir()):
        if path.suffix in LANG and path.name not in published | {"index.json"}:
            publish(path)
    return [*out, ""]


def main() -> None:
    lines = [
        "# Examples",
        "",
        "Realistic setups, each from a published recipe, and configs of other libraries "
        "converted by `schedkit convert`. Every file here is checked, built and previewed "
        "by the tests; download one, or run the commands from a checkout. "
        "[Setups and the command line](setup.md) explains the format; "
        "`examples/third-party-plugin/` is a whole plugin distribution, shown on the "
        "[Plugins](plugins.md) page.",
        "",
        *setups(),
        *converted(),
    ]
    with mkdocs_gen_files.open("examples.md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


main()
