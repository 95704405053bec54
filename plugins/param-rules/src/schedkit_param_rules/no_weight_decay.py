"""The ``no_weight_decay`` rule."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect
from schedkit.plugin import (
    Column,
    Field,
    any_glob,
    instance_of,
    optional,
    parameter_names,
    require_matches,
)

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


def _check_strings(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
        raise schedkit.SpecError(f"expected a list of patterns, got {value!r}", attribute.name)


def _norm_type(cls: type) -> bool:
    """A norm layer by its class: a known norm type, or a class named ``...Norm``."""
    return issubclass(cls, NORM_TYPES) or cls.__name__.endswith("Norm")


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
    off. ``tag`` labels the chosen parameters' groups. A pattern of ``patterns`` that
    matches no parameter is an error naming the closest names (a typo, most often), unless
    ``missing_ok = true``; the model's own list and ``norm_names`` may match nothing.

    Example: ``{type = "no_weight_decay", one_dim = true}``.
    """

    name = "no_weight_decay"

    norms: bool = schedkit.field(default=True, validator=instance_of(bool))
    bias: bool = schedkit.field(default=True, validator=instance_of(bool))
    one_dim: bool = schedkit.field(default=True, validator=instance_of(bool))
    model_list: bool = schedkit.field(default=True, validator=instance_of(bool))
    norm_names: tuple[str, ...] = schedkit.field(
        default=("*norm*",), converter=_strings, validator=_check_strings
    )
    patterns: tuple[str, ...] = schedkit.field(
        default=(), converter=_strings, validator=_check_strings
    )
    value: float = schedkit.factor(0.0, ge=0.0)
    tag: str | None = schedkit.field(default=None, validator=optional(instance_of(str)))
    missing_ok: bool = schedkit.field(default=False, validator=instance_of(bool))

    def bind_all(self, model: torch.nn.Module) -> Column:
        if self.patterns and not self.missing_ok:
            require_matches(
                [(p, f"patterns[{i}]") for i, p in enumerate(self.patterns)],
                parameter_names(model),
                "glob",
                f"the parameters of {type(model).__name__}",
            )
        listed = (*_model_list(model), *self.patterns) if self.model_list else self.patterns
        named = any_glob(listed)
        norm_names = any_glob(self.norm_names) if self.norms else None
        norm_types: dict[type, bool] = {}  # per class (few classes), then by module name
        tags = frozenset([self.tag]) if self.tag else frozenset()
        effect = RuleEffect(values={"weight_decay": self.value}, tags=tags)
        one_dim, bias, norms = self.one_dim, self.bias, self.norms

        def column(infos: Sequence[ParamInfo]) -> list[RuleEffect | None]:
            # 1-D parameters (most biases and norm gains) first, at C speed; then the others
            out: list[RuleEffect | None]
            rest: Sequence[int]
            if one_dim:
                small = list(map(_AT_MOST_1, map(_NDIM, infos)))
                out = [effect if s else None for s in small]
                rest = [i for i, s in enumerate(small) if not s]
            else:
                out, rest = [None] * len(infos), range(len(infos))
            for i in rest:
                name, _, module, module_name = infos[i]
                if bias and (name.endswith(".bias") or name == "bias"):
                    out[i] = effect
                elif norms:
                    cls = type(module)
                    by_type = norm_types.get(cls)
                    if by_type is None:
                        by_type = norm_types[cls] = _norm_type(cls)
                    if by_type or (
                        norm_names is not None
                        and norm_names(module_name.rpartition(".")[2].lower())
                    ):
                        out[i] = effect
                if out[i] is None and named is not None and named(name):
                    out[i] = effect
            return out

        return column

    def group_name(
        self, model: torch.nn.Module, effect: RuleEffect | None, params: Sequence[ParamInfo]
    ) -> str | None:
        """``no_decay`` (or the ``tag``) for the parameters it chose, ``decay`` for the rest."""
        if effect is None:
            return "decay"
        return self.tag or "no_decay"


_NDIM = operator.attrgetter("param.ndim")
_AT_MOST_1 = (1).__ge__


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        NoWeightDecay,
        examples=[{}, {"one_dim": False, "patterns": ["*pos_embed"], "tag": "no_decay"}],
    )
