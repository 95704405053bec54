"""The ``zclip`` spike clipper and ``Built.step``'s skip under DDP and FSDP2: 2 gloo
processes on CPU. The statistics come from the global norm (and the loss averaged over the
ranks), so every rank takes the same decision at every step, even when a spike comes from
one rank's data only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import schedkit
from tests.support.dist import run

SETUP = """
[run]
total = 50

[optimizer]
type = "AdamW"
lr = 0.01

[schedules.lr]
type = "linear"
end = 0.0

[clip]
type = "zclip"
warmup_steps = 4
max_grad_norm = "inf"
on_spike = "skip"
on_skip = "hold"
"""

STEPS = 14
NORM_SPIKE, LOSS_SPIKE = 8, 11  # on rank 0's data only


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))


def train(rank: int, model: nn.Module, params: list[nn.Parameter], judge_loss: bool) -> dict:
    built = schedkit.loads_setup(SETUP).build(model)
    gen = torch.Generator().manual_seed(100 + rank)
    rows = []
    for step in range(STEPS):
        x = torch.randn(16, 6, generator=gen)
        loss = model(x).pow(2).mean()
        scale = 1e3 if (rank == 0 and step == NORM_SPIKE) else 1.0
        (loss * scale).backward()
        reported = loss.detach() * (40.0 if rank == 0 and step == LOSS_SPIKE else 1.0)
        built.step(loss=reported if judge_loss else None)
        r = built.last_clip
        rows.append(
            [
                r.skipped,
                r.spike,
                None if r.total_norm is None else r.total_norm.item(),
                built.optimizer.param_groups[0]["lr"],
            ]
        )
    full = [getattr(p, "full_tensor", lambda p=p: p)().detach().flatten().tolist() for p in params]
    return {
        "rows": rows,
        "skipped": built.skipped_steps,
        "state": {k: v for k, v in built.clipper.state.items() if k != "buffer"},
        "weights": full,
    }


def _ddp(rank: int, world: int, out: Path) -> None:
    from torch.nn.parallel import DistributedDataParallel

    m = DistributedDataParallel(make_model())
    for judge_loss in (False, True):
        result = train(rank, m, list(m.module.parameters()), judge_loss)
        (out / f"ddp{rank}{judge_loss}.json").write_text(json.dumps(result))


def _fsdp(rank: int, world: int, out: Path) -> None:
    from torch.distributed.fsdp import fully_shard

    for judge_loss in (False, True):
        m = make_model()
        for layer in (m[0], m[2]):
            fully_shard(layer)
        fully_shard(m)
        result = train(rank, m, list(m.parameters()), judge_loss)
        (out / f"fsdp{rank}{judge_loss}.json").write_text(json.dumps(result))


def check(out: Path, kind: str) -> None:
    for judge_loss in (False, True):
        a, b = (json.loads((out / f"{kind}{r}{judge_loss}.json").read_text()) for r in (0, 1))
        assert a == b  # the same decisions, norms, lrs, statistics and weights, bit for bit
        skipped = [row[0] for row in a["rows"]]
        expected = {NORM_SPIKE} | ({LOSS_SPIKE} if judge_loss else set())
        assert {i for i, s in enumerate(skipped) if s} == expected
        assert a["skipped"] == len(expected)
        # on_skip = "hold": the lr did not count the skipped steps
        assert a["rows"][-1][3] == pytest.approx(0.01 * (1 - (STEPS - len(expected)) / 50))


def test_ddp_ranks_take_the_same_decisions(tmp_path):
    run(_ddp, tmp_path, timeout=180.0)
    check(tmp_path, "ddp")


def test_fsdp2_ranks_take_the_same_decisions(tmp_path):
    run(_fsdp, tmp_path, timeout=180.0)
    check(tmp_path, "fsdp")
