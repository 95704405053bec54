"""The ``mup`` rule alone: μP's scaling by width, worked out by hand (the comparison with
the ``mup`` library itself is in tests/pretraining/test_mup.py), its order among the other
rules, its spec, and its errors with their key paths."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from torch import nn

import schedkit
from schedkit import SpecError, build_param_groups
from schedkit.setup import SetupError, load_setup
from schedkit.testing import check_rule
from schedkit_param_rules.mup import Mup, _Divide, base_shapes
from tests.support.groups import settings


class MLP(nn.Module):
    """Input layer (one width dimension), a hidden matrix (two), a norm, an output layer."""

    def __init__(self, width: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = width if hidden is None else hidden
        self.inp = nn.Linear(7, width)
        self.hid = nn.Linear(width, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(torch.relu(self.hid(torch.relu(self.inp(x))))))


def _rule(base: nn.Module, **options) -> dict:
    return {"type": "mup", "base_shapes": base_shapes(base), **options}


def test_adam_scaling_by_hand():
    base, model = MLP(16), MLP(48)
    g = build_param_groups(model, [_rule(base)], lr=0.1, weight_decay=0.01)
    s = settings(model, g)
    # the hidden matrix: two width dimensions, multiplier 3 (its fan-in): lr / 3, decay * 3
    assert s["hid.weight"] == (0.1 / 3, 0.01 * 3, ())
    wider = MLP(16 * 7)
    lr = settings(wider, build_param_groups(wider, [_rule(base)], lr=0.1))["hid.weight"][0]
    assert lr == 0.1 / 7 != 0.1 * (1 / 7)  # a division, as μP's optimizers do it
    for name in ("inp.weight", "inp.bias", "hid.bias", "norm.weight", "out.weight", "out.bias"):
        assert s[name] == (0.1, 0.01, ()), name
    assert len(g) == 2
    assert "mup (rules[0]) x0.333333" in g.explain("hid.weight")


def test_adam_multiplier_is_the_last_width_dimension():
    base, model = MLP(16, hidden=8), MLP(48, hidden=40)
    s = settings(model, build_param_groups(model, [_rule(base)], lr=0.1, weight_decay=0.01))
    assert s["hid.weight"] == (0.1 / 3.0, 0.01 * 3.0, ())  # shape [40, 48]: fan-in 48/16


def test_sgd_scaling_by_hand():
    base, model = MLP(16, hidden=8), MLP(48, hidden=40)
    s = settings(
        model, build_param_groups(model, [_rule(base, scaling="sgd")], lr=0.1, weight_decay=0.01)
    )
    # one width dimension: lr * m, decay / m
    assert s["inp.weight"] == (0.1 * 3.0, 0.01 / 3.0, ())
    assert s["inp.bias"] == (0.1 * 3.0, 0.01 / 3.0, ())
    assert s["norm.weight"] == (0.1 * 5.0, 0.01 / 5.0, ())
    assert s["out.weight"] == (0.1 * 5.0, 0.01 / 5.0, ())  # [3, 40]: fan-in 40/8
    # two: lr / r and decay * r, r = fan-in multiplier / fan-out multiplier
    ratio = 3.0 / 5.0
    assert s["hid.weight"] == (0.1 / ratio, 0.01 * ratio, ())
    assert s["out.bias"] == (0.1, 0.01, ())  # fixed


def test_decoupled_wd_leaves_the_decay():
    base, model = MLP(16), MLP(48)
    for scaling in ("adam", "sgd"):
        rule = _rule(base, scaling=scaling, decoupled_wd=True)
        s = settings(model, build_param_groups(model, [rule], lr=0.1, weight_decay=0.01))
        assert {v[1] for v in s.values()} == {0.01}
    s = settings(model, build_param_groups(model, [_rule(base, decoupled_wd=True)], lr=0.1))
    assert s["hid.weight"][0] == 0.1 / 3


@settings_(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 40),
    hidden=st.integers(1, 40),
    scaling=st.sampled_from(["adam", "sgd"]),
    decoupled=st.booleans(),
    lr=st.floats(1e-6, 10.0),
    wd=st.floats(0.0, 1.0),
)
def test_the_base_model_itself_gets_the_plain_groups(width, hidden, scaling, decoupled, lr, wd):
    """Width multiplier 1 everywhere: the groups without the rule, to the last bit."""
    model = MLP(width, hidden)
    rule = _rule(model, scaling=scaling, decoupled_wd=decoupled)
    plain = build_param_groups(model, [], lr=lr, weight_decay=wd)
    mup = build_param_groups(model, [rule], lr=lr, weight_decay=wd)
    assert settings(model, mup) == settings(model, plain)
    assert len(mup) == len(plain) == 1


@settings_(max_examples=60, deadline=None)
@given(
    base=st.tuples(st.integers(1, 64), st.integers(1, 64)),
    wide=st.tuples(st.integers(1, 256), st.integers(1, 256)),
    lr=st.floats(1e-6, 10.0),
    wd=st.floats(0.0, 1.0),
)
def test_adam_groups_follow_the_formula(base, wide, lr, wd):
    small, model = MLP(*base), MLP(*wide)
    s = settings(model, build_param_groups(model, [_rule(small)], lr=lr, weight_decay=wd))
    width, hidden = wide
    both = width != base[0] and hidden != base[1]
    m = width / base[0] if width != base[0] else 1
    if both:
        assert s["hid.weight"] == (lr / m, wd * m, ())
    else:  # at most one width dimension: vector-like, unscaled
        assert s["hid.weight"] == (lr, wd, ())
    assert s["inp.weight"] == s["out.weight"] == (lr, wd, ())


@given(x=st.floats(1e-12, 1e6), d=st.floats(1e-6, 1e6))
def test_a_divide_multiplier_divides_exactly(x, d):
    assert x * _Divide(d) == x / d
    assert _Divide(d) * x == x / d
    assert float(_Divide(d)) == 1.0 / d


def test_order_with_other_rules():
    """The rule scales what earlier rules left, as MuAdam scales the groups it is given:
    no weight decay stays zero in either order; an lr_mult before it is divided too."""
    base, model = MLP(16), MLP(48)
    nwd = {"type": "no_weight_decay", "one_dim": False, "patterns": ["hid.weight"]}
    for rules in ([nwd, _rule(base)], [_rule(base), nwd]):
        s = settings(model, build_param_groups(model, rules, lr=0.1, weight_decay=0.01))
        assert s["hid.weight"] == (0.1 / 3, 0.0, ())
    over = {"type": "overrides", "keys": {"hid.*": {"lr_mult": 2.0}}}
    s = settings(model, build_param_groups(model, [over, _rule(base)], lr=0.1, weight_decay=0.01))
    assert s["hid.weight"] == ((0.1 * 2.0) / 3, 0.01 * 3, ())
    assert s["hid.bias"] == (0.1 * 2.0, 0.01, ())


def test_globs_first_match_and_frozen_parameters():
    model = MLP(48)
    model.out.bias.requires_grad_(False)  # frozen: needs no base shape
    rule = {
        "type": "mup",
        "base_shapes": {"hid.weight": [16, 16], "*.weight": [16, 7], "inp.bias": [16]},
    }
    # "*.weight" after "hid.weight": inp.weight [16, 7] (one width dimension), but also
    # norm.weight, 1-D, and out.weight [16, 7] against [3, 48]; hid.bias, norm.bias without
    with pytest.raises(SpecError) as e:
        build_param_groups(model, [rule], lr=0.1)
    problems = [(p.path, p.message) for p in e.value.all()]
    assert problems == [
        (
            "rules[0].base_shapes.*.weight",
            "norm.weight has shape [48], 1 dimension(s); its base shape [16, 7] has 2",
        ),
        (
            "rules[0].base_shapes",
            "no base shape for 2 trainable parameter(s) of MLP: hid.bias, norm.bias (give "
            "the base model's shape of each)",
        ),
    ]  # out.bias is frozen: it needs none
    rule["base_shapes"] = {"hid.weight": [16, 16], "norm.*": [16], **rule["base_shapes"]}
    rule["base_shapes"]["*"] = [16]
    s = settings(model, build_param_groups(model, [rule], lr=0.1, weight_decay=0.01))
    assert s["hid.weight"] == (0.1 / 3, 0.01 * 3, ())
    # out.weight [3, 48] against [16, 7]: two widths, the last 48 / 7
    assert s["out.weight"] == (0.1 / (48 / 7), 0.01 * (48 / 7), ())
    assert "out.bias" not in s


def test_from_model_spec_and_conformance():
    base = MLP(16)
    rule = Mup.from_model(base, scaling="sgd")
    assert rule == schedkit.get_rule(_rule(base, scaling="sgd"))
    assert rule.spec() == {
        "type": "mup",
        "base_shapes": base_shapes(base),
        "scaling": "sgd",
        "decoupled_wd": False,
        "fixed_if_equal": True,
    }
    check_rule(rule, MLP(48))
    # the base model itself where a table is expected: its shapes
    assert schedkit.get_rule({"type": "mup", "base_shapes": base}) == Mup.from_model(base)
    assert Mup.from_model(base).multipliers(MLP(48, hidden=8))["hid.weight"] == (0.5, 3.0)


def test_a_setup_round_trips_through_toml():
    base = MLP(16)
    setup = load_setup(
        {"optimizer": {"type": "AdamW", "lr": 0.1, "weight_decay": 0.01}, "rules": [_rule(base)]}
    )
    again = schedkit.loads_setup(setup.to_toml())
    assert again.to_dict() == setup.to_dict()
    model = MLP(64)
    built = again.build(model)
    lr = {id(p): g["lr"] for g in built.optimizer.param_groups for p in g["params"]}
    assert lr[id(model.hid.weight)] == 0.1 / 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "base_shapes: 'mup' needs this parameter"),
        ({"base_shapes": {}}, "base_shapes: expected a table .* got an empty table"),
        ({"base_shapes": {"a": [4, 0]}}, r"base_shapes.a\[1\]: expected a positive integer .* 0$"),
        ({"base_shapes": {"a": [-4]}}, r"base_shapes.a\[0\]: expected a positive .* got -4$"),
        ({"base_shapes": {"a": [2**63]}}, r"base_shapes.a\[0\]: .* below 2\*\*63.* got 9223"),
        ({"base_shapes": {"a": [10**400]}}, r"base_shapes.a\[0\]: .* about 10\*\*400$"),
        ({"base_shapes": {"a": [True]}}, r"base_shapes.a\[0\]: .* got True$"),
        ({"base_shapes": {"a": [4.0]}}, r"base_shapes.a\[0\]: .* got 4.0$"),
        ({"base_shapes": {"a": 4}}, "base_shapes.a: expected a shape, a list of positive"),
        ({"base_shapes": [4]}, "base_shapes: expected a table"),
        ({"base_shapes": {"a": [4]}, "scaling": "adamw"}, "scaling: expected one of 'adam'"),
        ({"base_shapes": {"a": [4]}, "decoupled_wd": 1}, "decoupled_wd: "),
        ({"base_shapes": {"a": ["fixd"]}}, r"base_shapes.a\[0\]: .* or 'fixed', got 'fixd'$"),
        ({"base_shapes": {"a": [4]}, "fixed_if_equal": "no"}, "fixed_if_equal: "),
    ],
)
def test_bad_specs_name_the_key(spec, message):
    with pytest.raises(SpecError, match=message):
        schedkit.get_rule({"type": "mup", **spec})


def test_shapes_that_do_not_fit_the_model():
    model = MLP(48)
    rule = {
        "type": "mup",
        "base_shapes": {
            "inp.weight": [16],  # a dimension short
            "hdi.weight": [16, 16],  # a typo
            "*.bias": [16, 2],  # too many
        },
    }
    setup = load_setup({"optimizer": {"type": "AdamW", "lr": 0.1}, "rules": [rule]})
    with pytest.raises(SetupError) as e:
        setup.build(model)
    found = [(p.path, p.message) for p in e.value.problems[0].all()]
    assert found == [
        (
            "rules[0].base_shapes.hdi.weight",
            "'hdi.weight' matches none of the parameters of MLP; closest: 'hid.weight', "
            "'inp.weight', 'out.weight' (base shapes name the parameters of the same "
            "architecture at its base width)",
        ),
        (
            "rules[0].base_shapes.inp.weight",
            "inp.weight has shape [48, 7], 2 dimension(s); its base shape [16] has 1",
        ),
        *[
            (
                "rules[0].base_shapes.*.bias",
                f"{n}.bias has shape [{d}], 1 dimension(s); its base shape [16, 2] has 2",
            )
            for n, d in (("inp", 48), ("hid", 48), ("norm", 48), ("out", 3))
        ],
        (
            "rules[0].base_shapes",
            "no base shape for 3 trainable parameter(s) of MLP: hid.weight, norm.weight, "
            "out.weight (give the base model's shape of each)",
        ),
    ]


def test_more_than_two_width_dimensions():
    model = nn.Conv2d(8, 16, 3)
    rule = {"type": "mup", "base_shapes": {"weight": [4, 4, 1, 3], "bias": [4]}}
    with pytest.raises(SpecError) as e:
        build_param_groups(model, [rule], lr=0.1)
    assert str(e.value) == (
        "rules[0].base_shapes.weight: weight has shape [16, 8, 3, 3] against the base shape "
        "[4, 4, 1, 3]: 3 width dimensions, and μP scales at most 2"
    )
    # a conv with two width dimensions (channels in and out) is matrix-like
    rule["base_shapes"]["weight"] = [4, 4, 3, 3]
    s = settings(model, build_param_groups(model, [rule], lr=0.1, weight_decay=0.5))
    assert s["weight"] == (0.1 / 2.0, 0.5 * 2.0, ())


def test_fixed_dimensions_and_fixed_if_equal():
    """``"fixed"`` (a base-shape file's null, None from Python) is never a width; with
    ``fixed_if_equal`` false a number is a width even where the model's is equal."""
    model = MLP(48, hidden=16)
    shapes = {
        "inp.weight": [16, None],
        "hid.weight": [16, 16],
        "hid.bias": [16],
        "norm.*": [16],
        "out.weight": [None, 16],
        "out.bias": ["fixed"],
        "inp.bias": [16],
    }
    rule = schedkit.get_rule({"type": "mup", "base_shapes": shapes})
    assert rule.spec()["base_shapes"]["inp.weight"] == [16, "fixed"]
    assert rule.multipliers(model)["hid.weight"] == (1, 3.0)
    s = settings(model, build_param_groups(model, [rule], lr=0.1, weight_decay=0.01))
    assert s["hid.weight"] == (0.1, 0.01, ())  # [16, 48]: one width (vector-like)
    strict = schedkit.get_rule({"type": "mup", "base_shapes": shapes, "fixed_if_equal": False})
    assert strict.multipliers(model)["hid.weight"] == (1.0, 3.0)
    s = settings(model, build_param_groups(model, [strict], lr=0.1, weight_decay=0.01))
    assert s["hid.weight"] == (0.1 / 3.0, 0.01 * 3.0, ())  # two widths, one at 1
    assert s["out.weight"] == s["inp.weight"] == (0.1, 0.01, ())


def test_from_model_with_a_delta():
    base, delta = MLP(16, hidden=8), MLP(32, hidden=8)  # the hidden size is not a width
    rule = Mup.from_model(base, delta)
    assert not rule.fixed_if_equal
    assert dict(rule.base_shapes)["hid.weight"] == ("fixed", 16)
    assert dict(rule.base_shapes)["out.weight"] == ("fixed", "fixed")
    model = MLP(64, hidden=8)
    s = settings(model, build_param_groups(model, [rule], lr=0.1, weight_decay=0.01))
    assert s["hid.weight"] == (0.1, 0.01, ())
    with pytest.raises(SpecError, match="^delta: the delta model's parameters differ"):
        Mup.from_model(base, nn.Linear(2, 2))


def test_an_empty_width_dimension():
    model = nn.Module()
    model.weight = nn.Parameter(torch.zeros(4, 0))
    model.bias = nn.Parameter(torch.zeros(4))
    rule = {"type": "mup", "base_shapes": {"weight": [2, 2], "bias": [2]}}
    with pytest.raises(SpecError) as e:
        build_param_groups(model, [rule], lr=0.1)
    assert str(e.value) == (
        "rules[0].base_shapes.weight: weight has shape [4, 0]: a width dimension of size 0 "
        "has no multiplier"
    )
