"""mmengine: a Python config file's ``optim_wrapper``, ``param_scheduler`` and ``train_cfg``.

The file is read, never executed (:mod:`schedkit_convert._pyconfig`): :mod:`ast` parses
it and only plain data is evaluated, within bounds — literal numbers, strings, lists,
tuples and dicts, ``dict(...)`` with keywords, the arithmetic real configs use
(``lr = 5e-4 * 1024 / 512``) and names bound earlier in the same file. The ``_base_``
files (paths relative to the file) are read the same way and merged as mmengine merges
them: a dict of the file updates the base's dict key by key, ``_delete_=True`` replaces
it, anything else replaces. Every other construct (imports, other calls, attribute
access, comprehensions, lambdas...) is an error naming the file and the line. The tables
converted (``optim_wrapper``, ``param_scheduler``, ``train_cfg``, ``auto_scale_lr``) have
string keys, or each other key is a problem naming its path.

What mmengine builds (0.10): the ``optim_wrapper.optimizer`` (a ``torch.optim`` class
by name) with ``DefaultOptimWrapperConstructor`` (no ``paramwise_cfg``) or mmpretrain's
``LearningRateDecayOptimWrapperConstructor`` (the ``mmpretrain.layer_decay`` rule);
``clip_grad`` clips the gradient norm (or values); the ``param_scheduler`` list steps
as mmengine's runner steps it (``mmengine.param_scheduler``), each scheduler's missing
``end`` taken from ``train_cfg`` (``max_epochs`` or ``max_iters``) as the runner does.
``ReduceOnPlateauLR`` / ``ReduceOnPlateauMomentum`` are kept in the list (they observe
the validation metric: a note in the setup says how to feed it).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

import schedkit
from schedkit import SpecError
from schedkit.conversion import Draft, Facts, Reading, Sourced, reads
from schedkit_convert._common import expect_any
from schedkit_convert._pyconfig import Evaluator

#: mmengine's "no end" (its ``INF``): an ``end`` of it is left out
INF = int(1e9)

#: the constructors whose grouping schedkit reproduces
DEFAULT_CONSTRUCTORS = (None, "DefaultOptimWrapperConstructor")
LAYER_DECAY = "LearningRateDecayOptimWrapperConstructor"
#: the settings of DefaultOptimWrapperConstructor's paramwise_cfg besides custom_keys
PARAMWISE = (
    "bias_lr_mult",
    "bias_decay_mult",
    "norm_decay_mult",
    "dwconv_decay_mult",
    "flat_decay_mult",
    "bypass_duplicate",
)
#: optim_wrapper types that step the optimizer as OptimWrapper does
WRAPPERS = ("OptimWrapper", "AmpOptimWrapper")
#: the keys that set the optimizer or the schedule (mmcv 1.x names too: refused by name)
SETS = ("optim_wrapper", "param_scheduler", "optimizer", "lr_config")


# -- reading the file ---------------------------------------------------------------------


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """mmengine's ``Config._merge_a_into_b``: dicts merge key by key unless
    ``_delete_=True``; anything else replaces."""
    out = dict(base)
    for k, v in child.items():
        if isinstance(v, dict):
            v = dict(v)
            delete = v.pop("_delete_", False)
            if not delete and isinstance(out.get(k), dict):
                out[k] = _merge(out[k], v)
                continue
            out[k] = _strip(v)
        else:
            out[k] = v
    return out


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "_delete_"}
    return value


def read_config(
    path: Path, chain: tuple[Path, ...] = (), reading: Reading | None = None, key: str = ""
) -> dict[str, Any]:
    """The config of ``path`` with its ``_base_`` chain merged in, as plain data.

    ``reading`` bounds the files and bytes of one conversion (the file and all its bases:
    ``schedkit.conversion.MAX_FILES`` and ``MAX_BYTES``), so the recursion over bases is
    at most ``MAX_FILES`` deep; ``key`` is the key that named this file (``_base_``)."""
    reading = reading or Reading()
    path = path.resolve()
    reads(path)  # never written over by the command
    if path in chain:
        raise SpecError(f"{path.name}: the _base_ chain comes back to this file", "_base_")
    text = reading.text(path, key)
    own = Evaluator(path).module(text)
    bases = own.pop("_base_", [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise SpecError(f"{path.name}: expected _base_ to be a path or a list of paths", "_base_")
    merged: dict[str, Any] = {}
    for b in bases:
        base_path = path.parent / b
        if not base_path.is_file():
            raise SpecError(f"{path.name}: _base_ file {b!r} not found next to it", "_base_")
        data = read_config(base_path, (*chain, path), reading, "_base_")
        dup = set(merged) & set(data)
        if dup:
            raise SpecError(f"{path.name}: duplicate keys among the _base_ files: {sorted(dup)}")
        merged.update(data)
    return _merge(merged, own)


# -- converting -------------------------------------------------------------------------


def _optimizer(cfg: dict[str, Any], draft: Draft) -> dict[str, Any] | None:
    wrapper = cfg.get("optim_wrapper")
    if not isinstance(wrapper, dict):
        if "optimizer" in cfg:
            draft.refuse(
                "optimizer",
                "an mmcv 1.x top-level optimizer: mmengine configs give optim_wrapper",
            )
        else:
            draft.refuse("optim_wrapper", "no optim_wrapper (a dict) in the config")
        return None
    kind = wrapper.get("type", "OptimWrapper")
    if kind not in WRAPPERS:
        draft.refuse("optim_wrapper.type", f"{kind!r} is not an OptimWrapper schedkit reproduces")
    if kind == "AmpOptimWrapper":
        draft.notes.append(
            "AmpOptimWrapper: mixed precision and loss scaling are left to the training loop"
        )
    opt = wrapper.get("optimizer")
    if not isinstance(opt, dict):
        draft.refuse("optim_wrapper.optimizer", "expected a dict with a type")
        return None
    name = opt.get("type")
    if not isinstance(name, str) or not isinstance(getattr(torch.optim, name, None), type):
        draft.refuse("optim_wrapper.optimizer.type", f"{name!r} is not a torch.optim class")
        return None
    draft.optimizer["type"] = Sourced(name, "optim_wrapper.optimizer.type")
    for k, v in opt.items():
        if k == "type":
            continue
        draft.optimizer[k] = Sourced(
            list(v) if isinstance(v, tuple) else v, f"optim_wrapper.optimizer.{k}"
        )
    clip = wrapper.get("clip_grad")
    if isinstance(clip, dict):
        clip = dict(clip)
        ctype = clip.pop("type", "norm")
        if not all(_is_number(clip.get(k, 0)) for k in ("max_norm", "clip_value")):
            draft.refuse(
                "optim_wrapper.clip_grad", f"expected numbers, got {wrapper['clip_grad']!r}"
            )
            clip = {}
        elif ctype == "norm" and "max_norm" in clip:
            draft.clip = {"type": Sourced("norm", "optim_wrapper.clip_grad")}
            draft.clip["max_norm"] = Sourced(
                float(clip.pop("max_norm")), "optim_wrapper.clip_grad.max_norm"
            )
            if "norm_type" in clip:
                nt = clip.pop("norm_type")
                draft.clip["norm_type"] = Sourced(
                    float(nt) if _is_number(nt) else nt, "optim_wrapper.clip_grad.norm_type"
                )
            clip.pop("error_if_nonfinite", None)
        elif ctype == "value" and "clip_value" in clip:
            draft.clip = {
                "type": Sourced("value", "optim_wrapper.clip_grad.type"),
                "clip_value": Sourced(
                    float(clip.pop("clip_value")), "optim_wrapper.clip_grad.clip_value"
                ),
            }
        else:
            draft.refuse(
                "optim_wrapper.clip_grad", f"cannot read clip_grad {wrapper['clip_grad']!r}"
            )
            clip = {}
        for k in clip:
            draft.refuse(f"optim_wrapper.clip_grad.{k}", "torch's clipping takes no such argument")
    elif clip is not None:
        draft.refuse("optim_wrapper.clip_grad", f"expected a dict, got {clip!r}")
    acc = wrapper.get("accumulative_counts", 1)
    if isinstance(acc, int) and acc > 1:
        draft.notes.append(
            f"accumulative_counts = {acc}: call built.step() once every {acc} iterations "
            "(mmengine steps the optimizer there)"
        )
    _constructor(wrapper, draft)
    known = {
        "type",
        "optimizer",
        "clip_grad",
        "accumulative_counts",
        "constructor",
        "paramwise_cfg",
    }
    for k in wrapper:
        if k not in known:
            draft.ignored.append(f"optim_wrapper.{k}")
    return opt


def _without_decay(pw: Any, draft: Draft) -> Any:
    """mmengine applies no decay multiplier when the optimizer config sets no
    weight_decay (``base_wd`` is None): those settings are ignored."""
    if not isinstance(pw, dict):
        return pw
    out = {}
    for k, v in pw.items():
        if k.endswith("decay_mult"):
            draft.ignored.append(f"optim_wrapper.paramwise_cfg.{k} (no weight_decay set)")
            continue
        if k == "custom_keys" and isinstance(v, dict):
            keys = {}
            for name, table in v.items():
                if isinstance(table, dict) and "decay_mult" in table:
                    draft.ignored.append(
                        f"optim_wrapper.paramwise_cfg.custom_keys.{name}.decay_mult "
                        "(no weight_decay set)"
                    )
                    table = {a: b for a, b in table.items() if a != "decay_mult"}
                keys[name] = table
            v = keys
        out[k] = v
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _constructor(wrapper: dict[str, Any], draft: Draft) -> None:
    ctor = wrapper.get("constructor")
    pw = wrapper.get("paramwise_cfg")
    opt = wrapper.get("optimizer")
    if isinstance(opt, dict) and "weight_decay" not in opt:
        pw = _without_decay(pw, draft)
    if ctor == LAYER_DECAY:
        pw = dict(pw or {})
        rule: dict[str, Sourced] = {
            "type": Sourced("mmpretrain.layer_decay", "optim_wrapper.constructor")
        }
        for k in ("layer_decay_rate", "bias_decay_mult", "norm_decay_mult", "flat_decay_mult"):
            if k in pw:
                rule[k] = Sourced(pw.pop(k), f"optim_wrapper.paramwise_cfg.{k}")
        if "custom_keys" in pw:
            rule["custom_keys"] = Sourced(
                pw.pop("custom_keys"), "optim_wrapper.paramwise_cfg.custom_keys"
            )
        for k in pw:
            draft.refuse(
                f"optim_wrapper.paramwise_cfg.{k}",
                "LearningRateDecayOptimWrapperConstructor reads no such setting",
            )
        draft.rules.append(rule)
        return
    if ctor not in DEFAULT_CONSTRUCTORS:
        draft.refuse("optim_wrapper.constructor", f"{ctor!r}: schedkit does not know its grouping")
        return
    if not pw:
        return
    if not isinstance(pw, dict):
        draft.refuse("optim_wrapper.paramwise_cfg", f"expected a dict, got {pw!r}")
        return
    pw = dict(pw)
    rule = {"type": Sourced("mmengine.paramwise", "optim_wrapper.paramwise_cfg")}
    for k in PARAMWISE:
        if k in pw:
            rule[k] = Sourced(pw.pop(k), f"optim_wrapper.paramwise_cfg.{k}")
    if "custom_keys" in pw:
        rule["custom_keys"] = Sourced(
            pw.pop("custom_keys"), "optim_wrapper.paramwise_cfg.custom_keys"
        )
    for k in pw:
        why = (
            "deformable convolutions are mmcv's (not reproduced)"
            if k == "dcn_offset_lr_mult"
            else "DefaultOptimWrapperConstructor reads no such setting"
        )
        draft.refuse(f"optim_wrapper.paramwise_cfg.{k}", why)
    draft.rules.append(rule)


def _schedulers(
    cfg: dict[str, Any], draft: Draft, facts: Facts, opt: dict[str, Any] | None
) -> None:
    raw = cfg.get("param_scheduler")
    if raw is None:
        return
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        draft.refuse("param_scheduler", f"expected a list of schedulers, got {raw!r}")
        return
    train = cfg.get("train_cfg") if isinstance(cfg.get("train_cfg"), dict) else {}
    assert isinstance(train, dict)
    lrs: list[dict[str, Any]] = []
    moms: list[dict[str, Any]] = []
    need_spe = False
    for i, item in enumerate(raw):
        where = f"param_scheduler[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            draft.refuse(where, "expected a dict with a type")
            continue
        item = dict(item)
        kind = item.pop("type")
        # mmengine names its momentum schedulers *Momentum
        target = moms if kind.endswith("Momentum") else lrs
        if not _reproduced(kind):
            draft.refuse(
                f"{where}.type", f"{kind!r} is not one of mmengine's schedulers schedkit reproduces"
            )
            continue
        for k in ("verbose", "last_step"):
            item.pop(k, None)
        if "end" not in item:
            by_epoch = item.get("by_epoch", True)
            end = train.get("max_epochs" if by_epoch else "max_iters")
            if isinstance(end, int):
                item["end"] = end
        if item.get("end") == INF:
            item.pop("end")
        if item.get("by_epoch", True):
            need_spe = True
        spec = {
            "type": f"mmengine.{kind}",
            **{k: list(v) if isinstance(v, tuple) else v for k, v in item.items()},
        }
        if kind.startswith("ReduceOnPlateau") and not _plateau(spec, where, draft):
            continue
        target.append(spec)
    spe = None
    if need_spe:
        spe = facts.need(
            "steps_per_epoch", "epoch-based schedulers step once an epoch (mmengine's runner)"
        )
    for key, parts in (("lr", lrs), ("momentum", moms)):
        if not parts:
            continue
        table: dict[str, Sourced] = {"type": Sourced("mmengine.param_scheduler", "param_scheduler")}
        if key == "momentum" and opt is not None and _has_betas(opt):
            table["key"] = Sourced(
                "betas[0]", "param_scheduler (momentum of the Adam family: betas[0])"
            )
        if spe is not None:
            table["steps_per_epoch"] = Sourced(spe, "--steps-per-epoch (mmengine's epoch_length)")
        table["schedulers"] = Sourced(parts, "param_scheduler")
        draft.schedules[key] = table


def _reproduced(kind: str) -> bool:
    """Whether schedkit has an alias of mmengine's scheduler class ``kind``: a registered
    ``mmengine.*`` schedule (the compat plugin's, found as any plugin's would be) other than
    the list."""
    name = f"mmengine.{kind}"
    if kind == "param_scheduler":
        return False
    try:
        return schedkit.default_registry().get("schedule", name).name == name
    except schedkit.UnknownNameError:
        return False


def _plateau(spec: dict[str, Any], where: str, draft: Draft) -> bool:
    """Check a ``ReduceOnPlateau*`` as mmengine builds it (by epochs only...), naming its
    source key; note that the scheduler observes the validation metric."""
    try:
        schedkit.get_schedule(spec)
    except SpecError as e:
        for problem in e.all():
            draft.refuse(f"{where}.{problem.path}" if problem.path else where, problem.message)
        return False
    note = (
        f"{where} ({spec['type'][9:]}) reduces on the validation metric "
        f"{spec.get('monitor', 'loss')!r}: call built.step(metric) (or scheduler.step(metric)) "
        "after each validation (with steps_per_epoch: as the step that ends the epoch)"
    )
    if note not in draft.notes:
        draft.notes.append(note)
    return True


def _has_betas(opt: dict[str, Any]) -> bool:
    """Whether the optimizer has ``betas`` (mmengine's momentum schedulers then move
    ``betas[0]``)."""
    cls = getattr(torch.optim, str(opt.get("type")), None)
    return cls is not None and "betas" in inspect.signature(cls).parameters


def _train(cfg: dict[str, Any], draft: Draft, facts: Facts) -> None:
    train = cfg.get("train_cfg")
    if not isinstance(train, dict):
        return
    if "max_iters" in train and not train.get("by_epoch", False):
        draft.run["total"] = Sourced(train["max_iters"], "train_cfg.max_iters")
    elif "max_epochs" in train and facts.steps_per_epoch is not None:
        draft.run["total"] = Sourced(f"{train['max_epochs']}ep", "train_cfg.max_epochs")
        draft.run["steps_per_epoch"] = Sourced(facts.steps_per_epoch, "--steps-per-epoch")
    for k in train:
        if k not in ("max_iters", "max_epochs", "by_epoch", "type"):
            draft.ignored.append(f"train_cfg.{k}")


#: the top-level keys converted
CONVERTED = ("optim_wrapper", "param_scheduler", "train_cfg", "auto_scale_lr")


def _key_problems(value: Any, where: str) -> list[SpecError]:
    """Every dict key under ``value`` that is not a string (mmengine's own tables are
    keyed by name; ``custom_keys = {0: ...}`` would match no parameter)."""
    out: list[SpecError] = []
    stack = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    out.append(SpecError(f"expected string keys, got the key {k!r}", at))
                else:
                    stack.append((item, f"{at}.{k}"))
        elif isinstance(v, (list, tuple)):
            stack += [(item, f"{at}[{i}]") for i, item in enumerate(v)]
    return sorted(out, key=str)


def convert(path: Path, facts: Facts) -> Draft:
    """An mmengine Python config (with its ``_base_`` chain) as a setup."""
    draft = Draft()
    cfg = read_config(path)
    for key in CONVERTED:
        draft.problems += _key_problems(cfg.get(key), key)
    if draft.problems:
        return draft
    expect_any(cfg, SETS)
    opt = _optimizer(cfg, draft)
    _schedulers(cfg, draft, facts, opt)
    _train(cfg, draft, facts)
    scale = cfg.get("auto_scale_lr")
    if isinstance(scale, dict) and scale.get("enable"):
        draft.refuse(
            "auto_scale_lr.enable",
            "the lr is then scaled by the run's real batch size against base_batch_size; "
            "give the scaled lr in optim_wrapper.optimizer.lr",
        )
    for k in cfg:
        if k not in ("optim_wrapper", "param_scheduler", "train_cfg"):
            draft.ignored.append(k)
    return draft
