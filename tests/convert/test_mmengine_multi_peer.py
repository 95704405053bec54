"""Several optimizers converted from mmengine against what mmengine builds from the same
file: ``Config.fromfile`` reads it, ``build_optim_wrapper`` builds one optimizer wrapper per
submodule with ``MultiOptimWrapperConstructor`` (an ``OptimWrapperDict``), the
``param_scheduler`` is built per optimizer as ``Runner.build_param_scheduler`` builds it
(a dict of lists keyed by the optimizers' names, or one list for all), and every scheduler
steps each iteration as ``ParamSchedulerHook`` steps them.

``MultiOptimWrapperConstructor`` is mmagic's (mmengine's runner builds it by name; mmagic
needs mmcv's compiled ops and does not install here): a stand-in with its documented
behaviour for a key naming a top-level submodule (mmagic 1.x), written on mmengine's
``DefaultOptimWrapperConstructor``, is registered under its name."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import schedkit
from tests.support.agree import KEYS, assert_agree, fake_grads
from tests.support.agree import per_parameter as _per_parameter

pytest.importorskip("mmengine")
with warnings.catch_warnings():  # torch.distributed.optim's torch.jit.script, on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from mmengine.config import Config
    from mmengine.optim import (
        DefaultOptimWrapperConstructor,
        OptimWrapperDict,
        build_optim_wrapper,
    )
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS


class MultiOptimWrapperConstructor:
    """One ``DefaultOptimWrapperConstructor`` per key, over the model's top-level submodule
    of that name (its ``paramwise_cfg`` matched inside the submodule)."""

    def __init__(self, optim_wrapper_cfg: dict[str, Any], paramwise_cfg: Any = None) -> None:
        assert paramwise_cfg is None
        self.parts = {}
        for key, cfg in optim_wrapper_cfg.items():
            cfg = dict(cfg)
            pw = cfg.pop("paramwise_cfg", None)
            self.parts[key] = DefaultOptimWrapperConstructor(cfg, pw)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        return OptimWrapperDict(**{k: c(model._modules[k]) for k, c in self.parts.items()})


if "MultiOptimWrapperConstructor" not in OPTIM_WRAPPER_CONSTRUCTORS.module_dict:
    OPTIM_WRAPPER_CONSTRUCTORS.register_module(module=MultiOptimWrapperConstructor)


class Gan(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 4))
        self.discriminator = nn.Sequential(
            nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 1)
        )


WRAPPERS = """
optim_wrapper = dict(
    constructor="MultiOptimWrapperConstructor",
    generator=dict(
        type="OptimWrapper",
        optimizer=dict(type="AdamW", lr=2e-3, betas=(0.5, 0.999), weight_decay=0.05),
        paramwise_cfg=GENERATOR_PARAMWISE,
        CLIP
    ),
    discriminator=dict(
        type="OptimWrapper",
        optimizer=dict(type="SGD", lr=1e-2, momentum=0.9, weight_decay=0.05, nesterov=True),
        paramwise_cfg=DISCRIMINATOR_PARAMWISE,
        CLIP
    ),
)
train_cfg = dict(by_epoch=False, max_iters=16)
"""
TYPES = "dict(norm_decay_mult=0.0, bias_lr_mult=2.0, bias_decay_mult=0.5)"
#: custom_keys matched inside each submodule, the longest key first: "0" is generator.0.weight
#: (not discriminator.0.*; generator.0.bias takes "bias"), "2.bias" is longer than "bias",
#: "ator" matches no name inside the discriminator (only its own name, outside it)
KEYS_G = (
    "dict(custom_keys={'0': dict(lr_mult=0.1, betas=(0.8, 0.9)), '2.bias': dict(decay_mult=0.0),"
    " 'bias': dict(lr_mult=3.0, eps=1e-6)})"
)
KEYS_D = "dict(custom_keys={'3': dict(lr_mult=0.5, momentum=0.8), 'ator': dict(lr_mult=9.0)})"
PER_OPTIMIZER = """
param_scheduler = dict(
    generator=[
        dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=4),
        dict(type="CosineAnnealingLR", by_epoch=False, begin=4, T_max=12, eta_min=1e-5),
        dict(type="CosineAnnealingMomentum", by_epoch=False, eta_min=0.3, begin=0),
    ],
    discriminator=[
        dict(type="MultiStepLR", milestones=[5, 11], by_epoch=False, gamma=0.3),
        dict(type="LinearMomentum", start_factor=0.8, by_epoch=False, end=6),
    ],
)
"""
SHARED = """
param_scheduler = [
    dict(type="LinearLR", start_factor=0.25, by_epoch=False, begin=0, end=5),
    dict(type="PolyLR", power=2.0, eta_min=1e-4, by_epoch=False, begin=5),
    dict(type="CosineAnnealingMomentum", by_epoch=False, eta_min=0.5, begin=0, end=10),
]
"""


def mmengine_parts(path: Path, model: nn.Module) -> tuple[OptimWrapperDict, list[Any]]:
    """The wrappers and every optimizer's schedulers, as mmengine's runner builds them."""
    cfg = Config.fromfile(str(path))
    wrappers = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    assert isinstance(wrappers, OptimWrapperDict)
    raw = copy.deepcopy(cfg.param_scheduler)
    scheds = []
    for name, wrapper in wrappers.items():
        items = raw[name] if isinstance(raw, dict) and "type" not in raw else raw
        for item in items:
            item = dict(item)
            item.setdefault("end", cfg.train_cfg.max_iters)
            scheds.append(PARAM_SCHEDULERS.build(item, default_args={"optimizer": wrapper}))
    return wrappers, scheds


def per_parameter(opt: torch.optim.Optimizer, names: dict[int, str]) -> Any:
    """Each parameter's values; on the Adam family without ``momentum``, which mmengine's
    momentum schedulers also write there beside ``betas[0]`` (a key Adam does not read;
    schedkit writes ``betas[0]`` only, docs/rules.md)."""
    keys = [k for k in KEYS if k != "momentum" or "betas" not in opt.defaults]
    return _per_parameter(opt, names, keys)


def float64(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


@pytest.mark.parametrize(
    ("schedules", "clip", "gen", "disc"),
    [
        (PER_OPTIMIZER, "", TYPES, TYPES),
        (SHARED, "", TYPES, TYPES),
        (PER_OPTIMIZER, "clip_grad=dict(type='value', clip_value=0.5),", TYPES, TYPES),
        (SHARED, "", KEYS_G, KEYS_D),
    ],
    ids=["per-optimizer", "shared", "clip-by-value", "custom-keys"],
)
def test_several_optimizers_train_as_mmengine_trains(
    tmp_path: Path, schedules: str, clip: str, gen: str, disc: str
) -> None:
    path = tmp_path / "gan.py"
    text = WRAPPERS.replace("CLIP", clip).replace("GENERATOR_PARAMWISE", gen)
    path.write_text(text.replace("DISCRIMINATOR_PARAMWISE", disc) + schedules)
    model = float64(Gan())
    ours = copy.deepcopy(model)
    wrappers, scheds = mmengine_parts(path, model)
    built = schedkit.convert("mmengine", path).setup().build(ours)
    assert (built.clipper is not None) == bool(clip)
    assert list(built.optimizers) == list(wrappers.keys()) == ["generator", "discriminator"]

    peer_names = {id(p): n for n, p in model.named_parameters()}
    our_names = {id(p): n for n, p in ours.named_parameters()}

    def settings(opts: dict[str, torch.optim.Optimizer], names: dict[int, str]) -> Any:
        return {k: per_parameter(o, names) for k, o in opts.items()}

    # the groups: each optimizer holds its submodule's parameters, with mmengine's values
    theirs = settings({k: w.optimizer for k, w in wrappers.items()}, peer_names)
    mine = settings(built.optimizers, our_names)
    assert {k: sorted(v) for k, v in theirs.items()} == {
        k: sorted(n for n, _ in model.named_parameters() if n.startswith(k + ".")) for k in theirs
    }
    if gen == TYPES:
        assert theirs["generator"]["generator.0.bias"]["weight_decay"] == 0.025
        assert theirs["discriminator"]["discriminator.1.weight"]["weight_decay"] == 0.0
    else:
        assert theirs["generator"]["generator.0.weight"]["beta1"] == 0.8
        assert theirs["generator"]["generator.2.bias"]["weight_decay"] == 0.0
        assert theirs["discriminator"]["discriminator.3.weight"]["momentum"] == 0.8
        assert theirs["discriminator"]["discriminator.0.weight"]["lr"] == pytest.approx(1e-2 / 4)
    assert mine == theirs

    steps = 16
    seen = set()
    for k in range(steps):
        fake_grads(model, k)
        fake_grads(ours, k)
        for wrapper in wrappers.values():  # OptimWrapper.update_params: step, zero_grad
            wrapper.step()
            wrapper.zero_grad()
        for s in scheds:  # ParamSchedulerHook.after_train_iter: every optimizer's
            s.step()
        built.step()
        seen |= {g["lr"] for w in wrappers.values() for g in w.optimizer.param_groups}
        for name, wrapper in wrappers.items():
            assert_agree(
                k,
                per_parameter(wrapper.optimizer, peer_names),
                per_parameter(built.optimizers[name], our_names),
                rel=0.0,
            )
    for (n, p), (m, q) in zip(model.named_parameters(), ours.named_parameters(), strict=True):
        assert n == m
        assert torch.equal(p, q), n
    assert len(seen) > 10  # the schedules moved each optimizer's lrs
