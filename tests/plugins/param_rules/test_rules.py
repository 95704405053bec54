"""The param-rules plugin's rules: no weight decay (its sources), overrides (modes and
precedence), detectron2's bias rule, and their errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import schedkit
from schedkit import SpecError, build_param_groups
from tests.support.groups import TinyResNet, schedkit_example, settings


def test_no_weight_decay_sources():
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3, 3))
            self.table = nn.Parameter(torch.zeros(3, 3))

    class LlamaRMSNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(2, 2))  # 2-D on purpose: found by class name

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = Custom()
            self.final_norm = LlamaRMSNorm()
            self.ln = nn.Linear(3, 3)
            self.gn = nn.GroupNorm(1, 4)

        def no_weight_decay(self):
            return {"body.tab*"}

    m = Model()
    s = settings(m, build_param_groups(m, ["no_weight_decay"], lr=1.0, weight_decay=0.5))
    assert s["body.w"][1] == 0.5
    assert s["body.table"][1] == 0.0  # the model's own list, fnmatch
    assert s["final_norm.weight"][1] == 0.0  # a custom norm class
    assert s["ln.weight"][1] == 0.5
    assert s["ln.bias"][1] == 0.0
    assert s["gn.weight"][1] == 0.0
    only_types = settings(
        m,
        build_param_groups(
            m,
            [{"type": "no_weight_decay", "one_dim": False, "bias": False, "model_list": False}],
            lr=1.0,
            weight_decay=0.5,
        ),
    )
    assert only_types["body.table"][1] == 0.5
    assert only_types["final_norm.weight"][1] == 0.0


def test_overrides_modes_and_precedence():
    m = schedkit_example()
    rules = [
        {"type": "layer_decay", "rate": 0.5},
        {
            "type": "overrides",
            "keys": {
                "head.*": {"lr_mult": 10.0, "tags": ["head"]},
                "blocks.0.*": {"lr": 0.3, "decay_mult": 0.5},
            },
        },
    ]
    g = build_param_groups(m, rules, lr=1.0, weight_decay=0.1)
    s = settings(m, g)
    assert s["head.weight"] == (10.0, 0.1, ("head",))
    assert s["blocks.0.mlp.0.weight"] == (0.3, 0.05, ())  # lr replaced, decay scaled
    assert "overrides (rules[1]) set 0.3" in g.explain("blocks.0.mlp.0.weight")
    sub = build_param_groups(
        m,
        [
            {
                "type": "overrides",
                "mode": "substring",
                "keys": {"blocks": {"lr_mult": 2.0}, "blocks.1": {"lr_mult": 3.0}},
            }
        ],
        lr=1.0,
    )
    ss = settings(m, sub)
    assert ss["blocks.1.norm1.weight"][0] == 3.0  # the longest key wins
    assert ss["blocks.2.norm1.weight"][0] == 2.0


def test_bias_rule_is_detectron2s():
    m = TinyResNet()
    s = settings(
        m,
        build_param_groups(
            m, [{"type": "bias", "lr_factor": 2.0, "weight_decay": 0.0}], lr=0.1, weight_decay=1e-4
        ),
    )
    assert s["fc.bias"] == (0.2, 0.0, ())
    assert s["bn1.bias"] == (0.2, 0.0, ())
    assert s["fc.weight"] == (0.1, 1e-4, ())


def test_rule_errors_name_the_key():
    with pytest.raises(SpecError, match="^rate: expected a finite number > 0 and <= 1, got 1.5$"):
        schedkit.get_rule("layer_decay", rate=1.5)
    with pytest.raises(SpecError, match="keys.head.lr_mul: unknown setting"):
        schedkit.get_rule("overrides", keys={"head": {"lr_mul": 2.0}})
    with pytest.raises(schedkit.UnknownNameError, match="did you mean 'layer_decay'"):
        build_param_groups(TinyResNet(), ["layer_decy"], lr=1.0)
