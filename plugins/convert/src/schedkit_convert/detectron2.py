"""detectron2: the ``SOLVER`` node of a ``config.yaml`` (yacs; ``_BASE_`` files merged).

What detectron2's default trainer builds from it: ``build_optimizer`` makes SGD with
``MOMENTUM``, ``NESTEROV``, ``WEIGHT_DECAY`` over ``get_default_optimizer_params``
(``WEIGHT_DECAY_NORM`` for norm layers, ``BIAS_LR_FACTOR`` and ``WEIGHT_DECAY_BIAS`` for
biases: ``detectron2.default``), with ``CLIP_GRADIENTS`` (``detectron2.value`` /
``detectron2.norm``); ``build_lr_scheduler`` makes the ``LR_SCHEDULER_NAME`` multiplier
behind detectron2's warmup (the ``detectron2.*`` schedules). With ``REFERENCE_WORLD_SIZE``
set, ``DefaultTrainer.auto_scale_workers`` first rescales ``IMS_PER_BATCH``, ``BASE_LR``,
``MAX_ITER``, ``WARMUP_ITERS`` and ``STEPS`` to the real number of processes.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from schedkit import SpecError
from schedkit.conversion import Draft, Facts, Reading, Sourced
from schedkit_convert._common import Keys, expect_any, read_mapping

#: detectron2's defaults (config/defaults.py) for the SOLVER keys read here
DEFAULTS: dict[str, Any] = {
    "LR_SCHEDULER_NAME": "WarmupMultiStepLR",
    "MAX_ITER": 40000,
    "BASE_LR": 0.001,
    "BASE_LR_END": 0.0,
    "MOMENTUM": 0.9,
    "NESTEROV": False,
    "WEIGHT_DECAY": 0.0001,
    "WEIGHT_DECAY_NORM": 0.0,
    "GAMMA": 0.1,
    "STEPS": [30000],
    "NUM_DECAYS": 3,
    "WARMUP_FACTOR": 1.0 / 1000,
    "WARMUP_ITERS": 1000,
    "WARMUP_METHOD": "linear",
    "RESCALE_INTERVAL": False,
    "IMS_PER_BATCH": 16,
    "REFERENCE_WORLD_SIZE": 0,
    "BIAS_LR_FACTOR": 1.0,
    "WEIGHT_DECAY_BIAS": None,
    "CLIP_GRADIENTS": {},
}
CLIP_DEFAULTS: dict[str, Any] = {
    "ENABLED": False,
    "CLIP_TYPE": "value",
    "CLIP_VALUE": 1.0,
    "NORM_TYPE": 2.0,
}
#: SOLVER keys that do not change the optimizer, the schedule or the clipping
NOT_TRAINING = ("CHECKPOINT_PERIOD", "AMP", "IMS_PER_BATCH")
#: SOLVER keys auto_scale_workers rescales
SCALED = ("BASE_LR", "MAX_ITER", "WARMUP_ITERS", "STEPS")
SCHEDULERS = ("WarmupMultiStepLR", "WarmupCosineLR", "WarmupStepWithFixedGammaLR")


def _merge(base: dict[str, Any], child: dict[str, Any], where: str = "") -> dict[str, Any]:
    """fvcore's ``load_yaml_with_base`` merge: the child's values over the base's, node by
    node; a node cannot replace a base's value that is not one."""
    out = dict(base)
    for k, v in child.items():
        if isinstance(v, dict) and k in out:
            if not isinstance(out[k], dict):
                raise SpecError(
                    f"a node cannot be merged over the _BASE_ file's {type(out[k]).__name__}",
                    f"{where}{k}",
                )
            out[k] = _merge(out[k], v, f"{where}{k}.")
        else:
            out[k] = v
    return out


def _base_path(path: Path, base: str) -> Path:
    """Where fvcore looks for a ``_BASE_`` file: ``~`` expanded, an absolute path as it is,
    any other relative to the file naming it."""
    if base.startswith(("https://", "http://")):
        raise SpecError(f"{path}: a _BASE_ on the web is not read: {base!r}", "_BASE_")
    return path.parent / Path(base).expanduser()  # an absolute path replaces the parent


def read_config(
    path: Path, seen: tuple[Path, ...] = (), reading: Reading | None = None
) -> dict[str, Any]:
    """A detectron2 config with its ``_BASE_`` chain merged (one file or a list of files,
    merged in order, then the file itself over them), values as in the file (undecoded).

    ``reading`` bounds the files and bytes of one conversion (the file and all its bases:
    ``schedkit.conversion.MAX_FILES`` and ``MAX_BYTES``), so the recursion over bases is
    at most ``MAX_FILES`` deep."""
    reading = reading or Reading()
    if path.resolve() in seen:
        raise SpecError(f"{path}: _BASE_ chain loops back to this file", "_BASE_")
    try:
        data = read_mapping(path, reading, "_BASE_" if seen else "")
    except SpecError as e:
        if not seen:
            raise
        # a base file: which one, and the key that named it, never its content
        raise SpecError(f"base file {str(path)!r}: {e.message}", f"{seen[-1]}: _BASE_") from None
    base = data.pop("_BASE_", None)
    if base is None:
        return data
    names = base if isinstance(base, list) else [base]
    if not names or not all(isinstance(b, str) for b in names):
        raise SpecError(f"{path}: expected a file name or a list of them, got {base!r}", "_BASE_")
    merged: dict[str, Any] = {}
    for name in names:
        base_path = _base_path(path, name)
        if not base_path.is_file():
            raise SpecError(f"{path}: no such base file {name!r}", "_BASE_")
        merged = _merge(merged, read_config(base_path, (*seen, path.resolve()), reading))
    return _merge(merged, data)


def decode(value: Any, where: str) -> Any:
    """A value as yacs' ``CfgNode`` holds it: a string that spells a Python literal
    (``(210000, 250000)``, ``'False'``, ``1e-3``) is that literal, read by
    :func:`ast.literal_eval` (which evaluates nothing); any other string stays a string;
    a node's values are decoded the same way."""
    if isinstance(value, dict):
        return {k: decode(v, f"{where}.{k}") for k, v in value.items()}
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):  # a plain string ('WarmupCosineLR', 'linear')
        return value
    except (TypeError, MemoryError, RecursionError):  # yacs itself fails on these
        raise SpecError(f"yacs cannot decode {value!r}", where) from None


def _scale(keys: Keys, facts: Facts) -> tuple[float, str]:
    """``auto_scale_workers``' factor (1 when the reference is unset or the same)."""
    ref = keys.number("REFERENCE_WORLD_SIZE", integer=True, ge=0)
    if not ref:
        return 1.0, ""
    world = facts.need(
        "world_size",
        f"SOLVER.REFERENCE_WORLD_SIZE is {ref}: detectron2 rescales the batch, lr and "
        "iterations to the number of processes the run has",
    )
    if world == ref:
        return 1.0, ""
    batch = keys.number("IMS_PER_BATCH", integer=True, ge=1)
    if batch is not None and batch % ref:
        raise SpecError(
            f"auto_scale_workers needs IMS_PER_BATCH ({batch}) to be a multiple of "
            f"REFERENCE_WORLD_SIZE ({ref})",
            "SOLVER.REFERENCE_WORLD_SIZE",
        )
    return world / ref, f" scaled by world_size {world} / SOLVER.REFERENCE_WORLD_SIZE {ref}"


def _clip(solver: Keys, draft: Draft) -> None:
    raw = solver.raw("CLIP_GRADIENTS") or {}
    if not isinstance(raw, dict):
        draft.refuse("SOLVER.CLIP_GRADIENTS", f"expected a node, got {raw!r}")
        return
    clip = Keys(raw, draft, CLIP_DEFAULTS, "SOLVER.CLIP_GRADIENTS.")
    enabled = clip.flag("ENABLED")
    kind = clip.text("CLIP_TYPE")
    value = clip.number("CLIP_VALUE")
    norm = clip.number("NORM_TYPE")
    clip.ignore_rest()
    if not enabled or kind is None:
        return
    if kind == "value":
        draft.clip = {
            "type": Sourced("detectron2.value", clip.source("CLIP_TYPE")),
            "clip_value": clip.sourced("CLIP_VALUE", value),
        }
    elif kind == "norm":
        draft.clip = {
            "type": Sourced("detectron2.norm", clip.source("CLIP_TYPE")),
            "clip_value": clip.sourced("CLIP_VALUE", value),
            "norm_type": clip.sourced("NORM_TYPE", norm),
        }
    else:
        draft.refuse(
            "SOLVER.CLIP_GRADIENTS.CLIP_TYPE",
            f"detectron2's solver clips 'value' or 'norm', got {kind!r}",
        )


def convert(path: Path, facts: Facts) -> Draft:
    """A detectron2 ``config.yaml`` as a setup (its ``SOLVER`` node)."""
    draft = Draft()
    data = read_config(path)
    expect_any(data, ("SOLVER",))
    raw = decode(data["SOLVER"], "SOLVER")
    if not isinstance(raw, dict):
        raise SpecError(f"expected a node of solver keys, got {raw!r}", "SOLVER")
    solver = Keys(raw, draft, DEFAULTS, "SOLVER.")
    try:
        scale, scaled = _scale(solver, facts)
    except SpecError as e:
        draft.problems.append(e)
        scale, scaled = 1.0, ""

    def src(key: str) -> str:
        return solver.source(key) + (
            scaled if key in ("BASE_LR", "MAX_ITER", "WARMUP_ITERS", "STEPS") else ""
        )

    base_lr = solver.number("BASE_LR", ge=0)
    max_iter = solver.number("MAX_ITER", integer=True, ge=1)
    warmup_iters = solver.number("WARMUP_ITERS", integer=True, ge=0)
    steps = solver.raw("STEPS")
    if not isinstance(steps, (list, tuple)) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in steps
    ):
        draft.refuse("SOLVER.STEPS", f"expected a list of iterations, got {steps!r}")
        steps = []
    if scale != 1.0:  # DefaultTrainer.auto_scale_workers
        base_lr = None if base_lr is None else base_lr * scale
        max_iter = None if max_iter is None else round(max_iter / scale)
        warmup_iters = None if warmup_iters is None else round(warmup_iters / scale)
        steps = [round(s / scale) for s in steps]
    opt = draft.optimizer
    opt["type"] = Sourced("SGD", "detectron2's build_optimizer")
    opt["lr"] = Sourced(base_lr, src("BASE_LR"))
    opt["momentum"] = solver.sourced("MOMENTUM", solver.number("MOMENTUM", ge=0))
    opt["nesterov"] = solver.sourced("NESTEROV", solver.flag("NESTEROV"))
    opt["weight_decay"] = solver.sourced("WEIGHT_DECAY", solver.number("WEIGHT_DECAY", ge=0))
    rule: dict[str, Sourced] = {
        "type": Sourced("detectron2.default", "get_default_optimizer_params")
    }
    rule["weight_decay_norm"] = solver.sourced(
        "WEIGHT_DECAY_NORM", solver.number("WEIGHT_DECAY_NORM", ge=0)
    )
    rule["bias_lr_factor"] = solver.sourced("BIAS_LR_FACTOR", solver.number("BIAS_LR_FACTOR", ge=0))
    if solver.raw("WEIGHT_DECAY_BIAS") is not None:
        rule["weight_decay_bias"] = solver.sourced(
            "WEIGHT_DECAY_BIAS", solver.number("WEIGHT_DECAY_BIAS", ge=0)
        )
    draft.rules.append(rule)
    name = solver.text("LR_SCHEDULER_NAME")
    table: dict[str, Sourced] = {}
    if name is not None and name not in SCHEDULERS:
        draft.refuse(
            "SOLVER.LR_SCHEDULER_NAME",
            f"detectron2's build_lr_scheduler knows {', '.join(SCHEDULERS)}, not {name!r}",
        )
    elif name is not None:
        table["type"] = Sourced(f"detectron2.{name}", solver.source("LR_SCHEDULER_NAME"))
        table["max_iter"] = Sourced(max_iter, src("MAX_ITER"))
        if name == "WarmupMultiStepLR":
            table["steps"] = Sourced(list(steps), src("STEPS"))
            table["gamma"] = solver.sourced("GAMMA", solver.number("GAMMA", ge=0))
        elif name == "WarmupCosineLR":
            end = solver.number("BASE_LR_END", ge=0)
            if end is not None and base_lr:
                table["end_value"] = Sourced(
                    end / base_lr, f"{solver.source('BASE_LR_END')} / SOLVER.BASE_LR{scaled}"
                )
        else:
            table["gamma"] = solver.sourced("GAMMA", solver.number("GAMMA", ge=0))
            table["num_decays"] = solver.sourced(
                "NUM_DECAYS", solver.number("NUM_DECAYS", integer=True, ge=1)
            )
        table["warmup_factor"] = solver.sourced(
            "WARMUP_FACTOR", solver.number("WARMUP_FACTOR", ge=0)
        )
        table["warmup_iters"] = Sourced(warmup_iters, src("WARMUP_ITERS"))
        table["warmup_method"] = solver.sourced("WARMUP_METHOD", solver.text("WARMUP_METHOD"))
        table["rescale_interval"] = solver.sourced(
            "RESCALE_INTERVAL", solver.flag("RESCALE_INTERVAL")
        )
        draft.schedules["lr"] = table
    if max_iter is not None:
        draft.run["total"] = Sourced(max_iter, src("MAX_ITER"))
    _clip(solver, draft)
    for k in raw:
        if k in solver.taken:
            continue
        if k in DEFAULTS or k in NOT_TRAINING:  # known, not used by this scheduler or run
            draft.ignored.append(f"SOLVER.{k}")
        else:
            draft.refuse(f"SOLVER.{k}", "detectron2's default solver does not read this key")
    draft.ignored += [k for k in data if k != "SOLVER"]
    return draft
