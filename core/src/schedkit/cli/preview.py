"""``schedkit preview`` and ``plot``: a setup's curves, and a short run on a model."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schedkit._text import escape
from schedkit.cli._output import print_json
from schedkit.cli.setups import (
    build_setup,
    group_notes,
    group_rows,
    groups_table,
    horizon_of,
    load_model,
    progress,
    run_length,
)
from schedkit.errors import SchedkitError


def _milestones(built: Any, total: int) -> dict[str, Any]:
    """Each scheduled key at its milestones, for every group it drives (sampled curves:
    nothing here grows with the run's length)."""
    from schedkit._curves import curves

    out = {}
    for key, k in curves(built, total)["keys"].items():
        named = k["milestones"]
        marks = {0, total} | {round(total * q) for q in (0.25, 0.5, 0.75)} | set(named.values())
        at = {step: i for i, step in enumerate(k["steps"])}
        values = _values_at(built, key, k, sorted(marks), at)
        out[key] = {
            "spec": k["spec"],
            "warmup_end": named.get("warmup end"),
            "decay_start": named.get("decay start"),
            "groups": [{"group": g["group"], "label": g["label"]} for g in k["groups"]],
            "milestones": [
                {"step": m, "value": v[0], "values": v}
                for m, v in zip(sorted(marks), values, strict=True)
            ],
        }
    return out


def _values_at(
    built: Any, key: str, k: dict[str, Any], marks: list[int], at: dict[int, int]
) -> list[list[float]]:
    """Every group's value at each mark: from the samples, else computed."""
    from schedkit._curves import _group_functions

    fns = _group_functions(built.schedulers[key]) if key in built.schedulers else None
    out = []
    for m in marks:
        if m in at:
            out.append([g["values"][at[m]] for g in k["groups"]])
        elif fns is not None:
            out.append([f(m) for f in fns])
        else:  # a companion key: its samples are all there is
            near = min(at, key=lambda s: abs(s - m))
            out.append([g["values"][at[near]] for g in k["groups"]])
    return out


#: Below this many trainable parameters, ``preview`` runs torch on one thread: each op of a
#: model that small is too little work to share, and threads contending for a few cores
#: cost more than they give.
SMALL_MODEL = 1_000_000


def preview(
    setup_path: str,
    model_spec: str | None,
    steps_per_epoch: int | None,
    simulate: int,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Load, validate, build and simulate a setup; return what ``preview`` prints.

    The loss is measured on one fixed batch before the first step and after the last, so
    the two numbers compare the same data. A small model runs on one thread; torch's thread
    count is restored afterwards."""
    import torch

    args = argparse.Namespace(
        file=setup_path, steps_per_epoch=steps_per_epoch, batch_size=batch_size
    )
    model, model_name = load_model(model_spec)
    setup, built = build_setup(args, model)
    total = run_length(built, simulate)
    n = min(simulate, total)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    threads = torch.get_num_threads()
    if trainable < SMALL_MODEL:
        torch.set_num_threads(1)
    try:
        simulated = _simulate(model, built, n)
    finally:
        torch.set_num_threads(threads)
    return {
        "setup": setup_path,
        "model": model_name,
        "trainable_params": trainable,
        "total_steps": total,
        "horizon": horizon_of(setup),
        **(
            {"optimizers": built.resolved["optimizers"]}
            if built.named
            else {"optimizer": built.resolved["optimizer"]}
        ),
        "groups": group_rows(built),
        "groups_table": groups_table(built),
        "notes": list(dict.fromkeys(group_notes(built))),
        "schedules": _milestones(built, total),
        "simulated_steps": n,
        **simulated,
    }


def _simulate(model: Any, built: Any, n: int) -> dict[str, Any]:
    """``n`` steps of ``built`` on ``model``: the loss on one batch before and after, the
    clipper's norms, whether the applied values matched the schedules."""
    import torch

    batch = getattr(model, "example_batch", None)

    def loss_on(seed: int) -> Any:
        if batch is None:  # no data: a loss on the weights themselves
            trainable = (p for p in model.parameters() if p.requires_grad)
            return sum((p.float() ** 2).sum() for p in trainable) * 1e-3
        x, y = batch(seed=seed)
        return torch.nn.functional.cross_entropy(model(x), y)

    def measured() -> float | None:
        if n == 0:
            return None
        with torch.no_grad():
            return float(loss_on(0))

    loss_first = measured()
    norms: list[float] = []
    clipped = 0
    mismatches = 0
    for step in range(n):
        loss = loss_on(step % 4)  # a small fixed data set, so the loss falls
        loss.backward()
        built.step()
        clip = built.last_clip
        if clip is not None and clip.total_norm is not None:
            norms.append(float(clip.total_norm))
            clipped += int(clip.clip_coef is not None and float(clip.clip_coef.min()) < 1.0)
        for s in built.schedulers.values():
            if s.get_last_lr() != s.get_lr():  # per-group aliases have their own curves
                mismatches += 1
        progress(step + 1, n, f"loss {float(loss.detach()):.4f}")
    clipping = None
    if built.clipper is not None:
        ordered = sorted(norms)
        clipping = {
            "spec": built.clipper.spec(),
            "steps": n,
            "clipped_steps": clipped,
            "skipped_steps": built.clipper.skipped_steps,
            "norm_min": ordered[0] if ordered else None,
            "norm_median": ordered[len(ordered) // 2] if ordered else None,
            "norm_max": ordered[-1] if ordered else None,
        }
    return {
        "loss_first": loss_first,
        "loss_last": measured(),
        "value_mismatches": mismatches,
        "clipping": clipping,
    }


def cmd_preview(args: argparse.Namespace) -> int:
    d = preview(args.file, args.model, args.steps_per_epoch, args.simulate, args.batch_size)
    if args.json:
        print_json({k: v for k, v in d.items() if k != "groups_table"})
        return 0 if d["value_mismatches"] == 0 else 1
    print(f"setup      {escape(d['setup'])}")
    print(f"model      {d['model']}: {d['trainable_params']:,} trainable parameters")
    for name, table in d.get("optimizers", {"": d.get("optimizer")}).items():
        shown = {k: v for k, v in table.items() if k not in ("type", "params") and v is not False}
        opt = ", ".join(f"{k}={v}" for k, v in shown.items())
        head = f"optimizer  {name}: " if name else "optimizer  "
        takes = f" on {table['params']}" if "params" in table else ""
        print(f"{head}{table['type']}({opt}){takes}")
    print(f"run        {d['total_steps']} {d['horizon']['unit']}")
    for line in d["horizon"]["how"]:
        print(f"           {line}")
    print()
    print("param groups (base values)")
    print("\n".join(f"  {line}".rstrip() for line in d["groups_table"].splitlines()))
    for note in d.get("notes", []):
        print(f"  note: {note}")
    print("\nschedules (every scheduled group)")
    from schedkit._render import schedule_section

    unit = d["horizon"]["unit"]
    print(schedule_section(d["schedules"], d["total_steps"], "step" if unit == "steps" else unit))
    verdict = "all match" if d["value_mismatches"] == 0 else "DIFFER from"
    print(
        f"\nsimulated {d['simulated_steps']} steps on the model: "
        f"loss on one batch {d['loss_first']:.4f} before -> {d['loss_last']:.4f} after; "
        f"applied values {verdict} the schedules"
    )
    c = d["clipping"]
    if c is None:
        print("clipping   none (no [clip] table)")
    else:
        print(
            f"clipping   {c['spec']['type']}: pre-clip norm min {c['norm_min']:.4g}, "
            f"median {c['norm_median']:.4g}, max {c['norm_max']:.4g}; "
            f"clipped {c['clipped_steps']}/{c['steps']} steps, skipped {c['skipped_steps']}"
        )
    return 0 if d["value_mismatches"] == 0 else 1


def chart(
    values: Sequence[float],
    width: int = 64,
    height: int = 12,
    steps: Sequence[int] | None = None,
) -> str:
    """A terminal chart of a curve (when no plotting library is installed).

    ``steps[i]`` is the step ``values[i]`` was sampled at (default: 0, 1, 2...); the x axis
    is in steps, so a run sampled at a few hundred points still ends at its last step, and
    each column shows the sample nearest its step."""
    import bisect

    if not values:
        return ""
    xs = list(steps) if steps is not None else list(range(len(values)))
    if len(xs) != len(values):
        raise ValueError(f"{len(values)} values for {len(xs)} steps")
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    first, last = xs[0], xs[-1]
    columns = []
    for i in range(width):
        at = first + (last - first) * i / max(width - 1, 1)
        j = min(bisect.bisect_left(xs, at), len(xs) - 1)
        if j > 0 and at - xs[j - 1] < xs[j] - at:
            j -= 1
        columns.append(values[j])
    rows = []
    for r in range(height, -1, -1):
        level = lo + span * r / height
        line = "".join("*" if abs(v - level) <= span / (2 * height) else " " for v in columns)
        label = f"{level:>10.4g} |" if r in (0, height // 2, height) else " " * 10 + " |"
        rows.append(label + line)
    rows.append(" " * 11 + "+" + "-" * width)
    left, right, middle = str(first), str(last), "step"
    gap = max(width - len(left) - len(right) - len(middle), 2)
    axis = left + " " * (gap // 2) + middle + " " * (gap - gap // 2) + right
    rows.append(" " * 12 + axis)
    return "\n".join(rows)


def cmd_plot(args: argparse.Namespace) -> int:
    from schedkit._curves import curves

    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise SchedkitError(
            f"-o {args.output}: the folder {Path(args.output).parent} does not exist"
        )
    model, _ = load_model(args.model)
    _, built = build_setup(args, model)
    total = run_length(built, 1000)
    data = curves(built, total)
    if args.output:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SchedkitError(
                "-o needs matplotlib: pip install matplotlib (a checkout's requirements.txt has it)"
            ) from None
        from schedkit._plot import figure, save

        try:
            save(figure(data, log=args.log, title=args.file), args.output)
        except (OSError, ValueError) as e:
            raise SchedkitError(f"-o {args.output}: cannot write the image: {e}") from None
        print(f"wrote {args.output}")
        return 0
    if args.json:
        keys = data["keys"]
        print_json(
            {
                "steps": total,
                "at": {k: v["steps"] for k, v in keys.items()},
                # the first group's values, at the sampled steps (``at``)
                "curves": {k: v["groups"][0]["values"] for k, v in keys.items()},
                "groups": {k: v["groups"] for k, v in keys.items()},
                "milestones": {k: v["milestones"] for k, v in keys.items()},
            }
        )
        return 0
    for key, k in data["keys"].items():
        groups = k["groups"]
        shown = [groups[0]] if len(groups) == 1 else [groups[0], groups[-1]]
        for g in shown:
            which = f"group {g['group']}: {g['label']}" if g["group"] >= 0 else g["label"]
            print(f"{key} over {total} steps ({which})")
            print(chart(g["values"], steps=k["steps"]))
            print()
        if len(groups) > 2:
            print(f"({len(groups) - 2} more groups: plot -o FILE.png draws every group)\n")
    return 0
