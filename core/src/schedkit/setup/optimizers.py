"""The ``[optimizer]`` table's side of torch: the class by name, its defaults, each
option judged from its signature, and torch's own checks run on a trial parameter."""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import re
import typing
import warnings
from collections.abc import Mapping
from typing import Any, TypeGuard

import torch

from schedkit._numbers import show
from schedkit.errors import SpecError
from schedkit.setup.problems import FLOAT32_MAX, LR_KEYS, is_number, trim


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """A ``torch.optim`` optimizer class by its name (no imports from elsewhere)."""
    found = vars(torch.optim).get(name) if isinstance(name, str) else None
    if _is_optimizer(found) and name not in _REFUSED:
        return found
    classes = {n: c for n, c in vars(torch.optim).items() if _is_optimizer(c)}
    if not isinstance(name, str) or name not in classes:
        same = [n for n in classes if isinstance(name, str) and n.lower() == name.lower()]
        close = same or difflib.get_close_matches(show(name), classes, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise SpecError(f"unknown optimizer {show(name)}{hint} (torch.optim classes only)")
    if name in _REFUSED:
        raise SpecError(f"{name} cannot be used in a setup: {_REFUSED[name]}")
    return classes[name]


def _is_optimizer(value: Any) -> TypeGuard[type[torch.optim.Optimizer]]:
    return (
        isinstance(value, type)
        and issubclass(value, torch.optim.Optimizer)
        and value is not torch.optim.Optimizer
    )


#: optimizers a setup cannot drive, and why
_REFUSED = {
    "LBFGS": "it takes no per-parameter options (param groups) and steps with a closure",
    "SparseAdam": "it needs sparse gradients, and the setup's clipping and groups are dense",
}


def _plain_default(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, tuple):
        return all(_plain_default(v) for v in value)
    return False


def parameters(cls: type[torch.optim.Optimizer]) -> Mapping[str, inspect.Parameter]:
    """The parameters of ``cls.__init__``, read once per class (``inspect.signature``
    parses the whole signature each time)."""
    found = _PARAMETERS.get(cls)
    if found is None:
        found = _PARAMETERS[cls] = inspect.signature(cls.__init__).parameters
    return found


_PARAMETERS: dict[type, Mapping[str, inspect.Parameter]] = {}


def optimizer_defaults(cls: type[torch.optim.Optimizer]) -> dict[str, Any]:
    """The optimizer's keyword defaults that are plain data (filled into resolved setups)."""
    out = {}
    for name, p in parameters(cls).items():
        if name in ("self", "params", "lr") or p.default is inspect.Parameter.empty:
            continue
        if _plain_default(p.default):
            out[name] = list(p.default) if isinstance(p.default, tuple) else p.default
    return out


def check_option(name: str, value: Any, param: inspect.Parameter) -> str | None:
    """What is wrong with an optimizer option, judged from its default and annotation
    (None: nothing). Strings are never booleans, numbers are finite, pairs are pairs."""
    default = param.default
    args = set(typing.get_args(param.annotation)) or {param.annotation}
    if isinstance(default, bool) or args == {bool, type(None)}:
        if isinstance(value, bool) or (value is None and default is None):
            return None
        return f"expected true or false, got {show(value)}"
    if is_number(default):
        if not is_number(value) or not math.isfinite(value):
            return f"expected a finite number, got {show(value)}"
        if abs(value) > FLOAT32_MAX:
            return f"expected a number a float32 parameter can take, got {show(value)}"
        if value < 0 and default >= 0:
            return f"expected a number >= 0, got {show(value)}"
        if param.annotation in (int, "int") and not float(value).is_integer():
            return f"expected a whole number, got {show(value)}"
        return _limit(name, value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            return f"expected a list of {len(default)} numbers, got {show(value)}"
        for i, (v, d) in enumerate(zip(value, default, strict=True)):
            if v is None and d is None:
                continue
            if not is_number(v) or not math.isfinite(v):
                return f"expected finite numbers, got {show(value)} (item {i})"
            if name == "betas" and not 0.0 <= v < 1.0:
                return f"expected numbers in [0, 1), got {show(value)}"
        return None
    if is_number(value) and not math.isfinite(value):
        return f"expected a finite number, got {show(value)}"
    return None


#: limits torch checks only when an optimizer steps (too late for a setup), by option name
_LIMITS = {"ns_steps": (0, 100)}


def _limit(name: str, value: Any) -> str | None:
    """An option's limit that torch only checks at the first step (Muon's ``ns_steps``
    below 100): checked with the rest of the file."""
    if name in _LIMITS:
        lo, hi = _LIMITS[name]
        if not lo <= value < hi:
            return f"expected a number >= {lo} and < {hi}, got {show(value)}"
    return None


def trial_optimizer(
    optimizer: Mapping[str, Any], lr: float, lr_key: str = "lr", where: str = "optimizer"
) -> torch.optim.Optimizer:
    """The setup's optimizer over one small parameter: torch's own checks of its options
    (betas, nesterov without momentum, fused with foreach...) run in its constructor, so
    they run now, not at build time. It is not stepped: nothing more is checked by a step.
    ``lr_key``: the table's name of the lr (``base_lr`` when scaled), for torch's refusals;
    ``where``: the table's key path."""
    cls = optimizer_class(optimizer["type"])
    args = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in optimizer.items()
        if k not in ("type", *LR_KEYS)
    }
    p = torch.zeros(2, 2, requires_grad=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt: torch.optim.Optimizer = _trial_class(cls)([p], lr=lr, **args)  # type: ignore[call-arg, arg-type]
    except Exception as e:  # torch's checks raise ValueError, TypeError, RuntimeError...
        option = _refused_option(str(e), [*args, lr_key])
        raise SpecError(
            f"torch.optim.{cls.__name__} refuses these options: {trim(str(e), 200)}",
            where if option is None else f"{where}.{option}",
        ) from None
    return opt


def _trial_class(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """``cls`` with torch's own ``add_param_group`` unwrapped from its ``torch._dynamo``
    guard, which imports the compiler stack (a second or more) on the first call: the same
    checks of each group, without that import. ``cls`` itself when torch does not expose
    the unwrapped function, or when ``cls`` has its own ``add_param_group``."""
    trial = _TRIAL_CLASSES.get(cls)
    if trial is None:
        own = cls.add_param_group
        unwrapped = getattr(own, "__wrapped__", None)
        trial = cls
        if own is torch.optim.Optimizer.add_param_group and unwrapped is not None:
            attrs = {"add_param_group": unwrapped, "__module__": __name__}
            trial = type(cls.__name__, (cls,), attrs)
        _TRIAL_CLASSES[cls] = trial
    return trial


_TRIAL_CLASSES: dict[type[torch.optim.Optimizer], type[torch.optim.Optimizer]] = {}


#: how torch's messages name some options in prose ("Invalid epsilon value")
_OPTION_WORDS = {
    "eps": ("epsilon",),
    "betas": ("beta",),
    "etas": ("eta",),
    "lr": ("learning rate",),
    "base_lr": ("learning rate",),
    "adjust_lr_fn": ("adjust learning rate function",),
}


def _refused_option(message: str, names: list[str]) -> str | None:
    """The option a torch optimizer's refusal names first (``Nesterov momentum requires a
    momentum and zero dampening``: ``nesterov``), with the item of a pair when the message
    says it (``Invalid beta parameter at index 1``: ``betas[1]``); None when it names none."""
    found: list[tuple[int, int, str, re.Match[str]]] = []
    for name in names:
        for word in (name, name.replace("_", " "), *_OPTION_WORDS.get(name, ())):
            m = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", message, re.IGNORECASE)
            if m is not None:
                found.append((m.start(), -len(word), name, m))
    if not found:
        return None
    _, _, name, m = min(found, key=lambda f: f[:2])
    index = re.match(r"[\w ]*? at index (\d+)", message[m.end() :])
    return f"{name}[{index.group(1)}]" if index else name


@functools.cache
def optimizer_options() -> frozenset[str]:
    """Every per-group option a ``torch.optim`` optimizer takes (``betas``, ``eps``,
    ``momentum``, ``ns_steps``..., ``lr`` and ``weight_decay`` too): what a rule may set in
    a group; whether the group's own optimizer takes it is checked when a setup builds."""
    names: set[str] = set()
    for value in vars(torch.optim).values():
        if (
            isinstance(value, type)
            and issubclass(value, torch.optim.Optimizer)
            and value is not torch.optim.Optimizer
        ):
            names.update(parameters(value))
    return frozenset(names - {"self", "params"})
