"""The layer-decay plugin's rule on real module trees: the depth of every parameter under
each layout (ViT, ResNet, stages, transformers encoders, patterns)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from torch import nn

from schedkit import UnplacedParameter, build_param_groups
from tests.support.groups import TinyResNet, schedkit_example, settings


def test_vit_layer_decay_values_for_every_parameter():
    m = schedkit_example()  # 4 blocks: num_layers 6, head at depth 5
    groups = build_param_groups(
        m, [{"type": "layer_decay", "rate": 0.5}, "no_weight_decay"], lr=1.0, weight_decay=0.1
    )
    s = settings(m, groups)
    for name, (lr, wd, _) in s.items():
        if name.startswith(("cls_token", "pos_embed", "patch_embed")):
            assert lr == 0.5**5, name
        elif name.startswith("blocks."):
            block = int(name.split(".")[1])
            assert lr == 0.5 ** (4 - block), name
        else:
            assert lr == 1.0, name
        one_dim = name.endswith("bias") or ".norm" in name or name.startswith("norm.")
        one_dim = one_dim or name in m.no_weight_decay()  # the model's own list, as timm's
        assert wd == (0.0 if one_dim else 0.1), name
    assert len(groups) == len({(lr, wd) for lr, wd, _ in s.values()})


def test_model_get_layer_depth_wins_and_mmpretrain_tuple():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)

        def get_layer_depth(self, name: str):
            return (0 if name.startswith("a") else 1), 3

    m = Model()
    groups = build_param_groups(m, [{"type": "layer_decay", "rate": 0.1}], lr=1.0)
    s = settings(m, groups)
    assert s["a.weight"][0] == pytest.approx(0.01)
    assert s["b.bias"][0] == pytest.approx(0.1)


def test_resnet_layout_counts_blocks_and_frozen_parts_do_not_shift_depths():
    m = TinyResNet()
    rule = {"type": "layer_decay", "rate": 0.5}
    before = settings(m, build_param_groups(m, [rule], lr=1.0))
    for p in [*m.conv1.parameters(), *m.bn1.parameters(), *m.layer1.parameters()]:
        p.requires_grad_(False)
    after = settings(m, build_param_groups(m, [rule], lr=1.0))
    assert after == {k: v for k, v in before.items() if k in after}
    # blocks: layer1.0, layer1.1, layer2.0 -> depths 1..3, fc on top (4), num_layers 5
    assert before["conv1.weight"][0] == 0.5**4
    assert before["layer1.1.weight"][0] == 0.5**2
    assert before["layer2.0.weight"][0] == 0.5
    assert before["fc.weight"][0] == 1.0


class Swinish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(2, 2)
        self.layers = nn.ModuleList(
            [
                nn.ModuleDict(
                    {
                        "blocks": nn.ModuleList([nn.Linear(2, 2) for _ in range(n)]),
                        "downsample": nn.Linear(2, 2),
                    }
                )
                for n in (2, 3)
            ]
        )
        self.norm = nn.LayerNorm(2)
        self.head = nn.Linear(2, 2)


def test_stage_layout_counts_across_stages():
    m = Swinish()
    s = settings(m, build_param_groups(m, [{"type": "layer_decay", "rate": 0.5}], lr=1.0))
    # 5 blocks -> num_layers 7; stage 1 block 0 is block 3 overall
    assert s["patch_embed.weight"][0] == 0.5**6
    assert s["layers.0.blocks.1.weight"][0] == 0.5**4
    assert s["layers.0.downsample.weight"][0] == 0.5**4  # with the block before it
    assert s["layers.1.blocks.0.weight"][0] == 0.5**3
    assert s["head.weight"][0] == 1.0


def test_hf_encoder_layout():
    class HF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = nn.Embedding(10, 4)
            self.encoder = nn.Module()
            self.encoder.layer = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
            self.pooler = nn.Linear(4, 4)

    m = HF()
    s = settings(
        m, build_param_groups(m, [{"type": "layer_decay", "rate": 0.5, "min_scale": 0.1}], lr=1.0)
    )
    assert s["embeddings.weight"][0] == 0.1  # 0.5**4 = 0.0625, raised to min_scale
    assert s["encoder.layer.0.weight"][0] == 0.125
    assert s["encoder.layer.2.bias"][0] == 0.5
    assert s["pooler.weight"][0] == 1.0


def test_register_tokens_go_with_the_embeddings():
    m = schedkit_example()
    m.reg_token = nn.Parameter(torch.zeros(1, 4, 32))
    s = settings(m, build_param_groups(m, [{"type": "layer_decay", "rate": 0.5}], lr=1.0))
    assert s["reg_token"][0] == s["cls_token"][0] == 0.5**5


def test_a_module_outside_the_blocks_places_each_parameter_by_its_own_name():
    m = schedkit_example()
    m.decoder = nn.Module()  # one module: a position table (embeddings) and a gain (top)
    m.decoder.pos_embed = nn.Parameter(torch.zeros(1, 4, 32))
    m.decoder.gain = nn.Parameter(torch.ones(32))
    s = settings(m, build_param_groups(m, [{"type": "layer_decay", "rate": 0.5}], lr=1.0))
    assert s["decoder.pos_embed"][0] == 0.5**5
    assert s["decoder.gain"][0] == 1.0


def test_a_parameter_list_named_like_the_blocks_is_not_a_block():
    m = schedkit_example()  # blocks.0 .. blocks.3
    m.layers = nn.ParameterList([nn.Parameter(torch.ones(2)) for _ in range(2)])
    s = settings(m, build_param_groups(m, [{"type": "layer_decay", "rate": 0.5}], lr=1.0))
    assert s["layers.1"][0] == 1.0  # "layers.1" has no dot after the index: on top
    assert s["blocks.1.norm1.weight"][0] == 0.5**3


_WORDS = ["blocks", "layers"]
_LEAVES = ["qkv", "proj", "norm1", "fc2", "pos_embed", "cls_token", "gain", "head", "embed_tokens"]


@st.composite
def _vit_like(draw):
    """A random ViT-like tree: blocks (possibly nested, with gaps and frozen ones), modules
    and root parameters around them, some named like embeddings."""
    m = nn.Module()
    parent = m
    if draw(st.booleans()):
        parent = nn.Module()
        m.add_module(draw(st.sampled_from(["backbone", "model", "encoder"])), parent)
    blocks = nn.ModuleDict()
    parent.add_module(draw(st.sampled_from(_WORDS)), blocks)
    for index in draw(st.lists(st.integers(0, 12), min_size=1, max_size=5, unique=True)):
        block = nn.Module()
        for leaf in draw(st.lists(st.sampled_from(_LEAVES), min_size=1, max_size=3, unique=True)):
            if draw(st.booleans()):
                block.add_module(leaf, nn.Linear(1, 1))
            else:
                block.register_parameter(leaf, nn.Parameter(torch.zeros(1)))
        if draw(st.integers(0, 4)) == 0:
            block.requires_grad_(False)
        blocks.add_module(draw(st.sampled_from([str(index), f"0{index}"])), block)
    for leaf in draw(st.lists(st.sampled_from(_LEAVES), max_size=4, unique=True)):
        where = draw(st.sampled_from([m, parent]))
        if hasattr(where, leaf):
            continue
        if draw(st.booleans()):
            owner = nn.Module()
            owner.register_parameter(leaf, nn.Parameter(torch.zeros(1)))
            owner.weight = nn.Parameter(torch.zeros(1))
            where.add_module(f"{leaf}_module", owner)
        else:
            where.register_parameter(leaf, nn.Parameter(torch.zeros(1)))
    m.fc = nn.Linear(1, 1)  # something trainable
    return m


@given(model=_vit_like(), layout=st.sampled_from(["vit", "auto"]))
@settings_(max_examples=60, deadline=None)
def test_vit_depths_per_module_equal_the_depth_of_each_name(model, layout):
    from schedkit_layer_decay import layouts

    names = [n for n, _ in model.named_parameters()]
    detected = layouts.detect(names) if layout == "auto" else layout
    if detected != "vit":
        return
    depth, num = layouts.depths("vit", names)
    rule = {"type": "layer_decay", "rate": 0.5, "layout": layout}
    s = settings(model, build_param_groups(model, [rule], lr=1.0))
    assert s == {n: (0.5 ** (num - depth[n] - 1), 0.0, ()) for n in s}


def test_list_valued_defaults_merge_like_tuples():
    m = schedkit_example()
    groups = build_param_groups(
        m, ["no_weight_decay"], lr=1e-3, weight_decay=0.05, betas=[0.9, 0.95]
    )
    assert len(groups) == 2
    assert all(g["betas"] == [0.9, 0.95] for g in groups)
    torch.optim.AdamW(groups).step()  # torch takes the list


def test_patterns_layout_and_unplaced_parameters_are_named():
    m = TinyResNet()
    rule = {
        "type": "layer_decay",
        "rate": 0.5,
        "layout": "patterns",
        "patterns": [["^conv1|^bn1", 0], ["^layer\\d\\.(\\d+)", None]],
    }
    with pytest.raises(
        UnplacedParameter,
        match="2 parameter\\(s\\) could not be placed:\n  fc.weight: layer_decay: no pattern gives its depth",
    ):
        build_param_groups(m, [rule], lr=1.0)
    ok = build_param_groups(m, [{**rule, "rest": "top"}], lr=1.0)
    assert settings(m, ok)["fc.bias"][0] == 1.0
