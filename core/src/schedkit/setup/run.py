"""The ``[run]`` table: the run's length (its horizon) and what one step consumes, each key
checked with its key path, and how the horizon was derived (``schedkit check`` and
``preview`` print it).

The horizon from a data set is computed as the transformers Trainer computes it: the
per-device dataloader has ``ceil(dataset_size / batch_size)`` batches (``floor`` with
``drop_last``), shared among ``world_size`` processes (``ceil``, or ``floor`` with
``drop_last``, as Accelerate's sharded sampler), one optimizer update every
``grad_accumulation`` batches (the last, shorter accumulation of an epoch is an update
too), so ``max_steps = ceil(epochs * updates_per_epoch)`` unless ``max_steps`` is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from schedkit._numbers import MAX_STEPS, show
from schedkit.clock import CLOCKS, BatchRamp
from schedkit.durations import AMOUNT_UNITS, amount, check_duration, is_amount, to_steps
from schedkit.errors import SpecError
from schedkit.setup.problems import positive_int, unknown_key

RAMP_KEYS = ("start", "increment", "ramp_samples", "follow_lr")


@attrs.frozen
class Run:
    """The ``[run]`` table read: the keys as given, and what a build uses.

    ``total`` and ``steps_per_epoch`` are in the clock's unit (steps; tokens or samples on
    a token or sample clock), ``batch_size`` is the global batch (``batch_size`` per
    device times ``world_size`` times ``grad_accumulation``).
    """

    #: the table as given (checked keys only)
    table: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    total: int | str | None = None
    steps_per_epoch: int | None = None
    batch_size: int | None = None
    clock: str = "steps"
    seq_len: int | None = None
    tokens_per_step: float | None = None
    samples_per_step: float | None = None
    ramp: BatchRamp | None = None
    follow_lr: bool = False
    #: how the horizon was derived, one line each
    how: tuple[str, ...] = ()

    def rates(self) -> tuple[float | None, float | None]:
        """(tokens, samples) per unit of the clock, for durations in tokens and samples."""
        if self.clock == "tokens":
            return 1, None if self.seq_len is None else 1 / self.seq_len
        if self.clock == "samples":
            return self.seq_len, 1
        return self.tokens_per_step, self.samples_per_step

    def per_step(self) -> int | None:
        """What one step consumes in the clock's unit, when the batch is constant."""
        per = {"tokens": self.tokens_per_step, "samples": self.samples_per_step}.get(self.clock)
        return None if per is None or self.ramp is not None else int(per)


def _flag(value: Any, path: str, problems: list[SpecError]) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.append(SpecError(f"expected true or false, got {show(value)}", path))
        return False
    return value


def _epochs(value: Any, problems: list[SpecError]) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
        or value > MAX_STEPS
    ):
        problems.append(SpecError(f"expected a positive number, got {show(value)}", "run.epochs"))
        return None
    return float(value)


def read_run(run: Mapping[str, Any], keys: tuple[str, ...], problems: list[SpecError]) -> Run:
    """The ``[run]`` table checked (every problem appended with its key path) and derived."""
    for k in run:
        if k not in keys:
            problems.append(unknown_key(k, keys, f"run.{k}"))
    n = len(problems)
    table = {k: v for k, v in run.items() if k in keys}
    total = run.get("total")
    if total is not None:
        try:
            total = check_duration(total)
        except SpecError as e:
            problems.append(e.at("run.total"))
            total = None
    ints = {
        k: positive_int(run.get(k), f"run.{k}", problems)
        for k in (
            "steps_per_epoch",
            "batch_size",
            "seq_len",
            "world_size",
            "grad_accumulation",
            "dataset_size",
            "max_steps",
        )
    }
    tps = run.get("tokens_per_step")
    if tps is not None:
        tps = positive_int(tps, "run.tokens_per_step", problems)
    epochs = _epochs(run.get("epochs"), problems)
    drop_last = _flag(run.get("drop_last"), "run.drop_last", problems)
    clock = run.get("clock", "steps")
    if clock not in ("steps", *CLOCKS):
        problems.append(
            SpecError(f"expected 'steps', 'tokens' or 'samples', got {show(clock)}", "run.clock")
        )
        clock = "steps"
    if len(problems) > n:
        return Run(table)
    per_device, world = ints["batch_size"], ints["world_size"] or 1
    accumulation, seq_len = ints["grad_accumulation"] or 1, ints["seq_len"]
    batch = None if per_device is None else per_device * world * accumulation
    how: list[str] = []
    if batch is not None and (world > 1 or accumulation > 1):
        how.append(
            f"global batch {batch} = batch_size {per_device} x world_size {world} x "
            f"grad_accumulation {accumulation}"
        )
    if tps is not None and seq_len is not None and batch is not None and tps != batch * seq_len:
        problems.append(
            SpecError(
                f"{tps} is not the global batch {batch} x seq_len {seq_len} = {batch * seq_len}; "
                "give one of them",
                "run.tokens_per_step",
            )
        )
    if tps is None and seq_len is not None and batch is not None:
        tps = batch * seq_len
    ramp, follow_lr = _ramp(run.get("batch_ramp"), batch, problems)
    if ramp is not None and "clock" not in run:
        clock = "samples"
    if ramp is not None and clock == "steps":
        problems.append(
            SpecError(
                "with a batch ramp steps and samples are not proportional: the clock counts "
                "'samples' or 'tokens'",
                "run.clock",
            )
        )
    if clock == "tokens" and seq_len is None and ramp is not None:
        problems.append(SpecError("a token clock needs seq_len (tokens per sample)", "run.seq_len"))
    if len(problems) > n:
        return Run(table)
    if ramp is not None:
        how.append(
            f"batch ramp {ramp.start} -> {ramp.batch_size} by {ramp.increment} over "
            f"{ramp.ramp_samples} samples, on a {clock} clock"
            + (" (the lr follows the batch)" if follow_lr else "")
        )
    spe = _steps_per_epoch(ints, per_device, world, accumulation, drop_last, how, problems)
    unit = {"steps": 1, "samples": 1, "tokens": seq_len or 1}[clock]
    if clock != "steps":
        spe = None if ints["dataset_size"] is None else ints["dataset_size"] * unit
        if ints["dataset_size"] is not None:
            how.append(f"an epoch is dataset_size {ints['dataset_size']} samples")
    out = Run(
        table,
        None,
        spe,
        batch,
        clock,
        seq_len,
        tps,
        batch,
        ramp,
        follow_lr,
    )
    given = [k for k in ("total", "epochs", "max_steps") if run.get(k) is not None]
    if len(given) > 1:
        problems.append(
            SpecError(f"give the run's length once: {' or '.join(given)}", f"run.{given[1]}")
        )
        return out
    horizon = _horizon(out, total, epochs, ints["max_steps"], how, problems)
    return attrs.evolve(out, total=horizon, how=tuple(how))


def _ramp(
    table: Any, batch: int | None, problems: list[SpecError]
) -> tuple[BatchRamp | None, bool]:
    if table is None:
        return None, False
    if not isinstance(table, Mapping):
        problems.append(SpecError(f"expected a table, got {show(table)}", "run.batch_ramp"))
        return None, False
    n = len(problems)
    for k in table:
        if k not in RAMP_KEYS:
            problems.append(unknown_key(k, RAMP_KEYS, f"run.batch_ramp.{k}"))
    for k in RAMP_KEYS[:3]:
        if k not in table:
            problems.append(SpecError("missing", f"run.batch_ramp.{k}"))
    follow = _flag(table.get("follow_lr"), "run.batch_ramp.follow_lr", problems)
    if batch is None:
        problems.append(
            SpecError("a batch ramp ramps up to the run's batch_size; give it", "run.batch_size")
        )
    if len(problems) > n:
        return None, False
    assert batch is not None
    try:
        return BatchRamp(
            start=table["start"],
            increment=table["increment"],
            ramp_samples=table["ramp_samples"],
            batch_size=batch,
        ), follow
    except SpecError as e:
        path = "run.batch_size" if e.path == "batch_size" else f"run.batch_ramp.{e.path}"
        problems.append(SpecError(e.message, path))
        return None, False


def _steps_per_epoch(
    ints: Mapping[str, int | None],
    per_device: int | None,
    world: int,
    accumulation: int,
    drop_last: bool,
    how: list[str],
    problems: list[SpecError],
) -> int | None:
    """Optimizer updates per epoch, as the transformers Trainer counts them."""
    size, spe = ints["dataset_size"], ints["steps_per_epoch"]
    if size is None:
        return spe
    if per_device is None:
        problems.append(
            SpecError("dataset_size counts batches of batch_size; give it", "run.batch_size")
        )
        return spe
    rounding = "floor" if drop_last else "ceil"
    batches = size // per_device if drop_last else -(-size // per_device)
    shard = batches // world if drop_last else -(-batches // world)
    updates = max(-(-shard // accumulation), 1)
    how.append(
        f"{batches} batches = {rounding}(dataset_size {size} / batch_size {per_device})"
        + (
            f", {shard} per device = {rounding}({batches} / world_size {world})"
            if world > 1
            else ""
        )
    )
    how.append(
        f"{updates} updates per epoch = ceil({shard} / grad_accumulation {accumulation})"
        if accumulation > 1
        else f"{updates} updates per epoch"
    )
    if spe is not None and spe != updates:
        problems.append(
            SpecError(
                f"{spe}, but dataset_size {size} gives {updates} updates per epoch "
                f"({'; '.join(how)}); give one of them",
                "run.steps_per_epoch",
            )
        )
        return spe
    return updates


def _horizon(
    run: Run,
    total: int | str | None,
    epochs: float | None,
    max_steps: int | None,
    how: list[str],
    problems: list[SpecError],
) -> int | str | None:
    """The run's length in the clock's unit (a share or epochs without steps_per_epoch
    stay a string, resolved at build time), and the line saying how."""
    clocked = run.clock != "steps"
    word = {"steps": "steps", "samples": "samples", "tokens": "tokens"}[run.clock]
    if max_steps is not None:
        if clocked:
            problems.append(
                SpecError(
                    f"on a {run.clock} clock give the run's length in {word} (total = "
                    "'300Msp' or '1Ttok') or epochs",
                    "run.max_steps",
                )
            )
            return None
        how.append(f"horizon {max_steps} steps = max_steps")
        return max_steps
    if epochs is not None:
        if run.steps_per_epoch is None:
            problems.append(
                SpecError(
                    "epochs need dataset_size and batch_size, or steps_per_epoch", "run.epochs"
                )
            )
            return None
        steps = math.ceil(epochs * run.steps_per_epoch)
        how.append(
            f"horizon {steps} {word} = ceil(epochs {show(epochs)} x {run.steps_per_epoch} "
            f"{word} per epoch)"
        )
        return steps
    if total is None:
        return None
    tokens, samples = run.rates()
    if clocked and isinstance(total, int):
        problems.append(
            SpecError(
                f"on a {run.clock} clock give the run's length in {word} ('300Msp', '1Ttok') "
                "or epochs, not steps",
                "run.total",
            )
        )
        return None
    if isinstance(total, str) and is_amount(total):
        try:
            steps = to_steps(total, tokens_per_step=tokens, samples_per_step=samples)
        except SpecError as e:
            problems.append(e.at("run.total"))
            return None
        unit = amount(total)[1]
        per = tokens if unit == "tok" else samples
        if clocked:
            how.append(f"horizon {steps} {word} = {total}")
        else:
            how.append(
                f"horizon {steps} steps = {total} / {show(per)} {AMOUNT_UNITS[unit]} per step"
            )
        return steps
    if isinstance(total, str) and run.steps_per_epoch is not None and total.endswith("ep"):
        steps = to_steps(total, steps_per_epoch=run.steps_per_epoch)
        how.append(f"horizon {steps} {word} = {total} x {run.steps_per_epoch} {word} per epoch")
    if isinstance(total, int):
        how.append(f"horizon {total} steps = total")
    return total
