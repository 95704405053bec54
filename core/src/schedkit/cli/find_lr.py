"""``schedkit find-lr``: its arguments; the work is :mod:`schedkit.cli.lr_range`'s, imported
when the command runs (it needs torch, which the other commands' start-up does without)."""

from __future__ import annotations

import argparse
from typing import Any

from schedkit.cli._output import write_stdout


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (an lr bound)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def add_find_lr(sub: Any, positive: Any) -> None:
    """The ``find-lr`` command's arguments (``positive``: the command's whole-number type)."""
    p = sub.add_parser(
        "find-lr",
        help="the lr range test: sweep the peak lr of a setup, suggest one, restore the model",
    )
    p.add_argument("setup", metavar="file")
    p.add_argument("--model", required=True, help="module:factory returning the model")
    p.add_argument("--data", required=True, help="module:loader, an iterable of batches")
    p.add_argument("--loss", help="module:function, function(model, batch) -> loss")
    p.add_argument("--batch-size", type=positive, help="the effective batch size")
    p.add_argument("--min-lr", type=_positive_float, default=1e-8)
    p.add_argument("--max-lr", type=_positive_float, default=1.0)
    p.add_argument("--steps", type=positive, default=100, help="steps of the sweep")
    p.add_argument("--mode", choices=("exponential", "linear"), default="exponential")
    p.add_argument(
        "--like",
        choices=("lightning", "torch-lr-finder"),
        default="lightning",
        help="whose conventions (sweep, smoothing, suggestion) to follow",
    )
    p.add_argument(
        "--beta", type=float, help="the smoothing (0.98 like lightning, 0.95 torch-lr-finder)"
    )
    p.add_argument(
        "--early-stop",
        type=_positive_float,
        metavar="THRESHOLD",
        help="stop when the smoothed loss exceeds this times the best (4 or 5 by --like)",
    )
    p.add_argument("--plot", metavar="PNG", help="draw the loss against the lr")
    p.set_defaults(func=cmd_find_lr)


def cmd_find_lr(args: argparse.Namespace) -> int:
    from schedkit.cli.lr_range import report, sweep

    result = sweep(
        args.setup,
        args.model,
        args.data,
        loss=args.loss,
        batch_size=args.batch_size,
        min_lr=args.min_lr,
        max_lr=args.max_lr,
        num_training=args.steps,
        mode=args.mode,
        like=args.like,
        beta=args.beta,
        early_stop=args.early_stop,
    )
    write_stdout(report(result, args.setup, args.model, args.plot))
    return 0 if result.suggestion is not None else 1
