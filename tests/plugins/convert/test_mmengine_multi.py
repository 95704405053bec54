"""``schedkit convert --from mmengine`` of several optimizers (``MultiOptimWrapperConstructor``)
without mmengine: the ``[optimizers.NAME]`` tables and their ``params``, the schedules
bound to each optimizer, the groups of the built setup, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import schedkit


class Gan(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 4))
        self.discriminator = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))


GAN = """
optim_wrapper = dict(
    constructor="MultiOptimWrapperConstructor",
    generator=dict(
        type="OptimWrapper",
        optimizer=dict(type="Adam", lr=2e-4, betas=(0.5, 0.999), weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_lr_mult=2.0),
    ),
    discriminator=dict(
        optimizer=dict(type="SGD", lr=1e-3, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_lr_mult=2.0),
    ),
)
param_scheduler = dict(
    generator=[dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=5)],
    discriminator=[
        dict(type="MultiStepLR", milestones=[8, 12], by_epoch=False, gamma=0.5),
        dict(type="CosineAnnealingMomentum", eta_min=0.5, by_epoch=False, begin=0, end=20),
    ],
)
train_cfg = dict(by_epoch=False, max_iters=20)
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gan.py"
    path.write_text(text)
    return path


def test_each_optimizer_is_a_table_taking_its_submodule(tmp_path: Path) -> None:
    conv = schedkit.convert("mmengine", write(tmp_path, GAN))
    lines = conv.toml.splitlines()
    for line in (
        "[optimizers.generator]",
        'type = "Adam"  # optim_wrapper.generator.optimizer.type',
        "betas = [0.5, 0.999]  # optim_wrapper.generator.optimizer.betas",
        'params = {name = "generator.*"}  # optim_wrapper.generator (the parameters of the '
        "submodule generator)",
        "[optimizers.discriminator]",
        "momentum = 0.9  # optim_wrapper.discriminator.optimizer.momentum",
        'params = {name = "discriminator.*"}  # optim_wrapper.discriminator (the parameters of '
        "the submodule discriminator)",
        'type = "mmengine.paramwise"  # optim_wrapper.generator.paramwise_cfg (and '
        "optim_wrapper.discriminator's)",
        "[schedules.generator_lr]",
        'optimizers = ["generator"]  # param_scheduler.generator',
        "[schedules.discriminator_momentum]",
        'key = "momentum"  # param_scheduler.discriminator',
    ):
        assert line in lines, line
    assert "[optimizer]" not in lines
    setup = conv.setup()
    assert [t.name for t in setup.optimizers] == ["generator", "discriminator"]
    spec = {e.name: (e.key, e.optimizers, e.schedule.spec()) for e in setup.schedules}
    assert sorted(spec) == ["discriminator_lr", "discriminator_momentum", "generator_lr"]
    key, opts, lr = spec["discriminator_lr"]
    assert (key, opts) == ("lr", ("discriminator",))
    assert lr["schedulers"][0]["end"] == 20  # from train_cfg.max_iters, as the runner sets it

    model = Gan()
    built = setup.build(model)
    assert sorted(built.schedulers) == [
        "discriminator.discriminator_lr",
        "discriminator.discriminator_momentum",
        "generator.generator_lr",
    ]
    for name in ("generator", "discriminator"):
        opt = built.optimizers[name]
        sub = getattr(model, name)
        got = {id(p) for g in opt.param_groups for p in g["params"]}
        assert got == {id(p) for p in sub.parameters()}
        wd = 1e-4
        lr = next(g["lr"] for g in opt.param_groups if g["params"][0] is sub[0].weight)
        for g in opt.param_groups:
            for p in g["params"]:
                local = next(n for n, q in sub.named_parameters() if q is p)
                norm = local.startswith("1.")
                bias = local.endswith("bias") and not norm
                assert g["lr"] == pytest.approx(2 * lr if bias else lr), local
                assert g["weight_decay"] == (0.0 if norm else wd), local
    assert type(built.optimizers["generator"]) is torch.optim.Adam
    assert built.optimizers["generator"].param_groups[0]["betas"] == (0.5, 0.999)
    assert built.optimizers["generator"].param_groups[0]["lr"] in (2e-5, 4e-5)  # start_factor
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    built.step()
    assert built.optimizers["discriminator"].param_groups[0]["momentum"] < 0.9


def test_one_list_drives_every_optimizer_each_with_its_momentum_key(tmp_path: Path) -> None:
    text = GAN.split("param_scheduler")[0] + (
        "param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, T_max=10, end=10),"
        " dict(type='LinearMomentum', start_factor=0.9, by_epoch=False, end=10)]\n"
    )
    setup = schedkit.convert("mmengine", write(tmp_path, text)).setup()
    spec = {e.name: (e.key, e.optimizers) for e in setup.schedules}
    assert spec == {
        "lr": ("lr", None),  # every optimizer, each from its own lr
        "momentum": ("momentum", ("discriminator",)),
        "momentum_betas": ("betas[0]", ("generator",)),
    }
    built = setup.build(Gan())
    assert built.optimizers["generator"].param_groups[0]["betas"][0] == pytest.approx(0.45)
    assert built.optimizers["discriminator"].param_groups[0]["momentum"] == pytest.approx(0.81)


def test_what_several_optimizers_cannot_keep_is_listed(tmp_path: Path) -> None:
    text = """
optim_wrapper = dict(
    constructor="MultiOptimWrapperConstructor",
    generator=dict(
        optimizer=dict(type="Adam", lr=2e-4, weight_decay=0.1),
        clip_grad=dict(max_norm=1.0),
        accumulative_counts=2,
        paramwise_cfg=dict(norm_decay_mult=0.0),
    ),
    discriminator=dict(
        optimizer=dict(type="SGD", lr=1e-3, weight_decay=0.1),
        paramwise_cfg=dict(norm_decay_mult=0.5),
    ),
    modules=["a"],
)
param_scheduler = dict(generator=[dict(type="LinearLR", by_epoch=False)], other=[])
"""
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("mmengine", write(tmp_path, text))
    problems = {p.path: p.message for p in info.value.problems}
    assert list(problems) == [
        "optim_wrapper.modules",
        "optim_wrapper.generator.paramwise_cfg",
        "optim_wrapper.discriminator.paramwise_cfg",
        "optim_wrapper.generator.clip_grad",
        "optim_wrapper.generator.accumulative_counts",
        "optim_wrapper.discriminator.accumulative_counts",
        "param_scheduler.discriminator",
    ]
    assert (
        "a setup clips once over every parameter" in problems["optim_wrapper.generator.clip_grad"]
    )
    assert "paramwise_cfg differ" in problems["optim_wrapper.discriminator.paramwise_cfg"]
    assert (
        "steps every optimizer at once"
        in problems["optim_wrapper.discriminator.accumulative_counts"]
    )
    assert "needs a list for each optimizer" in problems["param_scheduler.discriminator"]


@pytest.mark.parametrize(
    ("sub", "path", "why"),
    [
        ('"m.*": dict(optimizer=dict(type="SGD", lr=0.1))', "optim_wrapper.m.*", "a regex"),
        (
            "\"g\": dict(optimizer=dict(type='SGD', lr=0.1),"
            " paramwise_cfg=dict(custom_keys={'0': dict(lr_mult=0.1)}, bias_lr_mult=2.0))",
            "optim_wrapper.g.paramwise_cfg",
            "custom_keys beside bias_lr_mult",
        ),
        (
            "'g': dict(optimizer=dict(type='SGD', lr=0.1), modules=['x'])",
            "optim_wrapper.g.modules",
            "write the setup's params by hand",
        ),
        (
            "'g': dict(optimizer=dict(type='Lion', lr=0.1))",
            "optim_wrapper.g.optimizer.type",
            "not a torch.optim class",
        ),
        (
            "'g': dict(type='ApexOptimWrapper', optimizer=dict(type='SGD', lr=0.1))",
            "optim_wrapper.g.type",
            "not an OptimWrapper",
        ),
        ('"g": 0.1', "optim_wrapper.g", "one optimizer wrapper (a dict) per submodule"),
        ("'clip_grad': dict(max_norm=1.0)", "optim_wrapper.clip_grad", "in each optimizer wrapper"),
        ("'optimizer': dict(type='SGD', lr=0.1)", "optim_wrapper.optimizer", "modules form"),
        (
            "'g.h': dict(optimizer=dict(type='SGD', lr=0.1), paramwise_cfg=dict(bias_lr_mult=2))",
            "optim_wrapper.g.h.paramwise_cfg",
            "below the model's top level",
        ),
    ],
)
def test_one_refusal_each(tmp_path: Path, sub: str, path: str, why: str) -> None:
    text = (
        "optim_wrapper = {'constructor': 'MultiOptimWrapperConstructor',"
        f" 'd': dict(optimizer=dict(type='SGD', lr=0.1)), {sub}}}\n"
    )
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("mmengine", write(tmp_path, text))
    assert [(p.path, why in p.message) for p in info.value.problems] == [(path, True)]


def test_a_dotted_key_takes_the_module_at_that_path(tmp_path: Path) -> None:
    text = (
        "optim_wrapper = {'constructor': 'MultiOptimWrapperConstructor',"
        " 'generator.0': dict(optimizer=dict(type='SGD', lr=0.1)),"
        " 'generator.2': dict(optimizer=dict(type='SGD', lr=0.2)),"
        " 'discriminator': dict(optimizer=dict(type='SGD', lr=0.3))}\n"
    )
    setup = schedkit.convert("mmengine", write(tmp_path, text)).setup()
    model = Gan()
    model.generator[1].requires_grad_(False)
    built = setup.build(model)
    got = {
        k: {id(p) for g in o.param_groups for p in g["params"]} for k, o in built.optimizers.items()
    }
    assert got == {
        "generator.0": {id(p) for p in model.generator[0].parameters()},
        "generator.2": {id(p) for p in model.generator[2].parameters()},
        "discriminator": {id(p) for p in model.discriminator.parameters()},
    }


def test_the_same_clipping_by_value_everywhere_is_kept(tmp_path: Path) -> None:
    clip = "clip_grad=dict(type='value', clip_value=0.5)"
    text = (
        "optim_wrapper = dict(constructor='MultiOptimWrapperConstructor',"
        f" a=dict(optimizer=dict(type='SGD', lr=0.1), {clip}),"
        f" b=dict(optimizer=dict(type='SGD', lr=0.2), {clip}))\n"
    )
    conv = schedkit.convert("mmengine", write(tmp_path, text))
    assert "clip_value = 0.5  # optim_wrapper.a.clip_grad.clip_value" in conv.toml
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("mmengine", write(tmp_path, text.replace(clip, "", 1)))
    assert [p.path for p in info.value.problems] == ["optim_wrapper.b.clip_grad"]


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.body = nn.Linear(4, 4)


class Two(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = Scaled()
        self.b = Scaled()


def test_custom_keys_match_inside_each_submodule(tmp_path: Path) -> None:
    """mmengine builds each optimizer over its submodule: a key is looked for in the name
    inside it (``".scale"`` for the submodule's own parameter), the longest key first."""
    text = (
        "optim_wrapper = dict(constructor='MultiOptimWrapperConstructor',"
        " a=dict(optimizer=dict(type='SGD', lr=1.0, weight_decay=1.0),"
        "   paramwise_cfg=dict(custom_keys={'.scale': dict(lr_mult=2.0),"
        "     'a': dict(lr_mult=3.0), 'body.b': dict(decay_mult=0.5)})),"
        " b=dict(optimizer=dict(type='Adam', lr=1.0),"
        "   paramwise_cfg=dict(custom_keys={'.': dict(betas=(0.5, 0.6))})))\n"
    )
    conv = schedkit.convert("mmengine", write(tmp_path, text))
    assert 'mode = "regex"' in conv.toml
    model = Two()
    built = conv.setup().build(model)
    names = {id(p): n for n, p in model.named_parameters()}
    got = {
        names[id(p)]: (g["lr"], g["weight_decay"], tuple(g.get("betas", ())))
        for o in built.optimizers.values()
        for g in o.param_groups
        for p in g["params"]
    }
    assert got == {
        "a.scale": (2.0, 1.0, ()),  # ".scale" (not "a": the submodule's own name)
        "a.body.weight": (1.0, 1.0, ()),  # "a" is in no name inside a
        "a.body.bias": (1.0, 0.5, ()),  # "body.b"
        "b.scale": (1.0, 0.0, (0.5, 0.6)),  # "." is in ".scale" and "body.weight"
        "b.body.weight": (1.0, 0.0, (0.5, 0.6)),
        "b.body.bias": (1.0, 0.0, (0.5, 0.6)),
    }


def test_extra_scheduler_names_are_ignored_and_equal_counts_a_note(tmp_path: Path) -> None:
    text = (
        "optim_wrapper = dict(constructor='MultiOptimWrapperConstructor',"
        " a=dict(optimizer=dict(type='SGD', lr=0.1), accumulative_counts=4),"
        " b=dict(optimizer=dict(type='SGD', lr=0.2), accumulative_counts=4))\n"
        "param_scheduler = dict(a=dict(type='ConstantLR', factor=0.5, by_epoch=False, end=3),"
        " b=[], c=[])\n"
    )
    conv = schedkit.convert("mmengine", write(tmp_path, text))
    assert "param_scheduler.c (no such optimizer)" in conv.ignored
    assert "# accumulative_counts = 4: call built.step() once every 4 iterations" in conv.toml
    assert [e.name for e in conv.setup().schedules] == ["a_lr"]
