"""Clipping under DDP, FSDP2 and a pipeline process group: 2 gloo processes on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

import schedkit
from tests.support.dist import run


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))


def batch(rank: int) -> torch.Tensor:
    return torch.randn(16, 6, generator=torch.Generator().manual_seed(100 + rank))


def reference(max_norm: float) -> tuple[float, list[list[float]]]:
    """One process, both ranks' data: the average of the two losses, as DDP averages."""
    m = make_model()
    loss = sum(m(batch(r)).pow(2).mean() for r in (0, 1)) / 2
    loss.backward()
    total = torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm)
    return total.item(), [p.grad.flatten().tolist() for p in m.parameters()]


def _ddp(rank: int, world: int, out: Path) -> None:
    from torch.nn.parallel import DistributedDataParallel

    m = DistributedDataParallel(make_model())
    m(batch(rank)).pow(2).mean().backward()
    r = schedkit.get_clipper("norm", max_norm=0.1)(m)
    grads = [p.grad.flatten().tolist() for p in m.module.parameters()]
    (out / f"ddp{rank}.json").write_text(json.dumps({"total": r.total_norm.item(), "grads": grads}))


def _pipeline(rank: int, world: int, out: Path) -> None:
    import torch.distributed as dist

    m = make_model()
    m(batch(0)).pow(2).mean().backward()
    params = list(m.parameters())
    mine = params[:2] if rank == 0 else params[2:]  # two stages, each its own parameters
    r = schedkit.get_clipper("norm", max_norm=0.1)(mine, process_group=dist.group.WORLD)
    (out / f"pipe{rank}.json").write_text(
        json.dumps(
            {"total": r.total_norm.item(), "grads": [p.grad.flatten().tolist() for p in mine]}
        )
    )


def _fsdp(rank: int, world: int, out: Path) -> None:
    from torch.distributed.fsdp import fully_shard

    m = make_model()
    for layer in (m[0], m[2]):
        fully_shard(layer)
    fully_shard(m)
    m(batch(rank)).pow(2).mean().backward()
    r = schedkit.get_clipper("norm", max_norm=0.1)(m)
    total = r.total_norm
    grads = [p.grad.full_tensor().flatten().tolist() for p in m.parameters()]
    (out / f"fsdp{rank}.json").write_text(
        json.dumps({"total": total.item(), "dtensor": type(total).__name__, "grads": grads})
    )


def _close(a: list[list[float]], b: list[list[float]]) -> None:
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(torch.tensor(x), torch.tensor(y), rtol=1e-5, atol=1e-7)


def test_ddp_norm_is_the_global_norm(tmp_path):
    run(_ddp, tmp_path)
    total, grads = reference(0.1)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"ddp{rank}.json").read_text())
        assert abs(got["total"] - total) <= 1e-5 * total
        _close(got["grads"], grads)


def test_pipeline_stages_combine_their_norms(tmp_path):
    run(_pipeline, tmp_path)
    m = make_model()
    m(batch(0)).pow(2).mean().backward()
    total = torch.nn.utils.clip_grad_norm_(m.parameters(), 0.1).item()
    expected = [p.grad.flatten().tolist() for p in m.parameters()]
    g0 = json.loads((tmp_path / "pipe0.json").read_text())
    g1 = json.loads((tmp_path / "pipe1.json").read_text())
    assert abs(g0["total"] - total) <= 1e-5 * total
    assert abs(g1["total"] - total) <= 1e-5 * total
    _close(g0["grads"] + g1["grads"], expected)


def test_fsdp2_norm_is_materialised_and_global(tmp_path):
    run(_fsdp, tmp_path)
    total, grads = reference(0.1)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"fsdp{rank}.json").read_text())
        assert got["dtensor"] == "Tensor"  # the full value, not a partial DTensor
        assert abs(got["total"] - total) <= 1e-5 * total
        _close(got["grads"], grads)
