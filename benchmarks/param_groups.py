"""Param groups on a ViT-B/16-shaped model: build time and optimizer step time.

Run: ``python benchmarks/param_groups.py`` (or ``tox -e bench``). In one run, for the
usual fine-tuning rules (layer decay 0.65 and no weight decay on norms, biases and 1-D
parameters) it compares schedkit's merged groups with one group per parameter (the
mmpretrain/mmengine constructors' layout) and a single group (the floor):

- how many groups each layout has;
- ``torch.optim.AdamW(foreach=True).step()`` and ``AdamW(fused=True).step()`` time, with
  full-size tensors and with every tensor shrunk to one element (the per-tensor-overhead
  regime that dominates on accelerators);
- build time against a bare loop over ``named_parameters()``, and build time as the number
  of tensors grows to 100,000;
- building a whole ViT-B setup (param groups with layer decay, the AdamW optimizer, the
  warmup + cosine scheduler) against timm's own ``create_optimizer_v2(layer_decay=...)`` and
  ``create_scheduler_v2``, on timm's ``vit_base_patch16_224`` (skipped without timm).
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import schedkit

sys.path.insert(0, str(Path(__file__).parent))
from _models import ViT, shrink

RULES: list[Any] = [{"type": "layer_decay", "rate": 0.65}, "no_weight_decay"]


def layouts(model: nn.Module) -> dict[str, list[dict[str, Any]]]:
    merged = schedkit.build_param_groups(model, RULES, lr=1e-3, weight_decay=0.05)
    per_param = [
        {**{k: v for k, v in g.items() if k != "params"}, "params": [p]}
        for g in merged
        for p in g["params"]
    ]
    single = [
        {"params": [p for g in merged for p in g["params"]], "lr": 1e-3, "weight_decay": 0.05}
    ]
    return {"schedkit merged": list(merged), "per parameter": per_param, "single group": single}


def step_time(groups: list[dict[str, Any]], fused: bool, repeat: int, number: int) -> float:
    for g in groups:
        for p in g["params"]:
            p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW(groups, lr=1e-3, foreach=not fused, fused=fused)
    opt.step()  # creates the state
    return min(timeit.repeat(opt.step, number=number, repeat=repeat)) / number * 1e3


def bare_loop(model: nn.Module) -> Callable[[], None]:
    def run() -> None:
        for _name, _p in model.named_parameters():
            pass

    return run


def build(model: nn.Module) -> Callable[[], None]:
    def run() -> None:
        schedkit.build_param_groups(model, RULES, lr=1e-3, weight_decay=0.05)

    return run


def interleaved(
    first: Callable[[], None], second: Callable[[], None], rounds: int, number: int
) -> tuple[float, float]:
    """The best time of each in ms, measured in alternating rounds so that a slow spell of
    the machine falls on both (a ratio of two separate runs moves with the load)."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, fn in enumerate((first, second)):
            best[i] = min(best[i], min(timeit.repeat(fn, number=number, repeat=3)) / number)
    return best[0] * 1e3, best[1] * 1e3


#: the recipe timm's train.py runs with ``--opt adamw --layer-decay 0.65 --sched cosine``
TIMM_RECIPE = """\
[run]
total = "100ep"
steps_per_epoch = 1251

[optimizer]
type = "AdamW"
lr = 1e-3
weight_decay = 0.05

[[rules]]
type = "layer_decay"
rate = 0.65
layout = "timm"

[[rules]]
type = "no_weight_decay"

[schedules.lr]
type = "cosine"
warmup = "5ep"
end_lr = 1e-5
warmup_start = 0.01
warmup_mode = "replace"
"""


def timm_setup(rounds: int) -> None:
    """A whole ViT-B setup built by schedkit and by timm's own factories, same model."""
    try:
        sys.path.insert(0, str(Path(__file__).parents[1]))
        from tests.support import torchvision_stub

        torchvision_stub.install()  # timm's package imports torchvision; its ViT uses none
        import timm.models.vision_transformer as vit
        import timm.optim
        import timm.scheduler
    except ImportError as e:
        print(f"timm comparison skipped: {e}\n")
        return
    model = vit.VisionTransformer(
        img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12
    )
    setup = schedkit.loads_setup(TIMM_RECIPE)

    def ours() -> None:
        setup.build(model)

    def loaded() -> None:
        schedkit.loads_setup(TIMM_RECIPE).build(model)

    def theirs() -> None:
        opt = timm.optim.create_optimizer_v2(
            model, "adamw", lr=1e-3, weight_decay=0.05, layer_decay=0.65
        )
        timm.scheduler.create_scheduler_v2(
            opt,
            "cosine",
            num_epochs=100,
            warmup_epochs=5,
            warmup_lr=1e-5,
            min_lr=1e-5,
            step_on_epochs=False,
            updates_per_epoch=1251,
        )

    a, b = interleaved(ours, theirs, rounds=rounds, number=5)
    c, _ = interleaved(loaded, theirs, rounds=max(1, rounds // 3), number=5)
    print("ViT-B setup: layer decay 0.65, no weight decay, AdamW, warmup + cosine")
    print(
        f"  schedkit Setup.build: {a:.3f} ms; timm create_optimizer_v2 + create_scheduler_v2: "
        f"{b:.3f} ms"
    )
    print(f"  ratio {a / b:.2f}x (loads_setup + build: {c:.3f} ms, {c / b:.2f}x)\n")


def wide(n_tensors: int) -> nn.Module:
    """A model with ``n_tensors`` parameters in 1000-block ViT-like naming."""
    m = nn.Module()
    m.blocks = nn.ModuleList()
    per = 10
    for _ in range(max(1, n_tensors // per)):
        b = nn.Module()
        for j in range(per // 2):
            lin = nn.Linear(1, 1)
            setattr(b, f"fc{j}", lin)
        m.blocks.append(b)
    m.head = nn.Linear(1, 1)
    return m


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    print("ViT-B/16 layout, rules: layer_decay(0.65) + no_weight_decay")
    print(f"(torch {torch.__version__}, {threads} threads)\n")
    for regime, make, number in (
        ("one-element tensors (overhead regime)", lambda: shrink(ViT()), 50),
        ("full size", ViT, 1),
    ):
        model = make()
        lay = layouts(model)
        print(regime)
        print(f"  {'layout':<16} {'groups':>6} {'foreach ms':>11} {'fused ms':>9}")
        times: dict[str, tuple[float, float]] = {}
        for name, groups in lay.items():
            f = step_time(groups, False, args.repeat, number)
            u = step_time(groups, True, args.repeat, number)
            times[name] = (f, u)
            print(f"  {name:<16} {len(groups):>6} {f:>11.3f} {u:>9.3f}")
        m, p, s = times["schedkit merged"], times["per parameter"], times["single group"]
        print(f"  per-parameter / merged: foreach {p[0] / m[0]:.2f}x, fused {p[1] / m[1]:.2f}x")
        print(f"  merged / single group:  foreach {m[0] / s[0]:.2f}x, fused {m[1] / s[1]:.2f}x\n")
    vit = ViT()
    a, b = interleaved(build(vit), bare_loop(vit), rounds=3 * args.repeat, number=20)
    distinct = len(
        {
            (g["lr"], g["weight_decay"])
            for g in schedkit.build_param_groups(vit, RULES, lr=1e-3, weight_decay=0.05)
        }
    )
    n_groups = len(schedkit.build_param_groups(vit, RULES, lr=1e-3, weight_decay=0.05))
    print(f"build ViT-B groups: {a:.3f} ms; bare loop over named_parameters(): {b:.3f} ms")
    print(f"ratio {a / b:.2f}x")
    print(f"groups {n_groups} for {distinct} distinct (lr, weight_decay) settings\n")
    timm_setup(rounds=3 * args.repeat)
    print("build time as the model grows")
    for n in (1_000, 10_000, 100_000):
        m = wide(n)
        count = sum(1 for _ in m.parameters())
        t = min(timeit.repeat(build(m), number=1, repeat=max(1, args.repeat // 2)))
        print(f"  {count:>7} tensors: {t:.3f} s ({t / count * 1e6:.2f} us per tensor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
