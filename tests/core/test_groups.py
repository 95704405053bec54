"""The param-group builder on real module trees: every parameter's final lr and decay."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from torch import nn

import schedkit
from schedkit import SpecError, UnplacedParameter, build_param_groups
from schedkit.testing import check_registered

RULES = [c.name for c in schedkit.registered("rule")]


def settings(model, groups):
    """name -> (lr, weight_decay, tags) for every trainable parameter."""
    out = {}
    for info in schedkit.trainable_parameters(model):
        g = groups[groups.group_of(info.name)]
        out[info.name] = (g["lr"], g["weight_decay"], tuple(g.get("tags", ())))
    return out


@pytest.mark.parametrize("name", RULES)
def test_every_registered_rule_conforms(name):
    check_registered("rule", name)


class Encoder(nn.Module):
    """A transformer encoder with tied input/output embeddings and a frozen position table."""

    def __init__(self) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(50, 16)
        self.position = nn.Embedding(8, 16)
        self.position.weight.requires_grad_(False)
        layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.lm_head = nn.Linear(16, 50, bias=False)
        self.lm_head.weight = self.embeddings.weight  # tied


def test_builder_places_each_parameter_once_tied_once_frozen_never():
    m = Encoder()
    groups = build_param_groups(m, ["no_weight_decay"], lr=1e-3, weight_decay=0.1)
    params = [p for g in groups for p in g["params"]]
    assert len(params) == len({id(p) for p in params})
    assert m.position.weight not in {id(p) for p in params}
    assert all(p.requires_grad for p in params)
    names = [i.name for i in schedkit.trainable_parameters(m)]
    assert "lm_head.weight" not in names  # the tied weight appears once, as embeddings.weight
    s = settings(m, groups)
    assert s["embeddings.weight"] == (1e-3, 0.1, ())
    assert s["encoder.layers.0.norm1.weight"] == (1e-3, 0.0, ())
    assert s["encoder.layers.1.linear1.bias"] == (1e-3, 0.0, ())
    assert s["encoder.layers.1.linear1.weight"] == (1e-3, 0.1, ())


@st.composite
def _tree(draw):
    """A random module tree with shared modules, tied and frozen parameters, None slots."""
    modules = [nn.Module() for _ in range(draw(st.integers(1, 6)))]
    params: list[nn.Parameter] = []
    for i, m in enumerate(modules):
        for j in range(draw(st.integers(0, 3))):
            if params and draw(st.integers(0, 3)) == 0:
                p = draw(st.sampled_from(params))  # tied
            else:
                p = nn.Parameter(torch.zeros(1), requires_grad=draw(st.booleans()))
                params.append(p)
            m.register_parameter(f"p{j}", p)
        if draw(st.integers(0, 5)) == 0:
            m.register_parameter("empty", None)
        for k in range(i + 1, len(modules)):  # edges only forward: no cycles
            if draw(st.integers(0, 2)) == 0:
                m.add_module(f"m{k}", modules[k])  # may be shared by several parents
    return modules[0]


@given(_tree())
@settings_(max_examples=80, deadline=None)
def test_walk_names_and_orders_parameters_as_named_parameters(model):
    named = list(model.named_parameters())
    assert schedkit.parameter_names(model) == [n for n, _ in named]
    infos = list(schedkit.trainable_parameters(model))
    assert [(i.name, i.param) for i in infos] == [(n, p) for n, p in named if p.requires_grad]
    modules = dict(model.named_modules())
    assert all(modules[i.module_name] is i.module for i in infos)
    owners = [n.rpartition(".")[0] for n, _ in named]
    assert schedkit.parameter_owners(model) == list(dict.fromkeys(owners))


def test_groups_merge_to_distinct_settings():
    m = schedkit_example()
    groups = build_param_groups(m, ["no_weight_decay"], lr=1e-3, weight_decay=0.05)
    assert len(groups) == 2
    assert {g["weight_decay"] for g in groups} == {0.05, 0.0}
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))


def schedkit_example():
    from schedkit._example import tiny_vit

    return tiny_vit()


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


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3))
        self.layer2 = nn.Sequential(nn.Conv2d(4, 4, 3))
        self.fc = nn.Linear(4, 2)


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


def test_groups_table_and_tags_reach_schedulers():
    m = schedkit_example()
    g = build_param_groups(
        m, [{"type": "overrides", "keys": {"head.*": {"tags": ["head"]}}}], lr=1.0
    )
    opt = torch.optim.SGD(g, lr=1.0)
    schedkit.get_scheduler("constant", opt, value=0.1, tags=["head"])
    lrs = {tuple(pg.get("tags", ())): pg["lr"] for pg in opt.param_groups}
    assert lrs == {(): 1.0, ("head",): pytest.approx(0.1)}
    table = g.table()
    assert table.splitlines()[0].split() == [
        "group",
        "params",
        "numel",
        "lr",
        "weight_decay",
        "tags",
        "e.g.",
    ]
    assert "head" in table
