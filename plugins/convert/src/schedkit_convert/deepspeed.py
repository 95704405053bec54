"""DeepSpeed: a ``ds_config.json``'s ``optimizer``, ``scheduler`` and ``gradient_clipping``.

What the engine builds (DeepSpeed 0.19): ``Adam``/``AdamW`` as torch's ``AdamW`` (or
``Adam`` with ``adam_w_mode: false``) when ``torch_adam`` is set, else its FusedAdam /
CPU Adam with the same update rule; ``Adagrad``; any other ``torch.optim`` class by name;
one param group (the model's parameters, as ``deepspeed.initialize`` gets them). The
scheduler is one of ``deepspeed.runtime.lr_schedules`` (``deepspeed.*`` aliases) or a
``torch.optim.lr_scheduler`` class (``torch.*`` aliases), stepped once per optimizer
step. ``gradient_clipping`` clips the global gradient norm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from schedkit import SpecError
from schedkit.conversion import Draft, Facts, Sourced
from schedkit_convert._common import Keys, expect_any, read_mapping

#: DeepSpeed's own optimizers that are not torch's
NOT_TORCH = (
    "lamb",
    "lion",
    "muon",
    "onebitadam",
    "zerooneadam",
    "onebitlamb",
    "muadam",
    "muadamw",
    "musgd",
)
#: DeepSpeed's lr_schedules
DEEPSPEED_SCHEDULES = ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle", "LRRangeTest")
#: FusedAdam's arguments that torch's Adam has no counterpart for
FUSED_ONLY = {"bias_correction": True, "set_grad_none": True}


def _section(data: dict[str, Any], key: str, draft: Draft) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        draft.problems.append(SpecError(f"expected an object, got {value!r}", key))
        return None
    return value


def _autos(params: dict[str, Any], prefix: str, draft: Draft) -> bool:
    autos = [k for k, v in params.items() if v == "auto"]
    for k in autos:
        draft.refuse(
            f"{prefix}.{k}",
            '"auto" is filled in by the transformers integration at run time; convert the '
            "config it resolves (or give the value)",
        )
    return bool(autos)


def _optimizer(data: dict[str, Any], draft: Draft) -> str | None:
    """The optimizer table; returns the torch class name."""
    section = _section(data, "optimizer", draft)
    if section is None:
        draft.refuse(
            "optimizer",
            "no optimizer in the config: DeepSpeed then steps the one given to "
            "deepspeed.initialize, which a config file does not describe",
        )
        return None
    keys = Keys(section, draft, {}, "optimizer.")
    kind = keys.text("type")
    params = keys.raw("params") or {}
    if kind is None:
        return None
    if not isinstance(params, dict):
        draft.refuse("optimizer.params", f"expected an object, got {params!r}")
        return None
    keys.ignore_rest()
    if _autos(params, "optimizer.params", draft):
        return None
    p = Keys(params, draft, {}, "optimizer.params.")
    opt = draft.optimizer
    name = kind.lower()
    if name in ("adam", "adamw"):
        w_mode = p.raw("adam_w_mode")
        decoupled = name == "adamw" or w_mode is None or bool(w_mode)
        cls = "AdamW" if decoupled else "Adam"
        source = "optimizer.type" + (", optimizer.params.adam_w_mode" if w_mode is not None else "")
        if not p.raw("torch_adam"):
            draft.notes.append(
                "DeepSpeed builds its FusedAdam / CPU Adam here (no torch_adam): the same update "
                "rule as torch's " + cls + ", which this setup uses"
            )
        for k, default in FUSED_ONLY.items():
            p.refuse_if(
                k,
                k in params and params[k] != default,
                f"torch's {cls} has no {k} switch",
            )
    elif name == "adagrad":
        cls, source = "Adagrad", "optimizer.type"
    elif name in NOT_TORCH:
        draft.refuse("optimizer.type", f"{kind!r} is DeepSpeed's own optimizer, not torch.optim's")
        return None
    elif isinstance(getattr(torch.optim, kind, None), type):
        cls, source = kind, "optimizer.type"
    else:
        draft.refuse("optimizer.type", f"{kind!r} is neither DeepSpeed's nor a torch.optim class")
        return None
    opt["type"] = Sourced(cls, source)
    if "lr" in params:
        opt["lr"] = p.sourced("lr")
    elif cls in ("Adam", "AdamW"):
        opt["lr"] = Sourced(1e-3, "optimizer.params.lr (default)")
    else:
        draft.refuse("optimizer.params.lr", f"torch's {cls} needs an lr")
    for k in params:
        if k in ("lr", "torch_adam", "adam_w_mode", *FUSED_ONLY) or k in p.taken:
            p.taken.add(k)
            continue
        opt[k] = p.sourced(k)
    p.ignore_rest()
    return cls


def _scheduler(data: dict[str, Any], draft: Draft, optimizer: str | None) -> None:
    section = _section(data, "scheduler", draft)
    if section is None:
        return
    keys = Keys(section, draft, {}, "scheduler.")
    kind = keys.text("type")
    params = keys.raw("params") or {}
    keys.ignore_rest()
    if kind is None:
        return
    if not isinstance(params, dict):
        draft.refuse("scheduler.params", f"expected an object, got {params!r}")
        return
    if _autos(params, "scheduler.params", draft):
        return
    if kind in DEEPSPEED_SCHEDULES:
        name = f"deepspeed.{kind}"
    elif isinstance(getattr(torch.optim.lr_scheduler, kind, None), type):
        name = f"torch.{kind}"
    else:
        draft.refuse("scheduler.type", f"DeepSpeed does not recognize LR scheduler {kind!r}")
        return
    table = {"type": Sourced(name, "scheduler.type")}
    table.update({k: Sourced(v, f"scheduler.params.{k}") for k, v in params.items()})
    if (
        kind == "OneCycle"
        and params.get("cycle_momentum", True)
        and optimizer
        not in (
            "Adam",
            "AdamW",
            None,
        )
    ):
        table["cycle_momentum"] = Sourced(
            False, f"optimizer.type {optimizer}: no betas, DeepSpeed does not cycle momentum"
        )
    draft.schedules["lr"] = table
    total = params.get("total_num_steps")
    if isinstance(total, int) and not isinstance(total, bool) and total > 0:
        draft.run["total"] = Sourced(total, "scheduler.params.total_num_steps")


def convert(path: Path, facts: Facts) -> Draft:
    """A DeepSpeed ``ds_config.json`` as a setup."""
    draft = Draft()
    data = read_mapping(path)
    expect_any(data, ("optimizer", "scheduler"))
    cls = _optimizer(data, draft)
    _scheduler(data, draft, cls)
    top = Keys(data, draft, {"gradient_clipping": 1.0})  # DeepSpeed's default
    top.taken |= {"optimizer", "scheduler"}
    clip = top.number("gradient_clipping", ge=0)
    if clip:
        draft.clip = {
            "type": Sourced("norm", "gradient_clipping"),
            "max_norm": top.sourced("gradient_clipping", float(clip)),
        }
    gas = data.get("gradient_accumulation_steps")
    if isinstance(gas, int) and gas > 1:
        draft.notes.append(
            f"gradient_accumulation_steps = {gas}: call built.step() once every {gas} "
            "micro-batches (DeepSpeed steps the optimizer and the scheduler there)"
        )
    fp16 = data.get("fp16")
    if isinstance(fp16, dict) and fp16.get("enabled") and fp16.get("loss_scale", 0) == 0:
        draft.notes.append(
            "fp16 with dynamic loss scaling: DeepSpeed skips the optimizer and scheduler step "
            "on overflow; skip built.step() on those steps too"
        )
    top.ignore_rest()
    return draft
