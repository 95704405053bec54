"""``Built.step(metric)``: a setup with a metric-driven schedule steps in one call."""

from __future__ import annotations

import math

import pytest
import torch

import schedkit

SETUP = """
[run]
total = 100

[optimizer]
type = "SGD"
lr = 0.1
weight_decay = 0.01

[schedules.lr]
type = "plateau"
patience = 0
factor = 0.5

[schedules.weight_decay]
type = "linear"
end = 0.5
"""


def _built(text: str = SETUP) -> tuple[torch.nn.Module, schedkit.Built]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    return model, schedkit.loads_setup(text).build(model)


def _backward(model: torch.nn.Module) -> None:
    model(torch.ones(2, 3)).pow(2).mean().backward()


def test_the_metric_reaches_the_metric_driven_schedulers_only():
    model, built = _built()
    lrs, wds = [], []
    for metric in (None, None, 1.0, None, 2.0, 0.5):
        _backward(model)
        built.step(metric)
        lrs.append(built.optimizer.param_groups[0]["lr"])
        wds.append(built.optimizer.param_groups[0]["weight_decay"])
    # 2.0 does not improve on 1.0 (patience 0): halved at that step
    assert lrs == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]
    # the linear weight-decay schedule stepped every call, metric or not
    assert wds == pytest.approx([0.01 * (1 - 0.5 * k / 100) for k in range(1, 7)], rel=1e-12)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "high", {"loss": 0.3}])
def test_a_bad_metric_changes_nothing(bad):
    model, built = _built()
    _backward(model)
    weights = [p.detach().clone() for p in model.parameters()]
    state = built.state_dict()
    with pytest.raises(schedkit.SpecError) as err:
        built.step(bad)
    assert err.value.path == "metric"
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters(), strict=True))
    assert all(p.grad is not None for p in model.parameters())  # not zeroed
    assert built.state_dict()["schedulers"] == state["schedulers"]


def test_a_metric_without_a_metric_driven_schedule_is_an_error():
    model, built = _built(
        SETUP.replace('type = "plateau"\npatience = 0\nfactor = 0.5', 'type = "cosine"')
    )
    _backward(model)
    with pytest.raises(schedkit.SpecError, match="no schedule of this setup observes a metric"):
        built.step(0.3)
