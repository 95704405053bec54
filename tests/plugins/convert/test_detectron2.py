"""``schedkit convert --from detectron2`` against detectron2's solver rebuilt on fvcore (as
its ``build_optimizer``, ``get_default_optimizer_params``, ``maybe_add_gradient_clipping``,
``build_lr_scheduler`` and ``DefaultTrainer.auto_scale_workers`` build it; detectron2 does
not install here), stepped beside the converted setup over the whole run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import schedkit
from schedkit_convert.detectron2 import read_config
from tests.support.agree import fake_grads
from tests.support.models import TinyEncoder, float64

fv = pytest.importorskip("fvcore.common.param_scheduler")
from tests.plugins.compat.test_detectron2 import detectron2_multiplier  # noqa: E402

DIR = Path(__file__).parents[3] / "examples" / "converted"
NORMS = (
    torch.nn.BatchNorm1d,
    torch.nn.BatchNorm2d,
    torch.nn.BatchNorm3d,
    torch.nn.SyncBatchNorm,
    torch.nn.GroupNorm,
    torch.nn.InstanceNorm1d,
    torch.nn.InstanceNorm2d,
    torch.nn.InstanceNorm3d,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
)


def auto_scale_workers(solver: dict[str, Any], world: int) -> dict[str, Any]:
    s = dict(solver)
    ref = s.get("REFERENCE_WORLD_SIZE", 0)
    if ref == 0 or ref == world:
        return s
    scale = world / ref
    s["BASE_LR"] = s["BASE_LR"] * scale
    s["MAX_ITER"] = round(s["MAX_ITER"] / scale)
    s["WARMUP_ITERS"] = round(s.get("WARMUP_ITERS", 1000) / scale)
    s["STEPS"] = [round(x / scale) for x in s.get("STEPS", [30000])]
    return s


def build(solver: dict[str, Any], model: torch.nn.Module) -> tuple[Any, Any, Any]:
    """detectron2's optimizer (with its per-parameter clipper) and LR multiplier."""
    base_lr, wd = solver["BASE_LR"], solver.get("WEIGHT_DECAY", 1e-4)
    wd_norm = solver.get("WEIGHT_DECAY_NORM", 0.0)
    bias = {}
    if solver.get("BIAS_LR_FACTOR", 1.0) != 1.0:
        bias["lr"] = base_lr * solver["BIAS_LR_FACTOR"]
    if solver.get("WEIGHT_DECAY_BIAS") is not None:
        bias["weight_decay"] = solver["WEIGHT_DECAY_BIAS"]
    params, memo = [], set()
    for _, module in model.named_modules():
        for local, value in module.named_parameters(recurse=False):
            if value in memo:
                continue
            memo.add(value)
            hp = {"lr": base_lr, "weight_decay": wd}
            if isinstance(module, NORMS) and wd_norm is not None:
                hp["weight_decay"] = wd_norm
            if local == "bias":
                hp.update(bias)
            params.append({"params": [value], **hp})
    opt = torch.optim.SGD(
        params,
        lr=base_lr,
        momentum=solver.get("MOMENTUM", 0.9),
        nesterov=solver.get("NESTEROV", False),
        weight_decay=wd,
    )
    clip = solver.get("CLIP_GRADIENTS", {})
    clipper = None
    if clip.get("ENABLED"):
        if clip.get("CLIP_TYPE", "value") == "value":

            def clipper(p: torch.Tensor) -> None:
                torch.nn.utils.clip_grad_value_(p, clip.get("CLIP_VALUE", 1.0))
        else:

            def clipper(p: torch.Tensor) -> None:
                torch.nn.utils.clip_grad_norm_(
                    p, clip.get("CLIP_VALUE", 1.0), clip.get("NORM_TYPE", 2.0)
                )

    max_iter = solver["MAX_ITER"]
    name = solver.get("LR_SCHEDULER_NAME", "WarmupMultiStepLR")
    if name == "WarmupMultiStepLR":
        steps = [x for x in solver.get("STEPS", [30000]) if x <= max_iter]
        gamma = solver.get("GAMMA", 0.1)
        main = fv.MultiStepParamScheduler(
            values=[gamma**k for k in range(len(steps) + 1)], milestones=steps, num_updates=max_iter
        )
    elif name == "WarmupCosineLR":
        main = fv.CosineParamScheduler(1, solver.get("BASE_LR_END", 0.0) / base_lr)
    else:
        main = fv.StepWithFixedGammaParamScheduler(
            base_value=1.0,
            gamma=solver.get("GAMMA", 0.1),
            num_decays=solver.get("NUM_DECAYS", 3),
            num_updates=max_iter,
        )
    mult = detectron2_multiplier(
        main,
        max_iter,
        solver.get("WARMUP_FACTOR", 0.001),
        solver.get("WARMUP_ITERS", 1000),
        solver.get("WARMUP_METHOD", "linear"),
        solver.get("RESCALE_INTERVAL", False),
    )
    return opt, mult, clipper


def group_of(opt: torch.optim.Optimizer, model: torch.nn.Module) -> list[int]:
    where = {id(p): i for i, g in enumerate(opt.param_groups) for p in g["params"]}
    return [where[id(p)] for p in model.parameters()]


@pytest.mark.parametrize(
    ("name", "world", "shrink"),
    [("detectron2-r50-fpn-1x.yaml", None, 100), ("detectron2-cosine-lsj.yaml", 128, 1000)],
)
def test_solver_and_converted_setup_agree(
    tmp_path: Path, name: str, world: int | None, shrink: int
) -> None:
    # the same run with every iteration count divided by `shrink`, so that it is stepped whole
    cfg = read_config(DIR / name)
    s = cfg["SOLVER"]
    s["MAX_ITER"] //= shrink
    s["WARMUP_ITERS"] = max(1, s.get("WARMUP_ITERS", 1000) // shrink)
    s["STEPS"] = [x // shrink for x in s.get("STEPS", [])]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert_trains_alike(auto_scale_workers(s, world or 1), path, world)


def assert_trains_alike(solver: Any, path: Path, world: int | None) -> None:
    """The converted ``path`` and detectron2's solver from ``solver`` (its SOLVER node after
    auto_scale_workers), stepped side by side over the whole run."""
    model = float64(TinyEncoder())
    ours = copy.deepcopy(model)
    opt, mult, clipper = build(solver, model)
    built = schedkit.convert("detectron2", path, world_size=world).setup().build(ours)
    assert built.total_steps == solver["MAX_ITER"]
    base = [g["lr"] for g in opt.param_groups]
    peer_groups, our_groups = group_of(opt, model), group_of(built.optimizer, ours)
    for it in range(solver["MAX_ITER"]):  # detectron2 trains iterations 0 .. MAX_ITER - 1
        for g, lr in zip(opt.param_groups, base, strict=True):  # LRMultiplier
            g["lr"] = lr * mult(it / solver["MAX_ITER"])
        ours_groups = built.optimizer.param_groups
        for a, b in zip(peer_groups, our_groups, strict=True):
            for key in ("lr", "weight_decay", "momentum"):
                want, got = opt.param_groups[a][key], ours_groups[b][key]
                assert got == pytest.approx(want, rel=1e-12, abs=0), (it, key)
        if it < 200:  # the optimizer itself, with detectron2's clipping, for a while
            fake_grads(model, it)
            fake_grads(ours, it)
            if clipper is not None:
                for g in opt.param_groups:
                    for p in g["params"]:
                        clipper(p)
            opt.step()
            built.step()
        else:
            for sched in built.schedulers.values():
                sched.step()
    for a, b in zip(model.parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_reference_world_size_needs_the_world_size() -> None:
    with pytest.raises(schedkit.ConversionError, match=r"--world-size"):
        schedkit.convert("detectron2", DIR / "detectron2-cosine-lsj.yaml")
    conv = schedkit.convert("detectron2", DIR / "detectron2-cosine-lsj.yaml", world_size=64)
    assert "scaled" not in conv.toml  # the reference world size itself: nothing changes
    assert "lr = 0.1  # SOLVER.BASE_LR" in conv.toml
    assert "nesterov = true  # SOLVER.NESTEROV" in conv.toml  # from the child file
    assert "bias_lr_factor = 2.0  # SOLVER.BIAS_LR_FACTOR" in conv.toml  # from _BASE_


def test_unknown_solver_keys_and_schedulers(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "SOLVER": {
                    "OPTIMIZER": "ADAMW",
                    "LR_SCHEDULER_NAME": "WarmupPolyLR",
                    "CLIP_GRADIENTS": {"ENABLED": True, "CLIP_TYPE": "full_model"},
                }
            }
        )
    )
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("detectron2", path)
    assert sorted(p.path for p in info.value.problems) == [
        "SOLVER.CLIP_GRADIENTS.CLIP_TYPE",
        "SOLVER.LR_SCHEDULER_NAME",
        "SOLVER.OPTIMIZER",
    ]
    path.write_text("_BASE_: missing.yaml\n")
    with pytest.raises(schedkit.ConversionError, match="no such base file"):
        schedkit.convert("detectron2", path)
