"""A stateful gradient clipper: clip spikes against the running mean of earlier norms."""

from __future__ import annotations

from typing import Any

import attrs
import torch

from schedkit.plugin import (
    BaseClipper,
    ClipResult,
    Registrar,
    Target,
    factor,
    hookimpl,
    scale_,
)


@attrs.frozen(kw_only=True)
class Spike(BaseClipper):
    """Clip gradient spikes: scale the global norm down to ``ratio`` times the running mean
    of the earlier norms (an exponential moving average with ``decay``). The first step
    only records its norm.

    Its history is declared state: saved by ``state_dict()``, checked and restored by
    ``load_state_dict()``, so a resumed run clips exactly as an uninterrupted one.

    Example: ``{type = "spike", ratio = 2.0}``.
    """

    name = "spike"
    #: bump when the layout of initial_state() changes (and convert in upgrade_state)
    state_version = 1

    ratio: float = factor(2.0, gt=0.0)
    decay: float = factor(0.9, ge=0.0, lt=1.0)

    def initial_state(self) -> dict[str, Any]:
        return {"mean": torch.tensor(0.0, dtype=torch.float64), "seen": 0}

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        total = self.global_norm(target, 2.0, process_group)
        if not self.finite(target, total):  # the policy raised or dropped the gradients
            return ClipResult(total_norm=total, skipped=True)
        norm = total.detach().to(torch.float64)
        mean = self.state["mean"].to(norm.device)
        coef = torch.ones((), dtype=total.dtype, device=total.device)
        if self.state["seen"]:
            limit = mean * (self.ratio * factor)
            coef = torch.clamp(limit / (norm + 1e-6), max=1.0).to(total.dtype)
            scale_(target.grads, coef)
            mean = mean * self.decay + norm * (1.0 - self.decay)
        else:
            mean = norm.clone()
        self.state["mean"] = mean
        self.state["seen"] += 1
        return ClipResult(total_norm=total, clip_coef=coef)


@hookimpl
def schedkit_add_clippers(registry: Registrar) -> None:
    registry.add(Spike, examples=[{}, {"ratio": 1.5, "decay": 0.5, "nonfinite": "skip"}])
