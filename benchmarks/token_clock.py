"""Microseconds per step of the token-clocked scheduler next to the plain step it extends.

Run: ``python benchmarks/token_clock.py``. Measures, for 1 and 64 param groups, a warmup +
cosine schedule stepped by ``Scheduler.step()`` (the plain step, counting steps) and by
:class:`schedkit.ClockedScheduler`: ``step(tokens=n)`` (the loop says what the step
consumed), ``step()`` with a constant ``per_step``, ``step()`` reading a batch ramp, a
ramp whose batch also scales the lr, and the same once the ramp is over; each called from
a function body, as a training loop calls it. Prints times and the ratio to the plain
step (the target: within 1.2x).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import torch
from step_overhead import per_step

import schedkit

TOKENS = 4096 * 1024
RAMP = schedkit.BatchRamp(start=256, increment=256, ramp_samples=10**9, batch_size=4096)
#: a ramp over by the time the timing starts (the timer's warm-up steps pass it)
SHORT = schedkit.BatchRamp(start=256, increment=256, ramp_samples=4096, batch_size=4096)
SPEC = {"type": "cosine", "warmup": "2Btok", "total": "1Ttok"}


def plain(opt: torch.optim.Optimizer) -> Callable[[], None]:
    sched = schedkit.get_scheduler("cosine", opt, warmup=500, total=250_000)

    def step() -> None:  # called from a loop's body, as the others
        sched.step()

    return step


def told(opt: torch.optim.Optimizer) -> Callable[[], None]:
    sched = schedkit.ClockedScheduler(opt, SPEC, clock="tokens")

    def step() -> None:
        sched.step(tokens=TOKENS)

    return step


def _called(sched: schedkit.ClockedScheduler) -> Callable[[], None]:
    def step() -> None:
        sched.step()

    return step


def constant(opt: torch.optim.Optimizer) -> Callable[[], None]:
    return _called(schedkit.ClockedScheduler(opt, SPEC, clock="tokens", per_step=TOKENS))


def ramped(opt: torch.optim.Optimizer) -> Callable[[], None]:
    return _called(schedkit.ClockedScheduler(opt, SPEC, clock="tokens", seq_len=1024, ramp=RAMP))


def following(opt: torch.optim.Optimizer) -> Callable[[], None]:
    return _called(
        schedkit.ClockedScheduler(
            opt, SPEC, clock="tokens", seq_len=1024, ramp=RAMP, lr_scaling="sqrt"
        )
    )


def after(opt: torch.optim.Optimizer) -> Callable[[], None]:
    return _called(
        schedkit.ClockedScheduler(
            opt, SPEC, clock="tokens", seq_len=1024, ramp=SHORT, lr_scaling="sqrt"
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15, help="interleaved rounds; the best")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    makers = {
        "plain step()": plain,
        "step(tokens=n)": told,
        "step(), per_step": constant,
        "step(), ramp": ramped,
        "step(), ramp + lr": following,
        "step(), after ramp": after,
    }
    rows = []
    for n in (1, 64):
        times = per_step(makers, n, args.steps, args.repeat)
        rows.append({"groups": n, **times})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"us per step, warmup + cosine (torch {torch.__version__})")
    for r in rows:
        base = r["plain step()"]
        print(f"\n{r['groups']} param group{'s' if r['groups'] > 1 else ''}")
        for name in makers:
            print(f"  {name:<20} {r[name]:>7.2f}   {r[name] / base:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
