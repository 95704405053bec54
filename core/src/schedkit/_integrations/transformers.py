"""The monitor as a transformers ``TrainerCallback`` (imports ``transformers``)."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


class MonitorCallback(TrainerCallback):
    """Adds the monitor's values to the logs of every ``on_log`` of the Trainer, and to the
    entry ``trainer.state.log_history`` got for them.

    It records on the Trainer's logging steps (``every`` becomes ``args.logging_steps``
    when the Trainer logs by steps), and counts from the Trainer's ``global_step`` (a
    resume). The Trainer's own ``report_to`` loggers run before callbacks given to it;
    to have them log these values too, put this callback first:
    ``trainer.callback_handler.callbacks.insert(0, callback)``.
    """

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if args.logging_strategy == "steps":  # a str enum
            steps = args.logging_steps
            if isinstance(steps, int) and steps >= 1:
                self.monitor.every = steps
        self.monitor.step = state.global_step

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs is None or ("loss" not in logs and "learning_rate" not in logs):
            return  # an evaluation's or the final summary's logs
        if not self.monitor.due():
            return
        values = self.monitor.values()
        logs.update(values)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(values)


def callback(monitor: Any) -> MonitorCallback:
    return MonitorCallback(monitor)
