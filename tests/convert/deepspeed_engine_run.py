"""Train with DeepSpeed the way its users do, in a process of its own: one process on the CPU
accelerator, ``deepspeed.initialize(model=..., model_parameters=groups, config=ds_config)``
building the engine, optimizer and lr scheduler from the file, then ``engine(x)``,
``engine.backward(loss)``, ``engine.step()`` for every micro-batch.

Run by ``test_deepspeed_initialize.py`` as ``python -m tests.convert.deepspeed_engine_run
JOB.json`` (a child process, so DeepSpeed's process group, its globals and the environment
variables it reads never reach the test process, and the run is bounded by a timeout). The
job names the configs, the model's initial weights and where to write what was recorded:
every param group's hyperparameters before the first and after every optimizer step, the
global gradient norm DeepSpeed clipped with, and the final weights.

Nothing is compiled: the only op ``deepspeed.initialize`` builds on the CPU accelerator is
``deepspeed_shm_comm`` (``TorchBackend.__init__`` -> ``build_shm_op``, a shared-memory
all-reduce compiled with ninja, 209 s here), which DeepSpeed skips when
``deepspeed.ops.__compatible_ops__`` says it is not compatible, as on a platform without it;
a one-process gloo group never needs it. ``"torch_adam": true`` keeps FusedAdam / CPU Adam
(which would be compiled) out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tests.support.agree import KEYS
from tests.support.models import TinyEncoder

#: DeepSpeed-Chat's ``get_optimizer_grouped_parameters``: no decay for these substrings of
#: the lower-cased parameter name
NO_DECAY = ("bias", "layer_norm.weight", "layernorm.weight", "norm.weight", "ln_f.weight")


def make_model() -> torch.nn.Module:
    """The float64 model both sides train (weights loaded from the job)."""
    return TinyEncoder().double()


def batch(micro: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Micro-batch ``micro``: token ids and labels, the same in both processes."""
    g = torch.Generator().manual_seed(500 + micro)
    return torch.randint(0, 20, (4, 5), generator=g), torch.randint(0, 3, (4,), generator=g)


def loss_of(model: torch.nn.Module, micro: int) -> torch.Tensor:
    x, y = batch(micro)
    return F.cross_entropy(model(x), y)


def grouped_parameters(model: torch.nn.Module) -> list[dict[str, Any]]:
    """The two groups DeepSpeed-Chat passes as ``model_parameters``: weights (decayed by the
    config's ``weight_decay``), and biases and norm weights without decay."""
    named = list(model.named_parameters())
    return [
        {"params": [p for n, p in named if not any(k in n.lower() for k in NO_DECAY)]},
        {
            "params": [p for n, p in named if any(k in n.lower() for k in NO_DECAY)],
            "weight_decay": 0.0,
        },
    ]


def group_names(model: torch.nn.Module, groups: list[dict[str, Any]]) -> list[list[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [[names[id(p)] for p in g["params"]] for g in groups]


def read_groups(optimizer: Any, names: list[list[str]]) -> dict[str, dict[str, float]]:
    """Each parameter's hyperparameters, read from the group DeepSpeed's optimizer keeps for
    it (ZeRO keeps the groups in order, each one flat tensor)."""
    assert len(optimizer.param_groups) == len(names)
    out: dict[str, dict[str, float]] = {}
    for group, members in zip(optimizer.param_groups, names, strict=True):
        values: dict[str, float] = {}
        for k in KEYS:
            if k not in group:
                continue
            if k == "betas":
                values["beta1"], values["beta2"] = map(float, group[k])
            else:
                values[k] = float(group[k])
        for n in members:
            out[n] = values
    return out


def train(config: Path, initial: Path, steps: int) -> dict[str, Any]:
    import deepspeed

    cfg = json.loads(config.read_text())
    cfg.pop("train_batch_size", None)  # written for many processes; this is one
    model = make_model()
    model.load_state_dict(torch.load(initial, weights_only=True))
    groups = grouped_parameters(model)
    names = group_names(model, groups)
    engine, optimizer, _, scheduler = deepspeed.initialize(
        model=model, model_parameters=groups, config=cfg
    )
    assert scheduler is not None
    assert optimizer is not None
    gas = engine.gradient_accumulation_steps()
    records = [read_groups(optimizer, names)]
    norms: list[float | None] = []
    micro = 0
    for _ in range(steps):
        for _ in range(gas):
            loss = loss_of(engine, micro)
            engine.backward(loss)
            engine.step()
            micro += 1
        norm = engine.get_global_grad_norm()
        norms.append(None if norm is None else float(norm))
        records.append(read_groups(optimizer, names))
    assert engine.global_steps == steps
    return {
        "optimizer": type(optimizer).__name__,
        "basic_optimizer": type(getattr(optimizer, "optimizer", optimizer)).__name__,
        "scheduler": type(scheduler).__name__,
        "gradient_accumulation_steps": gas,
        "clip": engine.gradient_clipping(),
        "zero_stage": engine.zero_optimization_stage(),
        "records": records,
        "norms": norms,
        "weights": {n: p.detach().clone() for n, p in engine.module.named_parameters()},
    }


def main(job_file: str) -> None:
    import deepspeed.ops

    job = json.loads(Path(job_file).read_text())
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    # One process; a store in memory, so no rendezvous port is opened. deepspeed.initialize
    # takes this group as the user's own ("the user initialized torch.dist themselves").
    torch.distributed.init_process_group(
        "gloo", store=torch.distributed.HashStore(), rank=0, world_size=1
    )
    try:
        for run in job["runs"]:
            result = train(Path(run["config"]), Path(job["initial"]), run["steps"])
            torch.save(result, run["out"])
    finally:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
