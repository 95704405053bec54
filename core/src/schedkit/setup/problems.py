"""How a setup reports its problems (:class:`SetupError`, every one with its key path),
the tables and keys a file may have, and the small checks every table's reader uses."""

from __future__ import annotations

import difflib
from typing import Any

import torch

from schedkit import _text
from schedkit._numbers import MAX_STEPS, as_real, show
from schedkit.errors import SchedkitError, SpecError

TABLES = ("run", "optimizer", "optimizers", "rules", "schedules", "clip", "resume")
#: the keys of ``[resume]``: how ``Built.load_state_dict`` takes a state of another plan
RESUME_KEYS = ("replan", "rtol", "allow_jump")
#: what the schedulers do on a step the clipper skips (``[clip] on_skip``, ``Built.on_skip``)
ON_SKIP = ("advance", "hold")
RUN_KEYS = (
    "total",
    "steps_per_epoch",
    "batch_size",
    "epochs",
    "max_steps",
    "dataset_size",
    "world_size",
    "grad_accumulation",
    "drop_last",
    "seq_len",
    "tokens_per_step",
    "clock",
    "batch_ramp",
)
LR_KEYS = ("lr", "base_lr", "lr_scaling", "base_batch_size")
SCALINGS = ("linear", "sqrt")
#: param-group entries that are not hyperparameters
NOT_HYPERPARAMETERS = ("params", "tags", "name")


class SetupError(SchedkitError, ValueError):
    """Every problem found in a setup, each a :class:`SpecError` with its key path."""

    def __init__(self, problems: list[SpecError], source: str = "") -> None:
        self.problems = [q for p in problems for q in p.all()]
        # file names, keys and values come from the file: shown escaped, one line each
        head = f"{_text.escape(source)}: " if source else ""
        n = len(self.problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} in the setup:"]
        lines += [f"  {trim(_text.escape(str(p)))}" for p in self.problems]
        super().__init__("\n".join(lines))


def trim(text: str, limit: int = 400) -> str:
    """One problem's text, cut short: a value's repr can be huge (a list of tensors)."""
    return text if len(text) <= limit else text[: limit - 25] + f"... ({len(text)} characters)"


def unknown_key(key: str, known: Any, path: str) -> SpecError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return SpecError(f"unknown key{hint} (expected one of: {', '.join(known)})", path)


def is_number(v: Any) -> bool:
    """A real number a float can hold (not a bool, not an int beyond the float range)."""
    return as_real(v) is not None


#: the largest value a float32 parameter's update can take (torch refuses larger ones)
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def positive_int(value: Any, path: str, problems: list[SpecError]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(SpecError(f"expected a positive whole number, got {show(value)}", path))
        return None
    if value > MAX_STEPS:
        problems.append(SpecError(f"expected a whole number <= 2**62, got {show(value)}", path))
        return None
    return value
