"""Run a function in 2 processes on the gloo backend, on 127.0.0.1, bounded in time."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry(
    rank: int, fn: Callable[[int, int, Path], None], world: int, port: int, out: Path
) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        fn(rank, world, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run(
    fn: Callable[[int, int, Path], None], out: Path, world: int = 2, timeout: float = 120.0
) -> None:
    """Run ``fn(rank, world, out)`` in ``world`` processes; fail after ``timeout`` seconds."""
    ctx = mp.start_processes(
        _entry, args=(fn, world, free_port(), out), nprocs=world, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=1.0):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            raise TimeoutError(f"distributed test did not finish in {timeout} s")
