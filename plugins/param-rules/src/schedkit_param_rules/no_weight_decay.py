"""The ``no_weight_decay`` rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect
from schedkit.groups import Column
from schedkit.matching import any_glob

#: Norm layers by type: batch, group, instance, layer, local-response and RMS norms.
NORM_TYPES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.modules.batchnorm._NormBase,
    torch.nn.GroupNorm,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
    torch.nn.RMSNorm,
)


def _strings(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _check_strings(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
        raise schedkit.SpecError(f"expected a list of patterns, got {value!r}", attribute.name)


def _norm_type(cls: type) -> bool:
    """A norm layer by its class: a known norm type, or a class named ``...Norm``."""
    return issubclass(cls, NORM_TYPES) or cls.__name__.endswith("Norm")


def _norm_name(module_name: str, names: Callable[[str], bool] | None) -> bool:
    """A norm layer by its name in the model (``norm_names`` globs)."""
    return names is not None and names(module_name.rpartition(".")[2].lower())


def _model_list(model: torch.nn.Module) -> tuple[str, ...]:
    """The model's own ``no_weight_decay()`` names or patterns (timm's convention)."""
    fn = getattr(model, "no_weight_decay", None)
    if not callable(fn):
        return ()
    return tuple(str(n) for n in fn())


@attrs.frozen
class NoWeightDecay(schedkit.BaseRule):
    """Weight decay ``value`` (default 0) for the parameters decay should not shrink.

    Chosen by: norm layers by type (BatchNorm*, SyncBatchNorm, GroupNorm, InstanceNorm*,
    LayerNorm, LocalResponseNorm, RMSNorm) and by class name (any class ending in ``Norm``,
    such as a model's own ``RMSNorm``) or module name (``norm_names`` globs, default
    ``*norm*``); ``bias`` parameters; every 1-D parameter (``one_dim``: gains, biases,
    embeddings' scales); the model's own ``no_weight_decay()`` list, fnmatch patterns as in
    timm (``model_list``); and ``patterns`` (globs on full names). Each switch can be turned
    off. ``tag`` labels the chosen parameters' groups.

    Example: ``{type = "no_weight_decay", one_dim = true}``.
    """

    name = "no_weight_decay"

    norms: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    bias: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    one_dim: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    model_list: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    norm_names: tuple[str, ...] = attrs.field(
        default=("*norm*",), converter=_strings, validator=_check_strings
    )
    patterns: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_check_strings
    )
    value: float = schedkit.factor(0.0, ge=0.0)
    tag: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )

    def bind_all(self, model: torch.nn.Module) -> Column:
        listed = (*_model_list(model), *self.patterns) if self.model_list else self.patterns
        named = any_glob(listed)
        norm_names = any_glob(self.norm_names)
        norm_modules: dict[int, bool] = {}  # per module, by class first (few classes)
        norm_types: dict[type, bool] = {}
        tags = frozenset([self.tag]) if self.tag else frozenset()
        effect = RuleEffect(values={"weight_decay": self.value}, tags=tags)
        one_dim, bias, norms = self.one_dim, self.bias, self.norms

        def is_norm(module: torch.nn.Module, module_name: str) -> bool:
            cls = type(module)
            by_type = norm_types.get(cls)
            if by_type is None:
                by_type = norm_types[cls] = _norm_type(cls)
            found = norm_modules[id(module)] = by_type or _norm_name(module_name, norm_names)
            return found

        def column(infos: Sequence[ParamInfo]) -> list[RuleEffect | None]:
            out: list[RuleEffect | None] = []
            for name, param, module, module_name in infos:
                chosen = (one_dim and param.ndim <= 1) or (
                    bias and name.endswith("bias") and name.rpartition(".")[2] == "bias"
                )
                if not chosen and norms:
                    known = norm_modules.get(id(module))  # known after a module's first
                    chosen = is_norm(module, module_name) if known is None else known
                if not chosen and named is not None:
                    chosen = named(name)
                out.append(effect if chosen else None)
            return out

        return column


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        NoWeightDecay,
        examples=[{}, {"one_dim": False, "patterns": ["*.pos_embed"], "tag": "no_decay"}],
    )
