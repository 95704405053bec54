"""Gradient clipping on ViT-B/16-shaped gradients, next to the peers, in one run.

Run: ``python benchmarks/clipping.py`` (or ``tox -e bench``; ``--cpu`` times the CPU the
process uses instead of the wall clock, steadier on a shared machine). At full size and with
every tensor shrunk to one element (the per-tensor-overhead regime):

- schedkit ``norm`` vs ``torch.nn.utils.clip_grad_norm_`` (target: at most 1.05x);
- schedkit ``value`` vs ``torch.nn.utils.clip_grad_value_`` (target: at most 1.05x);
- ``param_norm`` vs detectron2's per-parameter loop (``clip_grad_norm_`` on each parameter;
  target: at least 5x faster in the overhead regime, no slower at full size);
- ``agc`` vs timm's ``adaptive_clip_grad`` (target: at least 2x faster in the overhead
  regime). timm's function is loaded from an installed timm's ``timm/utils/agc.py`` (timm's
  package init needs torchvision); without timm, a transcription of it is used and said so;
- the ``zclip`` spike clipper vs the plain ``norm`` clip it extends (target: at most
  1.2x), after its warmup: on an ordinary step (``zclip`` multiplies nothing, ``norm``
  multiplies by 1) and on a step both clip (to half the norm, the gradients copied back
  before each call of either).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import schedkit

sys.path.insert(0, str(Path(__file__).parent))
from _models import ViT, shrink


def timm_agc() -> tuple[Callable[..., None], str]:
    spec = importlib.util.find_spec("timm")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "agc.py"
        mod_spec = importlib.util.spec_from_file_location("timm_agc", path)
        if mod_spec and mod_spec.loader:
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
            return module.adaptive_clip_grad, f"timm ({path})"

    def adaptive_clip_grad(
        parameters: Any, clip_factor: float = 0.01, eps: float = 1e-3, norm_type: float = 2.0
    ) -> None:
        for p in parameters:
            if p.grad is None:
                continue
            p_data, g_data = p.detach(), p.grad.detach()

            def unitwise(x: torch.Tensor) -> torch.Tensor:
                if x.ndim <= 1:
                    return x.norm(norm_type)
                return x.norm(norm_type, dim=tuple(range(1, x.ndim)), keepdim=True)

            max_norm = unitwise(p_data).clamp_(min=eps).mul_(clip_factor)
            grad_norm = unitwise(g_data)
            clipped = g_data * (max_norm / grad_norm.clamp(min=1e-6))
            p.grad.detach().copy_(torch.where(grad_norm < max_norm, g_data, clipped))

    return adaptive_clip_grad, "a transcription of timm's adaptive_clip_grad (timm not installed)"


#: what a call costs: wall time, or with ``--cpu`` the CPU time of the process (every
#: thread's), which a busy shared machine disturbs far less than the wall clock
TIMER: Callable[[], float] = timeit.default_timer


def best_of(fns: dict[str, Callable[[], object]], number: int, rounds: int) -> dict[str, float]:
    """ms per call for each function: the best of ``rounds`` interleaved rounds (so a busy
    shared machine slows every candidate alike)."""
    timers = {k: timeit.Timer(f, timer=TIMER) for k, f in fns.items()}
    for t in timers.values():
        t.timeit(number=1)
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for k, t in timers.items():
            best[k] = min(best[k], t.timeit(number=number) / number * 1e3)
    return best


def measure(
    model: torch.nn.Module, agc_ref: Callable[..., None], number: int, rounds: int
) -> list[tuple[str, float, str, float]]:
    torch.manual_seed(0)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    # huge thresholds: the measured work is the same whether or not anything is clipped
    norm = schedkit.get_clipper("norm", max_norm=1e9)
    value = schedkit.get_clipper("value", clip_value=1e9)
    param_norm = schedkit.get_clipper("param_norm", max_norm=1e9)
    agc = schedkit.get_clipper("agc", clip_factor=1e9)
    zclip = schedkit.get_clipper("zclip", max_grad_norm="inf")
    for _ in range(zclip.warmup_steps + 1):  # past the warmup: the z-score test every call
        zclip(params)
    # a step both clip (to half the norm), from the same gradients every call
    grads = [p.grad for p in params if p.grad is not None]
    saved = [g.clone() for g in grads]
    half = torch.nn.utils.get_total_norm(grads).item() / 2
    norm_half = schedkit.get_clipper("norm", max_norm=half)
    zclip_half = schedkit.get_clipper("zclip", max_grad_norm=half)
    for _ in range(zclip_half.warmup_steps + 1):
        zclip_half(params)
        torch._foreach_copy_(grads, saved)

    def clipping(clip: schedkit.BaseClipper) -> Callable[[], None]:
        def call() -> None:
            torch._foreach_copy_(grads, saved)
            clip(params)

        return call

    def d2_loop() -> None:
        for p in params:
            torch.nn.utils.clip_grad_norm_(p, 1e9)

    t = best_of(
        {
            "norm": lambda: norm(params),
            "clip_grad_norm_": lambda: torch.nn.utils.clip_grad_norm_(params, 1e9),
            "value": lambda: value(params),
            "clip_grad_value_": lambda: torch.nn.utils.clip_grad_value_(params, 1e9),
            "param_norm": lambda: param_norm(params),
            "detectron2 loop": d2_loop,
            "agc": lambda: agc(params),
            "timm agc": lambda: agc_ref(params, 1e9),
            "zclip": lambda: zclip(params),
            "zclip clipping": clipping(zclip_half),
            "norm clipping": clipping(norm_half),
        },
        number,
        rounds,
    )
    return [
        ("norm", t["norm"], "clip_grad_norm_", t["clip_grad_norm_"]),
        ("value", t["value"], "clip_grad_value_", t["clip_grad_value_"]),
        ("param_norm", t["param_norm"], "detectron2 loop", t["detectron2 loop"]),
        ("agc", t["agc"], "timm agc", t["timm agc"]),
        ("zclip", t["zclip"], "norm (schedkit)", t["norm"]),
        ("zclip clip", t["zclip clipping"], "norm clip", t["norm clipping"]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--cpu", action="store_true", help="time the CPU the process uses, not the wall clock"
    )
    args = parser.parse_args()
    global TIMER
    if args.cpu:
        TIMER = time.process_time
    agc_ref, agc_source = timm_agc()
    clock = "CPU time" if args.cpu else "wall time"
    print(f"ViT-B/16 gradients, torch {torch.__version__}, {clock}; agc peer: {agc_source}\n")
    for regime, model, number in (
        ("one-element tensors (overhead regime)", shrink(ViT()), 100),
        ("full size", ViT(), 1),
    ):
        rounds = args.rounds if number > 1 else max(3, args.rounds // 3)
        rows = measure(model, agc_ref, number, rounds)
        print(regime)
        print(f"  {'schedkit':<11} {'ms':>8}   {'peer':<16} {'ms':>8}   {'schedkit / peer':>15}")
        for ours, a, peer, b in rows:
            print(f"  {ours:<11} {a:>8.3f}   {peer:<16} {b:>8.3f}   {a / b:>15.2f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
