"""The scheduler inside real trainers: Lightning, the transformers Trainer, Accelerate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

import schedkit
from tests.support.dist import run

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning"
)


def data(n: int = 64) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))


# -- Lightning ----------------------------------------------------------------------------


def _lightning(
    tmp_path: Path, max_steps: int, ckpt: str | None = None, accumulate: int = 1
) -> list[float]:
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Linear(4, 1)
            self.lrs: list[float] = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def on_train_batch_end(self, outputs, batch, batch_idx):
            self.lrs.append(self.trainer.optimizers[0].param_groups[0]["lr"])

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            sched = schedkit.get_scheduler("cosine", opt, total=20, warmup=4)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

        def train_dataloader(self):
            return torch.utils.data.DataLoader(data(), batch_size=4)

    module = Module()
    trainer = L.Trainer(
        max_steps=max_steps,
        accumulate_grad_batches=accumulate,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(module, ckpt_path=ckpt)
    if ckpt is None:
        trainer.save_checkpoint(tmp_path / f"at{max_steps}.ckpt")
    return module.lrs


def expected(steps: range) -> list[float]:
    s = schedkit.get_schedule("cosine", total=20, warmup=4)
    return [0.1 * s(k) for k in steps]


def test_lightning_steps_once_per_update_and_resumes(tmp_path):
    lrs = _lightning(tmp_path, max_steps=10)
    assert lrs == pytest.approx(expected(range(1, 11)))  # the lr after each optimizer step
    resumed = _lightning(tmp_path, max_steps=16, ckpt=str(tmp_path / "at10.ckpt"))
    straight = _lightning(tmp_path / "straight", max_steps=16)
    assert resumed == straight[10:]


def test_lightning_under_gradient_accumulation(tmp_path):
    lrs = _lightning(tmp_path, max_steps=5, accumulate=2)
    # one value per batch; the schedule moves once per optimizer update (every 2 batches)
    assert lrs[1::2] == pytest.approx(expected(range(1, 6)))
    assert lrs[0::2] == pytest.approx(expected(range(0, 5)))


# -- transformers Trainer -----------------------------------------------------------------


class Regressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(4, 1)

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


def _hf(tmp_path: Path, max_steps: int, resume: str | None = None) -> list[float]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model = Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = schedkit.get_scheduler("cosine", opt, total=20, warmup=4)
    lrs: list[float] = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            lrs.append(opt.param_groups[0]["lr"])

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
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=Pairs(), optimizers=(opt, sched), callbacks=[Record()]
    )
    trainer.train(resume_from_checkpoint=resume)
    return lrs


def test_transformers_trainer_trains_and_resumes(tmp_path):
    lrs = _hf(tmp_path, max_steps=12)
    assert lrs == pytest.approx(expected(range(1, 13)))
    resumed = _hf(tmp_path, max_steps=16, resume=str(tmp_path / "checkpoint-10"))
    assert resumed == pytest.approx(expected(range(11, 17)))


# -- Accelerate ---------------------------------------------------------------------------


def _accelerate(rank: int, world: int, out: Path) -> None:
    from accelerate import Accelerator

    os.environ.setdefault("LOCAL_RANK", str(rank))
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # follow_optimizer: the schedule advances once per real optimizer step, however many
    # times AcceleratedScheduler calls step() (once per process unless told otherwise)
    sched = schedkit.get_scheduler("cosine", opt, total=20, warmup=4, follow_optimizer=True)
    loader = torch.utils.data.DataLoader(data(), batch_size=4)
    model, opt, loader, sched = accelerator.prepare(model, opt, loader, sched)
    lrs = []
    for x, y in loader:
        loss = nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        opt.step()
        sched.step()
        opt.zero_grad()
        lrs.append(opt.param_groups[0]["lr"])
    (out / f"acc{world}_{rank}.json").write_text(
        json.dumps({"lrs": lrs, "processes": accelerator.num_processes})
    )


def _accelerate_single(out: Path) -> list[float]:
    os.environ.pop("LOCAL_RANK", None)
    _accelerate(0, 1, out)
    return json.loads((out / "acc1_0.json").read_text())["lrs"]


def test_accelerate_same_lr_sequence_with_one_and_two_processes(tmp_path):
    one = _accelerate_single(tmp_path)
    assert one == pytest.approx(expected(range(1, len(one) + 1)))
    run(_accelerate, tmp_path)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"acc2_{rank}.json").read_text())
        assert got["processes"] == 2
        assert got["lrs"] == pytest.approx(one[: len(got["lrs"])])
