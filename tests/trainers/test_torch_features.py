"""Skip-aware stepping with a real GradScaler, torch.compile without recompiles, and
torch.distributed.checkpoint with 2 gloo processes."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import schedkit
from schedkit.setup import loads_setup
from tests.support.dist import run


def test_skip_aware_stepping_with_a_real_grad_scaler():
    torch.manual_seed(0)
    m = nn.Linear(2, 1)
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    sched = schedkit.get_scheduler("linear", opt, total=10, follow_optimizer=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=16.0)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler.step() before optimizer.step()" warning
        for i in range(6):
            scaler.scale(m(torch.randn(3, 2)).sum()).backward()
            if i == 2:
                m.weight.grad[0, 0] = float("inf")  # the scaler skips this step
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
            sched.step()  # a no-op in this mode: the optimizer's step advanced it
            seen.append((sched.steps, opt.param_groups[0]["lr"]))
    assert seen == [(1, 0.9), (2, 0.8), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5)]


def test_follow_optimizer_refuses_metric_driven_schedules():
    opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    with pytest.raises(schedkit.SpecError, match="follow_optimizer: a metric-driven schedule"):
        schedkit.get_scheduler("plateau", opt, follow_optimizer=True)


def _compiles(
    lr: float | torch.Tensor, betas: tuple = (0.9, 0.999), schedule: str = "cosine"
) -> int:
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    p = nn.Parameter(torch.randn(16))
    opt = torch.optim.Adam([p], lr=lr, betas=betas, foreach=False)
    params = {"total": 20, "warmup": 5} if schedule == "cosine" else {"total": 12}
    sched = schedkit.get_scheduler(schedule, opt, **params)

    @torch.compile(backend="eager")
    def step() -> None:
        opt.step()

    for _ in range(12):
        p.grad = torch.randn(16)
        step()
        sched.step()
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_a_tensor_lr_is_not_recompiled_as_the_schedule_changes_it():
    with_tensor = _compiles(torch.tensor(1e-3))
    with_float = _compiles(1e-3)
    assert with_tensor == 1  # the value changes in place: one graph for every step
    assert with_float > with_tensor  # a Python float is a constant: a new graph per value


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_one_cycle_momentum_on_tensor_betas_is_not_recompiled():
    betas = (torch.tensor(0.9), torch.tensor(0.999))
    assert _compiles(torch.tensor(1e-3), betas=betas, schedule="one_cycle") == 1
    assert _compiles(torch.tensor(1e-3), schedule="one_cycle") > 1  # float betas: recompiles


def _dcp(rank: int, world: int, out: Path) -> None:
    import torch.distributed.checkpoint as dcp

    def make():
        torch.manual_seed(0)
        model = nn.Linear(4, 2)
        setup = loads_setup(
            '[run]\ntotal = 50\n[optimizer]\ntype = "SGD"\nlr = 0.1\n'
            '[schedules.lr]\ntype = "cosine"\nwarmup = 5\n[clip]\ntype = "adaptive"\nwindow = 4\n'
        )
        return model, setup.build(model)

    model, built = make()
    for i in range(7):
        model(torch.randn(8, 4, generator=torch.Generator().manual_seed(i))).pow(2).sum().backward()
        built.step()
    sched, clip = built.schedulers["lr"], built.clipper
    state = {"sched": sched, "clip": clip, "built": built}
    dcp.save(state, checkpoint_id=str(out / "ckpt"))
    _, built2 = make()
    fresh = {"sched": built2.schedulers["lr"], "clip": built2.clipper, "built": built2}
    dcp.load(fresh, checkpoint_id=str(out / "ckpt"))
    (out / f"dcp{rank}.json").write_text(
        json.dumps(
            {
                "steps": [sched.steps, built2.schedulers["lr"].steps],
                "lr": [sched.get_last_lr(), built2.schedulers["lr"].get_last_lr()],
                "clip": [clip.state_dict()["step"], built2.clipper.state_dict()["step"]],
                "history": torch.equal(
                    clip.state_dict()["extra"]["history"],
                    built2.clipper.state_dict()["extra"]["history"],
                ),
            }
        )
    )


def test_distributed_checkpoint_with_two_processes(tmp_path):
    run(_dcp, tmp_path)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"dcp{rank}.json").read_text())
        assert got["steps"] == [7, 7]
        assert got["lr"][0] == got["lr"][1]
        assert got["clip"] == [7, 7]
        assert got["history"] is True


def test_plain_torch_save_and_weights_only_load_of_everything():
    model = nn.Linear(4, 2)
    built = loads_setup(
        '[optimizer]\ntype = "AdamW"\nlr = 0.1\n[schedules.lr]\ntype = "cosine"\ntotal = 9\n'
        '[clip]\ntype = "adaptive"\nmode = "ema"\n'
    ).build(model)
    model(torch.randn(3, 4)).sum().backward()
    built.step()
    buf = io.BytesIO()
    torch.save(built.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert state["schedulers"]["lr"]["step"] == 1
    assert state["clipper"]["extra"]["ema"].dim() == 0
