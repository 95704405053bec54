"""The ``adaptive`` clipper."""

from __future__ import annotations

from typing import Any

import attrs
import torch

import schedkit
from schedkit import ClipResult, StateError
from schedkit.plugin import (
    Target,
    check_norm_type,
    norm_type,
    scale_,
    steps,
)


@attrs.frozen(kw_only=True)
class Adaptive(schedkit.BaseClipper):
    """Clip the global norm to a threshold learned from recent norms (AutoClip, Seetharaman
    et al., 2020): the ``percentile`` of the last ``window`` gradient norms (this one
    included), or with ``mode = "ema"`` an exponential moving average of the norms (decay
    ``ema_decay``); either times ``factor``.

    The history stays on the gradients' device (no host sync per step) and is plain state:
    ``state_dict()`` holds it, so a resumed run clips exactly as an uninterrupted one.

    Example: ``{type = "adaptive", percentile = 10.0, window = 1000}``.
    """

    name = "adaptive"

    mode: str = schedkit.choice("percentile", "ema")
    percentile: float = schedkit.factor(10.0, ge=0.0, le=100.0)
    window: int = attrs.field(default=1000, validator=steps(positive=True))
    ema_decay: float = schedkit.factor(0.99, ge=0.0, lt=1.0)
    factor: float = schedkit.factor(1.0, gt=0.0)
    norm_type: float = attrs.field(default=2.0, converter=norm_type, validator=check_norm_type)

    def __attrs_post_init__(self) -> None:
        # the whole state exists from the start, so checkpoint loaders that fill a fresh
        # object's state in place (torch.distributed.checkpoint) find every entry
        extra = self._state.extra
        extra["count"] = 0
        if self.mode == "ema":
            extra["ema"] = torch.tensor(0.0, dtype=torch.float64)
        else:
            extra["history"] = torch.zeros(self.window, dtype=torch.float64)

    def _clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        grads = target.grads
        total = self.global_norm(target, self.norm_type, process_group)
        if not self.finite(target, total):
            return ClipResult(total_norm=total, skipped=True)
        threshold = self._observe(total.detach().to(torch.float64)) * (self.factor * factor)
        coef = torch.clamp(threshold / (total.to(torch.float64) + 1e-6), max=1.0).to(total.dtype)
        scale_(grads, coef)
        return ClipResult(total_norm=total, clip_coef=coef)

    def _observe(self, norm: torch.Tensor) -> torch.Tensor:
        extra = self._state.extra
        count = int(extra.get("count", 0))
        if self.mode == "ema":
            ema = extra["ema"].to(norm.device)
            ema = norm.clone() if count == 0 else ema * self.ema_decay + norm * (1 - self.ema_decay)
            extra["ema"], extra["count"] = ema, count + 1
            return ema
        history = extra["history"].to(norm.device)
        history[count % self.window] = norm
        count += 1
        extra["history"], extra["count"] = history, count
        return torch.quantile(history[: min(count, self.window)], self.percentile / 100.0)

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        history = self._state.extra.get("history")
        if history is not None and (
            not isinstance(history, torch.Tensor) or history.numel() != self.window
        ):
            raise StateError(f"adaptive: the saved history does not fit window={self.window}")


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(
        Adaptive,
        examples=[
            {},
            {"mode": "ema", "ema_decay": 0.9, "factor": 1.5},
            {"percentile": 50.0, "window": 8},
        ],
    )
