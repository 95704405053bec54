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


def _metric(step: int) -> float:
    """A validation loss that improves, then stalls: what a plateau schedule reacts to."""
    return max(1.0 - step / 150, 0.4) if step < 400 else 0.4 - (step - 400) / 2000


def _curve(sched: Any, steps: list[int]) -> list[float]:
    """The schedule's values; a metric-driven one is fed :func:`_metric` step by step."""
    if callable(getattr(sched, "observe", None)):
        out = []
        for step in steps:
            if step:
                sched.observe(_metric(step), step)
            out.append(float(sched(step)))
        return out
    import torch

    return [float(v) for v in sched.values(torch.tensor(steps, dtype=torch.float64))]


def _y_label(sched: Any) -> str:
    names = {c.__name__ for c in type(sched).__mro__}
    if "Absolute" in names:
        return "lr (absolute, as the original)"
    if "Recursive" in names or "ClosedForm" in names:
        return "lr of a group with base lr 1"
    return "factor (x base value)"


def _short(example: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in example.items() if not callable(v)) or "defaults"
    return text if len(text) <= 60 else text[:57] + "..."


def plot_png(info: schedkit.ComponentInfo) -> bytes | None:
    """A PNG of each serialisable example over steps (a legend below the axes), or None."""
    from matplotlib.figure import Figure

    curves = []
    for example in info.examples:
        if getattr(info.cls, "in_process_only", False):
            sched: Any = schedkit.get_schedule(info.name, **example)
        else:
            sched = schedkit.resolve(
                schedkit.get_schedule({"type": info.name, **example}), steps_per_epoch=10
            )
        horizon = getattr(sched, "horizon", None) or 600
        steps = list(range(0, int(horizon * 1.25) + 2, max(1, int(horizon * 1.25) // 600)))
        curves.append((sched, steps, _curve(sched, steps), _short(dict(example))))
    if not curves:
        return None
    fig = Figure(figsize=(6.4, 3.0 + 0.22 * len(curves)), dpi=160, layout="constrained")
    # one panel per example when their lengths differ a lot: a short one is not squashed
    lengths = [c[1][-1] for c in curves]
    separate = max(lengths) > 4 * max(min(lengths), 1) and len(curves) > 1
    axes = fig.subplots(len(curves) if separate else 1, 1, squeeze=False)[:, 0]
    for i, (_, steps, values, label) in enumerate(curves):
        ax = axes[i if separate else 0]
        ax.plot(steps, values, label=label, lw=1.6)
    for ax in axes:
        ax.set_ylabel(_y_label(curves[0][0]), fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    axes[-1].set_xlabel("step", fontsize=8)
    fig.suptitle(info.name, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


#: The gallery's order: native families first, then the drop-in aliases by origin.
ORIGINS = ("transformers", "torch", "timm", "detectron2", "mmpretrain", "cerebras")


def gallery_order(infos: list[schedkit.ComponentInfo]) -> list[schedkit.ComponentInfo]:
    def key(info: schedkit.ComponentInfo) -> tuple[int, str]:
        origin = info.name.split(".", 1)[0] if "." in info.name else ""
        rank = 0 if not origin else 1 + (ORIGINS.index(origin) if origin in ORIGINS else 99)
        return rank, info.name

    return sorted(infos, key=key)


def summary(doc: str) -> str:
    """A docstring's first sentence, whole (it may run over several lines)."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    for end in (". ", ".\n"):
        if end in paragraph + "\n":
            return (paragraph + "\n").split(end, 1)[0] + "."
    return paragraph


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
        "Every schedule family with its examples, drawn from the registry: native families "
        "first, then the drop-in aliases by the library they come from. Plateau schedules "
        "are fed a validation loss that improves, then stalls; aliases whose values are "
        "absolute say so on their axis.",
        "",
    ]
    for kind, folder in KIND_DIRS.items():
        comps = schedkit.registered(kind)  # type: ignore[arg-type]
        if not comps:
            continue
        index += [f"## {folder.capitalize()}", ""]
        origin = None
        for info in gallery_order(list(comps)):
            image = None
            if kind == "schedule":
                png = plot_png(info)
                if png is not None:
                    image = f"{info.name}.png"
                    write(f"reference/{folder}/{image}", png)
                    here = info.name.split(".", 1)[0] if "." in info.name else "native"
                    if here != origin:
                        if origin is not None:
                            gallery += ["", "</div>", ""]
                        title = "Native families" if here == "native" else f"`{here}.*` aliases"
                        gallery += [f"## {title}", "", '<div class="grid-plots" markdown>', ""]
                        origin = here
                    gallery += [
                        f"[![{info.name}]({folder}/{image})]({folder}/{info.name}.md)",
                        "",
                    ]
            path = f"reference/{folder}/{info.name}.md"
            write(path, component_page(info, image))
            pages.append(path)
            index.append(f"- [`{info.name}`]({folder}/{info.name}.md): {summary(info.doc)}")
        index.append("")
        if kind == "schedule" and origin is not None:
            gallery += ["", "</div>", ""]
    gallery += [
        "Rules and clippers have no curve; their pages are in the [reference](index.md).",
        "",
    ]
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
