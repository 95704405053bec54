"""The ``schedkit`` command: list, show, check, preview, groups, plot, convert, new-plugin,
find-lr, replan and completion.

User errors (a bad file, an unknown name) print a message and exit 1, never a traceback;
``--json`` gives machine-readable output. This module reads the command line and runs one
command; each group of commands is a module of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from schedkit._registrar import KINDS
from schedkit._text import escape, escape_lines
from schedkit.cli.components import add_completion, cmd_list, cmd_show, describe
from schedkit.cli.find_lr import add_find_lr
from schedkit.cli.preview import chart, cmd_plot, cmd_preview, preview
from schedkit.cli.replan import add_replan
from schedkit.cli.setups import cmd_check, cmd_groups
from schedkit.cli.tools import add_convert, add_new_plugin
from schedkit.errors import SchedkitError, SchedkitWarning

__all__ = ["chart", "describe", "main", "preview"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"schedkit {version('schedkit-core')}"
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "schedkit (unknown version)"


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
    add_convert(sub)
    add_new_plugin(sub)
    add_find_lr(sub, _positive)
    add_replan(sub, _positive)
    add_completion(sub, parser)
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
