"""``schedkit convert --from timm`` against timm's own ``create_optimizer_v2`` and
``create_scheduler_v2`` built from the same args.yaml as ``train.py`` builds them, stepped
with train.py's calls (``step_update`` each update, ``step(epoch + 1)`` each epoch)
beside the converted setup stepped once per update."""

from __future__ import annotations

import copy
import importlib
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import schedkit
from tests.support.agree import fake_grads
from tests.support.models import TinyViT, float64
from tests.support.timm_peer import timm

DIR = Path(__file__).parents[3] / "examples" / "converted"


def train_py(args: dict[str, Any], model: torch.nn.Module, world: int, upe: int) -> Any:
    """What timm's train.py builds: the lr, the optimizer and the scheduler."""
    timm()  # timm's package stand-in (unless the real one is in), its optim and scheduler
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


def real_vit() -> torch.nn.Module:
    """A small real timm ``VisionTransformer`` (its ``group_matcher`` and
    ``no_weight_decay``), timm's package imported beside the torchvision stand-in."""
    package = sys.modules.get("timm")
    if package is not None and not hasattr(package, "__version__"):
        # timm_peer's stand-in package: make way for the real one (the modules already
        # loaded through it keep working)
        for name in [n for n in sys.modules if n == "timm" or n.startswith("timm.")]:
            del sys.modules[name]
    from tests.support import torchvision_stub

    torchvision_stub.install()
    vit = importlib.import_module("timm.models.vision_transformer")
    model: torch.nn.Module = vit.VisionTransformer(
        img_size=8, patch_size=4, in_chans=3, num_classes=5, embed_dim=16, depth=3, num_heads=2
    )
    return model


def check(
    path: Path,
    world: int,
    upe: int,
    full_steps: int = 60,
    model_fn: Callable[[], torch.nn.Module] = TinyViT,
) -> None:
    """timm's train.py loop on both: ``step_update(num_updates)`` after each update and
    ``step(epoch + 1)`` after each epoch; ours is stepped once per update
    (``Built.step()``), and gets train.py's ``step(epoch + 1)`` too."""
    args = yaml.safe_load(path.read_text())
    model = float64(model_fn())
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
    t = 0
    for epoch in range(epochs):
        for _ in range(upe):
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
            t += 1
            if sched is not None:
                sched.step_update(num_updates=t)
        if sched is not None:
            sched.step(epoch + 1)
        if (
            epoch % 2 and "lr" in built.schedulers
        ):  # train.py's epoch-end call, on ours too: it changes nothing
            built.schedulers["lr"].step(epoch + 1)
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


def test_vit_finetune_per_epoch_with_layer_decay() -> None:
    """The example: a ViT-B fine-tune's args.yaml (layer_decay 0.65, cosine per epoch,
    clip_grad), on a small real timm VisionTransformer."""
    check(DIR / "timm-vit-finetune.yaml", world=8, upe=3, model_fn=real_vit)


PER_EPOCH = {
    "cosine cycles": {
        "sched": "cosine",
        "lr_cycle_mul": 1.5,
        "lr_cycle_limit": 2,
        "lr_cycle_decay": 0.5,
        "lr_k_decay": 1.5,
        "cooldown_epochs": 3,
        "warmup_prefix": True,
    },
    "tanh noise": {"sched": "tanh", "lr_noise": [0.2, 0.7], "lr_noise_pct": 0.3, "seed": 3},
    "poly cooldown": {"sched": "poly", "decay_rate": 2.0, "cooldown_epochs": 2, "lr_noise": 0.5},
    "step": {"sched": "step", "decay_epochs": 3, "decay_rate": 0.5, "warmup_prefix": True},
    "multistep": {"sched": "multistep", "decay_milestones": [4, 9], "decay_rate": 0.3},
    "constant": {"sched": "constant", "layer_decay_min_scale": 0.5},
    "none": {"sched": "none", "warmup_prefix": True, "cooldown_epochs": 4},
}


@pytest.mark.parametrize("changes", PER_EPOCH.values(), ids=list(PER_EPOCH))
def test_per_epoch_schedules_with_layer_decay(tmp_path: Path, changes: dict[str, Any]) -> None:
    args = yaml.safe_load((DIR / "timm-vit-finetune.yaml").read_text())
    args.update(epochs=12, warmup_epochs=2, layer_decay=0.75, min_lr=1e-4, warmup_lr=1e-5)
    args.update(changes)
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    check(path, world=2, upe=2, full_steps=30)


def test_per_epoch_sgd_without_layer_decay(tmp_path: Path) -> None:
    args = yaml.safe_load((DIR / "timm-vit-finetune.yaml").read_text())
    args.update(
        epochs=10,
        warmup_epochs=3,
        layer_decay=None,
        opt="sgd",
        lr=0.1,
        clip_grad=0.5,
        clip_mode="value",
        weight_decay=1e-4,
    )
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    check(path, world=1, upe=4, full_steps=20)


def test_per_epoch_setup_steps_by_epoch_through_timms_calls_alone(tmp_path: Path) -> None:
    """A loop that keeps timm's calls only (step_update each update, step(epoch + 1) each
    epoch, no per-update step()) gets the same lrs: step(epoch) goes to the epoch's
    first update."""
    conv = schedkit.convert("timm", DIR / "timm-vit-finetune.yaml", steps_per_epoch=5, world_size=8)
    a = conv.setup().build(float64(TinyViT()))
    b = conv.setup().build(float64(TinyViT()))
    for epoch in range(12):
        for u in range(5):
            assert [g["lr"] for g in a.optimizer.param_groups] == [
                g["lr"] for g in b.optimizer.param_groups
            ]
            a.schedulers["lr"].step()
            b.schedulers["lr"].step_update(epoch * 5 + u + 1)
        b.schedulers["lr"].step(epoch + 1)
    assert b.schedulers["lr"].last_epoch == 60


def test_what_is_refused(tmp_path: Path) -> None:
    args = yaml.safe_load((DIR / "timm-deit-small.yaml").read_text())
    args.update(sched_on_updates=False, layer_decay=0.65, layer_decay_no_opt_scale=0.1, opt="lamb")
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("timm", path, steps_per_epoch=10, world_size=1)
    assert sorted(p.path for p in info.value.problems) == ["layer_decay_no_opt_scale", "opt"]
    assert "requires_grad" in str(info.value)
    with pytest.raises(schedkit.ConversionError, match=r"--steps-per-epoch"):
        schedkit.convert("timm", DIR / "timm-deit-small.yaml", world_size=1)
    with pytest.raises(schedkit.ConversionError, match=r"--world-size"):
        schedkit.convert("timm", DIR / "timm-deit-small.yaml", steps_per_epoch=10)


def test_updates_per_epoch_is_for_t_in_epochs() -> None:
    with pytest.raises(schedkit.SpecError, match="updates_per_epoch") as info:
        schedkit.get_schedule("timm.cosine", t_initial=10, updates_per_epoch=5, t_in_epochs=False)
    assert info.value.path == "updates_per_epoch"


def test_the_setups_clock_is_written_as_timms() -> None:
    """Per epoch (timm's default, the aliases' too): ``t_in_epochs = true`` and the updates
    per epoch in ``[run]``, which the schedule takes when built; per update
    (``sched_on_updates``): ``t_in_epochs = false``, durations in updates."""
    per_epoch = schedkit.convert(
        "timm", DIR / "timm-vit-finetune.yaml", steps_per_epoch=7, world_size=8
    )
    assert "steps_per_epoch = 7  # --steps-per-epoch" in per_epoch.toml
    assert "t_in_epochs = true" in per_epoch.toml
    assert "updates_per_epoch" not in per_epoch.toml
    built = per_epoch.setup().build(float64(TinyViT()))
    assert built.schedulers["lr"].schedule.updates_per_epoch == 7
    per_update = schedkit.convert(
        "timm", DIR / "timm-deit-small.yaml", steps_per_epoch=7, world_size=8
    )
    assert "t_in_epochs = false" in per_update.toml
    assert "steps_per_epoch =" not in per_update.toml


def test_per_epoch_setup_resumes_mid_epoch() -> None:
    """Saved in the middle of an epoch, loaded into a fresh build: the same lrs on."""
    conv = schedkit.convert("timm", DIR / "timm-vit-finetune.yaml", steps_per_epoch=4, world_size=8)
    a = conv.setup().build(float64(TinyViT()))
    for _ in range(4 * 5 + 2):  # past the warmup, two updates into epoch 5
        a.schedulers["lr"].step()
    b = conv.setup().build(float64(TinyViT()))
    b.load_state_dict(a.state_dict())
    seen = set()
    for _ in range(9):
        lrs = [g["lr"] for g in a.optimizer.param_groups]
        assert [g["lr"] for g in b.optimizer.param_groups] == lrs
        seen.add(lrs[0])
        a.schedulers["lr"].step()
        b.schedulers["lr"].step()
    assert len(seen) == 3  # epochs 5, 6 and 7: one value each
