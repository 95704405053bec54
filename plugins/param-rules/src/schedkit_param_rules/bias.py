"""The ``bias`` rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect
from schedkit.plugin import number, optional


@attrs.frozen
class Bias(schedkit.BaseRule):
    """Bias parameters (named ``bias``): their lr times ``lr_factor`` and, when given, their
    weight decay set to ``weight_decay``: detectron2's ``SOLVER.BIAS_LR_FACTOR`` and
    ``SOLVER.WEIGHT_DECAY_BIAS``. Norm-layer biases included, as in detectron2.

    Example: ``{type = "bias", lr_factor = 2.0, weight_decay = 0.0}``.
    """

    name = "bias"

    lr_factor: float = schedkit.factor(1.0, ge=0.0)
    weight_decay: float | None = schedkit.field(default=None, validator=optional(number(ge=0.0)))

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        values = {} if self.weight_decay is None else {"weight_decay": self.weight_decay}
        mults = {} if self.lr_factor == 1.0 else {"lr": self.lr_factor}
        effect = RuleEffect(values=values, multipliers=mults)

        def decide(info: ParamInfo) -> RuleEffect | None:
            return effect if info.name.rsplit(".", 1)[-1] == "bias" else None

        return decide

    def group_name(
        self, model: torch.nn.Module, effect: RuleEffect | None, params: Sequence[ParamInfo]
    ) -> str | None:
        """``bias`` for the biases it changed; nothing for the rest."""
        return None if effect is None else "bias"


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(Bias, examples=[{"lr_factor": 2.0}, {"lr_factor": 1.0, "weight_decay": 0.0}])
