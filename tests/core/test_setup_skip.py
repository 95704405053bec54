"""``Built.step()`` skipping steps: a clipper's skip (a spike, a non-finite norm) or a loss
spike (``step(loss=...)``) does not step the optimizer; ``[clip] on_skip`` says whether the
schedules advance; the count is kept in the state."""

from __future__ import annotations

import math

import pytest
import torch

import schedkit
from schedkit import SpecError, StateError

SETUP = """
[run]
total = 100

[optimizer]
type = "AdamW"
lr = 0.1
weight_decay = 0.01

[schedules.lr]
type = "linear"
end = 0.0

[clip]
type = "zclip"
warmup_steps = 3
max_grad_norm = "inf"
on_spike = "skip"
"""


def built(extra: str = "", text: str = SETUP) -> tuple[torch.nn.Module, schedkit.Built]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    return model, schedkit.loads_setup(text + extra).build(model)


def backward(model: torch.nn.Module, scale: float = 1.0) -> None:
    (model(torch.ones(2, 3)).pow(2).mean() * scale).backward()


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(("on_skip", "lr_after"), [("advance", 0.1 * 0.95), ("hold", 0.1 * 0.96)])
def test_a_norm_spike_skips_the_optimizer_step(on_skip, lr_after):
    model, b = built(f'on_skip = "{on_skip}"\n')
    assert b.on_skip == on_skip
    for _ in range(4):
        backward(model)
        b.step()
    before = weights(model)
    adam_steps = b.optimizer.state[model.weight]["step"].item()
    backward(model, scale=1e4)
    b.step()
    assert b.last_clip.skipped
    assert b.last_clip.spike
    assert b.skipped_steps == 1
    assert all(torch.equal(x, y) for x, y in zip(before, weights(model), strict=True))
    assert b.optimizer.state[model.weight]["step"].item() == adam_steps
    assert model.weight.grad is None
    # advance: the lr counts the skipped step (5 steps of 100); hold: it does not (4)
    assert b.optimizer.param_groups[0]["lr"] == pytest.approx(lr_after, rel=1e-12)
    backward(model)
    b.step()
    assert not b.last_clip.skipped
    assert not all(torch.equal(x, y) for x, y in zip(before, weights(model), strict=True))


def test_a_loss_spike_skips_the_step_before_anything_is_clipped():
    model, b = built()
    for loss in (2.0, 2.1, 1.9, 2.0):
        backward(model)
        b.step(loss=loss)
    before = weights(model)
    norm_count = b.clipper.state["count"]
    backward(model)
    b.step(loss=torch.tensor(50.0))
    assert (b.last_clip.skipped, b.last_clip.spike, b.last_clip.total_norm) == (True, True, None)
    assert b.skipped_steps == 1
    assert b.clipper.state["count"] == norm_count  # the norm was not judged
    assert all(torch.equal(x, y) for x, y in zip(before, weights(model), strict=True))
    assert model.weight.grad is None


def test_a_loss_without_a_judge_is_refused_and_changes_nothing():
    text = SETUP.replace('type = "zclip"', 'type = "norm"\nmax_norm = 1.0').split("warmup_steps")[0]
    model, b = built(text=text)
    backward(model)
    before = weights(model)
    with pytest.raises(SpecError) as e:
        b.step(loss=1.0)
    assert e.value.path == "loss"
    assert "judges a loss" in str(e.value)
    assert all(torch.equal(x, y) for x, y in zip(before, weights(model), strict=True))
    assert b.schedulers["lr"].last_epoch == 0


@pytest.mark.parametrize("bad", ["high", torch.ones(2), True, pytest.param(10**400, id="10**400")])
def test_a_bad_loss_changes_nothing(bad):
    model, b = built()
    backward(model)
    with pytest.raises(SpecError) as e:
        b.step(loss=bad)
    assert e.value.path == "loss"
    assert b.clipper.state == b.clipper.initial_state()
    assert b.schedulers["lr"].last_epoch == 0


def test_a_non_finite_norm_skip_is_counted_and_not_stepped():
    text = SETUP.split("[clip]")[0] + '[clip]\ntype = "norm"\nmax_norm = 1.0\nnonfinite = "skip"\n'
    model, b = built('on_skip = "hold"\n', text=text)
    before = weights(model)
    backward(model, scale=math.inf)
    b.step()
    assert b.last_clip.skipped
    assert b.skipped_steps == 1
    assert b.schedulers["lr"].last_epoch == 0
    assert all(torch.equal(x, y) for x, y in zip(before, weights(model), strict=True))
    assert b.optimizer.state == {}


def test_skipped_steps_are_saved_and_restored():
    model, b = built()
    for scale in (1, 1, 1, 1, 1e4, 1, 1e5):
        backward(model, scale)
        b.step()
    assert b.skipped_steps == 2
    state = b.state_dict()
    assert state["skipped_steps"] == 2
    _, again = built()
    again.load_state_dict(state)
    assert again.skipped_steps == 2
    assert again.clipper.state == b.clipper.state
    old = {k: v for k, v in state.items() if k != "skipped_steps"}  # saved before counting
    again.load_state_dict(old)
    assert again.skipped_steps == 0
    bad = {**state, "skipped_steps": -1}
    again.skipped_steps = 5
    with pytest.raises(StateError) as e:
        again.load_state_dict(bad)
    assert e.value.path == "skipped_steps"
    assert again.skipped_steps == 5


def test_on_skip_in_the_setup_file():
    setup = schedkit.loads_setup(SETUP + 'on_skip = "hold"\n')
    assert setup.clip["on_skip"] == "hold"
    again = schedkit.loads_setup(setup.to_toml())
    assert again == setup
    _, b = built()
    assert b.on_skip == "advance"  # the default
    with pytest.raises(schedkit.SetupError) as e:
        schedkit.loads_setup(SETUP + 'on_skip = "pause"\n')
    assert "clip.on_skip" in str(e.value)
    assert "'advance', 'hold'" in str(e.value)


@pytest.mark.parametrize("split", [2, 5, 8])
@pytest.mark.parametrize("on_skip", ["advance", "hold"])
def test_a_resumed_setup_skips_and_steps_exactly_as_an_uninterrupted_one(split, on_skip):
    scales = [1, 1, 1, 1, 1e4, 1, 1, 1e5, 1, 1, 1]
    losses = [2.0, 2.1, 1.9, 2.0, 2.0, 30.0, 2.0, 2.0, 2.1, 1.9, 2.0]

    def run(b: schedkit.Built, model: torch.nn.Module, steps: range) -> list:
        out = []
        for i in steps:
            backward(model, scales[i])
            b.step(loss=losses[i])
            out.append((b.last_clip.skipped, b.optimizer.param_groups[0]["lr"]))
        return out

    model, whole = built(f'on_skip = "{on_skip}"\n')
    expected = run(whole, model, range(len(scales)))
    assert [s for s, _ in expected].count(True) == 3
    model_a, first = built(f'on_skip = "{on_skip}"\n')
    got = run(first, model_a, range(split))
    model_b, resumed = built(f'on_skip = "{on_skip}"\n')
    model_b.load_state_dict(model_a.state_dict())
    resumed.load_state_dict(first.state_dict())
    got += run(resumed, model_b, range(split, len(scales)))
    assert got == expected
    assert resumed.skipped_steps == whole.skipped_steps == 3
    assert all(torch.equal(x, y) for x, y in zip(weights(model), weights(model_b), strict=True))
