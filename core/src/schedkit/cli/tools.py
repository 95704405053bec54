"""``schedkit convert`` and ``new-plugin``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from schedkit._text import escape
from schedkit.cli._output import write_stdout


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
        write_stdout(result.toml)
    if args.verbose:
        print(
            f"ignored (no effect on the optimizer, schedules or clipping): "
            f"{', '.join(escape(k) for k in result.ignored) or 'none'}",
            file=sys.stderr,
        )
    return 0


def add_convert(sub: Any) -> None:
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


def add_new_plugin(sub: Any) -> None:
    p = sub.add_parser("new-plugin", help="write a ready plugin distribution (one schedule)")
    p.add_argument("name", help="the schedule's name; the distribution is schedkit-NAME")
    p.add_argument("--dir", default=".", help="where to write it (default: here)")
    p.set_defaults(func=cmd_new_plugin)
