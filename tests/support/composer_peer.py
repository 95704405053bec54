"""Composer as its users import it, beside this torch (``tox -e pretraining``).

Composer is installed without its dependencies: it imports torchvision (never installed
here: it breaks beside the pinned CPU torch) and ``mcli``, the MosaicML platform's client,
at the top of its package; neither is used by its schedulers, its ``State`` or its
``Timestamp``, so both are stand-ins (:mod:`tests.support.torchvision_stub`).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import torch

from tests.support import torchvision_stub


def install() -> None:
    """Put the stand-ins for torchvision and ``mcli`` on the import path (once)."""
    torchvision_stub.install()
    torchvision_stub.install("mcli")


def composer() -> ModuleType:
    """``composer.optim.scheduler``, imported once the stand-ins are in place."""
    install()
    return importlib.import_module("composer.optim.scheduler")


def state(
    optimizer: torch.optim.Optimizer,
    max_duration: str | int,
    dataloader_len: int = 10,
    samples_per_batch: int = 1,
) -> Any:
    """A Composer ``State`` as its Trainer makes one: the model, the optimizer, the
    training dataloader (``dataloader_len`` batches of ``samples_per_batch``), the run's
    ``max_duration``."""
    composer()
    from composer.core import State
    from composer.devices import DeviceCPU

    data = torch.utils.data.TensorDataset(torch.zeros(dataloader_len * samples_per_batch, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=samples_per_batch)
    return State(
        model=torch.nn.Linear(1, 1),
        rank_zero_seed=0,
        run_name="schedkit",
        device=DeviceCPU(),
        optimizers=optimizer,
        max_duration=max_duration,
        dataloader=loader,
        dataloader_label="train",
    )


def next_batch(state: Any, samples: int, tokens: int) -> None:
    """Advance the State's timestamp by one batch, as Composer's Trainer does after it."""
    state.timestamp = state.timestamp.to_next_batch(samples=samples, tokens=tokens)
