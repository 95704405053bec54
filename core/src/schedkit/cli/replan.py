"""``schedkit replan OLD_STATE NEW.toml``: what resuming a saved run on a new plan does
before it is done. The setups' differences, each scheduled key's values at the resumed step
(old and new), whether ``Built.load_state_dict(state, replan=True)`` takes the state, and
with ``-o`` both plans' curves on one figure."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from schedkit._text import escape
from schedkit.cli._output import print_json
from schedkit.errors import SchedkitError


def _tolerance(text: str) -> float:
    """An argparse type: a relative tolerance in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def add_replan(sub: Any, positive: Any) -> None:
    """The ``replan`` command's arguments (``positive``: the command's whole-number type)."""
    p = sub.add_parser(
        "replan",
        help="resume a saved run on a new setup: the differences, the values at the resumed "
        "step, whether the load is taken",
    )
    p.add_argument("state", metavar="OLD_STATE", help="a saved Built.state_dict() (torch.save)")
    p.add_argument("file", metavar="NEW.toml", help="the new setup")
    p.add_argument(
        "--model",
        help="module:factory returning the model the state was trained with (default: an "
        "example ViT; the groups must match the state's)",
    )
    p.add_argument("--steps-per-epoch", type=positive)
    p.add_argument("--batch-size", type=positive, help="the effective batch size, for lr scaling")
    p.add_argument("--rtol", type=_tolerance, help="the accepted relative change ([resume] rtol)")
    p.add_argument(
        "--allow-jump",
        action="store_true",
        default=None,
        help="accept a jump at the resumed step ([resume] allow_jump)",
    )
    p.add_argument("-o", "--output", help="draw both plans, PNG or SVG by suffix (matplotlib)")
    p.add_argument("--log", action="store_true", help="a logarithmic value axis")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replan)


def cmd_replan(args: argparse.Namespace) -> int:
    """Exit 0 when a replanned load takes the state, 1 when it refuses it."""
    from schedkit import _replan
    from schedkit.cli.setups import build_setup, load_model

    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise SchedkitError(
            f"-o {args.output}: the folder {Path(args.output).parent} does not exist"
        )
    state = _replan.read_state(args.state)
    model, _ = load_model(args.model)
    _, built = build_setup(args, model)
    data = _replan.compare(state, built, rtol=args.rtol, allow_jump=args.allow_jump)
    if args.output:
        _draw(data, args)
    if args.json:
        print_json(
            {
                **{k: v for k, v in data.items() if k != "keys"},
                "keys": {
                    name: {k: v for k, v in entry.items() if not k.startswith("_")}
                    for name, entry in data["keys"].items()
                },
            }
        )
        return 0 if data["accepted"] else 1
    _report(data, args)
    return 0 if data["accepted"] else 1


def _report(data: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"{escape(args.state)} -> {escape(args.file)}")
    print("differences (the state's setup, then the new):")
    for line in data["diff"] or ["none"]:
        print(f"  {escape(line).replace(' here', ' in the new setup')}")
    for name, entry in data["keys"].items():
        if "error" in entry:
            print(f"{name}: {escape(entry['error'])}")
            if "base_values" in entry["error"] and args.model is None:
                print("  (build on the model the state was trained with: --model module:factory)")
            continue
        step = entry["step"]
        print(f"{name} ({entry['key']}) at step {step}:")
        for line in entry["decided"]:
            print(f"  decided at the resume: {escape(line)}")
        old = entry["old"] or [None] * len(entry["new"])
        rows = list(zip(entry["groups"], old, entry["new"], strict=True))
        shown = rows if len(rows) <= 4 else [*rows[:2], *rows[-2:]]
        for i, (g, a, b) in enumerate(shown):
            if len(rows) > 4 and i == 2:
                print(f"  ... {len(rows) - 4} more groups")
            was = "unknown (an older state)" if a is None else repr(a)
            print(f"  param_groups[{g}]: {was} -> {b!r}")
        verdict = "continues" if entry["continues"] else "jumps"
        print(f"  {verdict} (rtol {data['rtol']:g})")
        for line in entry["jump_lines"]:
            print(f"    {escape(line)}")
        if entry["carried"]:
            print(f"  carried over: {', '.join(entry['carried'])}")
    if data["accepted"]:
        print("accepted: Built.load_state_dict(state, replan=True) takes this state")
    else:
        print("refused:")
        for p in data["problems"]:
            print(f"  {escape(p)}")
        print(
            "  allow the jump with --allow-jump ([resume] allow_jump = true) or a larger "
            "--rtol, or change the new plan so that it continues the old one"
        )
    if not data["replan"]:
        print(
            "note: the new setup loads states of its own plan only; add [resume] replan = true "
            "(or call Built.load_state_dict(state, replan=True))"
        )


def _draw(data: dict[str, Any], args: argparse.Namespace) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SchedkitError(
            "-o needs matplotlib: pip install matplotlib (a checkout's requirements.txt has it)"
        ) from None
    from schedkit import _replan
    from schedkit._plot import save

    plans = {
        name: _replan.curves(entry) for name, entry in data["keys"].items() if "_plan" in entry
    }
    if not plans:
        raise SchedkitError(f"-o {args.output}: no scheduler of the state fits the new setup")
    try:
        save(_replan.figure(plans, title=f"{args.state} -> {args.file}", log=args.log), args.output)
    except (OSError, ValueError) as e:
        raise SchedkitError(f"-o {args.output}: cannot write the image: {e}") from None
    if not args.json:
        print(f"wrote {args.output}")
