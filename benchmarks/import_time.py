"""Start-up cost of schedkit on top of torch: ``import torch`` (and an optimizer) alone
against the same plus ``import schedkit`` and the first ``get_scheduler`` (which loads the
registry and the one plugin it needs), each in a fresh interpreter, in alternating rounds so
a slow spell of the machine falls on both.

    python benchmarks/import_time.py [--rounds 15] [--instructions]

Prints the median of each and the difference and ratio, in wall-clock time and in CPU time
(``getrusage`` of the child processes). Both move with the load of the machine by more
than schedkit costs (``import torch`` alone varies by 0.3-1 s between identical runs on a
busy one), so the bar is counted in instructions: ``--instructions`` runs each child once
under valgrind's callgrind (minutes per run) and prints what schedkit's import and first
``get_scheduler`` add to ``import torch`` + an optimizer, as a share of that (the bar: at
most 3%), side by side with what the import of each peer's scheduler module adds after
torch: transformers' ``get_scheduler`` (``transformers.optimization``), timm's
``timm.scheduler`` and fvcore's ``fvcore.common.param_scheduler`` (schedkit's must be
below each). A peer that is not installed is left out and said so; timm's package init
(which ``import timm.scheduler`` runs, as for its users) needs torchvision, and where
torchvision is missing an empty stand-in takes its place (less than a user's import costs:
torchvision's own import is left out). Beside them, not compared: ``import attrs`` and one
attrs class defined and built, the floor under any start-up of schedkit, whose components
are attrs classes.

The children may write bytecode even under ``PYTHONDONTWRITEBYTECODE``, as
an installed package has it: without it every run would compile schedkit's sources again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: torch's own start-up, including the optimizer (whose first construction imports a good
#: part of torch lazily: seconds on a loaded machine, none of it schedkit's)
TORCH = """
import time
t0 = time.perf_counter()
import torch
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
t1 = time.perf_counter()
print(t1 - t0)
"""

SCHEDKIT = """
import time
t0 = time.perf_counter()
import torch
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
t1 = time.perf_counter()
c1 = time.process_time()
import schedkit
schedkit.get_scheduler("cosine", opt, warmup=10, total=100)
t2 = time.perf_counter()
c2 = time.process_time()
print(t2 - t0, t1 - t0, t2 - t1, c2 - c1)
"""

#: the first lines of every child: torch and an optimizer, as in TORCH
_AFTER_TORCH = """
import torch
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
"""

#: what each child adds after torch, by name: schedkit's first scheduler, and the import of
#: each peer's scheduler module
ADDED = {
    "schedkit": """
import schedkit
schedkit.get_scheduler("cosine", opt, warmup=10, total=100)
""",
    "transformers": """
from transformers.optimization import get_scheduler
""",
    "timm": f"""
import sys
try:
    import torchvision  # noqa: F401  (what timm's package init needs)
except ImportError:
    sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
    from tests.support import torchvision_stub

    torchvision_stub.install()
    print("torchvision stood in for by an empty package", file=sys.stderr)
import timm.scheduler
""",
    "fvcore": """
import fvcore.common.param_scheduler
""",
    # not a peer: the floor under any schedkit start-up, since every component is an attrs
    # class (one attrs class defined and built, nothing of schedkit's)
    "attrs": """
import attrs

@attrs.frozen
class Component:
    total: int = 1

Component()
""",
}
#: the modules whose presence decides whether a peer is measured
PEER_MODULES = {"transformers": "transformers", "timm": "timm", "fvcore": "fvcore"}
#: measured beside the peers, not compared with schedkit: the class library it is built on
FLOORS = {"attrs": "attrs"}
#: the most schedkit may add, as a share of torch's instructions
SHARE_BAR = 0.03

#: the environment of the children: bytecode cached, as for an installed package
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def once(code: str) -> tuple[list[float], float]:
    """What the child prints, and the CPU time (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env=ENV,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return [float(x) for x in out.split()], cpu


def measure(rounds: int) -> dict[str, float]:
    torch_alone: list[float] = []
    together: list[float] = []
    torch_cpu: list[float] = []
    together_cpu: list[float] = []
    extra: list[float] = []
    cpu: list[float] = []
    once(SCHEDKIT)  # warm the file cache and write the bytecode
    for _ in range(rounds):
        (t,), t_cpu = once(TORCH)
        torch_alone.append(t)
        torch_cpu.append(t_cpu)
        (total, _torch, added, added_cpu), s_cpu = once(SCHEDKIT)
        together.append(total)
        together_cpu.append(s_cpu)
        extra.append(added)
        cpu.append(added_cpu)
    med = statistics.median
    t, s = med(torch_alone), med(together)
    tc, sc = med(torch_cpu), med(together_cpu)
    return {
        "import torch, an optimizer (ms)": 1e3 * t,
        "the same + import schedkit + get_scheduler (ms)": 1e3 * s,
        "difference of medians (ms)": 1e3 * (s - t),
        "ratio": s / t,
        "import torch, an optimizer, CPU (ms)": 1e3 * tc,
        "the same + schedkit, CPU (ms)": 1e3 * sc,
        "difference of CPU medians (ms)": 1e3 * (sc - tc),
        "CPU ratio": sc / tc,
        "schedkit after torch, same process, median (ms)": 1e3 * med(extra),
        "the same in CPU time, median (ms)": 1e3 * med(cpu),
        "the same in CPU time, best (ms)": 1e3 * min(cpu),
    }


def instructions(code: str) -> int:
    """The instructions a child executes, counted by callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
            env=ENV,
        ).stderr
    match = re.search(r"refs:\s+([\d,]+)", out)
    assert match is not None, out[-2000:]
    return int(match.group(1).replace(",", ""))


def count() -> dict[str, float]:
    """Instructions of torch + an optimizer, and what schedkit and each installed peer's
    scheduler module add to them (two children at a time: a count does not depend on
    the load)."""
    import importlib.util
    from concurrent.futures import ThreadPoolExecutor

    names = ["schedkit"]
    for name, module in {**PEER_MODULES, **FLOORS}.items():
        if importlib.util.find_spec(module) is None:
            print(f"{name} is not installed: left out", file=sys.stderr)
        else:
            names.append(name)
    codes = [_AFTER_TORCH, *(_AFTER_TORCH + ADDED[n] for n in names)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        torch_alone, *added = pool.map(instructions, codes)
    out = {"import torch, an optimizer (M instructions)": torch_alone / 1e6}
    for name, n in zip(names, added, strict=True):
        what = (
            "import schedkit + get_scheduler"
            if name == "schedkit"
            else f"{name} alone (one class)"
            if name in FLOORS
            else f"{name}'s scheduler"
        )
        out[f"{what} after torch (M instructions)"] = (n - torch_alone) / 1e6
        out[f"{what}, share of torch's (ratio)"] = (n - torch_alone) / torch_alone
    mine = added[0] - torch_alone
    out["schedkit's share within the 3% bar (1 = yes, ratio)"] = float(
        mine <= SHARE_BAR * torch_alone
    )
    out["schedkit below every peer measured (1 = yes, ratio)"] = float(
        all(
            mine < n - torch_alone
            for name, n in zip(names, added, strict=True)
            if name in PEER_MODULES
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="wall-clock rounds (0: none)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    args = parser.parse_args()
    result = measure(args.rounds) if args.rounds else {}
    if args.instructions:
        result.update(count())
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for k, v in result.items():
        print(f"{k:<52} {v:8.3f}" if "ratio" in k else f"{k:<52} {v:8.1f}")


if __name__ == "__main__":
    main()
