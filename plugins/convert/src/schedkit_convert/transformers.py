"""transformers: ``TrainingArguments`` saved as JSON (``to_json_string``, ``training_args.json``)
or as the flat YAML recipe tools write, converted to the setup the ``Trainer`` builds.

What the Trainer builds (transformers 5): ``create_optimizer`` makes two groups, the
decay parameters with ``weight_decay`` and the rest (LayerNorm parameters, names with
``bias``/``norm``) without (``hf_trainer.no_decay``); ``optim`` picks a torch optimizer
with ``adam_beta1/2``, ``adam_epsilon`` and ``optim_args``; ``create_scheduler`` calls
``get_scheduler(lr_scheduler_type, num_warmup_steps=get_warmup_steps(total),
num_training_steps=total, scheduler_specific_kwargs=lr_scheduler_kwargs)`` with ``total``
from ``max_steps`` or ``ceil(num_train_epochs * updates_per_epoch)``; the gradients are
clipped to ``max_grad_norm`` (global norm) before each optimizer step.
"""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

from schedkit import SpecError
from schedkit.conversion import Draft, Facts, Sourced
from schedkit_convert._common import Keys, expect_any, parse_json, read_mapping

#: TrainingArguments' defaults (transformers 5) for the keys that matter here
DEFAULTS: dict[str, Any] = {
    "learning_rate": 5e-5,
    "weight_decay": 0.0,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "max_grad_norm": 1.0,
    "num_train_epochs": 3.0,
    "max_steps": -1,
    "lr_scheduler_type": "linear",
    "lr_scheduler_kwargs": {},
    "warmup_steps": 0,
    "warmup_ratio": 0.0,
    "optim": "adamw_torch_fused",
    "optim_args": None,
    "gradient_accumulation_steps": 1,
    "per_device_train_batch_size": 8,
    "dataloader_drop_last": False,
}

#: the ``optim`` names that build a ``torch.optim`` optimizer, and the ``optim_args`` each reads
TORCH_OPTIMIZERS: dict[str, tuple[str, dict[str, type]]] = {
    "adamw_torch": ("AdamW", {}),
    "adamw_torch_fused": ("AdamW", {}),
    "sgd": ("SGD", {"momentum": float, "dampening": float, "nesterov": bool}),
    "adagrad": ("Adagrad", {"lr_decay": float, "eps": float}),
    "rmsprop": ("RMSprop", {"momentum": float, "alpha": float, "eps": float, "centered": bool}),
}

#: what a scheduled value's key comes from, besides the arguments of lr_scheduler_kwargs
#: schedulers that need no run length
#: the keys that set the optimizer or the schedule (weight_decay and the clipping are
#: left out: other libraries' files have keys of these names too)
SETS = (
    "learning_rate",
    "lr_scheduler_type",
    "optim",
    "max_steps",
    "num_train_epochs",
    "warmup_steps",
    "warmup_ratio",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
)
UNTIMED = ("constant", "reduce_lr_on_plateau")
WARMUP_FIELDS = ("warmup", "num_warmup_steps")
TOTAL_FIELDS = ("total", "num_training_steps")


def _optim_args(text: str, accepted: dict[str, type], keys: Keys) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        name, sep, raw = item.partition("=")
        if not sep:
            keys.draft.refuse("optim_args", f"expected key=value pairs, got {item!r}")
            continue
        if name == "weight_decay":
            continue  # the Trainer's two groups carry their own weight decay
        kind = accepted.get(name)
        if kind is None:
            keys.draft.refuse(
                f"optim_args.{name}", "the Trainer does not pass this to the optimizer"
            )
        elif kind is bool:
            out[name] = raw.lower() in ("true", "1", "yes")
        else:
            try:
                out[name] = float(raw)
            except ValueError:
                keys.draft.refuse(f"optim_args.{name}", f"expected a number, got {raw!r}")
    return out


def _optimizer(keys: Keys, lr: float) -> None:
    draft = keys.draft
    optim = keys.text("optim")
    if optim is None:
        return
    if optim not in TORCH_OPTIMIZERS:
        draft.refuse(
            "optim",
            f"{optim!r} is not a torch.optim optimizer (schedkit setups build those: "
            f"{', '.join(TORCH_OPTIMIZERS)})",
        )
        keys.raw("optim_args")
        return
    cls, accepted = TORCH_OPTIMIZERS[optim]
    opt = draft.optimizer
    opt["type"] = keys.sourced("optim", cls)
    opt["lr"] = keys.sourced("learning_rate", lr)
    if cls == "AdamW":
        b1 = keys.number("adam_beta1", ge=0)
        b2 = keys.number("adam_beta2", ge=0)
        opt["betas"] = Sourced(
            [b1, b2], f"{keys.source('adam_beta1')}, {keys.source('adam_beta2')}"
        )
        opt["eps"] = keys.sourced("adam_epsilon", keys.number("adam_epsilon", ge=0))
        if optim == "adamw_torch_fused":
            opt["fused"] = keys.sourced("optim", True)
    opt["weight_decay"] = keys.sourced("weight_decay", keys.number("weight_decay", ge=0))
    args = keys.raw("optim_args")
    if args:
        if not isinstance(args, str):
            draft.refuse("optim_args", f"expected a string of key=value pairs, got {args!r}")
        else:
            for name, v in _optim_args(args, accepted, keys).items():
                opt[name] = Sourced(v, f"optim_args.{name}")


def _dataloader_length(keys: Keys, facts: Facts) -> tuple[int, str]:
    if facts.steps_per_epoch is not None:
        return facts.steps_per_epoch, f"steps_per_epoch {facts.steps_per_epoch}"
    size = facts.need(
        "dataset_size",
        "num_train_epochs counts epochs and max_steps is not set: the number of steps needs "
        "the dataloader's length (steps_per_epoch) or the dataset's size",
    )
    world = facts.world_size or 1
    batch = keys.number("per_device_train_batch_size", integer=True, ge=1) or 1
    drop = bool(keys.raw("dataloader_drop_last"))
    batches = size // batch if drop else -(-size // batch)
    # accelerate shards the batches over the processes (even_batches unless drop_last)
    length = batches // world if drop else -(-batches // world)
    rounded = "floor" if drop else "ceil"
    return length, (
        f"{length} = {rounded}({rounded}(dataset_size {size} / "
        f"{keys.source('per_device_train_batch_size')} {batch}) / world_size {world})"
    )


def _total(keys: Keys, facts: Facts) -> tuple[int, str] | None:
    max_steps = keys.number("max_steps", integer=True)
    gas = keys.number("gradient_accumulation_steps", integer=True, ge=1)
    epochs = keys.number("num_train_epochs", ge=0)
    if max_steps is None or gas is None:
        return None
    if max_steps > 0:
        return max_steps, keys.source("max_steps")
    if epochs is None:
        return None
    untimed = keys.data.get("lr_scheduler_type") in UNTIMED
    if untimed and facts.steps_per_epoch is None and facts.dataset_size is None:
        return None  # the schedule needs no length
    try:
        length, why = _dataloader_length(keys, facts)
    except SpecError as e:
        keys.draft.problems.append(e)
        return None
    per_epoch = max(length // gas + int(length % gas > 0), 1)
    total = math.ceil(epochs * per_epoch)
    return total, (
        f"ceil({keys.source('num_train_epochs')} {epochs:g} * {per_epoch} updates per epoch); "
        f"updates per epoch = ceil(batches / {keys.source('gradient_accumulation_steps')} "
        f"{gas}), batches {why}"
    )


def _warmup(keys: Keys, total: int) -> tuple[int, str]:
    steps = keys.number("warmup_steps", ge=0)
    ratio = keys.number("warmup_ratio", ge=0)
    if steps is None or ratio is None:
        return 0, ""
    if steps >= 1:
        return int(steps), keys.source("warmup_steps")
    if steps > 0:
        return math.ceil(total * steps), f"ceil({keys.source('warmup_steps')} * total {total})"
    if ratio > 0:  # transformers 4's separate warmup_ratio
        return math.ceil(total * ratio), f"ceil({keys.source('warmup_ratio')} * total {total})"
    return 0, keys.source("warmup_steps")


def _schedule(keys: Keys, lr: float, total: tuple[int, str] | None) -> None:
    from schedkit_schedules.transformers import CALL_FORM, call_form

    draft = keys.draft
    name = keys.text("lr_scheduler_type")
    kwargs = keys.raw("lr_scheduler_kwargs") or {}
    if isinstance(kwargs, str):
        try:  # bounded as the file is
            kwargs = parse_json(kwargs, "the JSON string", "lr_scheduler_kwargs")
        except SpecError as e:
            draft.problems.append(e)
            return
    if not isinstance(kwargs, dict):
        draft.refuse("lr_scheduler_kwargs", f"expected a mapping, got {kwargs!r}")
        return
    if name is None:
        return
    if name not in CALL_FORM:
        draft.refuse(
            "lr_scheduler_type", f"not one of transformers' schedulers ({', '.join(CALL_FORM)})"
        )
        return
    if total is None:
        if name not in UNTIMED:
            return
        total = (0, "")
    steps, total_source = total
    warmup, warmup_source = _warmup(keys, steps)
    optimizer = types.SimpleNamespace(defaults={"lr": lr})
    try:
        sched = call_form(object, name, optimizer, warmup, steps, **kwargs)  # type: ignore[arg-type]
    except SpecError as e:
        draft.refuse("lr_scheduler_kwargs", e.message)
        return
    table: dict[str, Sourced] = {}
    for key, value in sched.spec().items():
        if key == "type":
            src = keys.source("lr_scheduler_type")
        elif key in TOTAL_FIELDS:
            src = total_source
        elif key in WARMUP_FIELDS:
            src = warmup_source
        elif key in kwargs:
            src = f"lr_scheduler_kwargs.{key}"
        elif key == "lr_init":
            src = keys.source("learning_rate")
        elif key in ("end", "min_lr_rate") and ("min_lr" in kwargs or "min_lr_rate" in kwargs):
            src = "lr_scheduler_kwargs.min_lr / learning_rate"
        elif key == "num_stable_steps":
            src = f"total {steps} - warmup - lr_scheduler_kwargs.num_decay_steps"
        else:
            src = f"{keys.source('lr_scheduler_type')} {name!r}"
        table[key] = Sourced(value, src)
    draft.schedules["lr"] = table
    if name == "reduce_lr_on_plateau":
        draft.notes.append(
            "the Trainer steps reduce_lr_on_plateau with the evaluation metric: call "
            "scheduler.step(metric) after each evaluation"
        )


def convert(path: Path, facts: Facts) -> Draft:
    """A transformers ``TrainingArguments`` file (JSON or YAML) as a setup."""
    draft = Draft()
    data = read_mapping(path)
    expect_any(data, SETS)
    keys = Keys(data, draft, DEFAULTS)
    lr = keys.number("learning_rate", ge=0)
    total = _total(keys, facts)
    if lr is not None:
        _optimizer(keys, lr)
        _schedule(keys, lr, total)
    if draft.optimizer.get("weight_decay", Sourced(0, "")).value:
        draft.rules.append({"type": Sourced("hf_trainer.no_decay", "weight_decay")})
    if total is not None:
        draft.run["total"] = Sourced(total[0], total[1])
    clip = keys.number("max_grad_norm")
    if clip is not None and clip > 0:
        draft.clip = {
            "type": Sourced("norm", keys.source("max_grad_norm")),
            "max_norm": keys.sourced("max_grad_norm", float(clip)),
        }
    gas = keys.raw("gradient_accumulation_steps")
    if isinstance(gas, int) and gas > 1:
        draft.notes.append(
            f"gradient_accumulation_steps = {gas}: call built.step() once every {gas} "
            "micro-batches (the Trainer steps the optimizer, the scheduler and clipping there)"
        )
    keys.refuse_if(
        "deepspeed",
        bool(keys.data.get("deepspeed")),
        "DeepSpeed's config decides the optimizer and scheduler; convert it with --from deepspeed",
    )
    keys.refuse_if(
        "adafactor", bool(keys.data.get("adafactor")), "Adafactor is not a torch.optim optimizer"
    )
    keys.refuse_if(
        "optim_target_modules",
        bool(keys.data.get("optim_target_modules")),
        "GaLore/APOLLO projections are not expressible in a setup",
    )
    keys.ignore_rest()
    return draft
