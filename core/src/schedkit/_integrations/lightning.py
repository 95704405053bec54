"""The monitor as a Lightning callback (imports ``lightning``)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl


class MonitorCallback(pl.Callback):
    """Gives ``monitor.values()`` to every logger of the Trainer after each update the
    monitor recorded, once per update (also under gradient accumulation).

    Through the loggers' ``log_metrics``, as Lightning's own ``LearningRateMonitor`` does,
    not ``log_dict``: a value logged with ``log_dict`` on some steps is logged again, stale,
    on every step after, and as float32. On Lightning's step axis: the ``k``-th update's
    values at step ``k - 1``, where that update's loss and ``LearningRateMonitor``'s lr are.
    """

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
            values = self.monitor.values()
            for logger in trainer.loggers:
                logger.log_metrics(values, step=self.monitor.step - 1)


def callback(monitor: Any) -> MonitorCallback:
    return MonitorCallback(monitor)
