"""The param-group builder on real module trees: every parameter's final lr and decay."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from torch import nn

import schedkit
from schedkit import build_param_groups
from schedkit.testing import check_registered
from tests.support.groups import schedkit_example, settings

RULES = [c.name for c in schedkit.registered("rule")]


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
        "name",
        "params",
        "numel",
        "lr",
        "weight_decay",
        "tags",
        "e.g.",
    ]
    assert "head" in table
