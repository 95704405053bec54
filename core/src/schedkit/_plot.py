"""Drawing a setup's curves (``schedkit plot -o``, the docs): one axis per scheduled key,
one line per param group coloured by its place in the fan, a legend naming what made each
group, the milestones marked. Needs matplotlib; nothing here touches pyplot's global state.
"""

from __future__ import annotations

from typing import Any

#: More groups than this: the legend shows every ``n``-th group and the ends.
LEGEND_MAX = 14


def figure(data: dict[str, Any], *, log: bool = False, title: str | None = None) -> Any:
    """A matplotlib ``Figure`` of :func:`schedkit._curves.curves`' output."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    keys = data["keys"]
    n = max(len(keys), 1)
    fig = Figure(figsize=(10, 1.2 + 2.8 * n), dpi=150, layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False, sharex=True)[:, 0]
    cmap = colormaps["viridis"]
    for ax, (key, k) in zip(axes, keys.items(), strict=False):
        groups = k["groups"]
        # the fan: coloured from the smallest base value to the largest (depth, for layer decay)
        order = sorted(range(len(groups)), key=lambda i: groups[i]["base"] or 0.0)
        rank = {i: r for r, i in enumerate(order)}
        shown = set(order[:: max(1, -(-len(order) // LEGEND_MAX))]) | {order[-1]}
        for i, g in enumerate(groups):
            colour = cmap(0.85 * rank[i] / max(len(groups) - 1, 1)) if len(groups) > 1 else "C0"
            label = _label(g) if i in shown else "_nolegend_"
            ax.plot(k["steps"], g["values"], color=colour, lw=1.4, label=label, gid=f"group{i}")
        for name, step in k["milestones"].items():
            if name == "final":
                continue
            ax.axvline(step, color="0.55", ls="--", lw=0.8, gid="milestone")
            ax.annotate(
                name,
                (step, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -10),
                textcoords="offset points",
                fontsize=8,
                color="0.35",
            )
        if log:
            ax.set_yscale("log")
        unit = "" if key.startswith(("betas", "momentum")) else " (absolute)"
        ax.set_ylabel(f"{key}{unit}")
        ax.grid(alpha=0.3)
        ax.legend(
            title=f"{key}: group (what made it)",
            fontsize=8,
            title_fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
        )
    axes[-1].set_xlabel("step")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _label(g: dict[str, Any]) -> str:
    head = f"{g['group']}: " if g["group"] >= 0 else ""
    base = f" — base {g['base']:.3g}" if g["base"] is not None else ""
    return f"{head}{g['label']}{base}"


def save(fig: Any, path: str) -> None:
    """Write the figure (PNG or SVG by the file's suffix)."""
    fig.savefig(path)
