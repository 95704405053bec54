"""``Built.step()`` clips in the model's parameter order, so its total norm is torch's
``clip_grad_norm_(model.parameters())`` to the last bit, whatever order the groups have."""

from __future__ import annotations

import torch

import schedkit

SETUP = """
[optimizer]
type = "SGD"
lr = 0.1
weight_decay = 0.01

[[rules]]
type = "no_weight_decay"

[clip]
type = "norm"
max_norm = 0.5
"""


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(*[torch.nn.Linear(7, 7) for _ in range(6)])


def _grads(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for i, p in enumerate(model.parameters()):
        # magnitudes far apart: the sum of squares depends on its order in the last bits
        p.grad = torch.randn(p.shape, generator=g) * 10.0 ** ((i * 7) % 9 - 4)


def test_total_norm_and_clipped_grads_equal_torchs_bit_for_bit():
    built_model, torch_model = _model(), _model()
    built = schedkit.loads_setup(SETUP).build(built_model)
    order = [p for g in built.optimizer.param_groups for p in g["params"]]
    assert [id(p) for p in order] != [id(p) for p in built_model.parameters()]
    differs = False
    for seed in range(30):
        _grads(built_model, seed)
        _grads(torch_model, seed)
        grouped = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad) for p in order])
        )
        want = torch.nn.utils.clip_grad_norm_(torch_model.parameters(), 0.5)
        differs = differs or bool(grouped != want)
        built.step(zero_grad=False)
        assert built.last_clip is not None
        assert built.last_clip.total_norm == want, seed
        for a, b in zip(built_model.parameters(), torch_model.parameters(), strict=True):
            assert torch.equal(a.grad, b.grad)
        with torch.no_grad():
            for a, b in zip(built_model.parameters(), torch_model.parameters(), strict=True):
                b.copy_(a)
    assert differs  # the group order really sums differently for some of these gradients
