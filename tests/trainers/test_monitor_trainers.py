"""Named groups, the monitor and the lr finder inside real trainers: Lightning, the
transformers Trainer, Accelerate; the monitor written to TensorBoard's SummaryWriter."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

import schedkit

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning"
)

SETUP = """
[optimizer]
type = "SGD"
lr = 0.1
weight_decay = 1e-4

[[rules]]
type = "overrides"
keys = {"head.*" = {lr_mult = 10.0, tags = ["head"]}}

[[rules]]
type = "no_weight_decay"

[schedules.lr]
type = "cosine"
warmup = 4
total = 20
"""

NAMES = ["decay", "no_decay", "head/decay", "head/no_decay"]
BASES = [0.1, 0.1, 1.0, 1.0]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)))


def data(n: int = 64) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))


def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def used(prefix: str, update: int) -> dict[str, float]:
    """The lr of every group at update ``update`` (1-based): step ``update - 1``."""
    s = schedkit.get_schedule("cosine", warmup=4, total=20)
    return {f"{prefix}/{n}": b * s(update - 1) for n, b in zip(NAMES, BASES, strict=True)}


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


def find_and_check(built: schedkit.Built, model: nn.Module, loader, loss=loss_fn) -> None:
    """The lr finder on the trainer's model and built setup leaves both exactly as found."""
    before = snapshot(model)
    lrs = [g["lr"] for g in built.optimizer.param_groups]
    result = schedkit.find_lr(built, model, loss, loader, num_training=20, max_lr=10.0)
    assert len(result.lrs) > 0
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot(model), strict=True))
    assert [g["lr"] for g in built.optimizer.param_groups] == lrs
    assert [g["name"] for g in built.optimizer.param_groups] == NAMES
    assert built.optimizer.state == {} or all(not s for s in built.optimizer.state.values())


# -- Lightning ----------------------------------------------------------------------------


def test_lightning_logs_the_monitor_under_the_keys_of_its_lr_monitor(tmp_path):
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = Net()
            self.built = schedkit.loads_setup(SETUP).build(self.net)

        def training_step(self, batch, batch_idx):
            return loss_fn(self.net, batch)

        def configure_optimizers(self):
            sched = self.built.schedulers["lr"]
            return {
                "optimizer": self.built.optimizer,
                "lr_scheduler": {"scheduler": sched, "interval": "step"},
            }

        def train_dataloader(self):
            return torch.utils.data.DataLoader(data(), batch_size=4)

    module = Module()
    find_and_check(module.built, module.net, module.train_dataloader())
    monitor = schedkit.Monitor(module.built, every=2)
    lightning_lr = LearningRateMonitor(logging_interval="step")
    L.Trainer(
        max_steps=8,
        logger=CSVLogger(tmp_path, name="run", version=0),
        log_every_n_steps=1,
        callbacks=[monitor.lightning(), lightning_lr],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
    ).fit(module)
    rows = list(csv.DictReader((tmp_path / "run" / "version_0" / "metrics.csv").open()))
    ours = [f"lr-SGD/{n}" for n in NAMES]
    # Lightning's own monitor names the groups with the same keys
    assert sorted(lightning_lr.lrs) == sorted(ours)
    # both log the lr each update used at Lightning's step (update k at step k - 1): the
    # CSV holds a row per call, Lightning's monitor's for every update, ours every 2nd
    logged = [(int(r["step"]), {k: float(r[k]) for k in ours}) for r in rows if r[ours[0]]]
    steps = [s for s, _ in logged]
    assert steps == sorted([*range(8), 1, 3, 5, 7])
    for step, values in logged:
        assert values == pytest.approx(used("lr-SGD", step + 1), rel=1e-15)


# -- transformers Trainer -----------------------------------------------------------------


class Regressor(Net):
    def forward(self, x, labels=None):  # type: ignore[override]
        out = super().forward(x)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


class Pairs(torch.utils.data.Dataset):
    def __init__(self) -> None:
        self.d = data()

    def __len__(self) -> int:
        return len(self.d)

    def __getitem__(self, i):
        x, y = self.d[i]
        return {"x": x, "labels": y}


def test_transformers_trainer_logs_the_monitor_on_its_logging_steps(tmp_path):
    from transformers import Trainer, TrainingArguments

    model = Regressor()
    built = schedkit.loads_setup(SETUP).build(model)
    loader = torch.utils.data.DataLoader(Pairs(), batch_size=4)
    find_and_check(built, model, loader, lambda m, b: m(b["x"], b["labels"])["loss"])
    monitor = schedkit.Monitor(built)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=8,
        per_device_train_batch_size=4,
        report_to=[],
        use_cpu=True,
        logging_strategy="steps",
        logging_steps=3,
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
    )
    callback = monitor.transformers()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Pairs(),
        optimizers=(built.optimizer, built.schedulers["lr"]),
        callbacks=[callback],
    )
    trainer.train()
    assert monitor.every == 3  # the Trainer's logging steps
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert [h["step"] for h in logs] == [3, 6]
    for h in logs:
        got = {k: v for k, v in h.items() if k.startswith("lr-")}
        assert got == used("lr-SGD", h["step"])
        # the Trainer's learning_rate: the first group's
        assert h["learning_rate"] == got["lr-SGD/decay"]


# -- Accelerate ---------------------------------------------------------------------------


def test_accelerate_loop_with_built_step_and_the_monitor(tmp_path):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = Net()
    built = schedkit.loads_setup(SETUP).build(model)
    loader = torch.utils.data.DataLoader(data(), batch_size=4)
    find_and_check(built, model, loader)
    model, _, loader = accelerator.prepare(model, built.optimizer, loader)
    monitor = schedkit.Monitor(built, every=4)
    seen = []
    for k, batch in enumerate(loader, start=1):
        accelerator.backward(loss_fn(model, batch))
        built.step()
        if monitor.due():
            seen.append((monitor.step, monitor.values()))
        if k == 12:
            break
    assert [(s, v) for s, v in seen] == [(s, used("lr-SGD", s)) for s in (4, 8, 12)]


# -- TensorBoard --------------------------------------------------------------------------


def test_summary_writer_gets_every_value_at_its_step(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    model = Net()
    built = schedkit.loads_setup(SETUP + '\n[clip]\ntype = "norm"\nmax_norm = 1.0\n').build(model)
    monitor = schedkit.Monitor(built, every=5, grad_norms=True)
    writer = SummaryWriter(str(tmp_path))
    loader = torch.utils.data.DataLoader(data(), batch_size=4)
    written = {}
    for batch in loader:
        loss_fn(model, batch).backward()
        built.step()
        if monitor.write(writer):
            written[monitor.step] = monitor.values()
    writer.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert sorted(tags) == sorted(written[5])
    assert {"grad_2.0_norm_total", "clip/clipped", "grad_2.0_norm/head.weight"} <= set(tags)
    assert "lr-SGD/head/no_decay" in tags
    for tag in tags:
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [5, 10, 15]
        # stored as float32
        assert [e.value for e in events] == [
            pytest.approx(written[s][tag], rel=1e-6) for s in (5, 10, 15)
        ]


def test_transformers_report_to_tensorboard_logs_the_monitor_when_it_goes_first(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from transformers import Trainer, TrainingArguments

    model = Regressor()
    built = schedkit.loads_setup(SETUP).build(model)
    monitor = schedkit.Monitor(built)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=4,
        report_to=["tensorboard"],
        use_cpu=True,
        logging_strategy="steps",
        logging_steps=2,
        save_strategy="no",
        seed=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Pairs(),
        optimizers=(built.optimizer, built.schedulers["lr"]),
    )
    trainer.callback_handler.callbacks.insert(0, monitor.transformers())
    trainer.train()
    runs = [p.parent for p in tmp_path.rglob("events.out.tfevents.*")]
    acc = EventAccumulator(str(runs[0]))
    acc.Reload()
    for name in NAMES:
        events = acc.Scalars(f"train/lr-SGD/{name}")
        assert [e.step for e in events] == [2, 4]
        expected = [used("lr-SGD", s)[f"lr-SGD/{name}"] for s in (2, 4)]
        assert [e.value for e in events] == [pytest.approx(v, rel=1e-6) for v in expected]
