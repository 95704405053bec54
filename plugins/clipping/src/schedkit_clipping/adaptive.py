"""The ``adaptive`` clipper."""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ClipResult, StateError
from schedkit.plugin import (
    StateReader,
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
    window: int = schedkit.field(default=1000, validator=steps(positive=True))
    ema_decay: float = schedkit.factor(0.99, ge=0.0, lt=1.0)
    factor: float = schedkit.factor(1.0, gt=0.0)
    norm_type: float = schedkit.field(default=2.0, converter=norm_type, validator=check_norm_type)

    def initial_state(self) -> dict[str, Any]:
        # the whole state exists from the start, so checkpoint loaders that fill a fresh
        # object's state in place (torch.distributed.checkpoint) find every entry
        if self.mode == "ema":
            return {"count": 0, "ema": torch.tensor(0.0, dtype=torch.float64)}
        return {"count": 0, "history": torch.zeros(self.window, dtype=torch.float64)}

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        grads = target.grads
        if not grads:
            # nothing to clip and nothing learned: a norm of 0 in the history would scale
            # the next real step down
            return ClipResult(total_norm=torch.tensor(0.0), clip_coef=torch.tensor(1.0))
        total = self.global_norm(target, self.norm_type, process_group)
        if not self.finite(target, total):
            return ClipResult(total_norm=total, skipped=True)
        threshold = self._observe(total.detach().to(torch.float64)) * (self.factor * factor)
        coef = torch.clamp(threshold / (total.to(torch.float64) + 1e-6), max=1.0).to(total.dtype)
        scale_(grads, coef)
        return ClipResult(total_norm=total, clip_coef=coef)

    def _observe(self, norm: torch.Tensor) -> torch.Tensor:
        """Learn from a norm and return the threshold. A non-finite norm (a NaN step under
        ``nonfinite = "ignore"``) is not learned from, without a host sync: it enters the
        history as NaN, which the percentile passes over, and leaves the EMA as it was."""
        extra = self.state
        count = int(extra.get("count", 0))
        ok = torch.isfinite(norm)
        if self.mode == "ema":
            nan = torch.tensor(math.nan, dtype=norm.dtype, device=norm.device)
            ema = nan if count == 0 else extra["ema"].to(norm.device)
            fresh = torch.where(
                torch.isnan(ema), norm, ema * self.ema_decay + norm * (1 - self.ema_decay)
            )
            ema = torch.where(ok, fresh, ema)
            extra["ema"], extra["count"] = ema, count + 1
            return ema
        history = extra["history"].to(norm.device)
        history[count % self.window] = torch.where(ok, norm, math.nan)
        count += 1
        extra["history"], extra["count"] = history, count
        return torch.nanquantile(history[: min(count, self.window)], self.percentile / 100.0)

    def check_extra(self, extra: StateReader) -> dict[str, Any]:
        count = extra.integer("count")
        if self.mode == "ema":
            ema = extra.get("ema")
            if not (isinstance(ema, torch.Tensor) and ema.numel() == 1 and ema.is_floating_point()):
                raise StateError(f"expected a one-element float tensor, got {ema!r}", "extra.ema")
            value = ema.detach().double().reshape(())
            if bool(torch.isinf(value)) or bool(value < 0):
                raise StateError(f"expected a norm >= 0 (or nan), got {float(value)}", "extra.ema")
            return {"count": count, "ema": value.clone()}
        history = extra.get("history")
        if not (
            isinstance(history, torch.Tensor)
            and history.ndim == 1
            and history.numel() == self.window
            and history.is_floating_point()
        ):
            raise StateError(
                f"the saved history does not fit window={self.window}: expected a float tensor "
                f"of shape ({self.window},), got "
                + (
                    f"shape {tuple(history.shape)}"
                    if isinstance(history, torch.Tensor)
                    else type(history).__name__
                ),
                "extra.history",
            )
        seen = history.detach().double()[: min(count, self.window)]
        if bool(torch.isinf(seen).any()) or bool((seen < 0).any()):
            raise StateError("expected norms >= 0 (or nan for skipped ones)", "extra.history")
        return {"count": count, "history": history.detach().double().clone()}


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
