"""The converted setup against what mmengine builds from the same config file: mmengine's
``Config.fromfile`` reads it (``_base_`` chain and all), ``build_optim_wrapper`` builds the
optimizer with its constructor, ``PARAM_SCHEDULERS`` builds the ``param_scheduler`` list as
mmengine's runner does (``end`` from ``train_cfg``, ``epoch_length`` for
``convert_to_iter_based``), and the schedulers step as ``ParamSchedulerHook`` steps them.

mmpretrain does not install here (it needs mmcv's compiled ops), so its
``LearningRateDecayOptimWrapperConstructor`` is rebuilt below from its source
(mmpretrain 1.x, ``mmpretrain/engine/optimizers/layer_decay_optim_wrapper_constructor.py``)
on mmengine's ``DefaultOptimWrapperConstructor``, and registered under its name; the model
is a small ViT in mmpretrain's ``ImageClassifier`` layout with its ``get_layer_depth``."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import schedkit
from tests.support.agree import run_both

#: the runs go past the end of the schedules on purpose (the values must hold there as
#: the peer's do): the warning a user gets there is not what these tests look at
pytestmark = pytest.mark.filterwarnings("ignore::schedkit.HorizonWarning")

pytest.importorskip("mmengine")
with warnings.catch_warnings():  # torch.distributed.optim's torch.jit.script, on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from mmengine.config import Config
    from mmengine.optim import DefaultOptimWrapperConstructor, build_optim_wrapper
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS

CONFIGS = Path(__file__).parents[2] / "examples" / "converted"
NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
         nn.GroupNorm, nn.LayerNorm)  # fmt: skip


class LearningRateDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmpretrain's constructor: one group per parameter, lr times
    ``layer_decay_rate ** (num_layers - layer_id - 1)``, weight decay by custom_keys
    (longest key first, then alphabetical), then norm / bias / flat multipliers."""

    def add_params(self, params: list[dict[str, Any]], module: nn.Module, prefix: str = "",
                   get_layer_depth: Any = None, **kwargs: Any) -> None:  # fmt: skip
        custom_keys = self.paramwise_cfg.get("custom_keys", {})
        sorted_keys = sorted(sorted(custom_keys.keys()), key=len, reverse=True)
        get_layer_depth = get_layer_depth or module.get_layer_depth
        bias_decay_mult = self.paramwise_cfg.get("bias_decay_mult", None)
        norm_decay_mult = self.paramwise_cfg.get("norm_decay_mult", None)
        flat_decay_mult = self.paramwise_cfg.get("flat_decay_mult", None)
        decay_rate = self.paramwise_cfg.get("layer_decay_rate", 1.0)
        is_norm = isinstance(module, NORMS)
        for name, param in module.named_parameters(recurse=False):
            group: dict[str, Any] = {"params": [param]}
            param_name = prefix + name
            if not param.requires_grad:
                continue
            base_wd = self.base_wd
            custom_key = next(filter(lambda k: k in param_name, sorted_keys), None)
            if custom_key is not None:
                custom_cfg = custom_keys[custom_key].copy()
                decay_mult = custom_cfg.pop("decay_mult", 1.0)
                group["weight_decay"] = base_wd * decay_mult
                group.update(custom_cfg)
            elif is_norm and norm_decay_mult is not None:
                group["weight_decay"] = base_wd * norm_decay_mult
            elif name == "bias" and bias_decay_mult is not None:
                group["weight_decay"] = base_wd * bias_decay_mult
            elif param.ndim == 1 and flat_decay_mult is not None:
                group["weight_decay"] = base_wd * flat_decay_mult
            else:
                group["weight_decay"] = base_wd
            layer_id, max_id = get_layer_depth(param_name)
            scale = decay_rate ** (max_id - layer_id - 1)
            group["lr"] = self.base_lr * scale
            params.append(group)
        for child_name, child_mod in module.named_children():
            self.add_params(params, child_mod, prefix=f"{prefix}{child_name}.",
                            get_layer_depth=get_layer_depth)  # fmt: skip


if "LearningRateDecayOptimWrapperConstructor" not in OPTIM_WRAPPER_CONSTRUCTORS.module_dict:
    OPTIM_WRAPPER_CONSTRUCTORS.register_module(module=LearningRateDecayOptimWrapperConstructor)


class Layer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))


class ViT(nn.Module):
    """mmpretrain's VisionTransformer layout and its ``get_layer_depth``."""

    def __init__(self, dim: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.num_layers = depth
        self.patch_embed = nn.Sequential(nn.Conv2d(3, dim, 4, 4))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, dim))
        self.layers = nn.ModuleList(Layer(dim) for _ in range(depth))
        self.ln1 = nn.LayerNorm(dim)

    def get_layer_depth(self, param_name: str, prefix: str = "") -> tuple[int, int]:
        num_layers = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        param_name = param_name[len(prefix):]  # fmt: skip
        if param_name in ("cls_token", "pos_embed") or param_name.startswith("patch_embed"):
            depth = 0
        elif param_name.startswith("layers"):
            depth = int(param_name.split(".")[1]) + 1
        else:
            depth = num_layers - 1
        return depth, num_layers


class ImageClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = ViT()
        self.head = nn.Sequential(nn.Linear(8, 4))

    def get_layer_depth(self, param_name: str) -> tuple[int, int]:
        return self.backbone.get_layer_depth(param_name, "backbone.")


def mmengine_parts(path: Path, model: nn.Module, spe: int) -> tuple[Any, list[Any]]:
    """The optim wrapper and the schedulers mmengine's runner builds from the file."""
    cfg = Config.fromfile(str(path))
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    scheds = []
    for item in cfg.param_scheduler:
        item = copy.deepcopy(dict(item))
        by_epoch = item.get("by_epoch", True)
        item.setdefault("end", cfg.train_cfg.max_epochs if by_epoch else cfg.train_cfg.max_iters)
        scheds.append(PARAM_SCHEDULERS.build(
            item, default_args={"optimizer": wrapper, "epoch_length": spe}))  # fmt: skip
    assert wrapper.clip_grad_kwargs == {"max_norm": 5.0}
    return wrapper, scheds


def float64(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


@pytest.mark.parametrize("spe", [3, 7])
def test_mmengine_and_converted_setup_agree(spe: int) -> None:
    path = CONFIGS / "mmengine-vit-finetune.py"
    model = float64(ImageClassifier())
    ours = copy.deepcopy(model)
    wrapper, scheds = mmengine_parts(path, model, spe)
    opt = wrapper.optimizer
    assert len(opt.param_groups) == len(list(model.parameters()))  # one group per parameter
    built = schedkit.convert("mmengine", path, steps_per_epoch=spe).setup().build(ours)
    assert type(built.optimizer) is type(opt)

    def peer_step(k: int) -> None:
        wrapper.step()  # OptimWrapper: clip_grad, then the optimizer's step
        wrapper.zero_grad()
        for s in scheds:  # ParamSchedulerHook.after_train_iter
            if not s.by_epoch:
                s.step()
        if (k + 1) % spe == 0:  # after_train_epoch
            for s in scheds:
                if s.by_epoch:
                    s.step()

    steps = 110 * spe  # past the end of training (100 epochs)
    assert run_both(steps, model, opt, peer_step, built, ours) == steps + 1


DETECTOR = """
_base_ = ["./schedule.py"]
optim_wrapper = dict(
    optimizer=dict(lr=0.02 * 2, momentum=0.9, weight_decay=1e-4, nesterov=True),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_lr_mult=2.0,
        bias_decay_mult=0.5,
        flat_decay_mult=0.25,
        bypass_duplicate=True,
        custom_keys={"backbone.layers.0": dict(lr_mult=0.1, decay_mult=0.3), "head": dict(lr_mult=3.0)},
    ),
    clip_grad=dict(max_norm=35, norm_type=2),
)
"""
SCHEDULE = """
optim_wrapper = dict(optimizer=dict(type="SGD", lr=0.02, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=10),
    dict(type="MultiStepLR", by_epoch=True, milestones=[3, 5], gamma=0.1),
    dict(type="CosineAnnealingMomentum", by_epoch=False, eta_min=0.85, begin=5, end=40),
]
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=6, val_interval=1)
"""


def test_default_constructor_paramwise_cfg_and_a_momentum_scheduler(tmp_path: Path) -> None:
    (tmp_path / "schedule.py").write_text(SCHEDULE)
    path = tmp_path / "detector.py"
    path.write_text(DETECTOR)
    spe = 6
    model = float64(ImageClassifier())
    ours = copy.deepcopy(model)
    cfg = Config.fromfile(str(path))
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    scheds = []
    for item in cfg.param_scheduler:
        item = copy.deepcopy(dict(item))
        item.setdefault("end", cfg.train_cfg.max_epochs)
        scheds.append(PARAM_SCHEDULERS.build(
            item, default_args={"optimizer": wrapper, "epoch_length": spe}))  # fmt: skip
    opt = wrapper.optimizer
    built = schedkit.convert("mmengine", path, steps_per_epoch=spe).setup().build(ours)

    def peer_step(k: int) -> None:
        wrapper.step()
        wrapper.zero_grad()
        for s in scheds:
            if not s.by_epoch:
                s.step()
        if (k + 1) % spe == 0:
            for s in scheds:
                if s.by_epoch:
                    s.step()

    steps = 8 * spe
    assert run_both(steps, model, opt, peer_step, built, ours) == steps + 1


PER_GROUP_KEYS = """
optim_wrapper = dict(
    optimizer=dict(type="AdamW", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            "head": dict(lr_mult=10.0, betas=(0.8, 0.95), eps=1e-6),
            "backbone.layers.0": dict(decay_mult=0.5, amsgrad=True),
        },
    ),
)
param_scheduler = [dict(type="CosineAnnealingLR", by_epoch=False, T_max=20, begin=0, end=20)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=20)
"""


def test_custom_keys_setting_betas_eps_and_flags_are_kept(tmp_path: Path) -> None:
    """mmengine writes every setting of a ``custom_keys`` entry into the group; the
    converted setup gives each parameter the same values and trains to the same floats."""
    path = tmp_path / "keys.py"
    path.write_text(PER_GROUP_KEYS)
    model = float64(ImageClassifier())
    ours = copy.deepcopy(model)
    cfg = Config.fromfile(str(path))
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    sched = PARAM_SCHEDULERS.build(
        dict(cfg.param_scheduler[0]), default_args={"optimizer": wrapper}
    )
    opt = wrapper.optimizer
    built = schedkit.convert("mmengine", path).setup().build(ours)
    keys = ("lr", "weight_decay", "betas", "eps", "amsgrad")

    def settings(optimizer: torch.optim.Optimizer, net: nn.Module) -> dict[str, tuple]:
        names = {id(p): n for n, p in net.named_parameters()}
        return {
            names[id(p)]: tuple(tuple(g[k]) if k == "betas" else g[k] for k in keys)
            for g in optimizer.param_groups
            for p in g["params"]
        }

    theirs, mine = settings(opt, model), settings(built.optimizer, ours)
    assert mine == theirs
    assert theirs["head.0.weight"][2:4] == ((0.8, 0.95), 1e-6)
    assert any(v[4] for v in theirs.values())

    def peer_step(k: int) -> None:
        wrapper.step()
        wrapper.zero_grad()
        sched.step()

    assert run_both(20, model, opt, peer_step, built, ours) == 21
