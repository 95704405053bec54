"""``mmpretrain.layer_decay`` against the rules of mmpretrain's layer-decay constructor."""

from __future__ import annotations

import pytest
import torch

import schedkit
from schedkit import SpecError


class Encoder(torch.nn.Module):
    """A small BEiT-like model with mmpretrain's get_layer_depth convention."""

    def __init__(self, depth=3, dim=4):
        super().__init__()
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.patch_embed = torch.nn.Linear(6, dim)
        self.layers = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, dim))
            for _ in range(depth)
        )
        self.head = torch.nn.Linear(dim, 2)
        self.depth = depth

    def get_layer_depth(self, name):
        num = self.depth + 2
        if name.startswith(("cls_token", "patch_embed")):
            return 0, num
        if name.startswith("layers."):
            return int(name.split(".")[1]) + 1, num
        return num - 1, num


def _settings(model, rule):
    groups = schedkit.build_param_groups(model, [rule], lr=1.0, weight_decay=0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}, groups


def test_layer_decay_with_the_weight_decay_rules_in_mmpretrains_order():
    rule = {
        "type": "mmpretrain.layer_decay",
        "layer_decay_rate": 0.5,
        "norm_decay_mult": 0.0,
        "bias_decay_mult": 0.5,
        "flat_decay_mult": 0.25,
        "custom_keys": {
            ".cls_token": {"decay_mult": 0.0},
            "cls_token": {"decay_mult": 3.0},
            "layers.2": {"decay_mult": 2.0},
        },
    }
    got, groups = _settings(Encoder(), rule)
    r = 0.5
    assert got["cls_token"] == (r**4, 0.05 * 3.0)  # ".cls_token" is not in "cls_token"
    assert got["patch_embed.weight"] == (r**4, 0.05)
    assert got["patch_embed.bias"] == (r**4, 0.05 * 0.5)  # bias
    assert got["layers.0.0.weight"] == (r**3, 0.0)  # norm before bias and flat
    assert got["layers.0.1.bias"] == (r**3, 0.05 * 0.5)
    assert got["layers.1.1.weight"] == (r**2, 0.05)
    assert got["layers.2.0.weight"] == (r**1, 0.05 * 2.0)  # the custom key wins over norm
    assert got["head.weight"] == (1.0, 0.05)
    assert len(groups) == len(set(got.values()))  # merged: one group per setting


def test_the_longest_key_wins():
    rule = {
        "type": "mmpretrain.layer_decay",
        "custom_keys": {"layers": {"decay_mult": 2.0}, "layers.1": {"decay_mult": 0.0}},
    }
    got, _ = _settings(Encoder(), rule)
    assert got["layers.1.1.weight"][1] == 0.0
    assert got["layers.0.1.weight"][1] == pytest.approx(0.1)


def test_lr_mult_is_refused_as_mmpretrain_disables_it():
    with pytest.raises(SpecError, match="decay_mult only"):
        schedkit.get_rule("mmpretrain.layer_decay", custom_keys={"head": {"lr_mult": 2.0}})


def test_models_without_get_layer_depth_use_the_layouts():
    from schedkit._example import TinyViT

    got, _ = _settings(TinyViT(), {"type": "mmpretrain.layer_decay", "layer_decay_rate": 0.5})
    assert got["head.weight"][0] == 1.0
    assert got["cls_token"][0] < got["blocks.0.attn.out_proj.weight"][0] < 1.0
