"""The ``schedkit`` command: list, show, check and preview.

User errors (a bad file, an unknown name) print a message and exit 1, never a traceback;
``--json`` gives machine-readable output.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from schedkit._text import escape, escape_lines
from schedkit.errors import SchedkitError, SchedkitWarning, UnknownNameError
from schedkit.registry import KINDS, default_registry
from schedkit.schedule import _fields_of, plain


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


# -- list / show ----------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    """Everything that works, then every problem beside it; exit 0 unless ``--strict``."""
    from schedkit.errors import ConflictError

    reg = default_registry()
    comps = reg.components(args.kind)
    problems = reg.errors()
    conflicts = [e for e in problems if isinstance(e, ConflictError)]
    broken = [e for e in problems if not isinstance(e, ConflictError)]
    code = 1 if getattr(args, "strict", False) and problems else 0
    if args.json:
        _print_json(
            {
                "components": [
                    {
                        "name": c.name,
                        "kind": c.kind,
                        "plugin": c.plugin,
                        "distribution": c.distribution,
                        "version": c.version,
                        "aliases": list(c.aliases),
                    }
                    for c in comps
                ],
                "broken": [
                    {"plugin": e.plugin, "distribution": e.distribution, "traceback": e.traceback}
                    for e in broken
                ],
                "conflicts": [
                    {
                        "plugins": list(e.plugins),
                        "distributions": list(e.distributions),
                        "message": str(e),
                    }
                    for e in conflicts
                ],
                "skipped": [
                    {"plugin": s.name, "distribution": s.distribution, "reason": why}
                    for s, why in reg.skipped()
                ],
            }
        )
        return code
    rows = [
        [c.name, c.kind, c.plugin, c.distribution or "-", c.version or "-", ", ".join(c.aliases)]
        for c in comps
    ]
    print(_table(rows, ["name", "kind", "plugin", "distribution", "version", "aliases"]))
    if conflicts:
        print("\nconflicts (these names answer to no plugin):")
        for c in conflicts:
            print("  " + str(c).replace("\n", "\n  "))
    if broken:
        print("\nbroken plugins (not loaded; tracebacks on stderr):")
        for e in broken:
            last = e.traceback.strip().splitlines()[-1] if e.traceback.strip() else ""
            print(f"  {e.plugin} ({e.distribution or 'registered in-process'}): {last}")
            print(
                f"\nplugin {e.plugin!r} ({e.distribution}) failed to load:\n{e.traceback}",
                file=sys.stderr,
            )
    skipped = reg.skipped()
    if skipped:
        print("\nskipped plugins:")
        for src, why in skipped:
            print(f"  {src.name} ({src.distribution}): {why}")
    return code


def _type_name(f: attrs.Attribute[Any]) -> str:
    """What a parameter takes: ``duration`` (steps, ``"5ep"`` or ``"10%"``) for fields
    declared with the duration helpers, whatever their annotation; else the annotation."""
    from schedkit.schedule import _meta

    meta = _meta(f)
    if meta.get("duration"):
        return "list[duration]" if meta.get("many") else "duration"
    annotation: Any = f.type
    if isinstance(annotation, str):
        return annotation
    return str(getattr(annotation, "__name__", annotation))


def describe(kind: str | None, name: str) -> dict[str, Any]:
    """Name, kind, plugin, parameters (type, default) and docstring of a component."""
    reg = default_registry()
    if kind:
        info = reg.get(kind, name)  # type: ignore[arg-type]
    else:
        found = [c for c in reg.components() if c.name == name or name in c.aliases]
        if not found:
            every = [n for c in reg.components() for n in (c.name, *c.aliases)]
            raise UnknownNameError(
                "component", name, difflib.get_close_matches(name, every, n=3, cutoff=0.7)
            )
        info = found[0]
    params = []
    for key, f in _fields_of(info.cls).items():
        default: Any = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        default = None if default is attrs.NOTHING else plain(default)
        params.append(
            {
                "name": key,
                "type": _type_name(f),
                "required": f.default is attrs.NOTHING,
                "default": default,
            }
        )
    if info.kind == "schedule" and getattr(info.cls, "accepts_warmup", True):
        params += [
            {"name": "warmup", "type": "duration", "required": False, "default": 0},
            {"name": "warmup_start", "type": "float", "required": False, "default": 0.0},
            {"name": "warmup_kind", "type": "str", "required": False, "default": "linear"},
            {"name": "warmup_mode", "type": "str", "required": False, "default": "shift"},
        ]
    return {
        "name": info.name,
        "kind": info.kind,
        "plugin": info.plugin,
        "distribution": info.distribution,
        "version": info.version,
        "aliases": list(info.aliases),
        "parameters": params,
        "doc": inspect.getdoc(info.cls) or "",
        "examples": [plain(e) for e in info.examples],
    }


def cmd_show(args: argparse.Namespace) -> int:
    from schedkit._render import plain_text

    d = describe(args.kind, args.name)
    if args.json:
        _print_json(d)
        return 0
    alias = f" (aliases: {', '.join(d['aliases'])})" if d["aliases"] else ""
    origin = f"plugin {d['plugin']!r} ({d['distribution']} {d['version']})"
    print(f"{d['name']}: {d['kind']} from {origin}{alias}\n")
    print(plain_text(d["doc"]) + "\n")
    rows = [
        [p["name"], p["type"], "required" if p["required"] else repr(p["default"])]
        for p in d["parameters"]
    ]
    print(_table(rows, ["parameter", "type", "default"]))
    if any(p["type"] == "duration" for p in d["parameters"]):
        print('\nduration: steps (1000), epochs ("5ep") or a share of the total ("10%")')
    return 0


# -- check / preview ------------------------------------------------------------------


def _check_one(file: str, args: argparse.Namespace, model: Any = None) -> dict[str, Any]:
    as_json = args.json
    from schedkit.setup import SetupError, load_setup

    try:
        setup = load_setup(Path(file))
        # what a build needs beyond the file (a batch size for lr scaling, steps_per_epoch
        # for durations in epochs): one validation with build, so a setup that passes builds
        problems = setup.problems(steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size)
        if problems:
            raise SetupError(problems, file)
        if model is not None:  # what only a model tells: names and tags that match nothing
            try:
                setup.build(model, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size)
            except SetupError as e:
                raise SetupError(e.problems, file) from None
    except SetupError as e:
        if not as_json:
            print(e, file=sys.stderr)
        found = [{"path": p.path, "message": p.message} for p in e.problems]
        return {"file": file, "ok": False, "problems": found}
    if not as_json:
        print(f"{escape(file)}: ok")
    return {"file": file, "ok": True, "setup": setup.to_dict()}


def cmd_check(args: argparse.Namespace) -> int:
    """Each file checked and reported; exit 1 if any fails."""
    model = _model(args.model)[0] if args.model else None
    results = [_check_one(f, args, model) for f in args.files]
    failed = [r["file"] for r in results if not r["ok"]]
    if args.json:
        if len(results) == 1:
            _print_json({k: v for k, v in results[0].items() if k != "file"})
        else:
            _print_json({"ok": not failed, "files": results})
    elif len(results) > 1:
        print(f"{len(results) - len(failed)} of {len(results)} setups ok", file=sys.stderr)
    return 1 if failed else 0


def _model(spec: str | None) -> tuple[Any, str]:
    if spec is None:
        from schedkit._example import tiny_vit

        return tiny_vit(), "TinyViT (schedkit's example model)"
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise SchedkitError(f"--model expects module:factory, got {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as python -m does: modules of the current directory
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise SchedkitError(f"--model {spec}: {e}") from None
    if not callable(factory):
        raise SchedkitError(f"--model {spec}: not a callable returning a torch.nn.Module")
    import torch

    try:
        model = factory()
    except Exception as e:  # the user's factory: any failure is reported, not a traceback
        raise SchedkitError(f"--model {spec}: calling it raised {type(e).__name__}: {e}") from None
    if not isinstance(model, torch.nn.Module):
        raise SchedkitError(
            f"--model {spec}: expected a factory returning a torch.nn.Module, it returned "
            f"{type(model).__name__}"
        )
    return model, spec


def _progress(done: int, total: int, extra: str) -> None:
    if not sys.stderr.isatty() and done != total:
        return
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done == total else ""
    bar = "#" * filled + " " * (width - filled)
    print(f"\r  [{bar}] {done}/{total} {extra}", end=end, file=sys.stderr, flush=True)


def _build(args: argparse.Namespace, model: Any) -> tuple[Any, Any]:
    from schedkit.setup import load_setup

    setup = load_setup(Path(args.file))
    built = setup.build(
        model,
        steps_per_epoch=getattr(args, "steps_per_epoch", None),
        batch_size=getattr(args, "batch_size", None),
    )
    return setup, built


def _total(built: Any, fallback: int) -> int:
    if built.total_steps is not None:
        return int(built.total_steps)
    horizons = [getattr(s.schedule, "horizon", None) for s in built.schedulers.values()]
    return max((h for h in horizons if h), default=fallback)


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
    model, model_name = _model(model_spec)
    _, built = _build(args, model)
    total = _total(built, simulate)
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
        "optimizer": built.resolved["optimizer"],
        "groups": built.groups.rows() if built.groups is not None else [],
        "groups_table": built.groups.table() if built.groups is not None else "",
        "notes": built.groups.notes if built.groups is not None else [],
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
        _progress(step + 1, n, f"loss {float(loss.detach()):.4f}")
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
        _print_json({k: v for k, v in d.items() if k != "groups_table"})
        return 0 if d["value_mismatches"] == 0 else 1
    shown = {k: v for k, v in d["optimizer"].items() if k != "type" and v is not False}
    opt = ", ".join(f"{k}={v}" for k, v in shown.items())
    print(f"setup      {escape(d['setup'])}")
    print(f"model      {d['model']}: {d['trainable_params']:,} trainable parameters")
    print(f"optimizer  {d['optimizer']['type']}({opt})")
    print(f"run        {d['total_steps']} steps\n")
    print("param groups (base values)")
    print("  " + d["groups_table"].replace("\n", "\n  "))
    for note in d.get("notes", []):
        print(f"  note: {note}")
    print("\nschedules (every scheduled group)")
    from schedkit._render import schedule_section

    print(schedule_section(d["schedules"], d["total_steps"]))
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


def cmd_groups(args: argparse.Namespace) -> int:
    model, name = _model(args.model)
    _, built = _build(args, model)
    groups = built.groups
    if args.json:
        rows = [{k: v for k, v in r.items()} for r in groups.rows()]
        out: dict[str, Any] = {"model": name, "groups": rows, "notes": groups.notes}
        if args.explain:
            try:
                out["explain"] = groups.explain(args.explain)
            except KeyError as e:
                raise SchedkitError(str(e.args[0])) from None
        _print_json(out)
        return 0
    if args.explain:
        try:
            print(groups.explain(args.explain))
        except KeyError as e:
            raise SchedkitError(str(e.args[0])) from None
        return 0
    print(groups.table())
    for note in groups.notes:
        print(f"note: {note}")
    return 0


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
    model, _ = _model(args.model)
    _, built = _build(args, model)
    total = _total(built, 1000)
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
        _print_json(
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


# -- convert ------------------------------------------------------------------------


def cmd_convert(args: argparse.Namespace) -> int:
    from schedkit.conversion import ConversionError, convert

    # "-" and /dev/stdout print, as without -o: through sys.stdout, whatever it is (a
    # terminal, a pipe, a shell's "> file"), never opened again nor renamed over
    output = None if args.output in ("-", "/dev/stdout") else args.output
    try:
        result = convert(
            args.source,
            args.file,
            steps_per_epoch=args.steps_per_epoch,
            dataset_size=args.dataset_size,
            world_size=args.world_size,
        )
        if output:
            result.write(output, force=args.force)
    except ConversionError as e:  # its text is escaped: keys and names come from the file
        print(f"schedkit convert: {e}", file=sys.stderr)
        return 1
    if not output:
        _write_stdout(result.toml)
    if args.verbose:
        print(
            f"ignored (no effect on the optimizer, schedules or clipping): "
            f"{', '.join(escape(k) for k in result.ignored) or 'none'}",
            file=sys.stderr,
        )
    return 0


def _write_stdout(text: str) -> None:
    """``text`` on standard output, as UTF-8 when the terminal's encoding cannot hold it."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))


def _add_convert(sub: Any) -> None:
    p = sub.add_parser(
        "convert", help="read another library's config file into an equivalent setup"
    )
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SOURCE",
        help="the library the file is for (an installed converter: transformers, deepspeed, "
        "detectron2, ...)",
    )
    p.add_argument("file")
    p.add_argument(
        "-o",
        "--output",
        help="write the setup here (default, or - or /dev/stdout: standard output); never "
        "over the file or its base files, and an existing regular file only with --force "
        "(a device or FIFO is written into, not replaced)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing regular output file, keeping its permissions (never an input)",
    )
    p.add_argument("--steps-per-epoch", type=int, help="optimizer steps (or batches) per epoch")
    p.add_argument("--dataset-size", type=int, help="training samples per epoch")
    p.add_argument("--world-size", type=int, help="number of processes (data parallel)")
    p.add_argument("-v", "--verbose", action="store_true", help="list the ignored keys")
    p.set_defaults(func=cmd_convert)


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from schedkit._scaffold import write_plugin

    root = write_plugin(args.name, args.dir)
    print(f"wrote {root}\nnext: pip install -e '{root}[test]' && pytest {root}")
    return 0


def _add_new_plugin(sub: Any) -> None:
    p = sub.add_parser("new-plugin", help="write a ready plugin distribution (one schedule)")
    p.add_argument("name", help="the schedule's name; the distribution is schedkit-NAME")
    p.add_argument("--dir", default=".", help="where to write it (default: here)")
    p.set_defaults(func=cmd_new_plugin)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"schedkit {version('schedkit-core')}"
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "schedkit (unknown version)"


def _add_completion(sub: Any, parser: argparse.ArgumentParser) -> None:
    from schedkit._completion import SHELLS, script

    def cmd_completion(args: argparse.Namespace) -> int:
        if args.names:
            reg = default_registry()
            print("\n".join(sorted({n for c in reg.components() for n in (c.name, *c.aliases)})))
            return 0
        if args.shell is None:
            raise SchedkitError("give a shell: " + ", ".join(SHELLS))
        print(script(args.shell, parser), end="")
        return 0

    p = sub.add_parser(
        "completion",
        help='print a shell completion script: eval "$(schedkit completion bash)"',
    )
    p.add_argument("shell", nargs="?", choices=SHELLS)
    p.add_argument("--names", action="store_true", help="the registered names, one a line")
    p.set_defaults(func=cmd_completion)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="schedkit", description="Schedules, rules and clippers for PyTorch optimizers."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="every registered component with its plugin and distribution")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when a plugin is broken or in conflict"
    )
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="a component's parameters, defaults and docstring")
    p.add_argument("name")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("check", help="validate setup files; every problem with its key path")
    p.add_argument("files", nargs="+", metavar="file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--steps-per-epoch", type=_positive, help="as the build will be given it")
    p.add_argument("--batch-size", type=_positive, help="as the build will be given it")
    p.add_argument(
        "--model",
        help="module:factory returning the model: build on it too (rule names and tags that "
        "match nothing, with the closest)",
    )
    p.set_defaults(func=cmd_check)
    for name, helptext, func in (
        ("preview", "build a setup on a model and simulate a short run", cmd_preview),
        ("groups", "the param-group table of a setup for a model", cmd_groups),
        ("plot", "the curves of every schedule of a setup", cmd_plot),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("file")
        p.add_argument(
            "--model", help="module:factory returning the model (default: an example ViT)"
        )
        p.add_argument("--steps-per-epoch", type=_positive)
        p.add_argument(
            "--batch-size", type=_positive, help="the effective batch size, for lr scaling"
        )
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)
        if name == "preview":
            p.add_argument(
                "--simulate",
                type=_positive,
                default=200,
                help="steps of real training (default 200)",
            )
        if name == "groups":
            p.add_argument(
                "--explain", metavar="NAME", help="which rule set each value of a parameter"
            )
        if name == "plot":
            p.add_argument(
                "-o", "--output", help="write a picture, PNG or SVG by suffix (needs matplotlib)"
            )
            p.add_argument("--log", action="store_true", help="a logarithmic value axis")
    _add_convert(sub)
    _add_new_plugin(sub)
    _add_completion(sub, parser)
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            # schedkit's warnings (an overrides pattern matching nothing) as one line each
            warnings.simplefilter("always", SchedkitWarning)
            warnings.showwarning = _warning_printer(args.command)
            code: int = args.func(args)
            sys.stdout.flush()  # a closed pipe shows now, not at the interpreter's exit
    except SchedkitError as e:  # its text may hold a file's keys and names: escaped
        print(f"schedkit {args.command}: {escape_lines(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"schedkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    return code


#: the exit status of a command that the end of its pipe stopped (128 + SIGPIPE), as a
#: command the signal ends gives its shell
_PIPE_CLOSED = 141


def _closed_pipe() -> int:
    """The reader of the output went away (``schedkit plot --json x.toml | head``): stop
    quietly, as command-line tools do. What is still buffered goes nowhere, so the flush at
    the interpreter's exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind sys.stdout (a test's buffer)
        pass
    return _PIPE_CLOSED


def _warning_printer(command: str) -> Any:
    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        print(f"schedkit {command}: warning: {escape(str(message))}", file=sys.stderr)

    return show


def _positive(text: str) -> int:
    """An argparse type: a whole number > 0 (0 steps or a batch of 0 mean nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {value}")
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
