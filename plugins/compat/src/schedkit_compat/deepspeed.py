"""``deepspeed.*``: DeepSpeed's five lr schedulers (``deepspeed.runtime.lr_schedules``).

Each takes DeepSpeed's arguments (the ``params`` of a ``ds_config.json`` ``scheduler``) and
gives DeepSpeed's floats for every param group. DeepSpeed writes the lr once when the
scheduler is built and then, after ``k`` calls to ``step()``, the value of batch iteration
``k - 1``; schedkit's step ``k`` is the same: the value after ``k`` calls. The values are
absolute (``WarmupLR`` without ``warmup_max_lr`` and ``WarmupCosineLR`` scale each group's
own lr); a list gives each group its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

import schedkit
from schedkit import SpecError
from schedkit.plugin import Field, instance_of, number, optional, show, steps, to_float
from schedkit_compat._base import ClosedForm, count, each_group, pick


def _warmup_gamma(it: int, warmup: int, kind: str) -> float:
    """DeepSpeed's warmup fraction at batch iteration ``it`` (``warmup`` at least 2)."""
    if kind == "log":
        return 1.0 / math.log(warmup) * math.log(it + 1)
    return it / warmup


def _optional_each_group(default: Any) -> Any:
    """:func:`each_group` that may be ``None`` (DeepSpeed: the groups' own lr)."""
    check = number(ge=0.0)

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return tuple(to_float(v) for v in value)
        return to_float(value)

    def validate(inst: Any, attribute: Field, value: Any) -> None:
        for v in value if isinstance(value, tuple) else () if value is None else (value,):
            check(inst, attribute, v)

    return schedkit.field(default=default, converter=convert, validator=validate)


@attrs.frozen
class WarmupLR(ClosedForm):
    """DeepSpeed's ``WarmupLR``: from ``warmup_min_lr`` to ``warmup_max_lr`` (absolute;
    without it, each group's own lr) over ``warmup_num_steps`` (at least 2), along
    ``log(t + 1) / log(W)`` (``warmup_type = "log"``, the default) or ``t / W``, then held.

    Example: ``{type = "deepspeed.WarmupLR", warmup_min_lr = 0.0, warmup_max_lr = 0.001,
    warmup_num_steps = 100}``.
    """

    name = "deepspeed.WarmupLR"

    warmup_min_lr: float | tuple[float, ...] = each_group(0.0, ge=0.0)
    warmup_max_lr: float | tuple[float, ...] | None = _optional_each_group(None)
    warmup_num_steps: int = count(1000, positive=True)
    warmup_type: str = schedkit.choice("log", "linear")

    def gamma(self, it: int) -> float:
        w = max(2, self.warmup_num_steps)
        if it < w:
            return _warmup_gamma(it, w, self.warmup_type)
        return 1.0

    def at(self, step: float, base: float, index: int) -> float:
        low = pick(self.warmup_min_lr, index, "warmup_min_lr")
        if int(step) == 0:  # built: DeepSpeed writes the minimum
            return low
        high = base if self.warmup_max_lr is None else pick(self.warmup_max_lr, index, "max_lr")
        return low + (high - low) * self.gamma(int(step) - 1)


@attrs.frozen
class WarmupDecayLR(WarmupLR):
    """DeepSpeed's ``WarmupDecayLR``: ``WarmupLR`` (``warmup_max_lr`` 0.001 by default),
    then a linear decay to 0 at ``total_num_steps``:
    ``max(0, (T - t) / max(1, T - W))``.

    Example: ``{type = "deepspeed.WarmupDecayLR", total_num_steps = 1000,
    warmup_max_lr = 3e-4, warmup_num_steps = 100, warmup_type = "linear"}``.
    """

    name = "deepspeed.WarmupDecayLR"

    # DeepSpeed's order: total_num_steps first (a field declared again takes this position)
    total_num_steps: int = count(positive=True)
    warmup_min_lr: float | tuple[float, ...] = each_group(0.0, ge=0.0)
    warmup_max_lr: float | tuple[float, ...] | None = _optional_each_group(0.001)
    warmup_num_steps: int = count(1000, positive=True)
    warmup_type: str = schedkit.choice("log", "linear")

    def gamma(self, it: int) -> float:
        w = max(2, self.warmup_num_steps)
        if it < w:
            return _warmup_gamma(it, w, self.warmup_type)
        return max(
            0.0, float(self.total_num_steps - it) / float(max(1.0, self.total_num_steps - w))
        )


@attrs.frozen
class WarmupCosineLR(ClosedForm):
    """DeepSpeed's ``WarmupCosineLR``: a factor of each group's lr, rising from
    ``warmup_min_ratio`` to 1 over ``warmup_num_steps`` (at least 2; ``log`` or ``linear``
    as ``WarmupLR``), then a half cosine to ``cos_min_ratio`` at ``total_num_steps``.
    The lr is 0 when the scheduler is built, as DeepSpeed writes it.

    Example: ``{type = "deepspeed.WarmupCosineLR", total_num_steps = 1000,
    warmup_num_steps = 50, cos_min_ratio = 0.01}``.
    """

    name = "deepspeed.WarmupCosineLR"

    total_num_steps: int = count(positive=True)
    warmup_min_ratio: float = schedkit.factor(0.0, ge=0.0)
    warmup_num_steps: int = count(1000, positive=True)
    cos_min_ratio: float = schedkit.factor(0.0001, ge=0.0)
    warmup_type: str = schedkit.choice("log", "linear")

    def ratio(self, it: int) -> float:
        w = max(2, self.warmup_num_steps)
        if it < w:
            r = _warmup_gamma(it, w, self.warmup_type)
            return self.warmup_min_ratio + r * (1.0 - self.warmup_min_ratio)
        real_last_step = it - w + 1
        real_total_steps = max(1, self.total_num_steps - w)
        progress = min(1.0, real_last_step / real_total_steps)
        r = (1 + math.cos(math.pi * progress)) / 2
        return max(0.0, self.cos_min_ratio + (1.0 - self.cos_min_ratio) * r)

    def at(self, step: float, base: float, index: int) -> float:
        if int(step) == 0:
            return 0.0
        return base * self.ratio(int(step) - 1)


@attrs.frozen
class OneCycle(ClosedForm):
    """DeepSpeed's ``OneCycle``: the lr rises from ``cycle_min_lr`` to ``cycle_max_lr``
    (absolute; lists per group) over ``cycle_first_step_size`` steps and falls back over
    ``cycle_second_step_size`` (default: the same), in stairs with ``cycle_*_stair_count``;
    after the cycle, with ``decay_step_size`` and ``decay_lr_rate``, it decays as
    ``min_lr / (1 + rate * t / decay_step_size)``.

    With ``cycle_momentum`` (and an optimizer with ``betas``, as DeepSpeed requires) beta1
    cycles inversely between ``cycle_max_mom`` and ``cycle_min_mom`` (after the cycle:
    ``max_mom * (1 + decay_mom_rate * t / decay_step_size)``) and beta2 is set to 0.99, as
    DeepSpeed does. For an optimizer without betas give ``cycle_momentum = false``.

    Example: ``{type = "deepspeed.OneCycle", cycle_min_lr = 0.0001, cycle_max_lr = 0.001,
    cycle_first_step_size = 100}``.
    """

    name = "deepspeed.OneCycle"

    cycle_min_lr: float | tuple[float, ...] = each_group(ge=0.0)
    cycle_max_lr: float | tuple[float, ...] = each_group(ge=0.0)
    decay_lr_rate: float = schedkit.factor(0.0, ge=0.0)
    cycle_first_step_size: int = count(2000, positive=True)
    cycle_second_step_size: int | None = schedkit.field(default=None, validator=optional(steps()))
    cycle_first_stair_count: int = count(0)
    cycle_second_stair_count: int | None = schedkit.field(default=None, validator=optional(steps()))
    decay_step_size: int = count(0)
    cycle_momentum: bool = schedkit.field(default=True, validator=instance_of(bool))
    cycle_min_mom: float = schedkit.factor(0.8, ge=0.0)
    cycle_max_mom: float = schedkit.factor(0.9, ge=0.0)
    decay_mom_rate: float = schedkit.factor(0.0, ge=0.0)

    def _sizes(self) -> tuple[float, float, float]:
        first = float(self.cycle_first_step_size)
        second = (
            float(self.cycle_second_step_size) if self.cycle_second_step_size is not None else first
        )
        return first, second, first + second

    def _scale(self, k: int) -> float:
        """DeepSpeed's ``_get_scale_factor`` at batch iteration ``k - 1``."""
        first, second, total = self._sizes()
        ratio = first / total
        cycle = math.floor(1 + k / total)
        x = 1.0 + k / total - cycle
        if x <= ratio:
            scale = x / ratio
            stairs = self.cycle_first_stair_count
        else:
            scale = (x - 1) / (ratio - 1)
            stairs = (
                self.cycle_first_stair_count
                if self.cycle_second_stair_count is None
                else self.cycle_second_stair_count
            )
        if stairs > 0:
            it = k % total
            position = it * stairs / first if it <= first else (total - it) * stairs / second
            scale = math.floor(position) / stairs
        return scale

    def _skip(self, rate: float) -> bool:
        return math.isclose(self.decay_step_size, 0) or math.isclose(rate, 0)

    def at(self, step: float, base: float, index: int) -> float:
        low = pick(self.cycle_min_lr, index, "cycle_min_lr")
        k = int(step)
        total = self._sizes()[2]
        if k == 0 or k - 1 < total:
            high = pick(self.cycle_max_lr, index, "cycle_max_lr")
            return low + (high - low) * self._scale(k)
        if self._skip(self.decay_lr_rate):
            return low
        interval = (k - total) / self.decay_step_size
        return low / (1 + self.decay_lr_rate * interval)

    def momentum(self, step: float) -> float:
        k = int(step)
        total = self._sizes()[2]
        if k == 0:  # built: DeepSpeed writes the minimum
            return self.cycle_min_mom
        if k - 1 < total:
            return self.cycle_max_mom - (self.cycle_max_mom - self.cycle_min_mom) * self._scale(k)
        if self._skip(self.decay_mom_rate):
            return self.cycle_max_mom
        interval = (k - total) / self.decay_step_size
        return self.cycle_max_mom * (1 + self.decay_mom_rate * interval)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        """Each group's lr curve; with ``cycle_momentum``, a group's ``betas`` must be a
        pair: DeepSpeed replaces it with ``(momentum, 0.99)``, which would drop the items
        of a longer one (an optimizer with three betas then fails at its step)."""
        betas = group.get("betas")
        pair = isinstance(betas, (tuple, list)) and len(betas) == 2
        if self.cycle_momentum and betas is not None and not pair:
            raise SpecError(
                f"expected a pair (beta1, beta2), got {show(betas)}: DeepSpeed's OneCycle "
                "writes (momentum, 0.99) into betas (give cycle_momentum = false to leave "
                "them alone)",
                f"param_groups[{index}].betas",
            )
        return super().per_group(group, base, index)

    def companions(self) -> dict[str, Callable[[float], float]]:
        """beta1 cycled inversely and beta2 set to 0.99, with ``cycle_momentum``."""
        if not self.cycle_momentum:
            return {}
        return {"betas[0]": self.momentum, "betas[1]": lambda step: 0.99}


@attrs.frozen
class LRRangeTest(ClosedForm):
    """DeepSpeed's ``LRRangeTest``: ``min_lr * (1 + lr_range_test_step_rate * t /
    lr_range_test_step_size)`` (``lr_range_test_staircase``: ``floor(t / size)``), with
    ``lr_range_test_min_lr`` absolute (a list per group).

    Example: ``{type = "deepspeed.LRRangeTest", lr_range_test_min_lr = 1e-5,
    lr_range_test_step_size = 100, lr_range_test_step_rate = 5.0}``.
    """

    name = "deepspeed.LRRangeTest"

    lr_range_test_min_lr: float | tuple[float, ...] = each_group(0.001, ge=0.0)
    lr_range_test_step_size: int = count(2000, positive=True)
    lr_range_test_step_rate: float = schedkit.factor(1.0)
    lr_range_test_staircase: bool = schedkit.field(default=False, validator=instance_of(bool))

    def at(self, step: float, base: float, index: int) -> float:
        low = pick(self.lr_range_test_min_lr, index, "lr_range_test_min_lr")
        interval = float(int(step)) / self.lr_range_test_step_size
        if self.lr_range_test_staircase:
            interval = math.floor(interval)
        return low * (1 + self.lr_range_test_step_rate * interval)


#: the scheduler classes of ``deepspeed.runtime.lr_schedules`` by name
SCHEDULES: dict[str, type[Any]] = {
    c.name.split(".", 1)[1]: c
    for c in (WarmupLR, WarmupDecayLR, WarmupCosineLR, OneCycle, LRRangeTest)
}


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        WarmupLR,
        examples=[
            {"warmup_min_lr": 0.0, "warmup_max_lr": 0.001, "warmup_num_steps": 20},
            {"warmup_num_steps": 10, "warmup_type": "linear"},
        ],
    )
    registry.add(
        WarmupDecayLR,
        examples=[
            {"total_num_steps": 100, "warmup_num_steps": 10},
            {
                "total_num_steps": 50,
                "warmup_min_lr": [0.0, 1e-5],
                "warmup_max_lr": [1e-3, 1e-4],
                "warmup_num_steps": 5,
                "warmup_type": "linear",
            },
        ],
    )
    registry.add(
        WarmupCosineLR,
        examples=[
            {"total_num_steps": 100, "warmup_num_steps": 10},
            {
                "total_num_steps": 60,
                "warmup_min_ratio": 0.1,
                "warmup_type": "linear",
                "warmup_num_steps": 6,
                "cos_min_ratio": 0.05,
            },
        ],
    )
    registry.add(
        OneCycle,
        examples=[
            {
                "cycle_min_lr": 1e-4,
                "cycle_max_lr": 1e-3,
                "cycle_first_step_size": 10,
                "cycle_momentum": False,
            },
            {
                "cycle_min_lr": 1e-4,
                "cycle_max_lr": 1e-3,
                "cycle_first_step_size": 10,
                "cycle_second_step_size": 6,
                "cycle_first_stair_count": 3,
                "decay_step_size": 4,
                "decay_lr_rate": 0.5,
                "cycle_momentum": False,
            },
        ],
    )
    registry.add(
        LRRangeTest,
        examples=[
            {"lr_range_test_min_lr": 1e-5, "lr_range_test_step_size": 10},
            {
                "lr_range_test_step_size": 5,
                "lr_range_test_step_rate": 2.0,
                "lr_range_test_staircase": True,
            },
        ],
    )
