"""``schedkit convert --from mmengine`` without mmengine: the ``ast`` reader (what it
evaluates, what it refuses, with file and line), the ``_base_`` merge, the converted
tables, the problems listed together, and the ``mmengine.paramwise`` rule's groups."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import schedkit
from schedkit_convert.mmengine import read_config

OPTIM = 'optim_wrapper = dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9))\n'


def write(tmp_path: Path, text: str, name: str = "cfg.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_arithmetic_names_and_literals_are_evaluated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '"""doc"""\nbase = 5e-4\nbs = 1024\n'
        "lr = base * bs / 512\n"
        "x = dict(a=[1, (2, -3)], b={'k': 2 ** 3 // 3 % 2}, c=None, d=True)\n",
    )
    cfg = read_config(path)
    assert cfg["lr"] == 5e-4 * 1024 / 512
    assert cfg["x"] == {"a": [1, (2, -3)], "b": {"k": 0}, "c": None, "d": True}


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("a = 1\nimport os\n", 2, "an import is not read"),
        ("a = 1\nb = 2\nc = open('x')\n", 3, "a call of 'open' is not read"),
        ("a = dict(b=1).get('b')\n", 1, "a call is not read"),
        ("import_ = 1\nb = import_.real\n", 2, "attribute access is not read"),
        ("a = [i for i in (1, 2)]\n", 1, "a ListComp expression is not read"),
        ("a = b + 1\n", 1, "name 'b' is not bound earlier in the file"),
        ("a = 1\nif a:\n    b = 2\n", 2, "a If statement is not read"),
        ("a = lambda: 1\n", 1, "a Lambda expression is not read"),
        ("a = dict(**{})\n", 1, "** unpacking is not read"),
        ("a = 1 / 0\n", 1, "cannot compute the expression"),
        ("a = (\n", 1, "syntax error"),
    ],
)
def test_anything_else_is_an_error_naming_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = write(tmp_path, text, "bad_cfg.py")
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("mmengine", path)
    msg = str(info.value)
    assert f"bad_cfg.py, line {line}: {what}" in msg


def test_the_base_chain_merges_as_mmengine_merges(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, eps=1e-8),"
        " paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))\n"
        "train_cfg = dict(by_epoch=True, max_epochs=300)\n",
        "sub/schedule.py",
    )
    write(tmp_path, "default_scope = 'mmpretrain'\n", "runtime.py")
    path = write(
        tmp_path,
        "_base_ = ['./sub/schedule.py', './runtime.py']\n"
        "optim_wrapper = dict(optimizer=dict(lr=2e-3),"
        " paramwise_cfg=dict(_delete_=True, flat_decay_mult=0.0))\n"
        "train_cfg = dict(max_epochs=100)\n",
    )
    cfg = read_config(path)
    assert cfg["optim_wrapper"] == {
        "optimizer": {"type": "AdamW", "lr": 2e-3, "eps": 1e-8},
        "paramwise_cfg": {"flat_decay_mult": 0.0},
    }
    assert cfg["train_cfg"] == {"by_epoch": True, "max_epochs": 100}
    assert cfg["default_scope"] == "mmpretrain"


def test_base_errors(tmp_path: Path) -> None:
    write(tmp_path, "_base_ = './b.py'\na = 1\n", "a.py")
    write(tmp_path, "_base_ = './a.py'\n", "b.py")
    with pytest.raises(schedkit.ConversionError, match="comes back"):
        schedkit.convert("mmengine", tmp_path / "a.py")
    path = write(tmp_path, "_base_ = ['./missing.py']\n")
    with pytest.raises(schedkit.ConversionError, match="'./missing.py' not found"):
        schedkit.convert("mmengine", path)
    write(tmp_path, "a = 1\n", "x.py")
    write(tmp_path, "a = 2\n", "y.py")
    path = write(tmp_path, "_base_ = ['./x.py', './y.py']\n")
    with pytest.raises(schedkit.ConversionError, match=r"duplicate keys .*\['a'\]"):
        schedkit.convert("mmengine", path)


def test_schedulers_ends_from_train_cfg_and_momentum_on_betas(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),"
        " clip_grad=dict(max_norm=1.0, norm_type=2))\n"
        "param_scheduler = [\n"
        "    dict(type='LinearLR', start_factor=0.01, by_epoch=False, end=50),\n"
        "    dict(type='CosineAnnealingLR', by_epoch=True, begin=1),\n"
        "    dict(type='CosineAnnealingMomentum', by_epoch=False, eta_min=0.85, end=200),\n"
        "]\n"
        "train_cfg = dict(by_epoch=True, max_epochs=12)\n",
    )
    with pytest.raises(schedkit.ConversionError, match="--steps-per-epoch"):
        schedkit.convert("mmengine", path)
    conv = schedkit.convert("mmengine", path, steps_per_epoch=20)
    setup = conv.setup()
    spec = {e.name: e.schedule.spec() for e in setup.schedules}
    lr = spec["lr"]
    assert lr["type"] == "mmengine.param_scheduler"
    assert lr["steps_per_epoch"] == 20
    assert [s["end"] for s in lr["schedulers"]] == [50, 12]
    assert spec["momentum"]["schedulers"][0]["type"] == "mmengine.CosineAnnealingMomentum"
    assert 'key = "betas[0]"' in conv.toml
    assert 'total = "12ep"  # train_cfg.max_epochs' in conv.toml
    assert "max_norm = 1.0  # optim_wrapper.clip_grad.max_norm" in conv.toml
    built = setup.build(nn.Linear(2, 2))
    assert built.optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)


def test_every_unexpressible_key_is_listed_and_the_rest_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "optim_wrapper = dict(type='DeepSpeedOptimWrapper',"
        " optimizer=dict(type='SGD', lr=0.1),"
        " paramwise_cfg=dict(dcn_offset_lr_mult=0.1, norm_decay_mult=0.0),"
        " clip_grad=dict(max_norm=1.0, foo=2))\n"
        "param_scheduler = [dict(type='ReduceOnPlateauLR', by_epoch=False),"
        " dict(type='QuadraticWarmupLR', by_epoch=False)]\n"
        "auto_scale_lr = dict(base_batch_size=256, enable=True)\n"
        "work_dir = './x'\n",
    )
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("mmengine", path)
    assert [p.path for p in info.value.problems] == [
        "optim_wrapper.type",
        "optim_wrapper.clip_grad.foo",
        "optim_wrapper.paramwise_cfg.dcn_offset_lr_mult",
        "param_scheduler[0].by_epoch",
        "param_scheduler[1].type",
        "auto_scale_lr.enable",
    ]
    path = write(tmp_path, OPTIM + "work_dir = './x'\ndefault_hooks = dict()\n")
    conv = schedkit.convert("mmengine", path)
    assert conv.ignored == ("work_dir", "default_hooks")


def test_no_optim_wrapper_and_old_style_optimizer(tmp_path: Path) -> None:
    with pytest.raises(schedkit.ConversionError, match="mmcv 1.x"):
        schedkit.convert("mmengine", write(tmp_path, "optimizer = dict(type='SGD', lr=0.1)\n"))
    with pytest.raises(schedkit.ConversionError, match="no optim_wrapper"):
        schedkit.convert("mmengine", write(tmp_path, "param_scheduler = []\n"))
    with pytest.raises(schedkit.ConversionError, match="not a mmengine config"):
        schedkit.convert("mmengine", write(tmp_path, "a = 1\n"))


def test_decay_multipliers_without_weight_decay_are_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1),"
        " paramwise_cfg=dict(norm_decay_mult=0.0, bias_lr_mult=2.0,"
        " custom_keys={'head': dict(lr_mult=0.5, decay_mult=0.0)}))\n",
    )
    conv = schedkit.convert("mmengine", path)
    assert "decay_mult" not in conv.toml.replace("bias_lr_mult", "")
    assert "optim_wrapper.paramwise_cfg.norm_decay_mult (no weight_decay set)" in conv.ignored


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 4))
        self.conv = nn.Conv2d(4, 4, 3, groups=4)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)


def test_paramwise_rule_follows_default_constructor_precedence() -> None:
    rule = schedkit.get_rule(
        "mmengine.paramwise",
        custom_keys={".cls_token": {"decay_mult": 0.0}, "head": {"lr_mult": 3.0}},
        bias_lr_mult=2.0,
        bias_decay_mult=0.5,
        norm_decay_mult=0.0,
        dwconv_decay_mult=0.25,
        flat_decay_mult=0.75,
    )
    model = Net()
    groups = schedkit.build_param_groups(model, [rule], lr=0.1, weight_decay=0.01)
    got = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for g in groups:
        for p in g["params"]:
            got[names[id(p)]] = (g["lr"], g["weight_decay"])
    assert got["cls_token"] == (0.1, 0.0)  # top-level: matched as ".cls_token"
    assert got["head.weight"] == (pytest.approx(0.3), 0.01)
    assert got["head.bias"] == (pytest.approx(0.3), 0.01)  # custom key: nothing else
    assert got["conv.weight"] == (0.1, 0.0025)  # depth-wise
    assert got["conv.bias"] == (0.2, 0.005)  # bias before depth-wise
    assert got["norm.weight"] == (0.1, 0.0)
    assert got["norm.bias"] == (0.1, 0.0)  # no bias_lr_mult in norm layers
    assert got["fc.weight"] == (0.1, 0.01)
    assert got["fc.bias"] == (0.2, 0.005)


def test_clip_grad_value_and_bad_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1),"
        " clip_grad=dict(type='value', clip_value=0.5))\n",
    )
    assert schedkit.convert("mmengine", path).setup().clip["clip_value"] == 0.5
    path = write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1), clip_grad=dict(max_norm='x'))\n",
    )
    with pytest.raises(schedkit.ConversionError, match="clip_grad: expected numbers"):
        schedkit.convert("mmengine", path)


def test_reduce_on_plateau_converts_with_a_note(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))\n"
        "param_scheduler = [\n"
        "    dict(type='LinearLR', start_factor=0.01, by_epoch=False, end=20),\n"
        "    dict(type='ReduceOnPlateauLR', monitor='accuracy/top1', rule='greater',\n"
        "         patience=3, factor=0.5, min_value=1e-6, verbose=True),\n"
        "    dict(type='ReduceOnPlateauMomentum', monitor='accuracy/top1', rule='greater',\n"
        "         factor=0.9, begin=2),\n"
        "]\n"
        "train_cfg = dict(by_epoch=True, max_epochs=30)\n",
    )
    conv = schedkit.convert("mmengine", path, steps_per_epoch=10)
    lr, momentum = (e.schedule.spec() for e in conv.setup().schedules)
    assert [s["type"] for s in lr["schedulers"]] == [
        "mmengine.LinearLR",
        "mmengine.ReduceOnPlateauLR",
    ]
    plateau = lr["schedulers"][1]
    assert (plateau["monitor"], plateau["rule"], plateau["patience"]) == (
        "accuracy/top1",
        "greater",
        3,
    )
    assert (plateau["factor"], plateau["min_value"], plateau["end"]) == (0.5, 1e-6, 30)
    assert momentum["schedulers"][0]["type"] == "mmengine.ReduceOnPlateauMomentum"
    assert momentum["schedulers"][0]["begin"] == 2
    assert (
        "'accuracy/top1': call built.step(metric) (or scheduler.step(metric)) after each "
        "validation" in conv.toml
    )
    assert "# param_scheduler" in conv.toml.split('type = "mmengine.ReduceOnPlateauLR"')[1]
    assert "steps_per_epoch = 10  # --steps-per-epoch" in conv.toml
    built = conv.setup().build(nn.Linear(2, 2))
    sched = built.schedulers["lr"]
    for k in range(1, 31):  # the warmup, then an accuracy that stops improving
        sched.step(0.5) if k % 10 == 0 else sched.step()
    for _ in range(4):
        for _k in range(9):
            sched.step()
        sched.step(0.5)
    assert built.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_reduce_on_plateau_that_mmengine_refuses_is_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\n"
        "param_scheduler = [\n"
        "    dict(type='ReduceOnPlateauLR', by_epoch=True, convert_to_iter_based=True),\n"
        "    dict(type='ReduceOnPlateauLR', factor=1.5, rule='min'),\n"
        "]\n",
    )
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("mmengine", path, steps_per_epoch=10)
    assert [p.path for p in info.value.problems] == [
        "param_scheduler[0].convert_to_iter_based",
        "param_scheduler[1].rule",
    ]


def test_custom_keys_keep_every_optimizer_option(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),"
        " paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=0.5, betas=(0.8, 0.95),"
        " eps=1e-6)}))\n",
    )
    conv = schedkit.convert("mmengine", path)
    (rule,) = conv.setup().rules
    assert rule.spec()["custom_keys"] == {
        "head": {"betas": [0.8, 0.95], "eps": 1e-6, "lr_mult": 0.5}
    }
    assert conv.ignored == ()
    model = Net()
    groups = schedkit.build_param_groups(model, [rule], lr=1e-3, weight_decay=0.05)
    (head,) = [g for g in groups if "eps" in g]
    assert head["betas"] == (0.8, 0.95)
    assert head["lr"] == 5e-4
    assert [id(p) for p in head["params"]] == [id(p) for p in model.head.parameters()]
    with pytest.raises(schedkit.SpecError, match="custom_keys.head.betass: expected lr_mult"):
        schedkit.get_rule("mmengine.paramwise", custom_keys={"head": {"betass": [0.8, 0.9]}})
