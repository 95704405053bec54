"""A param-group rule: its own lr multiplier for embedding tables."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import torch

import schedkit


@attrs.frozen
class EmbeddingsLR(schedkit.BaseRule):
    """Multiply the lr of ``nn.Embedding`` weights by ``lr_mult`` and tag their group
    ``embeddings``, so a scheduler can drive them on their own.

    Example: ``{type = "embeddings_lr", lr_mult = 0.1}``.
    """

    name = "embeddings_lr"

    lr_mult: float = schedkit.factor(1.0, ge=0.0)

    def bind(
        self, model: torch.nn.Module
    ) -> Callable[[schedkit.ParamInfo], schedkit.RuleEffect | None]:
        effect = schedkit.RuleEffect(multipliers={"lr": self.lr_mult}, tags={"embeddings"})

        def decide(info: schedkit.ParamInfo) -> schedkit.RuleEffect | None:
            return effect if isinstance(info.module, torch.nn.Embedding) else None

        return decide


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(EmbeddingsLR, examples=[{"lr_mult": 0.1}])
