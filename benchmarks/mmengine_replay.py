"""What the ``mmengine.*`` aliases cost: they replay mmengine's recurrences (its floats).

Run: ``python benchmarks/mmengine_replay.py`` (or ``tox -e bench``). Three groups, CPU time,
best of a few rounds:

- ``step()`` of a warmup + cosine + multistep ``param_scheduler`` list (one update per
  scheduler in range and step);
- a cold jump (a fresh curve asked for a far step): dense (a cosine over every iteration:
  one update per step, at most ``MAX_REPLAY`` per call) and sparse (a warmup, then steps by
  epoch: the skipped steps cost nothing);
- ``load_state_dict`` of a state far into a long run (the state carries each group's
  value: nothing is replayed).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch

import schedkit

LRS = (0.1, 0.05, 0.01)


def sgd() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)])


def best(fn: Callable[[], Any], rounds: int = 3) -> float:
    out = []
    for _ in range(rounds):
        t = time.process_time()
        fn()
        out.append(time.process_time() - t)
    return min(out)


LONG = {  # 8,000,000 iterations, epochs of 5,000
    "type": "mmengine.param_scheduler",
    "steps_per_epoch": 5_000,
    "schedulers": [
        {"type": "mmengine.LinearLR", "start_factor": 1e-3, "by_epoch": False, "end": 1_000},
        {"type": "mmengine.CosineAnnealingLR", "eta_min": 1e-6, "by_epoch": False,
         "begin": 1_000, "end": 8_000_000},
        {"type": "mmengine.MultiStepLR", "milestones": [1_200, 1_500], "by_epoch": True},
    ],
}  # fmt: skip
SPARSE = {  # 2,000,000 iterations, epochs of 10,000
    "type": "mmengine.param_scheduler",
    "steps_per_epoch": 10_000,
    "schedulers": [
        {"type": "mmengine.LinearLR", "start_factor": 1e-3, "by_epoch": False, "end": 500},
        {"type": "mmengine.MultiStepLR", "milestones": [100, 150], "by_epoch": True},
    ],
}


def main() -> None:
    sched = schedkit.get_scheduler(LONG, sgd())
    n = 20_000
    per_step = best(lambda: [sched.step() for _ in range(n)]) / n
    print(f"step() of the 3-scheduler list, 3 groups: {per_step * 1e6:.2f} us")

    def cold(spec: dict[str, Any], k: int) -> Callable[[], None]:
        return lambda: [schedkit.get_schedule(spec).per_group({}, lr, 0)(k) for lr in LRS]

    dense = best(cold(LONG, 1_000_000), rounds=2)
    print(f"cold jump to step 1,000,000 of the cosine (dense), 3 groups: {dense:.2f} s")
    sparse = best(cold(SPARSE, 1_999_999))
    print(f"cold jump to step 1,999,999 of warmup + multistep (sparse), 3 groups: "
          f"{sparse * 1e3:.2f} ms")  # fmt: skip

    state = copy.deepcopy(sched.state_dict())
    state.update(step=5_000_000, curves=[{"value": 0.02}] * len(LRS))
    fresh = schedkit.get_scheduler(LONG, sgd())
    load = best(lambda: fresh.load_state_dict(state))
    print(f"load_state_dict at step 5,000,000, 3 groups: {load * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
