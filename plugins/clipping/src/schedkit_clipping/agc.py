"""The ``agc`` clipper."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ClipResult
from schedkit.plugin import (
    Target,
    check_exclude,
    check_norm_type,
    name_matcher,
    norm_type,
    strings,
    to_strings,
)


@attrs.frozen(kw_only=True)
class AGC(schedkit.BaseClipper):
    """Adaptive gradient clipping (Brock et al., 2021, NFNets), unit-wise as in timm's
    ``adaptive_clip_grad``: a unit's gradient is scaled down when its norm exceeds
    ``clip_factor`` times the norm of its weights (at least ``eps``).

    A unit is a row (output unit) of a weight, all of a 1-D parameter:
    ``g *= max_norm / max(|g|, 1e-6)`` where ``|g| > max_norm = clip_factor * max(|w|, eps)``.
    ``exclude`` leaves parameters out by name (globs; the paper does not clip the final
    classifier: ``exclude = ["head.*"]``). 1-D parameters are done with foreach kernels.

    Example: ``{type = "agc", clip_factor = 0.01, exclude = ["fc.*"]}``.
    """

    name = "agc"
    computes_norm = False

    clip_factor: float = schedkit.factor(0.01, gt=0.0)
    eps: float = schedkit.factor(1e-3, gt=0.0)
    norm_type: float = schedkit.field(default=2.0, converter=norm_type, validator=check_norm_type)
    exclude: tuple[str, ...] = schedkit.field(default=(), converter=to_strings, validator=strings)

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        check_exclude(self.name, self.exclude, target)
        pairs: Iterable[tuple[torch.Tensor, torch.Tensor]] = zip(
            target.params, target.grads, strict=True
        )
        if self.exclude:  # names are built only when patterns need them
            skip = name_matcher(self.exclude)
            pairs = [(p, g) for n, (p, g) in zip(target.names, pairs, strict=True) if not skip(n)]
        flat_p: list[torch.Tensor] = []
        flat_g: list[torch.Tensor] = []
        rest: list[tuple[torch.Tensor, torch.Tensor]] = []
        for p, g in pairs:
            if p.ndim <= 1:
                flat_p.append(p.detach())
                flat_g.append(g)
            else:
                rest.append((p, g))
        clip = self.clip_factor * factor
        with torch.no_grad():
            for group_p, group_g in _paired(flat_p, flat_g):
                p_norm = torch.stack(torch._foreach_norm(group_p, self.norm_type)).clamp_(
                    min=self.eps
                )
                g_norm = torch.stack(torch._foreach_norm(group_g, self.norm_type))
                max_norm = p_norm * clip
                coef = torch.where(
                    g_norm < max_norm, torch.ones_like(g_norm), max_norm / g_norm.clamp(min=1e-6)
                )
                torch._foreach_mul_(group_g, list(coef.unbind()))
            for p, g in rest:
                dims = tuple(range(1, p.ndim))
                p_norm = torch.linalg.vector_norm(
                    p.detach(), self.norm_type, dim=dims, keepdim=True
                ).clamp_(min=self.eps)
                g_norm = torch.linalg.vector_norm(g, self.norm_type, dim=dims, keepdim=True)
                max_norm = p_norm * clip
                g.mul_(torch.where(g_norm < max_norm, 1.0, max_norm / g_norm.clamp(min=1e-6)))
        return ClipResult()


def _paired(
    ps: list[torch.Tensor], gs: list[torch.Tensor]
) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    by_key: dict[
        tuple[torch.device, torch.dtype], tuple[list[torch.Tensor], list[torch.Tensor]]
    ] = {}
    for p, g in zip(ps, gs, strict=True):
        pair = by_key.setdefault((g.device, g.dtype), ([], []))
        pair[0].append(p)
        pair[1].append(g)
    return list(by_key.values())


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(AGC, examples=[{}, {"clip_factor": 0.05, "exclude": ["head.*"]}])
