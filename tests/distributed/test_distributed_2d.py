"""The global norm under a 2-D mesh: FSDP2 over one dimension, tensor parallel over the
other (DTensor gradients with mixed placements), 4 gloo processes on CPU, against the norm
of the same model and data in one process."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import schedkit
from tests.distributed.test_distributed_clipping import _close, batch, make_model, reference
from tests.support.dist import run


def _two_d(rank: int, world: int, out: Path) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    m = make_model()
    parallelize_module(m, mesh["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel()})
    fully_shard(m, mesh=mesh["dp"])
    dp_rank = mesh["dp"].get_local_rank()
    m(batch(dp_rank)).pow(2).mean().backward()
    placements = sorted({str(p.grad.placements) for p in m.parameters()})
    r = schedkit.get_clipper("norm", max_norm=0.1)(m)
    grads = [p.grad.full_tensor().flatten().tolist() for p in m.parameters()]
    (out / f"2d{rank}.json").write_text(
        json.dumps(
            {
                "total": r.total_norm.item(),
                "type": type(r.total_norm).__name__,
                "placements": placements,
                "grads": grads,
            }
        )
    )


def test_2d_mesh_fsdp2_and_tensor_parallel_norm_is_global(tmp_path):
    run(_two_d, tmp_path, world=4, timeout=240.0)
    total, grads = reference(0.1)
    for rank in range(4):
        got = json.loads((tmp_path / f"2d{rank}.json").read_text())
        assert got["type"] == "Tensor"  # the full value, not a partial DTensor
        assert len(got["placements"]) > 1  # mixed placements: the case under test
        assert abs(got["total"] - total) <= 1e-5 * total
        _close(got["grads"], grads)
    assert torch.isfinite(torch.tensor(total))
