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
import sys
from collections.abc import Sequence
from typing import Any

import attrs

from schedkit.errors import SchedkitError, UnknownNameError
from schedkit.registry import KINDS, default_registry
from schedkit.schedule import WARMUP_KEYS, _fields_of, plain


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
    reg = default_registry()
    comps = reg.components(args.kind)
    errors = reg.errors()
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
                    for e in errors
                ],
                "skipped": [
                    {"plugin": s.name, "distribution": s.distribution, "reason": why}
                    for s, why in reg.skipped()
                ],
            }
        )
        return 0
    rows = [
        [c.name, c.kind, c.plugin, c.distribution or "-", c.version or "-", ", ".join(c.aliases)]
        for c in comps
    ]
    print(_table(rows, ["name", "kind", "plugin", "distribution", "version", "aliases"]))
    for e in errors:
        print(
            f"\nplugin {e.plugin!r} ({e.distribution}) failed to import:\n{e.traceback}",
            file=sys.stderr,
        )
    for src, why in reg.skipped():
        print(f"plugin {src.name!r} ({src.distribution}) skipped: {why}", file=sys.stderr)
    return 0


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
    for f in _fields_of(info.cls).values():
        default: Any = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        default = None if default is attrs.NOTHING else plain(default)
        params.append(
            {
                "name": f.name,
                "type": f.type
                if isinstance(f.type, str)
                else getattr(f.type, "__name__", str(f.type)),
                "required": f.default is attrs.NOTHING,
                "default": default,
            }
        )
    if info.kind == "schedule":
        params += [
            {"name": "warmup", "type": "duration", "required": False, "default": 0},
            {"name": "warmup_start", "type": "float", "required": False, "default": 0.0},
            {"name": "warmup_kind", "type": "str", "required": False, "default": "linear"},
            {"name": "warmup_mode", "type": "str", "required": False, "default": "shift"},
        ]
    assert len(WARMUP_KEYS) == 4
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
    d = describe(args.kind, args.name)
    if args.json:
        _print_json(d)
        return 0
    alias = f" (aliases: {', '.join(d['aliases'])})" if d["aliases"] else ""
    origin = f"plugin {d['plugin']!r} ({d['distribution']} {d['version']})"
    print(f"{d['name']}: {d['kind']} from {origin}{alias}\n")
    print(d["doc"] + "\n")
    rows = [
        [p["name"], p["type"], "required" if p["required"] else repr(p["default"])]
        for p in d["parameters"]
    ]
    print(_table(rows, ["parameter", "type", "default"]))
    return 0


# -- check / preview ------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from schedkit.setup import SetupError, load_setup

    try:
        setup = load_setup(args.file)
    except SetupError as e:
        if args.json:
            _print_json(
                {
                    "ok": False,
                    "problems": [{"path": p.path, "message": p.message} for p in e.problems],
                }
            )
        else:
            print(e, file=sys.stderr)
        return 1
    if args.json:
        _print_json({"ok": True, "setup": setup.to_dict()})
    else:
        print(f"{args.file}: ok")
    return 0


def _model(spec: str | None) -> tuple[Any, str]:
    if spec is None:
        from schedkit._example import tiny_vit

        return tiny_vit(), "TinyViT (schedkit's example model)"
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise SchedkitError(f"--model expects module:factory, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise SchedkitError(f"--model {spec}: {e}") from None
    return factory(), spec


def _progress(done: int, total: int, extra: str) -> None:
    if not sys.stderr.isatty() and done != total:
        return
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done == total else ""
    print(
        f"\r  [{'#' * filled}{' ' * (width - filled)}] {done}/{total} {extra}",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def preview(
    setup_path: str, model_spec: str | None, steps_per_epoch: int | None, simulate: int
) -> dict[str, Any]:
    """Load, validate, build and simulate a setup; return what ``preview`` prints."""
    import torch

    from schedkit.setup import load_setup

    setup = load_setup(setup_path)
    model, model_name = _model(model_spec)
    built = setup.build(model, steps_per_epoch=steps_per_epoch)
    total = built.total_steps
    if total is None:
        horizons = [getattr(s.schedule, "horizon", None) for s in built.schedulers.values()]
        total = max((h for h in horizons if h), default=simulate)
    groups = []
    for i, g in enumerate(built.optimizer.param_groups):
        groups.append(
            {
                "group": i,
                "params": len(g["params"]),
                "numel": sum(p.numel() for p in g["params"]),
                "lr": g.get("initial_lr", g["lr"]),
                "weight_decay": g.get("weight_decay"),
                "tags": sorted(g.get("tags", ())),
            }
        )
    schedules = {}
    for key, s in built.schedulers.items():
        sched = s.schedule
        marks = sorted({0, total} | {round(total * q) for q in (0.25, 0.5, 0.75)})
        warm = getattr(sched, "steps", None) if sched.spec().get("warmup") is not None else None
        if warm:
            marks = sorted(set(marks) | {warm})
        base = s.base_values[0]
        schedules[key] = {
            "spec": sched.spec(),
            "warmup_end": warm,
            "milestones": [{"step": m, "value": base * sched(m)} for m in marks],
        }
    # a short real training loop on the model, checking the applied values as it goes
    n = min(simulate, total)
    losses = []
    mismatches = 0
    batch = getattr(model, "example_batch", None)
    for step in range(n):
        if batch is not None:
            x, y = batch(seed=step % 4)  # a small fixed data set, so the loss falls
            loss = torch.nn.functional.cross_entropy(model(x), y)
        else:
            loss = sum((p.float() ** 2).sum() for p in model.parameters() if p.requires_grad) * 1e-3
        loss.backward()  # type: ignore[no-untyped-call]
        built.step()
        losses.append(float(loss.detach()))
        for s in built.schedulers.values():
            want = [b * s.schedule(s.steps) for b in s.base_values]
            if s.get_last_lr() != want:
                mismatches += 1
        _progress(step + 1, n, f"loss {losses[-1]:.4f}")
    return {
        "setup": setup_path,
        "model": model_name,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "total_steps": total,
        "optimizer": setup.optimizer,
        "groups": groups,
        "schedules": schedules,
        "simulated_steps": n,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "value_mismatches": mismatches,
        "clipping": None,
    }


def cmd_preview(args: argparse.Namespace) -> int:
    d = preview(args.file, args.model, args.steps_per_epoch, args.simulate)
    if args.json:
        _print_json(d)
        return 0 if d["value_mismatches"] == 0 else 1
    opt = ", ".join(f"{k}={v}" for k, v in d["optimizer"].items() if k != "type")
    print(f"setup      {d['setup']}")
    print(f"model      {d['model']}: {d['trainable_params']:,} trainable parameters")
    print(f"optimizer  {d['optimizer']['type']}({opt})")
    print(f"run        {d['total_steps']} steps\n")
    print("param groups")
    rows = [
        [
            str(g["group"]),
            str(g["params"]),
            f"{g['numel']:,}",
            f"{g['lr']:.6g}",
            f"{g['weight_decay']}",
            ", ".join(g["tags"]) or "-",
        ]
        for g in d["groups"]
    ]
    print(_table(rows, ["#", "params", "numel", "lr", "weight_decay", "tags"]))
    print("\nschedules (values of the first group)")
    for key, s in d["schedules"].items():
        spec = s["spec"]
        desc = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
        print(f"  {key}: {spec['type']} ({desc})")
        for m in s["milestones"]:
            note = "  <- warmup end" if m["step"] == s["warmup_end"] else ""
            note = note or ("  <- final" if m["step"] == d["total_steps"] else "")
            print(f"    step {m['step']:>8}  {m['value']:.6g}{note}")
    verdict = "all match" if d["value_mismatches"] == 0 else "DIFFER from"
    print(
        f"\nsimulated {d['simulated_steps']} steps on the model: "
        f"loss {d['loss_first']:.4f} -> {d['loss_last']:.4f}; "
        f"applied values {verdict} the schedules"
    )
    print("clipping   none (no [clip] table)")
    return 0 if d["value_mismatches"] == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="schedkit", description="Schedules, rules and clippers for PyTorch optimizers."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="every registered component with its plugin and distribution")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="a component's parameters, defaults and docstring")
    p.add_argument("name")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("check", help="validate a setup file; every problem with its key path")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("preview", help="build a setup on a model and simulate a short run")
    p.add_argument("file")
    p.add_argument("--model", help="module:factory returning the model (default: an example ViT)")
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument(
        "--simulate", type=int, default=200, help="steps of real training to run (default 200)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_preview)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except SchedkitError as e:
        print(f"schedkit {args.command}: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
