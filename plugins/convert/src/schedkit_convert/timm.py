"""timm: the ``args.yaml`` timm's ``train.py`` saves next to every run.

What ``train.py`` builds from it: the lr (``lr``, or ``lr_base`` scaled by the global
batch over ``lr_base_size``, ``sqrt`` for Ada*/LAMB optimizers by default), the optimizer
of ``create_optimizer_v2`` (``opt``, ``opt_eps``, ``opt_betas``, ``momentum``,
``weight_decay`` off for 1-D parameters, biases and the model's ``no_weight_decay()``),
``layer_decay`` groups (``param_groups_layer_decay`` as the ``timm.layer_decay`` rule,
``layer_decay_min_scale`` its ``min_scale``), the scheduler of ``create_scheduler_v2``
and the clipping (``clip_grad``, ``clip_mode``).

The schedule is stepped as ``train.py`` steps it. Per update (``sched_on_updates:
true``): durations in epochs times the updates per epoch, ``t_in_epochs = false``. Per
epoch (timm's default): durations in epochs, ``t_in_epochs = true`` (the aliases'
default too) and ``[run] steps_per_epoch``, so the setup, stepped once per update
(``Built.step()``), holds each epoch's lr over its updates, as ``train.py``'s
``step(epoch + 1)`` at each epoch end does. A layer-decayed group's
``warmup_lr`` and ``min_lr`` are scaled by its lr scale, as timm's schedulers scale them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from schedkit import SpecError
from schedkit.conversion import Draft, Facts, Sourced
from schedkit_convert._common import Keys, expect_any, read_mapping

#: train.py's argparse defaults for the keys read here
DEFAULTS: dict[str, Any] = {
    "sched": "cosine",
    "epochs": 300,
    "decay_epochs": 90,
    "decay_milestones": [90, 180, 270],
    "cooldown_epochs": 0,
    "decay_rate": 0.1,
    "min_lr": 0.0,
    "warmup_lr": 1e-5,
    "warmup_epochs": 5,
    "warmup_prefix": False,
    "lr_noise": None,
    "lr_noise_pct": 0.67,
    "lr_noise_std": 1.0,
    "seed": 42,
    "lr_cycle_mul": 1.0,
    "lr_cycle_decay": 0.5,
    "lr_cycle_limit": 1,
    "lr_k_decay": 1.0,
    "sched_on_updates": False,
    "lr": None,
    "lr_base": 0.1,
    "lr_base_size": 256,
    "lr_base_scale": "",
    "opt": "sgd",
    "opt_eps": None,
    "opt_betas": None,
    "momentum": 0.9,
    "weight_decay": 2e-5,
    "layer_decay": None,
    "layer_decay_min_scale": 0.0,
    "layer_decay_no_opt_scale": None,
    "clip_grad": None,
    "clip_mode": "norm",
    "batch_size": 128,
    "grad_accum_steps": 1,
}
#: timm's optimizer names that are torch's classes: (class, nesterov)
OPTIMIZERS = {
    "sgd": ("SGD", True),
    "nesterov": ("SGD", True),
    "momentum": ("SGD", False),
    "adam": ("Adam", None),
    "adamw": ("AdamW", None),
}
#: the keys that set the optimizer or the schedule (train.py saves every one of them)
SETS = ("opt", "lr", "lr_base", "sched", "epochs", "warmup_epochs", "min_lr")
CYCLES = ("cosine", "tanh", "poly")
SCHEDULES = (*CYCLES, "step", "multistep", "constant", "none")


def _lr(keys: Keys, facts: Facts, opt: str) -> Sourced | None:
    keys.taken.add("lr")  # null: lr_base decides
    if keys.given("lr"):
        return keys.sourced("lr", keys.number("lr", ge=0))
    base = keys.number("lr_base", ge=0)
    size = keys.number("lr_base_size", integer=True, ge=1)
    batch = keys.number("batch_size", integer=True, ge=1)
    accum = keys.number("grad_accum_steps", integer=True, ge=1)
    scale = keys.raw("lr_base_scale") or ("sqrt" if "ada" in opt or "lamb" in opt else "linear")
    if None in (base, size, batch, accum):
        return None
    try:
        world = facts.need(
            "world_size", "lr is not set: train.py scales lr_base by the global batch size"
        )
    except SpecError as e:
        keys.draft.problems.append(e)
        return None
    ratio = batch * world * accum / size
    if scale == "sqrt":
        ratio = ratio**0.5
    return Sourced(
        base * ratio,
        f"{keys.source('lr_base')} * ({keys.source('batch_size')} * world_size {world} * "
        f"{keys.source('grad_accum_steps')} / {keys.source('lr_base_size')})"
        + (" ** 0.5" if scale == "sqrt" else "")
        + f" ({scale})",
    )


def _noise(keys: Keys, t_initial: int) -> Any:
    noise = keys.raw("lr_noise")
    if noise is None:
        return None
    values = noise if isinstance(noise, list) else [noise]
    # timm compares the step with n * t_initial; for whole steps that is its ceiling
    steps = [math.ceil(n * t_initial) for n in values]
    return steps[0] if len(steps) == 1 else steps


def _schedule(keys: Keys, upe: int, src_upe: str) -> int | None:
    draft = keys.draft
    sched = keys.text("sched")
    if sched is None:
        return None
    if sched not in SCHEDULES:
        draft.refuse(
            "sched", f"not one of the timm schedules schedkit has ({', '.join(SCHEDULES)})"
        )
        return None
    per_epoch = not keys.raw("sched_on_updates")
    epochs = keys.number("epochs", integer=True, ge=1)
    warmup = keys.number("warmup_epochs", integer=True, ge=0)
    cooldown = keys.number("cooldown_epochs", integer=True, ge=0)
    prefix = bool(keys.raw("warmup_prefix"))
    if epochs is None or warmup is None or cooldown is None:
        return None
    # per epoch, the schedule counts epochs (held over each epoch's updates)
    unit, per = (1, "") if per_epoch else (upe, f" * {src_upe}")
    t_initial = epochs * unit
    table: dict[str, Sourced] = {}
    warm = {
        "warmup_t": Sourced(warmup * unit, keys.source("warmup_epochs") + per),
        "warmup_lr_init": keys.sourced("warmup_lr", keys.number("warmup_lr", ge=0)),
        "warmup_prefix": keys.sourced("warmup_prefix", prefix),
    }
    noise = _noise(keys, t_initial)
    noisy = {}
    if noise is not None:
        noisy = {
            "noise_range_t": Sourced(noise, f"ceil(lr_noise * epochs{per})"),
            "noise_pct": keys.sourced("lr_noise_pct"),
            "noise_std": keys.sourced("lr_noise_std"),
            "noise_seed": keys.sourced("seed"),
        }
    if sched == "none":  # no scheduler: the epochs (and a warmup prefix), no cooldown
        return int((epochs + (warmup if prefix else 0)) * upe)
    if sched in CYCLES:
        table["type"] = Sourced(f"timm.{sched}", keys.source("sched"))
        table["t_initial"] = Sourced(t_initial, keys.source("epochs") + per)
        table["lr_min"] = keys.sourced("min_lr", keys.number("min_lr", ge=0))
        mul = keys.number("lr_cycle_mul", ge=0)
        limit = keys.number("lr_cycle_limit", integer=True, ge=1)
        table["cycle_mul"] = keys.sourced("lr_cycle_mul", mul)
        table["cycle_decay"] = keys.sourced("lr_cycle_decay", keys.number("lr_cycle_decay", ge=0))
        table["cycle_limit"] = keys.sourced("lr_cycle_limit", limit)
        if sched != "tanh":
            table["k_decay"] = keys.sourced("lr_k_decay", keys.number("lr_k_decay", ge=0))
        if sched == "poly":
            table["power"] = keys.sourced("decay_rate", keys.number("decay_rate", ge=0))
        if mul is None or limit is None:
            return None
        cycles = max(1, limit)
        if mul == 1.0:
            length = t_initial * cycles
        else:
            length = math.floor(-t_initial * (mul**cycles - 1) / (1 - mul))
        length += warmup * unit if prefix else 0
        total = (length + cooldown * unit) // unit * upe
    else:
        kind = "multistep" if sched == "multistep" else "step"
        table["type"] = Sourced(f"timm.{kind}", keys.source("sched"))
        if sched == "step":
            decay = keys.number("decay_epochs", ge=0)
            table["decay_t"] = Sourced(
                None if decay is None else decay * unit, keys.source("decay_epochs") + per
            )
            table["decay_rate"] = keys.sourced("decay_rate", keys.number("decay_rate", ge=0))
        elif sched == "multistep":
            milestones = keys.raw("decay_milestones")
            table["decay_t"] = Sourced(
                [m * unit for m in milestones], keys.source("decay_milestones") + per
            )
            table["decay_rate"] = keys.sourced("decay_rate", keys.number("decay_rate", ge=0))
        else:  # constant: a step schedule that never decays
            table["decay_t"] = Sourced(1, "sched 'constant'")
            table["decay_rate"] = Sourced(1.0, "sched 'constant'")
        total = (epochs + (warmup if prefix else 0)) * upe
    table.update(warm)
    table.update(noisy)
    table["t_in_epochs"] = Sourced(per_epoch, "not " + keys.source("sched_on_updates"))
    if per_epoch:  # the schedule's updates_per_epoch, as the setup steps once per update
        draft.run["steps_per_epoch"] = Sourced(upe, "--steps-per-epoch")
    draft.schedules["lr"] = table
    return int(total)


def _groups(keys: Keys) -> dict[str, Sourced] | None:
    """create_optimizer_v2's param groups: ``param_groups_layer_decay`` with the model's
    ``no_weight_decay()`` (1-D parameters undecayed), scaling each layer's lr only when
    ``layer_decay`` is given and a scheduler applies timm's ``lr_scale``."""
    if not keys.given("layer_decay"):
        keys.raw("layer_decay_min_scale")
        return {
            "type": Sourced("timm.layer_decay", "weight_decay"),
            "layer_decay": Sourced(1.0, "create_optimizer_v2: no layer_decay"),
        }
    decay = keys.number("layer_decay", ge=0)
    low = keys.number("layer_decay_min_scale", ge=0)
    if decay is None or low is None:
        return None
    if keys.raw("sched") == "none":  # lr_scale is applied by timm's schedulers only
        return {
            "type": Sourced("timm.layer_decay", "layer_decay"),
            "layer_decay": Sourced(1.0, "layer_decay: sched 'none' applies no lr_scale"),
        }
    return {
        "type": Sourced("timm.layer_decay", "layer_decay"),
        "layer_decay": keys.sourced("layer_decay", decay),
        "min_scale": keys.sourced("layer_decay_min_scale", low),
    }


def convert(path: Path, facts: Facts) -> Draft:
    """A timm ``args.yaml`` as a setup."""
    draft = Draft()
    data = read_mapping(path)
    expect_any(data, SETS)
    keys = Keys(data, draft, DEFAULTS)
    opt = keys.text("opt")
    upe = facts.steps_per_epoch
    if upe is None:
        try:
            facts.need("steps_per_epoch", "timm counts in epochs: the updates per epoch are needed")
        except SpecError as e:
            draft.problems.append(e)
    if opt is not None:
        name = opt.lower()
        if name not in OPTIMIZERS:
            draft.refuse(
                "opt", f"{opt!r} is not one of timm's torch optimizers ({', '.join(OPTIMIZERS)})"
            )
        else:
            cls, nesterov = OPTIMIZERS[name]
            o = draft.optimizer
            o["type"] = keys.sourced("opt", cls)
            lr = _lr(keys, facts, name)
            if lr is not None:
                o["lr"] = lr
            if cls == "SGD":
                o["momentum"] = keys.sourced("momentum", keys.number("momentum", ge=0))
                o["nesterov"] = keys.sourced("opt", nesterov)
            if keys.given("opt_eps") and cls != "SGD":  # timm drops it for SGD
                o["eps"] = keys.sourced("opt_eps", keys.number("opt_eps", ge=0))
            if keys.given("opt_betas") and cls != "SGD":
                o["betas"] = keys.sourced("opt_betas")
            wd = keys.number("weight_decay", ge=0)
            o["weight_decay"] = keys.sourced("weight_decay", wd)
            rule = _groups(keys)
            if rule is not None and (wd or keys.given("layer_decay")):
                draft.rules.append(rule)
    keys.refuse_if(
        "layer_decay_no_opt_scale",
        keys.given("layer_decay_no_opt_scale"),
        "timm freezes the layers whose scale is below it (requires_grad = False); "
        "freeze them in the model instead",
    )
    if upe is not None:
        total = _schedule(keys, upe, f"steps_per_epoch {upe}")
        if total is not None:
            draft.run["total"] = Sourced(
                total, "create_scheduler_v2's num_epochs * steps_per_epoch"
            )
    clip = keys.raw("clip_grad")
    mode = keys.text("clip_mode")
    if clip is not None and mode is not None:
        value = keys.number("clip_grad", ge=0)
        if mode == "norm":
            draft.clip = {
                "type": Sourced("norm", "clip_mode"),
                "max_norm": keys.sourced("clip_grad", value),
            }
        elif mode == "value":
            draft.clip = {
                "type": Sourced("value", "clip_mode"),
                "clip_value": keys.sourced("clip_grad", value),
            }
        elif mode == "agc":
            draft.clip = {
                "type": Sourced("timm.agc", "clip_mode"),
                "clip_factor": keys.sourced("clip_grad", value),
            }
        else:
            draft.refuse("clip_mode", f"expected norm, value or agc, got {mode!r}")
    accum = keys.raw("grad_accum_steps")
    if isinstance(accum, int) and accum > 1:
        draft.notes.append(
            f"grad_accum_steps = {accum}: call built.step() once every {accum} micro-batches"
        )
    keys.ignore_rest()
    return draft
