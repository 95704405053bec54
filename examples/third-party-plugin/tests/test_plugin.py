"""The plugin's tests: schedkit's conformance kit on each component, plus its own values."""

from __future__ import annotations

import pytest
import torch

import schedkit
from schedkit.testing import check_registered


@pytest.mark.parametrize(
    ("kind", "name"), [("schedule", "sawtooth"), ("rule", "embeddings_lr"), ("clipper", "sign")]
)
def test_conforms(kind, name):
    info = check_registered(kind, name)
    assert info.distribution == "schedkit-plateau-bump"


def test_sawtooth_values():
    s = schedkit.get_schedule("sawtooth", period=4, low=0.2)
    assert [s(t) for t in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.2, 0.4])


def test_embeddings_rule_and_sign_clipper():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    groups = schedkit.build_param_groups(model, [{"type": "embeddings_lr", "lr_mult": 0.1}], lr=1.0)
    assert [(g["lr"], g.get("tags", [])) for g in groups] == [
        (pytest.approx(0.1), ["embeddings"]),
        (1.0, []),
    ]
    model(torch.tensor([1, 2])).sum().backward()
    schedkit.get_clipper("sign", scale=0.5)(model)
    assert set(model[1].weight.grad.abs().flatten().tolist()) <= {0.0, 0.5}
