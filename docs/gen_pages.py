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
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import schedkit
from schedkit import _toml_out, hookspecs
from schedkit.cli import describe


def _load_markdown() -> Callable[[str], str]:
    """``docs/api_docstrings.py``'s ``markdown``: docstrings as the API page renders them."""
    import importlib.util

    path = Path(__file__).resolve().with_name("api_docstrings.py")
    spec = importlib.util.spec_from_file_location("api_docstrings", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    render: Callable[[str], str] = module.markdown
    return render


markdown = _load_markdown()

KIND_DIRS = {"schedule": "schedules", "rule": "rules", "clipper": "clippers"}


def example_toml(name: str, example: dict[str, Any]) -> str:
    """A registration's example as a setup's schedule table (keys and strings quoted and
    escaped by tomlkit, through the writer of ``Setup.to_toml``)."""
    lines = ["[schedules.lr]", f"type = {_toml_out.value(name)}"]
    lines += [f"{_toml_out.key(k)} = {_toml_out.value(v)}" for k, v in example.items()]
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
    """A PNG of each serialisable example over steps, or None."""
    fig = plot_figure(info)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_figure(info: schedkit.ComponentInfo) -> Any:
    """The family's picture: one panel per example, titled with its parameters, when their
    lengths differ a lot (a short one is not squashed), else one panel with a legend below
    it. One y label for the figure, so no label runs past a short panel."""
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
    lengths = [c[1][-1] for c in curves]
    separate = max(lengths) > 4 * max(min(lengths), 1) and len(curves) > 1
    panels = len(curves) if separate else 1
    legend = 0 if separate else 0.2 * len(curves)
    fig = Figure(figsize=(6.4, 1.0 + 2.0 * panels + legend), dpi=160, layout="constrained")
    axes = fig.subplots(panels, 1, squeeze=False)[:, 0]
    for i, (_, steps, values, label) in enumerate(curves):
        ax = axes[i if separate else 0]
        ax.plot(steps, values, label=label, lw=1.6)
        if separate:
            ax.set_title(label, fontsize=8, loc="left")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    if not separate:
        fig.legend(fontsize=8, loc="outside lower center", frameon=False)
    fig.supylabel(_y_label(curves[0][0]), fontsize=8)
    axes[-1].set_xlabel("step", fontsize=8)
    fig.suptitle(info.name, fontsize=10)
    return fig


#: The gallery's order: native families first, then the drop-in aliases by origin.
ORIGINS = (
    "transformers",
    "torch",
    "timm",
    "detectron2",
    "mmpretrain",
    "cerebras",
    "olmo",
    "pytorch_optimizer",
)


def gallery_order(infos: list[schedkit.ComponentInfo]) -> list[schedkit.ComponentInfo]:
    def key(info: schedkit.ComponentInfo) -> tuple[int, str]:
        origin = info.name.split(".", 1)[0] if "." in info.name else ""
        rank = 0 if not origin else 1 + (ORIGINS.index(origin) if origin in ORIGINS else 99)
        return rank, info.name

    return sorted(infos, key=key)


#: Abbreviations whose full stop ends no sentence.
ABBREVIATIONS = ("e.g", "i.e", "etc", "vs", "cf", "approx")


def summary(doc: str) -> str:
    """A docstring's first sentence, whole (it may run over several lines, and "e.g." or
    "i.e." inside it does not end it)."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    for stop in re.finditer(r"\.(?=\s|$)", paragraph):
        before = paragraph[: stop.start()]
        word = before.rsplit(" ", 1)[-1].lstrip("(").lower()
        if word in ABBREVIATIONS:
            continue
        return before + "."
    return paragraph


#: The warmup every schedule accepts (schedkit.get_schedule); the Composition page has the
#: formulas and a picture of each mode.
WARMUP_PARAMETERS = {
    "warmup": 'the warmup\'s length: steps, `"5ep"` or `"10%"` (0: none)',
    "warmup_start": "the factor the warmup starts from",
    "warmup_kind": "the ramp's shape: `linear`, `constant`, `exponential`, `cosine`, "
    "`1-sqrt`, `log` (DeepSpeed's) or `quadratic`",
    "warmup_mode": "how the ramp meets the curve: `shift` (a prefix; `total` includes it), "
    "`overlay` (multiplies it), `replace` (timm's) or `bridge` (fvcore's)",
}
COMPOSITION_LINK = "../../composition.md#warmup"


def parameter_description(name: str, doc: str) -> str:
    """What a parameter is: the warmup's own words; else the first clause of the docstring
    that names it (components describe their parameters in prose), or a pointer to that
    prose when the clause is too long for a table; else nothing."""
    if name in WARMUP_PARAMETERS:
        return f"{WARMUP_PARAMETERS[name]} ([warmup]({COMPOSITION_LINK}))"
    text = " ".join(doc.split())
    for clause in re.split(r"(?<=[.;])\s+", text):
        if f"``{name}``" not in clause:
            continue
        clause = clause.rstrip(";:")
        unbalanced = clause.count("(") != clause.count(")") or clause.count("``") % 2
        if len(clause) > 200 or unbalanced or "|" in clause:
            return "see the description above"
        return markdown(clause)
    return ""


def component_page(info: schedkit.ComponentInfo, image: str | None) -> str:
    d = describe(info.kind, info.name)
    out = [f"# `{info.name}`", ""]
    origin = f"{info.kind} from plugin `{info.plugin}` ({info.distribution} {info.version})"
    out.append(
        origin + (f"; aliases: {', '.join(f'`{a}`' for a in info.aliases)}" if info.aliases else "")
    )
    out += ["", markdown(d["doc"]), ""]
    if image:
        out += [f"![{info.name}]({image})", ""]
    out += [
        "## Parameters",
        "",
        "| parameter | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for p in d["parameters"]:
        default = "required" if p["required"] else f"`{p['default']!r}`"
        about = parameter_description(p["name"], d["doc"])
        out.append(f"| `{p['name']}` | `{p['type']}` | {default} | {about} |")
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
            out += [f"## `{name}{sig}`", "", markdown(inspect.getdoc(fn) or ""), ""]
    return "\n".join(out)


#: where docs/plugins.md holds the table of extension points: rendered between these
#: marks, committed (``python docs/gen_pages.py --hooks`` writes it; a test compares)
EXTENSION_POINTS_MARK = "<!-- extension points: generated by docs/gen_pages.py -->"
EXTENSION_POINTS_END = "<!-- end of extension points -->"


def _md(text: str) -> str:
    """reST roles and literals of a docstring as markdown code."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    para = doc.split("\n\n", 1)[0]
    return _md(" ".join(para.split()))


def _signature(fn: Any) -> str:
    sig = str(inspect.signature(fn)).replace("'", "")
    return re.sub(r"^\((?:self|cls)(?:: \w+)?(?:, |(?=\)))", "(", sig)


def extension_points() -> list[tuple[str, str, str]]:
    """Every declared extension point as (where, hook, contract), grouped by component
    kind: the hooks of :class:`schedkit.hooks.ScheduleHooks` and of
    :class:`schedkit.BaseSchedule`, the stepping policy's methods, the hooks of
    :class:`schedkit.BaseRule` and :class:`schedkit.BaseClipper` (each one's docstring or
    ``#:`` comment), and the protocols of the optional behaviours."""
    from schedkit import hooks, protocols
    from schedkit.plugin import BaseClipper, BaseRule, BaseSchedule

    proto_rows = [
        (where, f"`{proto.__name__}` (protocol)", _first_line(proto))
        for where, proto in protocols.OPTIONAL_BEHAVIOURS
    ]
    out = _hook_rows("schedule", hooks.ScheduleHooks, hooks.SCHEDULE_HOOKS)
    out += _hook_rows("schedule", BaseSchedule, hooks.BASE_SCHEDULE_HOOKS)
    out += [row for row in proto_rows if row[0] == "schedule"]
    for name in ("step", "methods"):
        fn = getattr(hooks.Stepping, name)
        out.append(("stepping policy", f"`{name}{_signature(fn)}`", _first_line(fn)))
    out += [row for row in proto_rows if row[0] in ("per-group curve", "companion curve")]
    out += _hook_rows("rule", BaseRule, hooks.RULE_HOOKS)
    out += [row for row in proto_rows if row[0] == "rule"]
    out += _hook_rows("clipper", BaseClipper, hooks.CLIPPER_HOOKS)
    out += [row for row in proto_rows if row[0] == "clipper"]
    assert len(out) == len({*out}), "a hook listed twice"
    assert {*proto_rows} <= {*out}, "a protocol of an unknown kind of component"
    return out


def _hook_rows(where: str, cls: type, names: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """The rows of the hooks ``names`` of ``cls``: its docstring, or its ``#:`` comment."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("schedkit"):
            comments.update(_attribute_comments(klass))
    out = []
    for name in names:
        member = inspect.getattr_static(cls, name)
        if isinstance(member, (classmethod, staticmethod)):
            member = member.__func__
        if isinstance(member, property):
            doc = _first_line(member)
            shown = f"`{name}` (property)"
        elif callable(member):
            doc = _first_line(member)
            shown = f"`{name}{_signature(member)}`"
        else:
            doc = _md(comments[name])
            doc = doc[:1].upper() + doc[1:] + ("" if doc.endswith(".") else ".")
            shown = f"`{name}` (class attribute)"
        out.append((where, shown, doc))
    return out


def _attribute_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comments above the class attributes of ``cls``, joined, by name."""
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        m = re.match(r"(\w+)\s*:", text)
        if m and pending:
            out[m.group(1)] = " ".join(pending)
        pending = []
    return out


def extension_points_table() -> str:
    """docs/plugins.md's table of extension points."""
    rows = ["| of | hook | contract |", "| --- | --- | --- |"]
    for where, hook, doc in extension_points():
        hook, contract = hook.replace("|", "\\|"), doc.replace("|", "\\|")
        rows.append(f"| {where} | {hook} | {contract} |")
    return "\n".join(rows)


def plugins_page() -> str:
    """docs/plugins.md with its extension points table rendered from the code, between
    its marks (what the committed page must hold)."""
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    head, rest = text.split(EXTENSION_POINTS_MARK, 1)
    _, tail = rest.split(EXTENSION_POINTS_END, 1) if EXTENSION_POINTS_END in rest else ("", rest)
    table = extension_points_table()
    return f"{head}{EXTENSION_POINTS_MARK}\n\n{table}\n\n{EXTENSION_POINTS_END}{tail}"


def write_plugins_page() -> None:
    """Write the rendered table of extension points into docs/plugins.md."""
    (ROOT / "docs" / "plugins.md").write_text(plugins_page(), encoding="utf-8")


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
    write("plugins.md", plugins_page())
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


def lr_find_png(steps: int = 100) -> bytes:
    """The lr finder on ``examples/vit-finetune.toml`` and the example ViT, learning a few
    batches of random labels: the same sweep under each peer's conventions, side by side."""
    from matplotlib.figure import Figure
    from torch.nn import functional

    from schedkit._example import tiny_vit

    fig = Figure(figsize=(11, 4), dpi=150, layout="constrained")
    for ax, (like, extra) in zip(
        fig.subplots(1, 2),
        [("lightning", {}), ("torch-lr-finder", {"beta": 0.95, "skip_end": 5})],
        strict=True,
    ):
        model = tiny_vit()
        data = [model.example_batch(batch=32, seed=i) for i in range(4)]
        result = schedkit.find_lr(
            ROOT / "examples" / "vit-finetune.toml",
            model,
            lambda m, b: functional.cross_entropy(m(b[0]), b[1]),
            data,
            min_lr=1e-6,
            num_training=steps,
            like=like,
            **extra,
        )
        result.plot(ax=ax)
        ax.set_title(f'like="{like}"', fontsize=10)
    return _png(fig)


def monitor_png(steps: int = 100, every: int = 1) -> bytes:
    """What ``schedkit.Monitor`` records while the example ViT trains on
    ``examples/vit-finetune.toml`` (shortened to ``steps`` updates: 1 per epoch) on random
    labels: the lr of every named group, and the clipper's pre-clip norm with the clipped
    updates marked."""
    from matplotlib.figure import Figure
    from torch.nn import functional

    from schedkit._example import tiny_vit

    model = tiny_vit()
    built = schedkit.load_setup(ROOT / "examples" / "vit-finetune.toml").build(
        model, steps_per_epoch=steps // 100
    )
    monitor = schedkit.Monitor(built, every=every)
    logged: dict[str, list[tuple[int, float]]] = {}

    class Writer:  # what a SummaryWriter is given
        def add_scalar(self, tag: str, value: float, step: int) -> None:
            logged.setdefault(tag, []).append((step, value))

    writer = Writer()
    data = [model.example_batch(batch=16, seed=i) for i in range(4)]
    for k in range(steps):
        x, y = data[k % len(data)]
        functional.cross_entropy(model(x), y).backward()
        built.step()
        monitor.write(writer)
    fig = Figure(figsize=(11, 4.2), dpi=150, layout="constrained")
    left, right = fig.subplots(1, 2)
    layers = list(dict.fromkeys(t.split("/")[1] for t in logged if t.startswith("lr-")))
    for layer in layers:  # a layer's decay and no_decay groups share its lr: one line
        points = logged[f"lr-AdamW/{layer}/decay"]
        assert points == logged[f"lr-AdamW/{layer}/no_decay"]
        label = f"lr-AdamW/{layer}/decay and .../no_decay"
        left.plot(*zip(*points, strict=True), lw=1.4, label=label)
    left.set_yscale("log")
    left.set_xlabel("update")
    left.set_title("lr-AdamW/<group name>: the twelve named groups", fontsize=10)
    left.legend(fontsize=6, loc="lower center")
    left.grid(alpha=0.3)
    norm = logged["grad_2.0_norm_total"]
    clipped = dict(logged["clip/clipped"])
    right.plot(*zip(*norm, strict=True), lw=1.4, label="grad_2.0_norm_total (before clipping)")
    hits = [(s, v) for s, v in norm if clipped.get(s)]
    if hits:
        right.scatter(*zip(*hits, strict=True), s=10, color="C3", label="clip/clipped = 1")
    right.axhline(5.0, color="0.4", lw=1, ls="--", label="max_norm = 5")
    right.set_xlabel("update")
    right.set_title("the clipper", fontsize=10)
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    return _png(fig)


def warmup_modes_png() -> bytes:
    """The four ``warmup_mode`` values on the composition page's main curve (a cosine to
    0.05 over 100 steps, a 30-step warmup from 0.1), the curves its table samples."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4), dpi=150, layout="constrained")
    ax = fig.subplots()
    steps = list(range(101))
    styles = {"shift": "-", "overlay": "--", "replace": "-.", "bridge": ":"}
    for mode, style in styles.items():
        sched = schedkit.get_schedule(
            "cosine", total=100, end=0.05, warmup=30, warmup_start=0.1, warmup_mode=mode
        )
        ax.plot(steps, [sched(s) for s in steps], style, lw=1.8, label=mode)
    ax.axvline(30, color="0.6", lw=0.8)
    ax.set_title("warmup_mode: the same warmup and cosine, four ways to join them", fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("lr factor")
    ax.grid(alpha=0.3)
    ax.legend(title="warmup_mode", fontsize=8)
    return _png(fig)


def replan_plans(total: int = 10_000, resume: int = 5000) -> dict[str, Any]:
    """The resuming page's two replans of one WSD run (10k steps, a 500-step warmup, the
    last 20% decaying), stopped at step 5000: a cooldown from the resume (2000 steps), and
    more data (``total`` 16k). Real schedulers: the run stepped to the resume, its state
    saved, a scheduler on each new plan checking the replan (``check_replan``)."""
    import torch

    from schedkit import _replan

    def scheduler(spec: dict[str, Any]) -> schedkit.Scheduler:
        param = torch.nn.Parameter(torch.zeros(1))
        return schedkit.Scheduler(torch.optim.SGD([param], lr=3e-4), spec)

    old = {"type": "wsd", "total": total, "warmup": 500, "decay": "20%"}
    run = scheduler(old)
    for _ in range(resume):
        run.step()
    state = run.state_dict()
    new_plans = {
        'cooldown now: decay_start = "resume", decay = 2000': {
            "type": "wsd",
            "total": total,
            "warmup": 500,
            "decay": 2000,
            "decay_start": "resume",
        },
        "more data: total = 16000": {**old, "total": 16_000, "decay": 2000},
    }
    out = {}
    for title, spec in new_plans.items():
        new = scheduler(spec)
        plan = new.check_replan(state)
        entry = {
            "_plan": plan,
            "old_spec": state["schedule"],
            "_old_bases": state["base_values"],
            "_new_bases": new.base_values,
        }
        out[title] = {**_replan.curves(entry), "title": title}
    return out


def replan_png() -> bytes:
    """The resuming page's figure: each replan's old plan, the run so far and the new plan,
    drawn by the code of ``schedkit replan -o``."""
    from schedkit import _replan

    return _png(_replan.figure(replan_plans(), title="one WSD run, two new plans at step 5000"))


#: The widths and lrs of the μP figure: an MLP tuned at the first width, 4 and 16 times wider.
MUP_WIDTHS = (32, 128, 512)
MUP_LRS = tuple(10 ** (-3 + 0.5 * i) for i in range(7))


def mup_runs(mu: bool, steps: int = 30) -> dict[int, list[float]]:
    """The training loss after ``steps`` full-batch AdamW steps of an MLP on random labels,
    per width and lr: with one lr for every layer (``mu`` false: the standard
    parametrization), or with the ``mup`` rule's groups and μP's readout (multiplied by
    ``base width / width``, started at zero)."""
    import torch
    from torch import nn

    base = MUP_WIDTHS[0]

    class MLP(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.inp = nn.Linear(16, width)
            self.hid = nn.Linear(width, width)
            self.out = nn.Linear(width, 8)
            self.mult = base / width if mu else 1.0
            if mu:
                nn.init.zeros_(self.out.weight)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.hid(torch.relu(self.inp(x))))
            out: torch.Tensor = self.out(h) * self.mult
            return out

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 16, generator=g), torch.randint(0, 8, (256,), generator=g)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is fastest
    try:
        out: dict[int, list[float]] = {}
        for width in MUP_WIDTHS:
            losses = []
            for lr in MUP_LRS:
                torch.manual_seed(0)
                model = MLP(width)
                rules = [{"type": "mup", "base_shapes": MLP(base)}] if mu else []
                opt = torch.optim.AdamW(schedkit.build_param_groups(model, rules, lr=lr))
                for _ in range(steps):
                    loss = nn.functional.cross_entropy(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                losses.append(nn.functional.cross_entropy(model(x), y).item())
            out[width] = losses
    finally:
        torch.set_num_threads(threads)
    return out


def mup_transfer_png() -> bytes:
    """The rules page's μP picture: the loss against the lr at three widths, with one lr
    for every layer (the best lr moves as the model widens) and with the ``mup`` rule (it
    stays, and wider is better)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), dpi=150, layout="constrained")
    titles = {
        False: "one lr for every layer: the best lr moves with the width",
        True: 'the "mup" rule (and μP\'s readout): the best lr stays',
    }
    for ax, mu in zip(fig.subplots(1, 2, sharey=True), (False, True), strict=True):
        for width, losses in mup_runs(mu).items():
            shown = [max(v, 1e-4) for v in losses]
            (line,) = ax.plot(MUP_LRS, shown, "o-", lw=1.6, ms=3, label=f"width {width}")
            best = min(range(len(shown)), key=shown.__getitem__)
            ax.plot([MUP_LRS[best]], [shown[best]], "*", ms=12, color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(titles[mu], fontsize=10)
        ax.set_xlabel("lr (AdamW; the base model's under μP)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.axes[0].set_ylabel("training loss after 30 steps")
    return _png(fig)


def zclip_png(steps: int = 300) -> bytes:
    """The ``zclip`` clipper on a synthetic run: noisy gradient norms drifting down, a few
    spikes; the bound above which a norm is a spike, and what each step was clipped to."""
    import math

    import torch
    from matplotlib.figure import Figure

    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(steps, generator=gen, dtype=torch.float64).tolist()
    spikes = {90: 6.0, 150: 3.0, 151: 4.0, 220: 9.0}
    clip = schedkit.get_clipper("zclip", warmup_steps=25, max_grad_norm="inf")
    norms, bounds, after = [], [], []
    for t in range(steps):
        x = (1.5 * math.exp(-t / 150) + 0.5) * (1 + 0.08 * noise[t]) * spikes.get(t, 1.0)
        st = clip.state
        warm = st["count"] >= clip.warmup_steps
        std = st["var"] ** 0.5
        bounds.append(st["mean"] + clip.z_thresh * (std + clip.eps) if warm else math.nan)
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        p.grad = torch.tensor([x], dtype=torch.float64)
        clip([p])
        norms.append(x)
        after.append(p.grad.item())
    fig = Figure(figsize=(7, 3.4), dpi=150, layout="constrained")
    ax = fig.subplots()
    ax.plot(norms, color="0.55", lw=1.0, label="gradient norm")
    ax.plot(bounds, "--", color="tab:red", lw=1.2, label="spike above: mean + z_thresh * std")
    ax.plot(after, color="tab:blue", lw=1.2, label="after zclip (adaptive_scaling)")
    ax.axvspan(0, clip.warmup_steps, color="0.9", lw=0)
    ax.set_yscale("log")
    ax.set_title("zclip: spikes judged against running statistics (warmup shaded)", fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel("global gradient norm")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


def _timm_lrs(total: int, timm_args: dict[str, Any]) -> tuple[str, list[float]]:
    """timm's ``CosineLRScheduler`` stepped per update: the real peer when it imports,
    else the ``timm.cosine`` alias (tested equal to the peer)."""
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    try:
        from timm.scheduler import CosineLRScheduler
    except ImportError:
        alias = schedkit.get_scheduler("timm.cosine", opt, t_in_epochs=False, **timm_args)
        lrs = []
        for _ in range(total + 1):
            lrs.append(float(opt.param_groups[0]["lr"]))
            alias.step()
        return "timm.cosine (the alias of timm's CosineLRScheduler)", lrs
    peer = CosineLRScheduler(opt, t_in_epochs=False, **timm_args)
    lrs = []
    for n in range(total + 1):
        peer.step_update(n)
        lrs.append(float(opt.param_groups[0]["lr"]))
    return "timm's CosineLRScheduler (step_update)", lrs


def migrating_timm_png() -> bytes:
    """The migrating page's timm example: timm's curve against its native mapping (and the
    default ``shift`` warmup, which the mapping must not use)."""
    import torch
    from matplotlib.figure import Figure

    total = 200
    label, original = _timm_lrs(
        total, {"t_initial": total, "lr_min": 1e-5, "warmup_t": 20, "warmup_lr_init": 1e-6}
    )
    native: dict[str, list[float]] = {}
    for mode in ("replace", "shift"):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        sched = schedkit.get_scheduler(
            "cosine",
            opt,
            total=total,
            end_lr=1e-5,
            warmup=20,
            warmup_start=0.001,
            warmup_mode=mode,
        )
        native[mode] = []
        for _ in range(total + 1):
            native[mode].append(float(opt.param_groups[0]["lr"]))
            sched.step()
    steps = list(range(total + 1))
    fig = Figure(figsize=(7, 3.4), dpi=150, layout="constrained")
    ax = fig.subplots()
    ax.plot(steps, original, lw=4, alpha=0.35, color="C0", label=label)
    ax.plot(
        steps, native["replace"], lw=1.4, color="C1", label='native cosine, warmup_mode="replace"'
    )
    ax.plot(
        steps,
        native["shift"],
        "--",
        lw=1.2,
        color="0.5",
        label='native cosine, default "shift" (not timm\'s)',
    )
    ax.set_title("timm: the original and the native mapping (lr = 1e-3)", fontsize=10)
    ax.set_xlabel("update")
    ax.set_ylabel("lr")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def _table(text: str, heading: str) -> list[list[str]]:
    """The rows (header first, separator dropped) of the first table under ``heading``."""
    lines = text.split(heading, 1)[1].splitlines()
    rows: list[list[str]] = []
    for line in lines:
        if line.startswith("|"):
            cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def _number(cell: str) -> float:
    return float(cell.split()[0].rstrip("x").replace(",", ""))


def performance_png() -> bytes:
    """The performance page's own numbers as bars: ``step()``'s time against its peers,
    clipping's time as a multiple of the peer's, and start-up beside the peers' scheduler
    modules against its 3% bar (read from docs/performance.md, so the chart always matches
    the tables)."""
    from matplotlib.figure import Figure

    text = (ROOT / "docs" / "performance.md").read_text()
    step = _table(text, "## Step overhead")
    clip = _table(text, "## Clipping")
    start = _table(text, "**Where it stands.**")
    fig = Figure(figsize=(12, 3.6), dpi=150, layout="constrained")
    left, right, third = fig.subplots(1, 3, width_ratios=[1.1, 1, 0.8])
    names = [h.replace(" µs", "") for h in step[0][1:5]]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + i * width for j in range(len(step) - 1)]
        left.bar(xs, [_number(r[1 + i]) for r in step[1:]], width, label=name)
    left.set_xticks([j + 0.4 - width / 2 for j in range(len(step) - 1)])
    left.set_xticklabels([f"{r[0]} group{'' if r[0] == '1' else 's'}" for r in step[1:]])
    left.set_yscale("log")
    left.set_ylabel("µs per step() (log)")
    left.set_title("Scheduler.step(): warmup + cosine", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3, axis="y")
    labels = [r[0] for r in clip[1:]]
    for i, column in enumerate(clip[0][1:3]):
        ys = [j + i * 0.4 for j in range(len(labels))]
        right.barh(ys, [_number(r[1 + i]) for r in clip[1:]], 0.4, label=column)
    right.set_yticks([j + 0.2 for j in range(len(labels))])
    right.set_yticklabels([label.replace(" / ", "\nvs ") for label in labels], fontsize=8)
    right.axvline(1.0, color="0.3", lw=0.8)
    right.set_xlabel("time / the peer's time (lower is faster)")
    right.set_title("Clipping, ViT-B/16-shaped gradients", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3, axis="x")
    # schedkit and each peer's scheduler module: what it adds to torch's instructions
    rows = [textwrap.fill(r[0].split(":")[0], 24) for r in start[1:]]
    shares = [_number(r[2].rstrip("%")) for r in start[1:]]
    ys = list(range(len(rows)))
    third.barh(ys, shares, 0.6, label="instructions added")
    third.axvline(3.0, color="0.2", lw=1.0, ls="--", label="bar: 3% of torch's")
    third.set_xscale("log")
    third.set_yticks(ys)
    third.set_yticklabels(rows, fontsize=8)
    third.invert_yaxis()
    third.set_xlabel("% of torch + an optimizer's instructions (log)")
    third.set_title("Start-up after import torch", fontsize=10)
    third.legend(fontsize=8)
    third.grid(alpha=0.3, axis="x")
    return _png(fig)


def batch_ramp_png() -> bytes:
    """The tokens page's ramp: a global batch ramped 64 -> 512 over 500k samples (Megatron's
    ``--rampup-batch-size``), and a WSD lr on a token clock, following the batch by the
    square root or not; drawn by the steps taken, where the ramp bends the curve."""
    import torch
    from matplotlib.figure import Figure

    ramp = schedkit.BatchRamp(start=64, increment=64, ramp_samples=500_000, batch_size=512)
    spec = {"type": "wsd", "warmup": "200Mtok", "total": "10Btok", "decay": "20%"}
    c, n = 0, 0
    while c * 2048 < 10**10:  # the steps the run takes to see its 10B tokens, and a few more
        c, n = c + ramp.batch(c), n + 1
    n += 300
    fig = Figure(figsize=(7, 4.2), dpi=150, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    styles = {
        None: ("--", "the lr on the token clock"),
        "sqrt": ("-", "following the batch (sqrt)"),
    }
    batches: list[int] = []
    for scaling, (style, label) in styles.items():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
        sched = schedkit.ClockedScheduler(
            opt, spec, clock="tokens", seq_len=2048, ramp=ramp, lr_scaling=scaling
        )
        lrs = []
        for _ in range(n):
            lrs.append(opt.param_groups[0]["lr"])
            if scaling is None:
                batches.append(ramp.batch(sched.consumed // 2048))
            sched.step()
        bottom.plot(range(n), lrs, style, lw=1.6, label=label)
    top.plot(range(n), batches, lw=1.6, color="C2")
    top.set_ylabel("global batch")
    top.set_title("a batch ramp (64 -> 512 over 500k samples) and a WSD lr in tokens", fontsize=10)
    bottom.set_xlabel("optimizer step")
    bottom.set_ylabel("lr")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    bottom.legend(fontsize=8)
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
    pictures["img/warmup-modes.png"] = warmup_modes_png()
    pictures["img/replan.png"] = replan_png()
    pictures["img/lr-find.png"] = lr_find_png()
    pictures["img/monitor.png"] = monitor_png()
    pictures["img/migrating-timm.png"] = migrating_timm_png()
    pictures["img/performance.png"] = performance_png()
    pictures["img/batch-ramp.png"] = batch_ramp_png()
    pictures["img/mup-transfer.png"] = mup_transfer_png()
    pictures["img/zclip.png"] = zclip_png()
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


if __name__ == "__main__" and sys.argv[1:] == ["--hooks"]:
    write_plugins_page()
elif __name__ in {"__main__", "<run_path>"}:
    _mkdocs()
