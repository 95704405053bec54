"""What each example's comment promises holds when the setup is built and run.

One test per example file; a new example without a test here fails
``test_every_example_has_its_claims_checked``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from schedkit._example import tiny_vit
from schedkit.setup import load_setup

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _built(name: str, model: torch.nn.Module) -> object:
    return load_setup(EXAMPLES / name).build(model)


def _by_name(built: object, model: torch.nn.Module, key: str) -> dict[str, float]:
    """Each parameter's base value of ``key`` (before any schedule)."""
    out = {}
    for g in built.optimizer.param_groups:  # type: ignore[attr-defined]
        value = g.get(f"initial_{key}", g[key])
        for p in g["params"]:
            for n, q in model.named_parameters():
                if q is p:
                    out[n] = value
    return out


def _lr_at(built: object, step: int, key: str = "lr") -> list[float]:
    s = built.schedulers[key]  # type: ignore[attr-defined]
    return [b * s.schedule(step) for b in s.base_values]


class ConvNet(torch.nn.Module):
    """A small ResNet-like network with batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 10)


TESTED = {
    "quickstart.toml",
    "vit-finetune.toml",
    "resnet-one-cycle.toml",
    "llm-pretrain-wsd.toml",
    "llm-pretrain-tokens.toml",
    "backbone-head.toml",
    "detectron2-r50-fpn-1x.toml",
    "detectron2-drop-in.toml",
    "mup-width-transfer.toml",
    "muon-adamw-speedrun.toml",
}


def test_every_example_has_its_claims_checked():
    assert {p.name for p in EXAMPLES.glob("*.toml")} == TESTED


def test_quickstart():
    model = tiny_vit()
    built = _built("quickstart.toml", model)
    assert built.total_steps == 1000
    assert _lr_at(built, 100) == [pytest.approx(3e-4)]  # warmup of 1 epoch, then the peak
    assert _lr_at(built, 1000) == [pytest.approx(3e-6)]  # cosine to 0.01 of the peak
    assert built.schedulers["weight_decay"].get_last_lr() == [0.05]


def test_vit_finetune_mae_recipe():
    model = tiny_vit()
    built = _built("vit-finetune.toml", model)
    opt = built.optimizer
    assert type(opt).__name__ == "AdamW"
    assert opt.param_groups[0]["betas"] == (0.9, 0.999) or opt.param_groups[0]["betas"] == [
        0.9,
        0.999,
    ]
    assert built.total_steps == 100 * 1251
    lr = _by_name(built, model, "lr")
    peak = 5e-4 * 1024 / 256
    num = 4 + 2  # 4 blocks, embeddings at 0, head on top
    assert lr["head.weight"] == pytest.approx(peak)
    assert lr["blocks.3.mlp.0.weight"] == pytest.approx(peak * 0.65)
    assert lr["cls_token"] == pytest.approx(peak * 0.65 ** (num - 1))
    wd = _by_name(built, model, "weight_decay")
    assert wd["blocks.0.mlp.0.weight"] == 0.05
    assert wd["head.weight"] == 0.05
    # no weight decay on norms, biases and the position/class tokens
    for name in ("cls_token", "pos_embed", "norm.weight", "norm.bias", "head.bias"):
        assert wd[name] == 0.0, name
    assert wd["blocks.0.norm1.weight"] == 0.0
    s = built.schedulers["lr"]
    warm = 5 * 1251
    assert s.schedule(warm) == pytest.approx(1.0)
    assert s.schedule(warm // 2) < 0.6
    assert s.schedule(built.total_steps) == pytest.approx(1e-3)
    assert built.clipper.spec()["max_norm"] == 5.0


def test_resnet_one_cycle():
    model = ConvNet()
    built = _built("resnet-one-cycle.toml", model)
    total = 30 * 391
    assert built.total_steps == total
    g = built.optimizer.param_groups
    assert all(x["nesterov"] for x in g)
    peak = round(total * 0.25)
    assert max(_lr_at(built, peak)) == pytest.approx(0.4, rel=1e-3)
    assert _lr_at(built, 0)[0] == pytest.approx(0.4 / 25)
    assert _lr_at(built, total)[0] == pytest.approx(0.4 / 25 / 1e4, rel=1e-3)
    curve = built.schedulers["lr"].schedule.companions()["momentum"]
    assert curve(0) == pytest.approx(0.95)
    assert curve(peak) == pytest.approx(0.85)
    assert curve(total) == pytest.approx(0.95)
    wd = _by_name(built, model, "weight_decay")
    assert wd["conv1.weight"] == 5e-5
    assert wd["fc.weight"] == 5e-5
    for name in ("bn1.weight", "bn1.bias", "conv1.bias", "fc.bias"):
        assert wd[name] == 0.0, name


def test_llm_pretrain_wsd():
    model = tiny_vit()
    built = _built("llm-pretrain-wsd.toml", model)
    total = 100_000
    assert built.total_steps == total
    opt = built.optimizer
    assert tuple(opt.param_groups[0]["betas"]) == (0.9, 0.95)
    s = built.schedulers["lr"].schedule
    assert s(2000) == pytest.approx(1.0)
    assert s(1000) == pytest.approx(0.5)
    assert s(80_000) == pytest.approx(1.0)  # stable until the last 20%
    assert s(total) == pytest.approx(0.1)
    mid = 90_000  # 1-sqrt: 1 - (1 - 0.1) * sqrt(0.5)
    assert s(mid) == pytest.approx(1 - 0.9 * math.sqrt(0.5), rel=1e-6)
    wd = _by_name(built, model, "weight_decay")
    assert wd["blocks.0.mlp.0.weight"] == 0.1  # matrices only
    assert wd["blocks.0.mlp.0.bias"] == 0.0
    assert wd["norm.weight"] == 0.0
    w = built.schedulers["weight_decay"].schedule
    assert w(0) == pytest.approx(1.0)
    assert w(total) == pytest.approx(0.1)  # cosine to a tenth
    spec = built.clipper.spec()
    assert spec["max_norm"] == 1.0
    assert spec["nonfinite"] == "skip"


def test_llm_pretrain_tokens():
    """Its claims: a global batch of 512 sequences of 2048 tokens, 10B tokens, 200M of
    warmup, a 1-sqrt cooldown over the last 20% to a tenth, a ramp from 64 sequences over
    500k samples that the lr follows by the square root."""
    from schedkit import ClockedScheduler

    model = tiny_vit()
    built = _built("llm-pretrain-tokens.toml", model)
    total = 10**10
    assert built.total_steps == total
    sched = built.schedulers["lr"]
    assert isinstance(sched, ClockedScheduler)
    s = sched.schedule
    assert s(100_000_000) == pytest.approx(0.5)
    assert s(200_000_000) == 1.0
    assert s(8 * 10**9) == 1.0  # stable until the last 20%
    assert s(total) == pytest.approx(0.1)
    ramp = sched.ramp
    assert (ramp.start, ramp.increment, ramp.ramp_samples, ramp.batch_size) == (
        64, 64, 500_000, 512,
    )  # fmt: skip
    built.step()
    assert sched.consumed == 64 * 2048  # the first step's batch: the ramp's start
    lr = built.optimizer.param_groups[1]["lr"]
    assert lr == pytest.approx(3e-4 * s(64 * 2048) * math.sqrt(64 / 512))


def test_backbone_head():
    model = tiny_vit()
    built = _built("backbone-head.toml", model)
    lr = _by_name(built, model, "lr")
    assert lr["head.weight"] == pytest.approx(1e-3)  # 10x faster
    assert lr["blocks.0.mlp.0.weight"] == pytest.approx(1e-4)
    head = built.schedulers["head_lr"]
    backbone = built.schedulers["lr"]
    assert head.get_last_lr() == [pytest.approx(1e-3)] * len(head.base_values)  # at once
    assert backbone.get_last_lr()[0] == 0.0  # warms up
    assert backbone.schedule(2 * 500) == pytest.approx(1.0)
    assert head.schedule(20 * 500) == pytest.approx(0.0)


@pytest.mark.parametrize("name", ["detectron2-r50-fpn-1x.toml", "detectron2-drop-in.toml"])
def test_detectron2_1x(name):
    model = tiny_vit()
    built = _built(name, model)
    s = built.schedulers["lr"]
    at = {}
    for step in (0, 500, 1000, 59_999, 60_000, 80_000):
        s.last_epoch = step
        at[step] = s.get_lr()[0]
    assert at[0] == pytest.approx(0.02 * 0.001)
    assert at[500] == pytest.approx(0.02 * (0.001 * 0.5 + 0.5))
    assert at[1000] == pytest.approx(0.02)
    assert at[59_999] == pytest.approx(0.02)
    assert at[60_000] == pytest.approx(0.002)
    assert at[80_000] == pytest.approx(0.0002)
    g = built.optimizer.param_groups
    assert all(x["momentum"] == 0.9 for x in g)
    wd = _by_name(built, model, "weight_decay")
    assert wd["norm.weight"] == 0.0  # none on norm layers
    assert wd["blocks.0.mlp.0.weight"] == 1e-4
    assert wd["head.bias"] == 1e-4  # only the norm layers are exempt


def _mup_vit():
    """examples/mup_vit.py, the μP models of examples/mup-width-transfer.toml."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mup_vit", EXAMPLES / "mup_vit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mup_width_transfer():
    """On the base model (the default one, or mup_vit's base: the same shapes) the groups
    are the setup's without the mup rule; 4 times wider the hidden matrices get lr / 4 and
    weight decay * 4 (decay per step unchanged), the rest the tuned values; it trains."""
    plain = load_setup(EXAMPLES / "mup-width-transfer.toml").to_dict()
    plain["rules"] = plain["rules"][:1]
    models = _mup_vit()
    for base in (tiny_vit(), models.base()):
        built = _built("mup-width-transfer.toml", base)
        without = load_setup(plain).build(base)
        for key in ("lr", "weight_decay"):
            assert _by_name(built, base, key) == _by_name(without, base, key)
    model = models.wide()
    built = _built("mup-width-transfer.toml", model)
    lr = _by_name(built, model, "lr")
    wd = _by_name(built, model, "weight_decay")
    for name in ("attn.in_proj_weight", "attn.out_proj.weight", "mlp.0.weight", "mlp.2.weight"):
        assert lr[f"blocks.2.{name}"] == 3e-3 / 4, name
        assert wd[f"blocks.2.{name}"] == 0.05 * 4, name
        assert lr[f"blocks.2.{name}"] * wd[f"blocks.2.{name}"] == pytest.approx(3e-3 * 0.05)
    for name in ("patch_embed.weight", "head.weight"):  # one width dimension
        assert (lr[name], wd[name]) == (3e-3, 0.05), name
    for name in ("cls_token", "pos_embed", "blocks.0.norm1.weight", "blocks.3.mlp.0.bias"):
        assert (lr[name], wd[name]) == (3e-3, 0.0), name
    x, y = model.example_batch(seed=0)
    before = torch.nn.functional.cross_entropy(model(x), y).item()
    for _ in range(5):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        built.step()
    assert torch.nn.functional.cross_entropy(model(x), y).item() < before


def test_muon_adamw_speedrun():
    model = tiny_vit()
    built = _built("muon-adamw-speedrun.toml", model)
    assert built.total_steps == 1750
    muon, adam = built.optimizers["muon"], built.optimizers["adam"]
    assert type(muon).__name__ == "Muon"
    assert type(adam).__name__ == "Adam"
    by_id = {id(p): n for n, p in model.named_parameters()}
    hidden = {n for n, p in model.named_parameters() if n.startswith("blocks.") and p.ndim == 2}
    assert {by_id[id(p)] for g in muon.param_groups for p in g["params"]} == hidden
    lr = {by_id[id(p)]: g["initial_lr"] for g in adam.param_groups for p in g["params"]}
    assert set(lr) == {n for n, _ in model.named_parameters()} - hidden
    assert lr["pos_embed"] == lr["patch_embed.weight"] == 0.6
    assert lr["head.weight"] == 0.008
    assert lr["blocks.0.norm1.weight"] == lr["cls_token"] == 0.04
    assert all(g["betas"] == (0.8, 0.95) and g["eps"] == 1e-10 for g in adam.param_groups)
    assert muon.param_groups[0]["adjust_lr_fn"] == "original"
    # one shape, each optimizer's own peak: stable to 60%, then linear to a tenth
    for key, peak in (("muon.lr", 0.05), ("adam.lr", 0.04)):
        s = built.schedulers[key]
        assert max(s.base_values) == pytest.approx(peak if key == "muon.lr" else 0.6)
        assert s.schedule(1050) == 1.0
        assert s.schedule(1750) == pytest.approx(0.1)
        assert s.schedule(1400) == pytest.approx(0.55)
    m = built.schedulers["muon.momentum"]
    assert m.get_last_lr() == [pytest.approx(0.85)]
    assert m.schedule(300) * 0.95 == pytest.approx(0.95)
    assert "adam.momentum" not in built.schedulers
