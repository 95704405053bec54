"""The values rules and clippers pass around: what a rule sees of a parameter
(:class:`ParamInfo`), what it decides (:class:`RuleEffect`), and what a clipping call did
(:class:`ClipResult`). Apart from the protocols (:mod:`schedkit.protocols`), so that a
program that only schedules never creates these classes. Records, like the components that
hand them out: a plugin that defines a rule or a clipper beside its schedules (the aliases
of timm, mmengine, detectron2) imports no attrs on a first look-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from schedkit._record import Record, field

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


class RuleEffect(Record):
    """What a rule decides for one parameter.

    ``values`` are explicit settings (they replace what earlier rules set), ``multipliers``
    scale the current value of a key, and ``tags`` label the parameter's group.
    """

    values: Mapping[str, Any] = field(factory=dict)
    multipliers: Mapping[str, float] = field(factory=dict)
    tags: frozenset[str] = field(factory=frozenset, converter=_tags)


class ClipResult(Record):
    """The outcome of one clipping call.

    ``total_norm`` is the pre-clip norm as a 0-dim tensor where the strategy computes one
    (no host sync is forced); ``clip_coef`` the factor applied (a tensor, 1 when nothing was
    clipped); ``skipped`` is true when a non-finite policy skipped the step.
    """

    total_norm: torch.Tensor | None = None
    clip_coef: torch.Tensor | None = None
    skipped: bool = False
