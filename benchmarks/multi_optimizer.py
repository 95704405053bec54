"""``Built.step()`` with two optimizers (Muon + Adam) next to the same loop written by hand.

Run: ``python benchmarks/multi_optimizer.py`` (or ``tox -e bench``). Builds
``examples/muon-adamw-speedrun.toml`` (with global-norm clipping) over a small GPT-shaped
model, and times one training step's optimizer work both ways:

- schedkit: ``built.step()`` (clip over every parameter, Muon's and Adam's steps, the two
  ``lr`` schedulers and Muon's momentum scheduler, ``zero_grad``);
- by hand: ``clip_grad_norm_(model.parameters())``, ``muon.step()``, ``adam.step()``, two
  ``LambdaLR`` and the momentum written into Muon's group, both ``zero_grad``.

Both start each step from the same stored gradients. Prints microseconds per step (best of
interleaved rounds) and the ratio schedkit / hand-written (the goal: at most 1.10).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import tomllib
import torch
from torch import nn

import schedkit

ROOT = Path(__file__).resolve().parents[1]


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.fc = nn.Linear(dim, 4 * dim, bias=False)
        self.out = nn.Linear(4 * dim, dim, bias=False)
        self.scalars = nn.Parameter(torch.ones(2))


class GPT(nn.Module):
    def __init__(self, vocab: int, dim: int, depth: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.head = nn.Linear(dim, vocab, bias=False)


def with_grads(model: nn.Module) -> list[tuple[nn.Parameter, torch.Tensor]]:
    torch.manual_seed(1)
    return [(p, torch.randn_like(p) * 1e-2) for p in model.parameters()]


def restore(grads: list[tuple[nn.Parameter, torch.Tensor]]) -> None:
    for p, g in grads:
        p.grad = g


def by_setup(model: nn.Module, total: int) -> Callable[[], None]:
    data = tomllib.loads((ROOT / "examples" / "muon-adamw-speedrun.toml").read_text())
    data["run"]["total"] = total
    data["clip"] = {"type": "norm", "max_norm": 1.0}
    built = schedkit.load_setup(data).build(model)
    grads = with_grads(model)

    def step() -> None:
        restore(grads)
        built.step()

    return step


def by_hand(model: GPT, total: int) -> Callable[[], None]:
    hidden = [p for n, p in model.named_parameters() if n.startswith("blocks.") and p.ndim == 2]
    seen = {id(p) for p in hidden} | {id(model.embed.weight), id(model.head.weight)}
    scalars = [p for p in model.parameters() if id(p) not in seen]
    muon = torch.optim.Muon(
        hidden, lr=0.05, momentum=0.95, nesterov=True, weight_decay=0.0, adjust_lr_fn="original"
    )
    adam = torch.optim.Adam(
        [
            {"params": scalars, "lr": 0.04},
            {"params": [model.embed.weight], "lr": 0.6},
            {"params": [model.head.weight], "lr": 0.008},
        ],
        betas=(0.8, 0.95),
        eps=1e-10,
        weight_decay=0.0,
    )
    decay = round(total * 0.4)

    def lr_factor(step: int) -> float:
        start = total - decay
        return 1.0 if step < start else 0.1 + 0.9 * (1.0 - (step - start) / decay)

    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lr_factor) for o in (muon, adam)]
    low = 0.85 / 0.95
    grads = with_grads(model)
    done = [0]

    def step() -> None:
        restore(grads)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        muon.step()
        adam.step()
        for s in scheds:
            s.step()
        done[0] += 1
        muon.param_groups[0]["momentum"] = 0.95 * (low + (1 - low) * min(done[0] / 300, 1.0))
        muon.zero_grad(set_to_none=True)
        adam.zero_grad(set_to_none=True)

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    total = 1_000_000  # the stable phase: both sides take the same path each step
    makers = {"schedkit": by_setup, "by hand": by_hand}
    timers = {}
    for name, make in makers.items():
        torch.manual_seed(0)
        model = GPT(512, args.dim, args.depth)
        timer = timeit.Timer(make(model, total))
        timer.timeit(number=5)  # warm up: optimizer state, first-step paths
        timers[name] = timer
    best = dict.fromkeys(timers, math.inf)
    for _ in range(args.rounds):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(number=args.steps) / args.steps * 1e6)
    ratio = best["schedkit"] / best["by hand"]
    params = sum(p.numel() for p in GPT(512, args.dim, args.depth).parameters())
    if args.json:
        print(json.dumps({"us_per_step": best, "ratio": ratio, "params": params}))
    else:
        print(f"GPT dim {args.dim}, depth {args.depth}: {params:,} parameters, 1 thread")
        for name, us in best.items():
            print(f"  {name:<9} {us:10.1f} us/step")
        print(f"  ratio schedkit / by hand: {ratio:.3f} (goal <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
