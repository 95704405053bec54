"""Optimizers with three param groups (each its own lr and momentum), for the mmengine
alias tests: the same groups on both sides of every comparison."""

from __future__ import annotations

import torch

LRS = (0.1, 0.05, 0.01)
MOMENTA = (0.9, 0.8, 0.95)


def sgd() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in LRS]
    return torch.optim.SGD(
        [
            {"params": [p], "lr": lr, "momentum": m}
            for p, lr, m in zip(params, LRS, MOMENTA, strict=True)
        ],
        lr=0.1,
        momentum=0.9,
    )


def adamw() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in LRS]
    return torch.optim.AdamW(
        [
            {"params": [p], "lr": lr, "betas": (m, 0.999)}
            for p, lr, m in zip(params, LRS, MOMENTA, strict=True)
        ]
    )


def lrs(opt: torch.optim.Optimizer) -> list[float]:
    return [g["lr"] for g in opt.param_groups]
