"""The horizon of a [run] table against the transformers Trainer's own computation
(``Trainer.set_initial_training_values`` over the dataloader Accelerate shards for each
process), for data set sizes, per-device batches, world sizes, gradient accumulation,
epochs or max_steps, and drop_last."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import schedkit

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning"
)


def _trainer_horizon(tmp, size, batch, world, accumulation, epochs, max_steps, drop):
    """(updates per epoch, max_steps) as the Trainer computes them on process 0 of
    ``world``: its dataloader is Accelerate's shard of the per-device batches (one process:
    the batches themselves, as Accelerate's ``prepare`` leaves them)."""
    from accelerate.data_loader import BatchSamplerShard
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp),
        report_to=[],
        use_cpu=True,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        num_train_epochs=epochs if epochs is not None else 3.0,
        max_steps=max_steps if max_steps is not None else -1,
        dataloader_drop_last=drop,
    )
    data = torch.utils.data.TensorDataset(torch.zeros(size, 1))
    batches = torch.utils.data.BatchSampler(
        torch.utils.data.SequentialSampler(data), batch, drop_last=drop
    )
    if world > 1:
        batches = BatchSamplerShard(batches, num_processes=world, process_index=0)
    loader = torch.utils.data.DataLoader(data, batch_sampler=batches)
    trainer = Trainer(model=torch.nn.Linear(1, 1), args=args)
    values = trainer.set_initial_training_values(args, loader)
    return values[1], values[-1]


def _ours(size, batch, world, accumulation, epochs, max_steps, drop):
    lines = [f"dataset_size = {size}", f"batch_size = {batch}", f"world_size = {world}"]
    lines += [f"grad_accumulation = {accumulation}", f"drop_last = {str(drop).lower()}"]
    lines.append(f"max_steps = {max_steps}" if max_steps is not None else f"epochs = {epochs}")
    setup = schedkit.loads_setup(
        "[run]\n" + "\n".join(lines) + '\n[optimizer]\ntype = "SGD"\nlr = 0.1\n'
        '[schedules.lr]\ntype = "cosine"\n'
    )
    return setup.steps_per_epoch, setup.total


@pytest.mark.parametrize(
    ("size", "batch", "world", "accumulation", "epochs", "max_steps", "drop"),
    [
        (10_000, 8, 1, 1, 3, None, False),
        (10_001, 8, 1, 4, 3, None, False),
        (10_001, 8, 1, 4, 3, None, True),
        (10_000, 8, 4, 4, 3, None, False),
        (10_000, 8, 4, 4, 3, None, True),
        (10_000, 7, 3, 5, 2.5, None, False),
        (100, 8, 1, 64, 2, None, False),  # fewer batches than one accumulation
        (999, 10, 8, 3, 0.3, None, True),
        (999, 10, 8, 3, None, 17, True),
        (50, 8, 2, 1, 1, None, False),
    ],
)
def test_the_horizon_is_the_trainers(tmp_path, size, batch, world, accumulation, epochs, max_steps, drop):  # fmt: skip
    theirs = _trainer_horizon(tmp_path, size, batch, world, accumulation, epochs, max_steps, drop)
    assert _ours(size, batch, world, accumulation, epochs, max_steps, drop) == theirs


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 5000),
    st.integers(1, 64),
    st.integers(1, 8),
    st.integers(1, 16),
    st.sampled_from([0.5, 1, 2, 3, 7.25]),
    st.booleans(),
)
def test_the_horizon_is_the_trainers_for_any_run(
    tmp_path_factory, size, batch, world, accumulation, epochs, drop
):
    if drop and size < batch * world:
        return  # no batch at all: the Trainer has no length to count
    theirs = _trainer_horizon(
        tmp_path_factory.mktemp("h"), size, batch, world, accumulation, epochs, None, drop
    )
    assert _ours(size, batch, world, accumulation, epochs, None, drop) == theirs


@pytest.mark.parametrize("drop", [False, True])
def test_one_process_counts_the_trainers_own_dataloader(tmp_path, drop):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path),
        report_to=[],
        use_cpu=True,
        per_device_train_batch_size=8,
        gradient_accumulation_steps=3,
        num_train_epochs=2,
        dataloader_drop_last=drop,
    )
    data = torch.utils.data.TensorDataset(torch.zeros(10_001, 1))
    trainer = Trainer(model=torch.nn.Linear(1, 1), args=args, train_dataset=data)
    values = trainer.set_initial_training_values(args, trainer.get_train_dataloader())
    assert _ours(10_001, 8, 1, 3, 2, None, drop) == (values[1], values[-1])
