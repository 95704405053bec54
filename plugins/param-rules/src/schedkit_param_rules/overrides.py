"""The ``overrides`` rule."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect, SpecError
from schedkit.plugin import MATCH_MODES as MODES
from schedkit.plugin import (
    Field,
    as_real,
    first_match,
    group_keys_read,
    instance_of,
    matcher,
    optimizer_options,
    parameter_names,
    require_matches,
    show,
)

SETTINGS = ("lr", "lr_mult", "weight_decay", "decay_mult", "tags")


def _optimizer_options() -> frozenset[str]:
    """Every option a ``torch.optim`` optimizer takes per group (``betas``, ``eps``,
    ``momentum``, ``ns_steps``...) but ``lr`` and ``weight_decay`` (settings of their own
    here): an override may set any of them."""
    return optimizer_options() - {"lr", "weight_decay"}


def _option_value(v: Any) -> bool:
    """A value an optimizer option may take: a finite number, a flag, a name, or a list of
    finite numbers (``betas``)."""
    if isinstance(v, (bool, str)):
        return True
    if isinstance(v, (list, tuple)):
        return bool(v) and all(_option_value(x) and not isinstance(x, (str, bool)) for x in v)
    x = as_real(v)
    return x is not None and math.isfinite(x)


def _settings(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    return tuple(sorted((n, tuple(v) if isinstance(v, list) else v) for n, v in value.items()))


def _keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((str(k), _settings(v)) for k, v in value.items())
    return value


def _check_keys(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple) or not value:
        raise SpecError(
            f"expected a table of name patterns to settings, got {show(value)}", attribute.name
        )
    for key, settings in value:
        if not isinstance(settings, tuple):
            raise SpecError(
                f"expected a table of settings, got {show(settings)}", f"{attribute.name}.{key}"
            )
        for name, v in settings:
            where = f"{attribute.name}.{key}.{name}"
            read = group_keys_read()
            if name not in SETTINGS and name not in _optimizer_options() and name not in read:
                known = [*SETTINGS, *_optimizer_options(), *sorted(read)]
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise SpecError(
                    f"unknown setting{hint} (expected one of: {', '.join(SETTINGS)}, an "
                    "option of the group's optimizer such as betas, eps, momentum, or an "
                    "entry a schedule reads from its groups such as Megatron's max_lr)",
                    where,
                )
            if name in _optimizer_options() or name in read:
                if not _option_value(v):
                    raise SpecError(
                        f"expected a finite number, a flag, a name or a list of numbers, "
                        f"got {show(v)}",
                        where,
                    )
            elif name == "tags":
                if not isinstance(v, (list, tuple)) or not all(isinstance(t, str) for t in v):
                    raise SpecError(f"expected a list of tags, got {show(v)}", where)
            else:
                x = as_real(v)  # None for a bool, text, or an int beyond the float range
                if x is None or not math.isfinite(x) or x < 0:
                    raise SpecError(f"expected a finite number >= 0, got {show(v)}", where)


@attrs.frozen
class Overrides(schedkit.BaseRule):
    """Per-name settings: ``lr`` and ``weight_decay`` (explicit values), ``lr_mult`` and
    ``decay_mult`` (multipliers of the current values), ``tags``, and any other option of
    the group's optimizer (``betas``, ``eps``, ``momentum``...: explicit values, checked
    against that optimizer's class when a setup builds, with the key path).

    ``keys`` maps patterns to settings; ``mode`` says how a pattern matches a parameter's
    full name: ``exact``, ``glob`` (default), ``regex`` (search), or ``substring``
    (mmengine's ``custom_keys``: the key is a substring of the name). One pattern decides per
    parameter: the first that matches in the order written, or with ``substring`` the
    longest matching key (ties: alphabetical), as mmengine does.

    Example: ``{type = "overrides", keys = {"head.*" = {lr_mult = 10.0, tags = ["head"]}}}``.
    """

    name = "overrides"

    keys: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = schedkit.field(
        converter=_keys, validator=_check_keys
    )
    mode: str = schedkit.choice("glob", *[m for m in MODES if m != "glob"])
    missing_ok: bool = schedkit.field(default=False, validator=instance_of(bool))

    def __attrs_post_init__(self) -> None:
        for key, _ in self.keys:
            try:
                matcher(self.mode, key)
            except SpecError as e:
                raise SpecError(e.message, f"keys.{key}") from None

    def spec(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "keys": {
                k: {n: list(v) if isinstance(v, (list, tuple)) else v for n, v in settings}
                for k, settings in self.keys
            },
            "mode": self.mode,
            "missing_ok": self.missing_ok,
        }

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        table = {k: dict(settings) for k, settings in self.keys}
        effects: dict[str, RuleEffect] = {}
        group_keys = _optimizer_options() | group_keys_read()
        for key, s in table.items():
            values: dict[str, Any] = {n: s[n] for n in ("lr", "weight_decay") if n in s}
            values.update({n: v for n, v in s.items() if n in group_keys})
            mults = {"lr": s["lr_mult"]} if "lr_mult" in s else {}
            if "decay_mult" in s:
                mults["weight_decay"] = s["decay_mult"]
            effects[key] = RuleEffect(values=values, multipliers=mults, tags=s.get("tags", ()))

        if not self.missing_ok:
            require_matches(
                [(k, f"keys.{k}") for k in table],
                parameter_names(model),
                self.mode,
                f"the parameters of {type(model).__name__}",
            )

        def decide(info: ParamInfo) -> RuleEffect | None:
            key = first_match(self.mode, table, info.name)
            return None if key is None else effects[key]

        return decide

    def group_name(
        self, model: torch.nn.Module, effect: RuleEffect | None, params: Sequence[ParamInfo]
    ) -> str | None:
        """The tags the matching key gives, else the key itself (``head.*``); nothing for
        the parameters no key matched."""
        if effect is None or not params:
            return None
        if effect.tags:
            return "+".join(sorted(effect.tags))
        table = {k: dict(settings) for k, settings in self.keys}
        return first_match(self.mode, table, params[0].name)


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        Overrides,
        examples=[
            {"keys": {"head.*": {"lr_mult": 10.0, "tags": ["head"]}}},
            {
                "keys": {"cls_token": {"decay_mult": 0.0}, "blocks": {"lr": 1e-4}},
                "mode": "substring",
            },
            {"keys": {"head.*": {"betas": [0.9, 0.95], "eps": 1e-6}}},
        ],
    )
