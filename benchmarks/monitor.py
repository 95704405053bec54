"""What ``schedkit.Monitor`` costs next to ``Built.step()``, on the ViT example.

Run: ``python benchmarks/monitor.py`` (or ``tox -e bench``; ``--cpu`` times the CPU the
process uses instead of the wall clock). The setup is examples/vit-finetune.toml (AdamW,
layer decay 0.65 and no weight decay: 26 named groups on a ViT-B/16 layout, warmup +
cosine, norm clipping). The model is that ViT with every tensor shrunk to one element, so
``Built.step()`` is as cheap as it gets (the per-tensor overhead regime) and the monitor's
share is the largest it can be; at full size the step takes thousands of times longer and
the monitor the same.

It times ``Built.step()`` alone, and ``Built.step()`` with a monitor recording every 100th
update whose values a writer takes (``monitor.write``, to a writer that keeps them), in
interleaved rounds, and prints the difference; then the monitor's own work timed alone
(its step hooks on every update, the values and the writer on every 100th), as a share of
``Built.step()`` (target: under 2%).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import schedkit

sys.path.insert(0, str(Path(__file__).parent))
from _models import ViT, shrink

ROOT = Path(__file__).resolve().parents[1]


class Keep:
    """A writer that keeps the last value of each tag (``SummaryWriter``'s method)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.values[tag] = value


def make(monitored: bool, every: int) -> tuple[schedkit.Built, object]:
    torch.manual_seed(0)
    model = shrink(ViT())
    built = schedkit.load_setup(ROOT / "examples" / "vit-finetune.toml").build(model)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    writer = Keep()
    monitor = schedkit.Monitor(built, every=every) if monitored else None

    def step() -> None:
        built.step(zero_grad=False)
        if monitor is not None:
            monitor.write(writer)

    return built, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", action="store_true", help="time the process's CPU time")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    torch.set_num_threads(1)
    candidates = {"Built.step()": make(False, args.every), "with Monitor": make(True, args.every)}
    n_groups = len(candidates["with Monitor"][0].optimizer.param_groups)
    best = dict.fromkeys(candidates, float("inf"))
    for _, step in candidates.values():
        for _ in range(200):
            step()  # warm up
    for _ in range(args.rounds):
        for name, (_, step) in candidates.items():
            start = clock()
            for _ in range(args.steps):
                step()
            best[name] = min(best[name], (clock() - start) / args.steps)
    base, mon = best["Built.step()"], best["with Monitor"]
    # the monitor's own work, timed alone (steadier than a difference of two noisy times):
    # its two step hooks on every update, and on every `every`-th the values to a writer
    built, _ = candidates["with Monitor"]
    monitor = schedkit.Monitor(built, every=args.every)
    built.step(zero_grad=False)  # a clip result to read
    opt, writer = built.optimizer, Keep()
    own = float("inf")
    for _ in range(args.rounds):
        start = clock()
        for _ in range(args.steps):
            monitor._before(opt, (), {})
            monitor._after(opt, (), {})
            monitor.write(writer)
        own = min(own, (clock() - start) / args.steps)
    monitor.close()
    print(
        f"ViT-B/16 layout shrunk to one element per tensor, {n_groups} named groups, "
        f"recording every {args.every} updates"
    )
    for name, t in best.items():
        print(f"  {name:<14} {t * 1e6:8.1f} us per step")
    print(f"  difference     {100 * (mon - base) / base:+8.2f} %")
    print(
        f"  the monitor's own work: {own * 1e6:.2f} us per update, "
        f"{100 * own / base:.3f} % of Built.step() (target: under 2%)"
    )


if __name__ == "__main__":
    main()
