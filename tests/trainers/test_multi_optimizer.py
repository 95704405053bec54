"""A setup with two optimizers (Muon beside AdamW) inside real trainers: Lightning and the
transformers Trainer through ``Built.combined()``, against the plain loop's floats."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

import schedkit

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning"
)

SETUP = """
[run]
total = 20

[optimizers.muon]
type = "Muon"
lr = 0.02
params = {ndim = 2, name = "*blocks.*"}

[optimizers.adamw]
type = "AdamW"
lr = 0.01
betas = [0.9, 0.95]

[schedules.lr]
type = "cosine"
warmup = 4

[schedules.momentum]
optimizers = ["muon"]
type = "constant"
warmup = 5
warmup_start = 0.9

[clip]
type = "norm"
max_norm = 0.5
"""


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 4))
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))


def data(n: int = 40) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))


def lrs_of(built: schedkit.Built) -> tuple[float, float, float]:
    muon, adamw = built.optimizers["muon"], built.optimizers["adamw"]
    g = muon.param_groups[0]
    return (g["lr"], g["momentum"], adamw.param_groups[0]["lr"])


def plain_loop(
    steps: int, then: list | None = None
) -> tuple[Net, list[tuple[float, float, float]]]:
    """The reference: ``Built.step()`` after each backward, batches in order (then the
    batches ``then``, if given)."""
    model = Net()
    built = schedkit.loads_setup(SETUP).build(model)
    seen = []
    loader = list(torch.utils.data.DataLoader(data(), batch_size=4))
    batches = itertools.chain(itertools.islice(itertools.cycle(loader), steps), then or [])
    for x, y in batches:
        nn.functional.mse_loss(model(x), y).backward()
        built.step()
        seen.append(lrs_of(built))
    return model, seen


def test_the_combined_pair_in_a_plain_loop_equals_built_step():
    reference, seen = plain_loop(8)
    model = Net()
    built = schedkit.loads_setup(SETUP).build(model)
    opt, sched = built.combined()
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert sched.optimizer is opt
    assert len(opt.param_groups) == 2
    got = []
    for x, y in list(torch.utils.data.DataLoader(data(), batch_size=4))[:8]:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        sched.step()
        got.append(lrs_of(built))
    assert got == seen
    assert sched.get_last_lr() == [seen[-1][0], seen[-1][2]]
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)


# -- Lightning ----------------------------------------------------------------------------


def _lightning(tmp_path: Path, max_steps: int, ckpt: str | None = None) -> tuple[nn.Module, list]:
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = Net()
            self.seen: list[tuple[float, float, float]] = []
            self.batches: list = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            self.batches.append((x.clone(), y.clone()))
            return nn.functional.mse_loss(self.net(x), y)

        def on_train_batch_end(self, outputs, batch, batch_idx):
            self.seen.append(lrs_of(self.built))

        def configure_optimizers(self):
            self.built = schedkit.loads_setup(SETUP).build(self.net)
            opt, sched = self.built.combined()
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

        def train_dataloader(self):
            return torch.utils.data.DataLoader(data(), batch_size=4)

    module = Module()
    trainer = L.Trainer(
        max_steps=max_steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(module, ckpt_path=ckpt)
    assert trainer.global_step == max_steps
    if ckpt is None:
        trainer.save_checkpoint(tmp_path / f"at{max_steps}.ckpt")
    return module.net, module.seen, module.batches


def test_lightning_steps_both_optimizers_as_the_plain_loop_and_resumes(tmp_path):
    at10, seen = plain_loop(10)
    net, got, _ = _lightning(tmp_path, max_steps=10)
    assert got == seen
    for p, q in zip(net.parameters(), at10.parameters(), strict=True):
        assert torch.equal(p, q)
    resumed, after, fed = _lightning(tmp_path, max_steps=12, ckpt=str(tmp_path / "at10.ckpt"))
    assert len(fed) == 2
    # the same two steps after the plain loop's ten, on the batches Lightning fed: the
    # schedulers' steps and each optimizer's state came back from the checkpoint
    straight, seen = plain_loop(10, then=fed)
    assert after == seen[10:12]
    for p, q in zip(resumed.parameters(), straight.parameters(), strict=True):
        assert torch.equal(p, q)


# -- transformers Trainer -----------------------------------------------------------------


class Regressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = Net()

    def forward(self, x, labels=None):
        out = self.net(x)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


class Pairs(torch.utils.data.Dataset):
    def __init__(self) -> None:
        self.d = data()

    def __len__(self) -> int:
        return len(self.d)

    def __getitem__(self, i):
        x, y = self.d[i]
        return {"x": x, "labels": y}


def _hf(tmp_path: Path, max_steps: int, resume: str | None = None) -> tuple[nn.Module, list]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model = Regressor()
    built = schedkit.loads_setup(SETUP).build(model)
    seen: list[tuple[float, float, float]] = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            seen.append(lrs_of(built))

    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=max_steps,
        per_device_train_batch_size=4,
        save_steps=10,
        save_strategy="steps",
        report_to=[],
        use_cpu=True,
        logging_strategy="no",
        seed=0,
        dataloader_num_workers=0,
        max_grad_norm=0.0,  # the setup's [clip] clips, once, over every parameter
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Pairs(),
        optimizers=built.combined(),
        callbacks=[Record()],
    )
    trainer.train(resume_from_checkpoint=resume)
    return model, seen


def test_transformers_trainer_steps_both_optimizers_and_resumes(tmp_path):
    _, seen = plain_loop(12)
    straight, got = _hf(tmp_path / "straight", max_steps=12)
    assert got == seen
    _hf(tmp_path, max_steps=12)
    resumed, after = _hf(tmp_path / "again", max_steps=12, resume=str(tmp_path / "checkpoint-10"))
    assert after == seen[10:12]
    for p, q in zip(resumed.parameters(), straight.parameters(), strict=True):
        assert torch.equal(p, q)
