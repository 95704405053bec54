"""``mmpretrain.*``: mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` as a rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

import schedkit
from schedkit import ParamInfo, RuleEffect, UnplacedParameter
from schedkit.plugin import number, optional, record_spec, to_float
from schedkit_compat._base import settings_table, table_spec
from schedkit_layer_decay.rule import LayerDecay as NativeLayerDecay

#: the norm layers mmpretrain's constructor knows
NORM_TYPES = (_BatchNorm, _InstanceNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)


def _mult() -> Any:
    return schedkit.field(
        default=None,
        converter=lambda v: v if v is None else to_float(v),
        validator=optional(number(ge=0.0)),
    )


@attrs.frozen
class LayerDecay(schedkit.BaseRule):
    """mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` (``paramwise_cfg``).

    The lr of a parameter is multiplied by ``layer_decay_rate ** (num_layers - layer_id -
    1)``, with ``(layer_id, num_layers)`` from the model's ``get_layer_depth(name)`` (where
    mmpretrain refuses a model without one, the ``layer_decay`` rule's layouts give the
    depths: ViT, Swin/ConvNeXt stages, Hugging Face encoders, ResNet). Its weight decay is
    multiplied by the first that applies: the ``decay_mult`` of the longest ``custom_keys``
    key contained in its name (ties: alphabetical), ``norm_decay_mult`` for parameters of
    norm layers, ``bias_decay_mult`` for biases, ``flat_decay_mult`` for other 1-D parameters. The
    parameters with equal settings share a group (mmpretrain makes one per parameter).

    Example: ``{type = "mmpretrain.layer_decay", layer_decay_rate = 0.65,
    norm_decay_mult = 0.0, flat_decay_mult = 0.0,
    custom_keys = {".cls_token" = {decay_mult = 0.0}}}``.
    """

    name = "mmpretrain.layer_decay"

    layer_decay_rate: float = schedkit.factor(1.0, gt=0.0, le=1.0)
    bias_decay_mult: float | None = _mult()
    norm_decay_mult: float | None = _mult()
    flat_decay_mult: float | None = _mult()
    custom_keys: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = settings_table(
        ("decay_mult",),
        "this constructor applies decay_mult only (its lr_mult is disabled; the lr comes "
        "from the layer depth)",
    )

    def spec(self) -> dict[str, Any]:
        out = record_spec(self)
        out["custom_keys"] = table_spec(self.custom_keys)
        return out

    def _decay_mult(self, info: ParamInfo, keys: list[tuple[str, float]]) -> float | None:
        for key, mult in keys:
            if key in info.name:
                return mult
        local = info.name.rsplit(".", 1)[-1]
        if self.norm_decay_mult is not None and isinstance(info.module, NORM_TYPES):
            return self.norm_decay_mult
        if self.bias_decay_mult is not None and local == "bias":
            return self.bias_decay_mult
        if self.flat_decay_mult is not None and info.param.ndim == 1:
            return self.flat_decay_mult
        return None

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        depth = getattr(model, "get_layer_depth", None)
        if not callable(depth):
            depth = _layouts(model, self.layer_decay_rate)
        table = dict(self.custom_keys)
        ordered = sorted(sorted(table), key=len, reverse=True)
        keys = [(k, float(dict(table[k]).get("decay_mult", 1.0))) for k in ordered]
        cache: dict[tuple[float, float | None], RuleEffect] = {}

        def decide(info: ParamInfo) -> RuleEffect:
            layer_id, num = depth(info.name)
            scale = self.layer_decay_rate ** (num - layer_id - 1)
            mult = self._decay_mult(info, keys)
            found = cache.get((scale, mult))
            if found is None:
                mults = {"lr": scale} if mult is None else {"lr": scale, "weight_decay": mult}
                found = cache[(scale, mult)] = RuleEffect(multipliers=mults)
            return found

        return decide


def _layouts(model: torch.nn.Module, rate: float) -> Callable[[str], tuple[int, int]]:
    """Depths from the ``layer_decay`` rule's layouts, for models without
    ``get_layer_depth`` (mmpretrain itself refuses them)."""
    found, num, _ = NativeLayerDecay(rate=rate).depths(model)

    def depth(name: str) -> tuple[int, int]:
        if name not in found:
            raise UnplacedParameter("no layout gives its depth; give the model get_layer_depth")
        return found[name], num

    return depth


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        LayerDecay,
        examples=[
            {"layer_decay_rate": 0.75},
            {
                "layer_decay_rate": 0.65,
                "norm_decay_mult": 0.0,
                "flat_decay_mult": 0.0,
                "custom_keys": {".cls_token": {"decay_mult": 0.0}},
            },
        ],
    )
