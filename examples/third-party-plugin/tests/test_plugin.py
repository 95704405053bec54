"""The plugin's tests: schedkit's conformance kit on every component, plus its own values."""

from __future__ import annotations

import pytest
import torch

import schedkit
from schedkit.testing import conformance_tests

# one line: every schedule, rule and clipper of this distribution through the kit
test_conformance = conformance_tests("schedkit-plateau-bump")


def test_sawtooth_values():
    s = schedkit.get_schedule("sawtooth", period=4, low=0.2)
    assert [s(t) for t in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.2, 0.4])


def test_embeddings_rule_and_spike_clipper():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    groups = schedkit.build_param_groups(model, [{"type": "embeddings_lr", "lr_mult": 0.1}], lr=1.0)
    assert [(g["lr"], g.get("tags", [])) for g in groups] == [
        (pytest.approx(0.1), ["embeddings"]),
        (1.0, []),
    ]
    clipper = schedkit.get_clipper("spike", ratio=2.0)
    p = torch.nn.Parameter(torch.zeros(2))
    for g in ([3.0, 4.0], [30.0, 40.0]):  # norm 5, then a spike of norm 50
        p.grad = torch.tensor(g)
        result = clipper([p])
    assert float(result.total_norm) == pytest.approx(50.0)
    assert float(torch.linalg.vector_norm(p.grad)) == pytest.approx(10.0, rel=1e-5)
