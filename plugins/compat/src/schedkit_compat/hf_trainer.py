"""``hf_trainer.*``: what the transformers ``Trainer`` decides about param groups."""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect

#: the name patterns of ``Trainer.get_decay_parameter_names`` (searched in the lower-cased name)
PATTERNS = (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")


@attrs.frozen
class NoDecay(schedkit.BaseRule):
    """The transformers Trainer's decay-parameter rule (``Trainer.create_optimizer``): weight
    decay 0 for every parameter inside a ``torch.nn.LayerNorm`` and every parameter whose
    lower-cased name contains ``bias``, ``layernorm`` or ``rmsnorm``, or has a ``norm`` or
    ``..._norm`` component (``get_decay_parameter_names`` of transformers 5); the others keep
    the optimizer's ``weight_decay``.

    Unlike ``no_weight_decay`` it leaves other norm layers (BatchNorm, GroupNorm) and 1-D
    parameters alone, as the Trainer does.

    Example: ``{type = "hf_trainer.no_decay"}``.
    """

    name = "hf_trainer.no_decay"

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        inside = {
            name
            for module_name, module in model.named_modules()
            if isinstance(module, torch.nn.LayerNorm)
            for name, _ in module.named_parameters(prefix=module_name)
        }
        regex = re.compile("|".join(PATTERNS))
        effect = RuleEffect(values={"weight_decay": 0.0})

        def decide(info: ParamInfo) -> RuleEffect | None:
            if info.name in inside or regex.search(info.name.lower()):
                return effect
            return None

        return decide


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(NoDecay, examples=[{}])
