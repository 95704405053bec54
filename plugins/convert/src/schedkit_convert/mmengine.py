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

Several optimizers (``constructor='MultiOptimWrapperConstructor'``, mmagic's, which
mmengine's runner builds by name): each other key of ``optim_wrapper`` is one optimizer
wrapper, built by ``DefaultOptimWrapperConstructor`` over the model's top-level
submodule of that name; each becomes an ``[optimizers.NAME]`` table whose ``params``
take that submodule (``name = "NAME.*"``). A ``param_scheduler`` list drives every
optimizer; a dict of lists keyed by the same names drives each its own, as
``Runner.build_param_scheduler`` builds them (tables ``NAME_lr``... with
``optimizers = ["NAME"]``). Each optimizer's ``custom_keys`` become patterns of one
``overrides`` rule anchored on its submodule; its other ``paramwise_cfg`` settings one
``mmengine.paramwise`` rule when every optimizer has the same ones.
"""

from __future__ import annotations

import inspect
import re
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
#: the constructor of several optimizers, one per top-level submodule (mmagic's)
MULTI = "MultiOptimWrapperConstructor"
#: a submodule's name or dotted path (anything else is a pattern mmagic matches as a regex)
SUBMODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
#: the keys of one optimizer wrapper: beside MultiOptimWrapperConstructor's wrappers, refused
BESIDE = ("type", "optimizer", "modules", "paramwise_cfg", "clip_grad", "accumulative_counts")
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


def _optimizer(cfg: dict[str, Any], draft: Draft) -> dict[str, dict[str, Any]]:
    """The optimizers' configs by name (``optimizer`` for the single one), their tables
    filled into the draft."""
    wrapper = cfg.get("optim_wrapper")
    if not isinstance(wrapper, dict):
        if "optimizer" in cfg:
            draft.refuse(
                "optimizer",
                "an mmcv 1.x top-level optimizer: mmengine configs give optim_wrapper",
            )
        else:
            draft.refuse("optim_wrapper", "no optim_wrapper (a dict) in the config")
        return {}
    if wrapper.get("constructor") == MULTI:
        return _multi(wrapper, draft)
    opt = _wrapper(wrapper, "optim_wrapper", draft, draft.optimizer)
    if opt is None:
        return {}
    _clip(wrapper, "optim_wrapper", draft)
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
    return {"optimizer": opt}


def _wrapper(
    wrapper: dict[str, Any], where: str, draft: Draft, table: dict[str, Sourced]
) -> dict[str, Any] | None:
    """One OptimWrapper at ``where``: its type, accumulation, and its optimizer's class and
    options into ``table``; the optimizer's config, or None when it has none."""
    kind = wrapper.get("type", "OptimWrapper")
    if kind not in WRAPPERS:
        draft.refuse(f"{where}.type", f"{kind!r} is not an OptimWrapper schedkit reproduces")
    if kind == "AmpOptimWrapper":
        note = "AmpOptimWrapper: mixed precision and loss scaling are left to the training loop"
        if note not in draft.notes:
            draft.notes.append(note)
    acc = wrapper.get("accumulative_counts", 1)
    if isinstance(acc, int) and acc > 1 and where == "optim_wrapper":
        draft.notes.append(
            f"accumulative_counts = {acc}: call built.step() once every {acc} "
            "iterations (mmengine steps the optimizer there)"
        )
    opt = wrapper.get("optimizer")
    if not isinstance(opt, dict):
        draft.refuse(f"{where}.optimizer", "expected a dict with a type")
        return None
    name = opt.get("type")
    if not isinstance(name, str) or not isinstance(getattr(torch.optim, name, None), type):
        draft.refuse(f"{where}.optimizer.type", f"{name!r} is not a torch.optim class")
        return None
    table["type"] = Sourced(name, f"{where}.optimizer.type")
    for k, v in opt.items():
        if k == "type":
            continue
        table[k] = Sourced(list(v) if isinstance(v, tuple) else v, f"{where}.optimizer.{k}")
    return opt


def _clip(wrapper: dict[str, Any], where: str, draft: Draft) -> None:
    """``clip_grad`` of the wrapper at ``where`` as the ``[clip]`` table."""
    clip = wrapper.get("clip_grad")
    if isinstance(clip, dict):
        clip = dict(clip)
        ctype = clip.pop("type", "norm")
        if not all(_is_number(clip.get(k, 0)) for k in ("max_norm", "clip_value")):
            draft.refuse(f"{where}.clip_grad", f"expected numbers, got {wrapper['clip_grad']!r}")
            clip = {}
        elif ctype == "norm" and "max_norm" in clip:
            draft.clip = {"type": Sourced("norm", f"{where}.clip_grad")}
            draft.clip["max_norm"] = Sourced(
                float(clip.pop("max_norm")), f"{where}.clip_grad.max_norm"
            )
            if "norm_type" in clip:
                nt = clip.pop("norm_type")
                draft.clip["norm_type"] = Sourced(
                    float(nt) if _is_number(nt) else nt, f"{where}.clip_grad.norm_type"
                )
            clip.pop("error_if_nonfinite", None)
        elif ctype == "value" and "clip_value" in clip:
            draft.clip = {
                "type": Sourced("value", f"{where}.clip_grad.type"),
                "clip_value": Sourced(
                    float(clip.pop("clip_value")), f"{where}.clip_grad.clip_value"
                ),
            }
        else:
            draft.refuse(f"{where}.clip_grad", f"cannot read clip_grad {wrapper['clip_grad']!r}")
            clip = {}
        for k in clip:
            draft.refuse(f"{where}.clip_grad.{k}", "torch's clipping takes no such argument")
    elif clip is not None:
        draft.refuse(f"{where}.clip_grad", f"expected a dict, got {clip!r}")


def _multi(wrapper: dict[str, Any], draft: Draft) -> dict[str, dict[str, Any]]:
    """mmagic's ``MultiOptimWrapperConstructor``: one optimizer per top-level submodule,
    each built by ``DefaultOptimWrapperConstructor`` over that submodule."""
    opts: dict[str, dict[str, Any]] = {}
    paramwise: dict[str, Any] = {}
    for name, sub in wrapper.items():
        where = f"optim_wrapper.{name}"
        if name == "constructor":
            continue
        if name in BESIDE or not isinstance(sub, dict):
            why = (
                "MultiOptimWrapperConstructor takes one optimizer wrapper (a dict) per "
                "submodule here"
            )
            if name in ("modules", "optimizer"):
                why = (
                    "one optimizer over some modules only (MultiOptimWrapperConstructor's "
                    "modules form): schedkit's [optimizer] takes every trainable parameter "
                    "(freeze the others, or give each module its own optimizer wrapper)"
                )
            elif name in BESIDE:
                why = (
                    f"MultiOptimWrapperConstructor takes {name} in each optimizer wrapper, "
                    "not beside them"
                )
            draft.refuse(where, why)
            continue
        if not SUBMODULE.fullmatch(name):
            draft.refuse(
                where,
                "a pattern matched against the model's module names (a regex): "
                "name a submodule (or write the setup's params by hand)",
            )
            continue
        if "modules" in sub:
            draft.refuse(
                f"{where}.modules",
                "modules other than the submodule named by the key: write the setup's params "
                "by hand",
            )
        table: dict[str, Sourced] = {}
        opt = _wrapper(sub, where, draft, table)
        if opt is None:
            continue
        table["params"] = Sourced(
            {"name": f"{name}.*"}, f"{where} (the parameters of the submodule {name})"
        )
        draft.optimizers[name] = table
        opts[name] = opt
        pw = sub.get("paramwise_cfg")
        if pw and "." in name:
            draft.refuse(
                f"{where}.paramwise_cfg",
                "MultiOptimWrapperConstructor takes no paramwise_cfg for a module below the "
                "model's top level (it refuses it)",
            )
            continue
        if "weight_decay" not in opt:
            pw = _without_decay(pw, draft, f"{where}.paramwise_cfg")
        paramwise[name] = pw or None
        for k in sub:
            if k not in (
                "type",
                "optimizer",
                "clip_grad",
                "accumulative_counts",
                "paramwise_cfg",
                "modules",
            ):
                draft.ignored.append(f"{where}.{k}")
    _multi_paramwise(paramwise, draft)
    _multi_clip(wrapper, list(opts), draft)
    counts = {n: wrapper[n].get("accumulative_counts", 1) for n in opts}
    if len(set(counts.values())) > 1:
        for n, c in counts.items():
            draft.refuse(
                f"optim_wrapper.{n}.accumulative_counts",
                f"{c}, where the other optimizers' differ: built.step() steps every optimizer "
                "at once",
            )
    elif counts and isinstance(acc := next(iter(counts.values())), int) and acc > 1:
        draft.notes.append(
            f"accumulative_counts = {acc}: call built.step() once every {acc} "
            "iterations (mmengine steps the optimizers there)"
        )
    if opts:
        draft.notes.append(
            "several optimizers: built.step() steps every optimizer and every scheduler at "
            "once (mmengine's runner steps every scheduler each iteration)"
        )
    return opts


def _multi_clip(wrapper: dict[str, Any], names: list[str], draft: Draft) -> None:
    """The optimizers' ``clip_grad``: each wrapper clips its own submodule's gradients, which
    one ``[clip]`` over every parameter does only for clipping by value, the same for all."""
    clips = {n: wrapper[n].get("clip_grad") for n in names}
    given = {n: c for n, c in clips.items() if c is not None}
    if not given:
        return
    first, clip = next(iter(given.items()))
    same = len(given) == len(clips) and all(c == clip for c in given.values())
    if same and isinstance(clip, dict) and clip.get("type") == "value":
        _clip(wrapper[first], f"optim_wrapper.{first}", draft)
        return
    for n in given:
        draft.refuse(
            f"optim_wrapper.{n}.clip_grad",
            "each of mmengine's optimizer wrappers clips its own submodule's gradients; a "
            "setup clips once over every parameter ([clip]), the same only for clipping by "
            "value, the same for every optimizer",
        )


def _multi_paramwise(paramwise: dict[str, Any], draft: Draft) -> None:
    """The optimizers' ``paramwise_cfg``: optimizers whose ``paramwise_cfg`` holds only
    ``custom_keys`` get one ``overrides`` rule (regex patterns anchored on each submodule,
    matching inside it as mmengine does); the other settings, one ``mmengine.paramwise``
    rule when every optimizer has the same ones."""
    given = {n: pw for n, pw in paramwise.items() if pw}
    keyed = {
        n: pw
        for n, pw in given.items()
        if isinstance(pw, dict) and pw.get("custom_keys") is not None
    }
    for name, pw in keyed.items():
        rest = sorted(k for k in pw if k not in ("custom_keys", "bypass_duplicate"))
        if rest or not isinstance(pw["custom_keys"], dict):
            draft.refuse(
                f"optim_wrapper.{name}.paramwise_cfg",
                "custom_keys beside "
                + (", ".join(rest) or "nothing")
                + f": mmengine matches the keys inside the submodule {name} and then applies "
                "none of the other settings, which the setup's rules do not reproduce "
                "(give custom_keys alone, or write the rules by hand)",
            )
            return
    if keyed:
        _custom_keys(keyed, draft)
        # the other settings then reach no rule: one would apply to these optimizers too
        given = {n: pw for n, pw in given.items() if n not in keyed}
    if not given:
        return
    first = next(iter(given.values()))
    if len(given) != len(paramwise) or any(pw != first for pw in given.values()):
        for name in given:
            draft.refuse(
                f"optim_wrapper.{name}.paramwise_cfg",
                "a setup's rules apply to every optimizer's parameters: the optimizers' "
                "paramwise_cfg differ",
            )
        return
    names = list(given)
    _paramwise_rule(first, f"optim_wrapper.{names[0]}.paramwise_cfg", draft, also=names[1:])


def _custom_keys(keyed: dict[str, dict[str, Any]], draft: Draft) -> None:
    """Each optimizer's ``custom_keys`` as patterns of one ``overrides`` rule (regex mode:
    the first pattern that matches decides). mmengine's ``DefaultOptimWrapperConstructor``
    over the submodule ``S`` looks for a key in the name inside ``S`` (``".name"`` for a
    parameter of ``S`` itself), the longest key first (ties alphabetical)."""
    keys: dict[str, Any] = {}
    for name, pw in keyed.items():
        table = pw["custom_keys"]
        root = re.escape(name)
        for key in sorted(sorted(table), key=len, reverse=True):
            k = re.escape(key)
            # a nested parameter: the key within the name after "S."; one of S itself:
            # within ".name"
            keys[rf"^{root}\.(?=[^.]*\.).*{k}|^{root}(?=\.[^.]*$).*{k}"] = table[key]
    draft.rules.append(
        {
            "type": Sourced(
                "overrides",
                ", ".join(f"optim_wrapper.{n}.paramwise_cfg.custom_keys" for n in keyed),
            ),
            "mode": Sourced("regex", "custom_keys (matched inside each optimizer's submodule)"),
            "missing_ok": Sourced(True, "custom_keys (mmengine skips a key matching nothing)"),
            "keys": Sourced(keys, "custom_keys, the longest key first, as mmengine orders them"),
        }
    )


def _without_decay(pw: Any, draft: Draft, where: str = "optim_wrapper.paramwise_cfg") -> Any:
    """mmengine applies no decay multiplier when the optimizer config sets no
    weight_decay (``base_wd`` is None): those settings are ignored."""
    if not isinstance(pw, dict):
        return pw
    out = {}
    for k, v in pw.items():
        if k.endswith("decay_mult"):
            draft.ignored.append(f"{where}.{k} (no weight_decay set)")
            continue
        if k == "custom_keys" and isinstance(v, dict):
            keys = {}
            for name, table in v.items():
                if isinstance(table, dict) and "decay_mult" in table:
                    draft.ignored.append(
                        f"{where}.custom_keys.{name}.decay_mult (no weight_decay set)"
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
    if pw:
        _paramwise_rule(pw, "optim_wrapper.paramwise_cfg", draft)


def _paramwise_rule(pw: Any, where: str, draft: Draft, also: list[str] | None = None) -> None:
    """DefaultOptimWrapperConstructor's ``paramwise_cfg`` at ``where`` as an
    ``mmengine.paramwise`` rule; ``also``: the other optimizers with the same settings
    (named in the rule's source comment)."""
    if not isinstance(pw, dict):
        draft.refuse(where, f"expected a dict, got {pw!r}")
        return
    pw = dict(pw)
    source = where + "".join(f" (and optim_wrapper.{n}'s)" for n in also or ())
    rule = {"type": Sourced("mmengine.paramwise", source)}
    for k in PARAMWISE:
        if k in pw:
            rule[k] = Sourced(pw.pop(k), f"{where}.{k}")
    if "custom_keys" in pw:
        rule["custom_keys"] = Sourced(pw.pop("custom_keys"), f"{where}.custom_keys")
    for k in pw:
        why = (
            "deformable convolutions are mmcv's (not reproduced)"
            if k == "dcn_offset_lr_mult"
            else "DefaultOptimWrapperConstructor reads no such setting"
        )
        draft.refuse(f"{where}.{k}", why)
    draft.rules.append(rule)


def _schedulers(
    cfg: dict[str, Any], draft: Draft, facts: Facts, opts: dict[str, dict[str, Any]]
) -> None:
    """``param_scheduler`` as ``mmengine.param_scheduler`` tables. With several optimizers
    a list drives every one; a dict of lists keyed by their names (``Runner
    .build_param_scheduler``) drives each its own: tables ``NAME_lr``... with
    ``optimizers = ["NAME"]``."""
    raw = cfg.get("param_scheduler")
    if raw is None:
        return
    train = cfg.get("train_cfg") if isinstance(cfg.get("train_cfg"), dict) else {}
    assert isinstance(train, dict)
    lists: dict[str | None, tuple[Any, str]] = {None: (raw, "param_scheduler")}
    if draft.optimizers and isinstance(raw, dict) and "type" not in raw:
        lists = {}
        for opt_name in opts:
            if opt_name in raw:
                lists[opt_name] = (raw[opt_name], f"param_scheduler.{opt_name}")
            else:
                draft.refuse(
                    f"param_scheduler.{opt_name}",
                    f"no schedulers for the optimizer {opt_name}: mmengine's runner needs a list "
                    "for each optimizer in a dict keyed by their names",
                )
        draft.ignored += [f"param_scheduler.{k} (no such optimizer)" for k in raw if k not in opts]
    parsed: dict[str | None, tuple[list[dict[str, Any]], list[dict[str, Any]], str]] = {}
    need_spe = False
    for chosen_by, (items, where) in lists.items():
        got = _scheduler_list(items, where, train, draft)
        if got is not None:
            lrs, moms, epochs = got
            parsed[chosen_by] = (lrs, moms, where)
            need_spe = need_spe or epochs
    spe = None
    if need_spe:
        spe = facts.need(
            "steps_per_epoch", "epoch-based schedulers step once an epoch (mmengine's runner)"
        )
    for name, (lrs, moms, where) in parsed.items():
        targets = list(opts) if name is None else [name]
        for key, parts in (("lr", lrs), ("momentum", moms)):
            if not parts:
                continue
            # the momentum schedulers move betas[0] of the Adam family
            families = {
                f: [n for n in targets if (key == "momentum" and _has_betas(opts[n])) == f]
                for f in (False, True)
            }
            for betas, chosen in families.items():
                if not chosen:
                    continue
                table: dict[str, Sourced] = {"type": Sourced("mmengine.param_scheduler", where)}
                title = key if name is None else f"{name}_{key}"
                if betas and len(chosen) < len(targets):
                    title += "_betas"
                if betas:
                    table["key"] = Sourced(
                        "betas[0]", f"{where} (momentum of the Adam family: betas[0])"
                    )
                elif title != key:
                    table["key"] = Sourced(key, where)
                if name is not None or len(chosen) < len(targets):
                    table["optimizers"] = Sourced(chosen, where)
                if spe is not None:
                    table["steps_per_epoch"] = Sourced(
                        spe, "--steps-per-epoch (mmengine's epoch_length)"
                    )
                table["schedulers"] = Sourced(parts, where)
                draft.schedules[title] = table


def _scheduler_list(
    raw: Any, at: str, train: dict[str, Any], draft: Draft
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool] | None:
    """The list of schedulers at ``at``: the lr schedulers, the momentum ones, and whether
    one counts in epochs; None when it is not a list."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        draft.refuse(at, f"expected a list of schedulers, got {raw!r}")
        return None
    lrs: list[dict[str, Any]] = []
    moms: list[dict[str, Any]] = []
    need_spe = False
    for i, item in enumerate(raw):
        where = f"{at}[{i}]"
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
    return lrs, moms, need_spe


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
    opts = _optimizer(cfg, draft)
    _schedulers(cfg, draft, facts, opts)
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
