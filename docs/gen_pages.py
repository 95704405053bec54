"""Generate the reference pages and the gallery from the registry at docs build time.

Run by mkdocs-gen-files (see mkdocs.yml): one page per registered schedule, rule and
clipper (parameters, defaults, docstring with its formula, examples, and for schedules a
plot of each example), the gallery of every schedule family, and the hook reference from
the hookspecs' docstrings. Nothing here is committed: a new family gets its page and its
picture from its registration alone.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import schedkit
from schedkit import hookspecs
from schedkit.cli import describe

KIND_DIRS = {"schedule": "schedules", "rule": "rules", "clipper": "clippers"}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def example_toml(name: str, example: dict[str, Any]) -> str:
    lines = ["[schedules.lr]", f'type = "{name}"']
    lines += [f"{k} = {_toml_value(v)}" for k, v in example.items()]
    return "\n".join(lines)


def plot_png(info: schedkit.ComponentInfo) -> bytes | None:
    """A PNG of the factor over steps for each serialisable example, or None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    curves = []
    for example in info.examples:
        if getattr(info.cls, "in_process_only", False):
            sched: Any = schedkit.get_schedule(info.name, **example)
        else:
            sched = schedkit.resolve(
                schedkit.get_schedule({"type": info.name, **example}), steps_per_epoch=10
            )
        horizon = getattr(sched, "horizon", None) or 300
        t = torch.arange(0, int(horizon * 1.25) + 2, dtype=torch.float64)
        label = ", ".join(f"{k}={v}" for k, v in example.items() if not callable(v)) or "defaults"
        curves.append((t.numpy(), sched.values(t).numpy(), label))
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    for t, v, label in curves:
        ax.plot(t, v, label=label[:80])
    ax.set_xlabel("step")
    ax.set_ylabel("factor")
    ax.set_title(info.name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def component_page(info: schedkit.ComponentInfo, image: str | None) -> str:
    d = describe(info.kind, info.name)
    out = [f"# `{info.name}`", ""]
    origin = f"{info.kind} from plugin `{info.plugin}` ({info.distribution} {info.version})"
    out.append(
        origin + (f"; aliases: {', '.join(f'`{a}`' for a in info.aliases)}" if info.aliases else "")
    )
    out += ["", d["doc"], ""]
    if image:
        out += [f"![{info.name}]({image})", ""]
    out += ["## Parameters", "", "| parameter | type | default |", "| --- | --- | --- |"]
    for p in d["parameters"]:
        default = "required" if p["required"] else f"`{p['default']!r}`"
        out.append(f"| `{p['name']}` | `{p['type']}` | {default} |")
    serialisable = [e for e in info.examples if not any(callable(v) for v in e.values())]
    if serialisable and info.kind == "schedule":
        out += ["", "## Examples", ""]
        for example in serialisable:
            out += ["```toml", example_toml(info.name, dict(example)), "```", ""]
    return "\n".join(out) + "\n"


def hooks_page() -> str:
    out = ["# Hook reference", "", "Rendered from the hookspecs in `schedkit.hookspecs`.", ""]
    for name, fn in vars(hookspecs).items():
        if name.startswith("schedkit_") and callable(fn):
            sig = str(inspect.signature(fn)).replace("'", "")
            out += [f"## `{name}{sig}`", "", inspect.getdoc(fn) or "", ""]
    return "\n".join(out)


def generate(write: Callable[[str, str | bytes], None]) -> list[str]:
    """Write every generated page through ``write(path, content)``; return the page paths."""
    pages = []
    index = ["# Reference", "", "Every registered component, generated from the registry.", ""]
    gallery = [
        "# Gallery",
        "",
        "Every schedule family with its examples, drawn from the registry.",
        "",
    ]
    for kind, folder in KIND_DIRS.items():
        comps = schedkit.registered(kind)  # type: ignore[arg-type]
        if not comps:
            continue
        index += [f"## {folder.capitalize()}", ""]
        for info in comps:
            image = None
            if kind == "schedule":
                png = plot_png(info)
                if png is not None:
                    image = f"{info.name}.png"
                    write(f"reference/{folder}/{image}", png)
                    gallery += [
                        f"## [`{info.name}`]({folder}/{info.name}.md)",
                        "",
                        f"![{info.name}]({folder}/{image})",
                        "",
                    ]
            path = f"reference/{folder}/{info.name}.md"
            write(path, component_page(info, image))
            pages.append(path)
            first = (info.doc.splitlines() or [""])[0]
            index.append(f"- [`{info.name}`]({folder}/{info.name}.md): {first}")
        index.append("")
    write("reference/index.md", "\n".join(index) + "\n")
    write("reference/gallery.md", "\n".join(gallery) + "\n")
    write("reference/hooks.md", hooks_page())
    return [*pages, "reference/index.md", "reference/gallery.md", "reference/hooks.md"]


ROOT = Path(__file__).resolve().parents[1]


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def setup_png(path: Path, title: str, **build: Any) -> bytes:
    """Every param group and scheduled key of a setup, as ``schedkit plot -o`` draws it."""
    from schedkit._curves import curves
    from schedkit._example import tiny_vit
    from schedkit._plot import figure

    built = schedkit.load_setup(path).build(tiny_vit(), **build)
    total = built.total_steps or 1000
    return _png(figure(curves(built, total), title=title))


def schedule_png(spec: dict[str, Any], title: str, total: int = 1000) -> bytes:
    """One schedule's factor over a run (the home page's small pictures)."""
    from matplotlib.figure import Figure

    sched = schedkit.resolve(schedkit.get_schedule(spec), total_steps=total)
    steps = list(range(0, total + 1, max(1, total // 500)))
    fig = Figure(figsize=(5, 2.6), dpi=150, layout="constrained")
    ax = fig.subplots()
    ax.plot(steps, [sched(s) for s in steps], lw=1.8)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("lr factor")
    ax.grid(alpha=0.3)
    return _png(fig)


def site_pictures(write: Callable[[str, str | bytes], None]) -> list[str]:
    """The pictures of the home page and the setup page, made at build time (never
    committed): the layer-decay fan is ``examples/vit-finetune.toml`` drawn by the same code
    as ``schedkit plot``."""
    examples = ROOT / "examples"
    fan = setup_png(examples / "vit-finetune.toml", "examples/vit-finetune.toml: every group")
    pictures = {
        "img/vit-finetune.png": fan,
        "img/home-layer-decay.png": fan,
        "img/home-cosine.png": schedule_png(
            {"type": "cosine", "total": 1000, "warmup": 100}, "linear warmup + cosine"
        ),
        "img/home-wsd.png": schedule_png(
            {"type": "wsd", "total": 1000, "warmup": 100, "decay": "20%"},
            "warmup-stable-decay (WSD)",
        ),
        "img/home-one-cycle.png": setup_png(
            examples / "resnet-one-cycle.toml", "examples/resnet-one-cycle.toml"
        ),
    }
    for path, data in pictures.items():
        write(path, data)
    return list(pictures)


def _mkdocs() -> None:
    import mkdocs_gen_files

    def write(path: str, content: str | bytes) -> None:
        mode = "wb" if isinstance(content, bytes) else "w"
        with mkdocs_gen_files.open(path, mode) as f:
            f.write(content)

    generate(write)
    site_pictures(write)


if __name__ in {"__main__", "<run_path>"}:
    _mkdocs()
