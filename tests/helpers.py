"""Small helpers shared by the tests."""

from __future__ import annotations

import torch


def sgd(n_groups: int = 1, lr: float = 0.1, **kw: object) -> torch.optim.SGD:
    """An SGD optimizer over ``n_groups`` one-element groups with lrs lr, 2*lr, ..."""
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr * (i + 1)}
        for i in range(n_groups)
    ]
    return torch.optim.SGD(groups, lr=lr, **kw)  # type: ignore[arg-type]
