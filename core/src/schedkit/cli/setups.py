"""``schedkit check`` and ``groups``, and what the commands on a setup share: the model
they build on and the build."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from schedkit._text import escape
from schedkit.cli._output import print_json
from schedkit.errors import SchedkitError
from schedkit.protocols import Finite


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
    horizon = horizon_of(setup)
    if not as_json:
        print(f"{escape(file)}: ok")
        for line in horizon["how"]:
            print(f"  {line}")
    return {"file": file, "ok": True, "setup": setup.to_dict(), "horizon": horizon}


def horizon_of(setup: Any) -> dict[str, Any]:
    """The run's horizon, its unit and how it was derived (``check`` and ``preview``)."""
    run = setup.run
    return {
        "total": setup.total,
        "unit": "steps" if run is None else run.clock,
        "how": [] if run is None else list(run.how),
    }


def cmd_check(args: argparse.Namespace) -> int:
    """Each file checked and reported; exit 1 if any fails."""
    model = load_model(args.model)[0] if args.model else None
    results = [_check_one(f, args, model) for f in args.files]
    failed = [r["file"] for r in results if not r["ok"]]
    if args.json:
        if len(results) == 1:
            print_json({k: v for k, v in results[0].items() if k != "file"})
        else:
            print_json({"ok": not failed, "files": results})
    elif len(results) > 1:
        print(f"{len(results) - len(failed)} of {len(results)} setups ok", file=sys.stderr)
    return 1 if failed else 0


def load_model(spec: str | None) -> tuple[Any, str]:
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


def progress(done: int, total: int, extra: str) -> None:
    if not sys.stderr.isatty() and done != total:
        return
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done == total else ""
    bar = "#" * filled + " " * (width - filled)
    print(f"\r  [{bar}] {done}/{total} {extra}", end=end, file=sys.stderr, flush=True)


def build_setup(args: argparse.Namespace, model: Any) -> tuple[Any, Any]:
    from schedkit.setup import load_setup

    setup = load_setup(Path(args.file))
    built = setup.build(
        model,
        steps_per_epoch=getattr(args, "steps_per_epoch", None),
        batch_size=getattr(args, "batch_size", None),
    )
    return setup, built


def run_length(built: Any, fallback: int) -> int:
    if built.total_steps is not None:
        return int(built.total_steps)
    horizons = [
        s.schedule.horizon if isinstance(s.schedule, Finite) else None
        for s in built.schedulers.values()
    ]
    return max((h for h in horizons if h), default=fallback)


def param_groups(built: Any) -> list[tuple[str, Any]]:
    """Each optimizer's name and param groups (one entry, named ``optimizer``, for a setup
    with a single ``[optimizer]``)."""
    return [(name, unit.groups) for name, unit in built.units.items()]


def _explain(built: Any, name: str) -> str:
    for opt, groups in param_groups(built):
        try:
            text: str = groups.explain(name)
        except KeyError:
            continue
        return f"optimizer {opt}: {text}" if built.named else text
    raise SchedkitError(f"no trainable parameter named {name!r}")


def groups_table(built: Any) -> str:
    """Every optimizer's groups as text tables, each under its optimizer's name and class
    when the setup has several."""
    if not built.named:
        return str(built.groups.table())
    parts = []
    for name, groups in param_groups(built):
        kind = type(built.optimizers[name]).__name__
        parts.append(f"optimizer {name} ({kind})\n{groups.table()}")
    return "\n\n".join(parts)


def group_rows(built: Any) -> list[dict[str, Any]]:
    """One summary per group of every optimizer (each with its ``optimizer`` when the
    setup has several)."""
    if not built.named:
        return list(built.groups.rows())
    return [{"optimizer": n, **r} for n, groups in param_groups(built) for r in groups.rows()]


def group_notes(built: Any) -> list[str]:
    return [note for _, groups in param_groups(built) for note in groups.notes][:]


def cmd_groups(args: argparse.Namespace) -> int:
    model, name = load_model(args.model)
    _, built = build_setup(args, model)
    notes = list(dict.fromkeys(group_notes(built)))
    if args.json:
        out: dict[str, Any] = {"model": name, "groups": group_rows(built), "notes": notes}
        if args.explain:
            out["explain"] = _explain(built, args.explain)
        print_json(out)
        return 0
    if args.explain:
        print(_explain(built, args.explain))
        return 0
    print(groups_table(built))
    for note in notes:
        print(f"note: {note}")
    return 0
