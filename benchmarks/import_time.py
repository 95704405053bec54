"""Start-up cost of schedkit on top of torch: ``import torch`` (and an optimizer) alone
against the same plus ``import schedkit`` and the first ``get_scheduler`` (which loads the
registry and the one plugin it needs), each in a fresh interpreter, in alternating rounds so
a slow spell of the machine falls on both.

    python benchmarks/import_time.py [--rounds 15] [--instructions]

Prints the median of each and the difference (the target: at most 25 ms) and ratio, in
wall-clock time and in CPU time (``getrusage`` of the child processes: less sensitive to a
loaded machine). ``--instructions`` also runs each child once under valgrind's callgrind
and prints the instructions each executes: a count that does not move with the load of
the machine, for comparing two versions of schedkit on a busy one (minutes per run).

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


#: what ``import schedkit`` and a first ``get_scheduler`` may add to ``import torch``
TARGET_MS = 25.0

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
        "CPU median / the 25 ms target, ratio": 1e3 * med(cpu) / TARGET_MS,
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
    torch_alone, together = instructions(TORCH), instructions(SCHEDKIT)
    return {
        "import torch, an optimizer (M instructions)": torch_alone / 1e6,
        "the same + schedkit (M instructions)": together / 1e6,
        "difference (M instructions)": (together - torch_alone) / 1e6,
        "instruction ratio": together / torch_alone,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    args = parser.parse_args()
    result = measure(args.rounds)
    if args.instructions:
        result.update(count())
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for k, v in result.items():
        print(f"{k:<52} {v:8.3f}" if "ratio" in k else f"{k:<52} {v:8.1f}")


if __name__ == "__main__":
    main()
