"""Microseconds per scheduler step, next to the peers, and whole-curve evaluation speed.

Run: ``python benchmarks/step_overhead.py`` (or ``tox -e bench``). Measures, in one run,
``Scheduler.step()`` for a linear warmup into a cosine decay with 1, 64 and 1024 param
groups next to torch's ``SequentialLR(LinearLR, CosineAnnealingLR)``, transformers'
``get_cosine_schedule_with_warmup`` and the floor: a bare loop that only writes a
precomputed value into each group. Then ``values()`` over 1,000,000 steps next to a
hand-written numpy closed form. Prints times and ratios (lower is better).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import timeit
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch.optim import lr_scheduler as tl

import schedkit

WARMUP, TOTAL = 100, 100_000


DISTINCT = False  # every group its own base lr (layer decay without merging)


def optimizer(n_groups: int) -> torch.optim.Optimizer:
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-3 * (0.9**i if DISTINCT else 1.0)}
        for i in range(n_groups)
    ]
    opt = torch.optim.SGD(groups, lr=1e-3)
    opt.step()  # torch warns when a scheduler steps before the optimizer ever did
    return opt


def per_step(
    makers: dict[str, Callable[[torch.optim.Optimizer], Callable[[], None]]],
    n_groups: int,
    steps: int,
    rounds: int,
) -> dict[str, float]:
    """Microseconds per call for each candidate: the best of ``rounds`` interleaved rounds.

    Candidates are timed in turn within each round, so that load on a shared machine hits
    them alike; each is warmed up before timing.
    """
    timers = {}
    for name, make in makers.items():
        timer = timeit.Timer(make(optimizer(n_groups)))
        timer.timeit(number=50)
        timers[name] = timer
    best = dict.fromkeys(makers, math.inf)
    for _ in range(rounds):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(number=steps) / steps * 1e6)
    return best


def schedkit_step(opt: torch.optim.Optimizer) -> Callable[[], None]:
    return schedkit.get_scheduler("cosine", opt, warmup=WARMUP, total=TOTAL).step


def torch_step(opt: torch.optim.Optimizer) -> Callable[[], None]:
    warm = tl.LinearLR(opt, start_factor=1e-8, end_factor=1.0, total_iters=WARMUP)
    cos = tl.CosineAnnealingLR(opt, T_max=TOTAL - WARMUP)
    return tl.SequentialLR(opt, [warm, cos], milestones=[WARMUP]).step


def transformers_step(opt: torch.optim.Optimizer) -> Callable[[], None]:
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(opt, WARMUP, TOTAL).step


def floor_step(opt: torch.optim.Optimizer) -> Callable[[], None]:
    """Only write precomputed values: one for all groups, or one per group when they differ."""
    groups = opt.param_groups
    if not DISTINCT:
        values = [1e-3 * 0.5]

        def step() -> None:
            v = values[0]
            for g in groups:
                g["lr"] = v

        return step
    pairs = [(g, g["lr"] * 0.5) for g in groups]

    def step_each() -> None:
        for g, v in pairs:
            g["lr"] = v

    return step_each


def curves(n: int, repeat: int) -> dict[str, float]:
    sched = schedkit.get_schedule("cosine", total=TOTAL, warmup=WARMUP)
    t_torch = torch.arange(n, dtype=torch.float64)

    def ours() -> None:
        sched.values(t_torch)

    def numpy_closed_form() -> None:
        t = np.arange(n, dtype=np.float64)
        progress = np.clip((t - WARMUP) / (TOTAL - WARMUP), 0.0, 1.0)
        np.where(t < WARMUP, t / WARMUP, 0.5 * (1.0 + np.cos(np.pi * progress)))

    a = min(timeit.repeat(ours, number=1, repeat=repeat)) * 1e3
    b = min(timeit.repeat(numpy_closed_form, number=1, repeat=repeat)) * 1e3
    return {"schedkit_ms": a, "numpy_ms": b, "ratio": a / b}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument(
        "--repeat", type=int, default=15, help="interleaved rounds; the best counts"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # torch's recursive-form deprecation chatter
    peers: dict[str, Callable[[torch.optim.Optimizer], Callable[[], None]]] = {
        "schedkit": schedkit_step,
        "torch SequentialLR": torch_step,
        "transformers": transformers_step,
        "floor": floor_step,
    }
    global DISTINCT
    rows = []
    for distinct in (False, True):
        DISTINCT = distinct
        for n in (1, 64, 1024):
            steps = max(args.steps // max(1, n // 64), 100)
            times = per_step(peers, n, steps, args.repeat)
            rows.append({"groups": n, "distinct_bases": distinct, **times})
    curve = curves(1_000_000, args.repeat)
    if args.json:
        print(json.dumps({"steps": rows, "values_1M": curve}, indent=2))
        return 0
    versions = f"torch {torch.__version__}, schedkit {schedkit.__version__}"
    print(f"us per Scheduler.step(), warmup + cosine ({versions})")
    for r in rows:
        if r["groups"] == 1:
            kind = (
                "every group its own base lr"
                if r["distinct_bases"]
                else "one base lr for all groups"
            )
            print(f"\n{kind}")
            print(
                f"{'groups':>7} {'schedkit':>9} {'torch':>9} {'transf.':>9} {'floor':>9}   "
                f"{'vs torch':>8} {'vs transf.':>10} {'vs floor':>8}"
            )
        s, t, hf, fl = r["schedkit"], r["torch SequentialLR"], r["transformers"], r["floor"]
        print(
            f"{r['groups']:>7} {s:>9.2f} {t:>9.2f} {hf:>9.2f} {fl:>9.2f}   "
            f"{s / t:>8.3f} {s / hf:>10.3f} {s / fl:>8.2f}"
        )
    print(
        f"\nvalues() over 1,000,000 steps: schedkit {curve['schedkit_ms']:.1f} ms, "
        f"numpy closed form {curve['numpy_ms']:.1f} ms, ratio {curve['ratio']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
