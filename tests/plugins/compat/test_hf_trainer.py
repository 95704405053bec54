"""``hf_trainer.no_decay`` against the transformers Trainer's own decay-parameter names."""

from __future__ import annotations

import pytest
import torch

import schedkit
from tests.support.models import TinyEncoder, TinyViT

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("model", [TinyEncoder(), TinyViT()], ids=["encoder", "vit"])
def test_decay_parameters_as_the_trainer(model: torch.nn.Module) -> None:
    want = set(transformers.Trainer.get_decay_parameter_names(None, model))
    groups = schedkit.build_param_groups(
        model, [schedkit.get_rule("hf_trainer.no_decay")], lr=0.1, weight_decay=0.05
    )
    names = {id(p): n for n, p in model.named_parameters()}
    got = {names[id(p)] for g in groups for p in g["params"] if g["weight_decay"] == 0.05}
    assert got == want
    assert {names[id(p)] for g in groups for p in g["params"]} == set(
        dict(model.named_parameters())
    )


def test_norm_layers_other_than_layernorm_keep_their_decay() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.BatchNorm1d(2))
    groups = schedkit.build_param_groups(
        model, [schedkit.get_rule("hf_trainer.no_decay")], lr=0.1, weight_decay=0.05
    )
    decayed = [p for g in groups if g["weight_decay"] == 0.05 for p in g["params"]]
    assert len(decayed) == 2  # the Linear's weight and the BatchNorm's weight
