"""``schedkit convert --from timm`` against timm's own ``create_optimizer_v2`` and
``create_scheduler_v2`` built from the same args.yaml as ``train.py`` builds them, stepped
per update beside the converted setup."""

from __future__ import annotations

import copy
import importlib
import types
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import schedkit
from tests.convert.models import TinyViT, float64
from tests.convert_peers.agree import fake_grads
from tests.plugins.compat.timm_peer import timm

DIR = Path(__file__).parents[2] / "examples" / "converted"


def train_py(args: dict[str, Any], model: torch.nn.Module, world: int, upe: int) -> Any:
    """What timm's train.py builds: the lr, the optimizer and the scheduler."""
    timm()  # timm's package stand-in, then its real optim and scheduler modules
    optim = importlib.import_module("timm.optim")
    scheduler = importlib.import_module("timm.scheduler")
    cfg = types.SimpleNamespace(**args)
    if cfg.lr is None:
        ratio = cfg.batch_size * world * cfg.grad_accum_steps / cfg.lr_base_size
        scale = cfg.lr_base_scale or ("sqrt" if "ada" in cfg.opt.lower() else "linear")
        cfg.lr = cfg.lr_base * (ratio**0.5 if scale == "sqrt" else ratio)
    opt = optim.create_optimizer_v2(model, **optim.optimizer_kwargs(cfg))
    sched, epochs = scheduler.create_scheduler_v2(
        opt, **scheduler.scheduler_kwargs(cfg), updates_per_epoch=upe
    )
    return opt, sched, epochs


def check(path: Path, world: int, upe: int, full_steps: int = 60) -> None:
    args = yaml.safe_load(path.read_text())
    model = float64(TinyViT())
    ours = copy.deepcopy(model)
    opt, sched, epochs = train_py(args, model, world, upe)
    built = schedkit.convert("timm", path, steps_per_epoch=upe, world_size=world)
    built = built.setup().build(ours)
    assert built.total_steps == epochs * upe
    where = {id(p): i for i, g in enumerate(opt.param_groups) for p in g["params"]}
    peer = [where[id(p)] for p in model.parameters()]
    where = {id(p): i for i, g in enumerate(built.optimizer.param_groups) for p in g["params"]}
    mine = [where[id(p)] for p in ours.parameters()]
    clip = args.get("clip_grad")
    for t in range(epochs * upe):
        for a, b in zip(peer, mine, strict=True):
            for key in ("lr", "weight_decay", "momentum", "betas"):
                if key not in opt.param_groups[a]:
                    continue
                want, got = opt.param_groups[a][key], built.optimizer.param_groups[b][key]
                assert got == pytest.approx(want, rel=1e-12, abs=0), (t, key)
        if t < full_steps:
            fake_grads(model, t)
            fake_grads(ours, t)
            if clip is not None:
                if args["clip_mode"] == "norm":
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                else:
                    torch.nn.utils.clip_grad_value_(model.parameters(), clip)
            opt.step()
            built.step()
        else:
            for s in built.schedulers.values():
                s.step()
        sched.step_update(num_updates=t + 1)
    for a, b in zip(model.parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_deit_args_yaml() -> None:
    check(DIR / "timm-deit-small.yaml", world=8, upe=3)


def test_multistep_noise_sgd_and_value_clipping(tmp_path: Path) -> None:
    args = yaml.safe_load((DIR / "timm-deit-small.yaml").read_text())
    args.update(
        sched="multistep",
        decay_milestones=[30, 60],
        epochs=90,
        warmup_prefix=True,
        opt="momentum",
        lr=0.2,
        weight_decay=1e-4,
        lr_noise=[0.3, 0.8],
        lr_noise_pct=0.2,
        clip_grad=1.0,
        clip_mode="value",
        seed=7,
    )
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    check(path, world=1, upe=2)


def test_per_epoch_and_layer_decay_are_refused(tmp_path: Path) -> None:
    args = yaml.safe_load((DIR / "timm-deit-small.yaml").read_text())
    args.update(sched_on_updates=False, layer_decay=0.65, opt="lamb")
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("timm", path, steps_per_epoch=10, world_size=1)
    assert sorted(p.path for p in info.value.problems) == ["layer_decay", "opt", "sched_on_updates"]
    with pytest.raises(schedkit.ConversionError, match=r"--steps-per-epoch"):
        schedkit.convert("timm", DIR / "timm-deit-small.yaml", world_size=1)
    with pytest.raises(schedkit.ConversionError, match=r"--world-size"):
        schedkit.convert("timm", DIR / "timm-deit-small.yaml", steps_per_epoch=10)
