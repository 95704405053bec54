"""``schedkit list``, ``show`` and ``completion``: the registered components."""

from __future__ import annotations

import argparse
import difflib
import inspect
import sys
from typing import Any

import attrs

from schedkit.cli._output import print_json, table
from schedkit.errors import SchedkitError, UnknownNameError
from schedkit.hooks import family_hooks
from schedkit.registry import default_registry
from schedkit.schedule import _fields_of, plain


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
        print_json(
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
    print(table(rows, ["name", "kind", "plugin", "distribution", "version", "aliases"]))
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
    if info.kind == "schedule" and family_hooks(info.cls).accepts_warmup:
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
        print_json(d)
        return 0
    alias = f" (aliases: {', '.join(d['aliases'])})" if d["aliases"] else ""
    origin = f"plugin {d['plugin']!r} ({d['distribution']} {d['version']})"
    print(f"{d['name']}: {d['kind']} from {origin}{alias}\n")
    print(plain_text(d["doc"]) + "\n")
    rows = [
        [p["name"], p["type"], "required" if p["required"] else repr(p["default"])]
        for p in d["parameters"]
    ]
    print(table(rows, ["parameter", "type", "default"]))
    if any(p["type"] == "duration" for p in d["parameters"]):
        print('\nduration: steps (1000), epochs ("5ep") or a share of the total ("10%")')
    return 0


def add_completion(sub: Any, parser: argparse.ArgumentParser) -> None:
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
