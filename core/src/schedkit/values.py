"""The values rules and clippers pass around: what a rule sees of a parameter
(:class:`ParamInfo`), what it decides (:class:`RuleEffect`), and what a clipping call did
(:class:`ClipResult`). Apart from the protocols (:mod:`schedkit.protocols`), so that a
program that only schedules never creates these classes. attrs classes, like the components
that hand them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

if TYPE_CHECKING:
    import torch


class ParamInfo(NamedTuple):
    """One trainable parameter as a rule sees it (a named tuple: cheap, immutable)."""

    #: full dotted name, as in ``model.named_parameters()``
    name: str
    param: torch.nn.Parameter
    #: the module that owns the parameter, and its dotted name
    module: torch.nn.Module
    module_name: str


def _tags(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class RuleEffect:
    """What a rule decides for one parameter.

    ``values`` are explicit settings (they replace what earlier rules set), ``multipliers``
    scale the current value of a key, and ``tags`` label the parameter's group.
    """

    values: Mapping[str, Any] = attrs.field(factory=dict)
    multipliers: Mapping[str, float] = attrs.field(factory=dict)
    tags: frozenset[str] = attrs.field(factory=frozenset, converter=_tags)


@attrs.frozen
class ClipResult:
    """The outcome of one clipping call: plain fields a monitor reads
    (``built.last_clip``).

    - ``total_norm``: the pre-clip norm as a 0-dim tensor where the strategy computes one
      (no host sync is forced), or None;
    - ``clip_coef``: the factor applied (a tensor, 1 when nothing was clipped), or None;
    - ``skipped``: the step was skipped, its gradients dropped (a non-finite norm under
      ``nonfinite = "skip"``, a spike under ``zclip``'s ``on_spike = "skip"``, or a loss
      spike in ``Built.step(loss=...)``): ``Built.step()`` did not step the optimizer;
    - ``spike``: a spike clipper (``zclip``) judged this step a spike (clipped or skipped);
    - ``clipped`` (derived): whether the gradients were scaled down, ``clip_coef < 1`` as a
      0-dim bool tensor (no host sync), or None without a coefficient.
    """

    total_norm: torch.Tensor | None = None
    clip_coef: torch.Tensor | None = None
    skipped: bool = False
    spike: bool = False

    @property
    def clipped(self) -> torch.Tensor | None:
        """Whether the gradients were scaled down: ``clip_coef < 1`` (a 0-dim bool tensor),
        or None when the strategy reports no coefficient (or the step was skipped)."""
        return None if self.clip_coef is None else self.clip_coef < 1
