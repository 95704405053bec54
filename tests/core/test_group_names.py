"""Every param group has a stable, readable, unique name, made by the rules that made it."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import pytest
import torch
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from torch import nn

import schedkit
from schedkit import ParamInfo, RuleEffect, build_param_groups
from schedkit._example import tiny_vit

ROOT = Path(__file__).resolve().parents[2]
VIT = ROOT / "examples" / "vit-finetune.toml"

VIT_NAMES = [
    "embed/no_decay",
    "embed/decay",
    *[f"blocks.{i}/{d}" for i in range(4) for d in ("no_decay", "decay")],
    "head/no_decay",
    "head/decay",
]


def test_the_vit_example_groups_are_named_by_layer_and_decay():
    built = schedkit.load_setup(VIT).build(tiny_vit())
    names = [g["name"] for g in built.optimizer.param_groups]
    assert names == VIT_NAMES
    assert built.groups is not None
    assert built.groups.names == VIT_NAMES
    assert [r["name"] for r in built.groups.rows()] == VIT_NAMES
    assert built.groups.labels()[-1] == "head/decay: layer_decay x1"
    assert "blocks.1.mlp.0.weight: group 5 (blocks.1/decay)" in built.groups.explain(
        "blocks.1.mlp.0.weight"
    )
    # the same names on every build (no ids, no hashes)
    again = schedkit.load_setup(VIT).build(tiny_vit())
    assert [g["name"] for g in again.optimizer.param_groups] == names


def test_no_rules_is_one_default_group_and_other_rules_name_themselves():
    m = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    assert build_param_groups(m, [], lr=1.0).names == ["default"]
    groups = build_param_groups(m, [{"type": "bias", "lr_factor": 2.0}], lr=1.0)
    assert groups.names == ["default", "bias"]
    keys = {"2.*": {"lr_mult": 10.0}, "1.*": {"lr_mult": 3.0, "tags": ["norm", "gain"]}}
    groups = build_param_groups(m, [{"type": "overrides", "keys": keys}], lr=1.0)
    assert groups.names == ["default", "gain+norm", "2.*"]
    tagged = {"type": "no_weight_decay", "tag": "nwd"}
    groups = build_param_groups(m, [tagged], lr=1.0, weight_decay=0.1)
    assert groups.names == ["decay", "nwd"]
    # without weight decay both settle alike: one group, both names
    assert build_param_groups(m, ["no_weight_decay"], lr=1.0).names == ["decay+no_decay"]


@attrs.frozen
class Named(schedkit.BaseRule):
    """Every parameter its own lr; every group the same name (made unique by the builder)."""

    name = "named_test"

    part: str = "same"

    def bind(self, model: nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        effects: dict[str, RuleEffect] = {}

        def decide(info: ParamInfo) -> RuleEffect:
            return effects.setdefault(info.name, RuleEffect(values={"lr": len(effects) + 1.0}))

        return decide

    def group_name(
        self, model: nn.Module, effect: RuleEffect | None, params: Sequence[ParamInfo]
    ) -> str | None:
        return self.part


def test_a_rule_sets_its_own_names_and_duplicates_get_a_number():
    m = nn.Linear(3, 1)  # weight, bias: two groups
    groups = build_param_groups(m, [Named()], lr=1.0)
    assert groups.names == ["same", "same#2"]
    assert build_param_groups(m, [Named(part="")], lr=1.0).names == ["default", "default#2"]


def test_a_name_that_is_not_text_is_an_error_naming_the_rule():
    @attrs.frozen
    class Bad(Named):
        def group_name(self, model, effect, params):  # type: ignore[no-untyped-def]
            return 3

    with pytest.raises(schedkit.SpecError) as e:
        build_param_groups(nn.Linear(3, 1), [Bad()], lr=1.0)
    assert e.value.path == "rules[0]"
    assert "group_name returned 3, expected a str or None" in str(e.value)


class PlainRule:
    """A rule that is no BaseRule (the ParamRule protocol only): named by its tags."""

    name = "plain"

    def bind(self, model: nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        head = RuleEffect(multipliers={"lr": 2.0}, tags={"head"})
        other = RuleEffect(multipliers={"lr": 0.5})
        return lambda info: head if info.name.startswith("1.") else other


def test_a_rule_without_group_name_gives_its_tags_or_its_name():
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    assert build_param_groups(m, [PlainRule()], lr=1.0).names == ["plain", "head"]


@settings_(max_examples=30, deadline=None)
@given(
    widths=st.lists(st.integers(1, 3), min_size=1, max_size=5),
    mults=st.dictionaries(st.integers(0, 4), st.sampled_from([0.5, 2.0, 3.0]), max_size=4),
    rate=st.sampled_from([0.5, 0.9, 1.0]),
)
def test_names_are_unique_and_the_same_on_every_build(widths, mults, rate):
    m = nn.Module()
    m.blocks = nn.ModuleList(nn.Linear(w, w, bias=bool(w % 2)) for w in widths)
    keys = {f"blocks.{i}.*": {"lr_mult": v} for i, v in mults.items() if i < len(widths)}
    rules: list[object] = [
        {
            "type": "layer_decay",
            "rate": rate,
            "layout": "patterns",
            "patterns": [[r"^blocks\.(\d+)\."]],
            "rest": "top",
        },
        "no_weight_decay",
    ]
    if keys:
        rules.append({"type": "overrides", "keys": keys})
    first = build_param_groups(m, rules, lr=1.0, weight_decay=0.1).names
    assert len(set(first)) == len(first)
    assert all(n and "//" not in n for n in first)
    assert build_param_groups(m, rules, lr=1.0, weight_decay=0.1).names == first


def test_names_survive_a_resume_and_a_state_saved_without_them():
    setup = schedkit.load_setup(VIT)
    built = setup.build(tiny_vit())
    state = built.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert [g["name"] for g in loaded["optimizer"]["param_groups"]] == VIT_NAMES
    other = setup.build(tiny_vit())
    other.load_state_dict(loaded)
    assert [g["name"] for g in other.optimizer.param_groups] == VIT_NAMES
    # a state from before groups had names (or under other names): this build's names stay
    for g in loaded["optimizer"]["param_groups"]:
        del g["name"]
    loaded["optimizer"]["param_groups"][0]["name"] = "old"
    other.load_state_dict(loaded)
    assert [g["name"] for g in other.optimizer.param_groups] == VIT_NAMES
