"""The ``zclip`` clipper: z-score spike detection on the global gradient norm (and the loss)."""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ClipResult, SpecError, StateError
from schedkit.plugin import (
    StateReader,
    Target,
    as_real,
    instance_of,
    norm_type,
    scale_,
    steps,
)

#: the entries of one tracked quantity's statistics, after their prefix (``""``, ``loss_``)
_STATS = ("count", "buffer", "mean", "var")

#: the largest value the statistics learn: float32's largest (its square stays a float)
_LARGEST = float(torch.finfo(torch.float32).max)


def _learnable(value: float) -> bool:
    """A value the statistics may learn: finite and within float32's range (a larger one
    would overflow the variance)."""
    return math.isfinite(value) and abs(value) <= _LARGEST


def _cap(value: Any) -> Any:
    """``max_grad_norm``: ``None`` (the peer's "no bound") and ``"inf"`` as ``math.inf``."""
    return math.inf if value is None else norm_type(value)


def _check_cap(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A norm bound > 0, or ``inf`` for none."""
    if isinstance(value, bool) or not isinstance(value, float) or not value > 0:
        raise SpecError(f'expected a number > 0 or "inf" (no bound), got {value!r}', attribute.name)


@attrs.frozen(kw_only=True)
class ZClip(schedkit.BaseClipper):
    """Clip gradient-norm spikes found by a z-score against running statistics (ZClip,
    Kumar et al., 2025), or skip the step.

    The first ``warmup_steps`` global L2 norms are only collected (and clipped to
    ``max_grad_norm``); their mean and variance then start exponential moving averages
    (``mean = alpha * mean + (1 - alpha) * x``, ``var = alpha * var + (1 - alpha) *
    (x - mean)**2`` with the new mean). Afterwards, with ``std = sqrt(var)``:

    - ``mode = "zscore"``: a norm whose ``z = (norm - mean) / (std + eps)`` exceeds
      ``z_thresh`` is a spike, clipped to ``mean + z_thresh * std / (z / z_thresh)`` times
      ``clip_factor`` (``clip_option = "adaptive_scaling"``: the larger the spike, the lower
      the bound) or to ``mean`` (``clip_option = "mean"``);
    - ``mode = "percentile"``: a norm above ``mean + z_thresh * std`` is a spike, clipped to
      that bound.

    The bound is never above ``max_grad_norm`` (``"inf"`` or None: no fixed bound); the schedule's
    factor (``schedule``) scales ``max_grad_norm``. The statistics then learn the bound in
    place of a spike's norm, or nothing (``skip_update_on_spike``). With ``on_spike =
    "skip"`` a spike is not clipped but skipped: its gradients are dropped, the result says
    ``skipped`` and ``Built.step()`` does not step the optimizer. A non-finite norm (under
    ``nonfinite = "ignore"``) is never learned from; it is a spike.

    ``loss_spike(loss)`` judges a loss by the same test against statistics of its own (what
    ``Built.step(loss=...)`` calls): a spike there skips the step. Under
    ``torch.distributed`` the loss is first averaged over all ranks and the norm is the
    global one, so every rank takes the same decision.

    Defaults are the ``zclip`` package's. The statistics are host floats, as there (one host
    sync per step to read the norm), and live in ``state_dict()``: a resumed run clips
    exactly as an uninterrupted one.

    Example: ``{type = "zclip", z_thresh = 2.5, max_grad_norm = 1.0, on_spike = "skip"}``.
    """

    name = "zclip"

    alpha: float = schedkit.factor(0.97, gt=0.0, lt=1.0)
    z_thresh: float = schedkit.factor(2.5, gt=0.0)
    max_grad_norm: float = schedkit.field(default=1.0, converter=_cap, validator=_check_cap)
    eps: float = schedkit.factor(1e-6, gt=0.0)
    warmup_steps: int = schedkit.field(default=25, validator=steps(positive=True))
    mode: str = schedkit.choice("zscore", "percentile")
    clip_option: str = schedkit.choice("adaptive_scaling", "mean")
    clip_factor: float = schedkit.factor(1.0, gt=0.0)
    skip_update_on_spike: bool = schedkit.field(default=False, validator=instance_of(bool))
    on_spike: str = schedkit.choice("clip", "skip")

    def initial_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prefix in ("", "loss_"):
            out.update(
                {f"{prefix}count": 0, f"{prefix}buffer": [], f"{prefix}mean": 0.0,
                 f"{prefix}var": 0.0}
            )  # fmt: skip
        out["spikes"] = 0
        return out

    # -- the test ---------------------------------------------------------------------------

    def bound(self, value: float, prefix: str = "") -> float | None:
        """The bound a spike ``value`` is clipped to, or None when it is no spike (or the
        statistics are still warming up); nothing is learned."""
        st = self.state
        if st[f"{prefix}count"] < self.warmup_steps:
            return None
        mean: float = st[f"{prefix}mean"]
        std: float = st[f"{prefix}var"] ** 0.5
        if self.mode == "percentile":
            threshold = mean + self.z_thresh * std
            return threshold if value > threshold else None
        z = (value - mean) / (std + self.eps)
        if not z > self.z_thresh:
            return None
        if self.clip_option == "mean":
            return mean
        eta = z / self.z_thresh  # a larger spike gets a lower bound
        return (mean + (self.z_thresh * std) / eta) * self.clip_factor

    def _learn(self, value: float, bound: float | None, prefix: str = "") -> None:
        """Feed one value (its bound when it spiked) to the statistics of ``prefix``."""
        st = self.state
        count = st[f"{prefix}count"]
        if count < self.warmup_steps:
            buffer = st[f"{prefix}buffer"]
            buffer.append(value)
            if len(buffer) >= self.warmup_steps:
                mean = sum(buffer) / len(buffer)
                st[f"{prefix}mean"] = mean
                st[f"{prefix}var"] = sum((x - mean) ** 2 for x in buffer) / len(buffer)
                st[f"{prefix}buffer"] = []
            st[f"{prefix}count"] = count + 1
            return
        st[f"{prefix}count"] = count + 1
        if bound is not None:
            if self.skip_update_on_spike:
                return
            value = bound
        a = self.alpha
        mean = a * st[f"{prefix}mean"] + (1 - a) * value
        st[f"{prefix}mean"] = mean
        st[f"{prefix}var"] = a * st[f"{prefix}var"] + (1 - a) * (value - mean) ** 2

    def loss_spike(self, loss: Any) -> bool:
        """Whether ``loss`` is a spike by this clipper's test (after ``warmup_steps``
        losses), learning from it as from a norm. A non-finite loss is a spike and is not
        learned. Under ``torch.distributed`` the loss is averaged over all ranks first."""
        value = _global_mean(loss)
        if not _learnable(value):
            self.state["spikes"] += 1
            return True
        bound = self.bound(value, "loss_")
        self._learn(value, bound, "loss_")
        if bound is not None:
            self.state["spikes"] += 1
        return bound is not None

    # -- the call ---------------------------------------------------------------------------

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        grads = target.grads
        if not grads:
            return ClipResult(total_norm=torch.tensor(0.0), clip_coef=torch.tensor(1.0))
        total = self.global_norm(target, 2.0, process_group)
        if not self.finite(target, total):
            return ClipResult(total_norm=total, skipped=True, spike=True)
        norm = float(total)  # the one host sync: the statistics are host floats
        cap = self.max_grad_norm * factor
        if not _learnable(norm):
            self.state["spikes"] += 1
            if self.on_spike == "skip":
                self.drop(target)
                return ClipResult(total_norm=total, skipped=True, spike=True)
            if math.isfinite(norm) and math.isfinite(cap):  # beyond float32: to the bound
                coef = torch.tensor(cap / (norm + 1e-6), dtype=total.dtype)
                scale_(grads, coef)
                return ClipResult(total_norm=total, clip_coef=coef, spike=True)
            return ClipResult(total_norm=total, spike=True)
        if self.state["count"] < self.warmup_steps:
            self._learn(norm, None)
            if math.isinf(cap):
                return ClipResult(total_norm=total, clip_coef=torch.ones_like(total))
            # torch's clip_grad_norm_ to max_grad_norm, as during the peer's warmup
            coef = torch.clamp(cap / (total + 1e-6), max=1.0)
            scale_(grads, coef)
            return ClipResult(total_norm=total, clip_coef=coef)
        bound = self.bound(norm)
        self._learn(norm, bound)
        if bound is not None:
            self.state["spikes"] += 1
            if self.on_spike == "skip":
                self.drop(target)
                return ClipResult(total_norm=total, skipped=True, spike=True)
        limit = min(norm if bound is None else bound, cap)
        scale = limit / (norm + 1e-6) if norm > limit else 1.0
        # rounded to the gradients' dtype, as a multiplication by a Python float rounds it
        # (the peer's), and a tensor: foreach kernels take it several times faster
        coef = torch.tensor(scale, dtype=total.dtype)
        if scale < 1.0:
            scale_(grads, coef)
        return ClipResult(total_norm=total, clip_coef=coef, spike=bound is not None)

    # -- state ------------------------------------------------------------------------------

    def check_extra(self, extra: StateReader) -> dict[str, Any]:
        out: dict[str, Any] = {"spikes": extra.integer("spikes")}
        for prefix in ("", "loss_"):
            count = extra.integer(f"{prefix}count")
            buffer = extra.get(f"{prefix}buffer")
            want = count if count < self.warmup_steps else 0
            # norms are >= 0; losses any value the statistics learn (negative ones too)
            low = -_LARGEST if prefix else 0.0
            if len(buffer) != want or not all(
                type(x) is float and low <= x <= _LARGEST for x in buffer
            ):
                raise StateError(
                    f"expected {want} values in [{low:g}, {_LARGEST:g}] (warmup_steps="
                    f"{self.warmup_steps}, {prefix}count={count}), got {buffer!r}",
                    f"extra.{prefix}buffer",
                )
            for key in ("mean", "var"):
                value = as_real(extra.get(f"{prefix}{key}"))
                floor = 0.0 if key == "var" or not prefix else -math.inf
                if value is None or not (math.isfinite(value) and value >= floor):
                    shown = extra.get(f"{prefix}{key}")
                    raise StateError(
                        f"expected a finite number{' >= 0' if floor == 0 else ''}, got "
                        f"{schedkit.plugin.show(shown)}",
                        f"extra.{prefix}{key}",
                    )
            out.update({f"{prefix}{k}": extra.get(f"{prefix}{k}") for k in _STATS})
            out[f"{prefix}count"] = count
            out[f"{prefix}buffer"] = list(buffer)
        return out


def _global_mean(loss: Any) -> float:
    """``loss`` as a float, averaged over all ranks when ``torch.distributed`` runs."""
    import torch.distributed as dist

    if isinstance(loss, torch.Tensor):
        value = loss.detach().to(torch.float64).reshape(())
    else:
        value = torch.tensor(float(loss), dtype=torch.float64)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        value = value.clone()
        dist.all_reduce(value)  # a sum: gloo has no average
        value /= dist.get_world_size()
    return float(value)


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(
        ZClip,
        examples=[
            {},
            {"warmup_steps": 3, "z_thresh": 2.0, "clip_option": "mean", "max_grad_norm": "inf"},
            {"warmup_steps": 2, "mode": "percentile", "on_spike": "skip"},
        ],
    )
