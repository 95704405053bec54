"""The monitor as a Lightning callback (imports ``lightning``)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl


class MonitorCallback(pl.Callback):
    """Calls ``pl_module.log_dict(monitor.values())`` after every update the monitor
    recorded, once per update (also under gradient accumulation), logged at that step."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor
        self._logged = -1

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # a resumed fit has loaded its optimizer and schedulers by now
        self.monitor.step = trainer.global_step

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.monitor.due() and self._logged != self.monitor.step:
            self._logged = self.monitor.step
            pl_module.log_dict(self.monitor.values(), on_step=True, on_epoch=False)


def callback(monitor: Any) -> MonitorCallback:
    return MonitorCallback(monitor)
