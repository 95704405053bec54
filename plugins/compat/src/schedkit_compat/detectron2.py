"""``detectron2.*``: detectron2's solver: its lr schedulers, default param groups and clipping.

The schedules take the ``SOLVER`` keys in lower case (``max_iter``, ``steps``, ``gamma``,
``warmup_factor``, ``warmup_iters``, ``warmup_method``, ``rescale_interval``,
``base_lr_end``, ``num_decays``) and give detectron2's multiplier (fvcore's param
schedulers behind ``WarmupParamScheduler`` and ``LRMultiplier``), float for float, times
each group's base lr. At and past ``max_iter`` the last multiplier is held (detectron2's
run ends there; fvcore raises past it). A key left out takes detectron2's config default
(``max_iter`` 40000, ``steps`` (30000,), ``clip_value`` 1.0...).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect, SpecError
from schedkit.plugin import instance_of, number, optional, record_spec, show, steps, to_float
from schedkit_clipping.param_norm import ParamNorm
from schedkit_clipping.value import Value
from schedkit_compat._base import (
    count,
    function,
    refuse_spec,
    settings_table,
    step_list,
    table_spec,
)

#: fvcore's tolerance on the position in the run
WHERE_EPSILON = 1e-6


@attrs.frozen
class WarmupMultiplier(schedkit.BaseSchedule):
    """What detectron2's three schedulers share: the run, and the warmup in front.

    ``warmup_method`` ``linear`` rises from ``warmup_factor`` times the start to the main
    curve's value at the end of the warmup (``rescale_interval``: to its start, and the main
    curve is compressed into the rest of the run); ``constant`` holds ``warmup_factor``.
    """

    max_iter: int = count(40000, positive=True)
    warmup_factor: float = schedkit.factor(0.001, ge=0.0)
    warmup_iters: int = count(1000)
    warmup_method: str = schedkit.choice("linear", "constant")
    rescale_interval: bool = schedkit.field(default=False, validator=instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if self.rescale_interval and self.warmup_iters >= self.max_iter:
            raise SpecError(
                "with rescale_interval the warmup must be shorter than max_iter", "warmup_iters"
            )

    def main(self, where: float) -> float:
        raise NotImplementedError

    def __call__(self, step: float) -> float:
        return self.multiplier(min(step, self.max_iter) / self.max_iter)

    def multiplier(self, where: float) -> float:
        """``WarmupParamScheduler(main)`` at ``where`` (the share of the run done)."""
        length = min(self.warmup_iters / self.max_iter, 1.0)
        lengths = [length, 1 - length]
        if sum(lengths) != 1.0:
            lengths[-1] = 1.0 - sum(lengths[:-1])
        i, total = 0, lengths[0]
        while where + WHERE_EPSILON > total and i < 1:
            i += 1
            total += lengths[i]
        if i == 0:
            w = (where - (total - lengths[0])) / lengths[0]
            start = self.warmup_factor * self.main(0.0)
            if self.warmup_method == "constant":
                return start
            end = self.main(0.0) if self.rescale_interval else self.main(length)
            return end * w + start * (1 - w)
        if self.rescale_interval:
            where = (where - (total - lengths[1])) / lengths[1]
        return self.main(where)

    accepts_warmup: ClassVar[bool] = False

    @property
    def horizon(self) -> int:
        return self.max_iter


@attrs.frozen
class WarmupMultiStepLR(WarmupMultiplier):
    """detectron2's ``WarmupMultiStepLR``: the lr times ``gamma`` at each of ``steps``,
    behind detectron2's warmup. Steps past ``max_iter`` are dropped, as detectron2 does.

    Example: ``{type = "detectron2.WarmupMultiStepLR", max_iter = 90000,
    steps = [60000, 80000]}``.
    """

    name = "detectron2.WarmupMultiStepLR"

    steps: tuple[int, ...] = step_list((30000,), increasing=True)
    gamma: float = schedkit.factor(0.1, ge=0.0)
    _kept: tuple[int, ...] = schedkit.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        kept = tuple(s for s in self.steps if s <= self.max_iter)
        if kept and kept[-1] >= self.max_iter:
            raise SpecError(
                "Milestone must be smaller than total number of updates: "
                f"num_updates={self.max_iter}, milestone={kept[-1]}",
                "steps",
            )
        if kept and kept[0] <= 0:
            raise SpecError(f"expected steps after the first, got {kept[0]}", "steps")
        object.__setattr__(self, "_kept", kept)

    def main(self, where: float) -> float:
        values = [self.gamma**k for k in range(len(self._kept) + 1)]
        epoch = int((where + WHERE_EPSILON) * self.max_iter)
        return values[bisect.bisect_right(self._kept, epoch)]


@attrs.frozen
class WarmupCosineLR(WarmupMultiplier):
    """detectron2's ``WarmupCosineLR``: half a cosine from 1 to ``base_lr_end /
    base_lr`` over the run, behind detectron2's warmup.

    ``base_lr_end`` is absolute: give ``base_lr`` (``SOLVER.BASE_LR``) with it, or let the
    scheduler take the optimizer's constructor lr (``optimizer.defaults["lr"]``, which is
    ``SOLVER.BASE_LR`` in detectron2's ``build_optimizer``, whatever the groups' own lrs);
    ``end_value`` is the ratio itself.

    Example: ``{type = "detectron2.WarmupCosineLR", max_iter = 1000, base_lr = 0.02,
    base_lr_end = 0.0002}``.
    """

    name = "detectron2.WarmupCosineLR"
    absolute: ClassVar[Mapping[str, str]] = {"base_lr_end": "end_value"}
    absolute_base: ClassVar[str] = "optimizer"

    end_value: float = schedkit.factor(0.0, ge=0.0, le=1.0)

    @staticmethod
    def translate(params: dict[str, Any]) -> dict[str, Any]:
        """``base_lr_end / base_lr``, as detectron2 computes the end value."""
        if "base_lr" in params:
            base = params.pop("base_lr")
            if "base_lr_end" not in params:
                raise SpecError("base_lr is only needed with base_lr_end", "base_lr")
            if isinstance(base, bool) or not isinstance(base, (int, float)) or base <= 0:
                raise SpecError(f"expected a positive number, got {base!r}", "base_lr")
            params["end_value"] = params.pop("base_lr_end") / base
        return params

    def main(self, where: float) -> float:
        end = self.end_value
        return end + 0.5 * (1 - end) * (1 + math.cos(math.pi * where))


#: the most decays: fvcore builds a list of ``num_decays + 1`` values (10**9 of them exhaust
#: the memory); no run has more parts than this
MAX_DECAYS = 1 << 16


def _decays(inst: Any, attribute: Any, value: Any) -> None:
    steps(positive=True)(inst, attribute, value)
    if value > MAX_DECAYS:
        raise SpecError(
            f"expected at most {MAX_DECAYS} decays, got {show(value)}: detectron2 builds a list "
            "of num_decays + 1 values, and that many exhaust the memory",
            attribute.name,
        )


@attrs.frozen
class WarmupStepWithFixedGammaLR(WarmupMultiplier):
    """detectron2's ``WarmupStepWithFixedGammaLR``: the run in ``num_decays + 1`` equal
    parts, the lr times ``gamma`` at each new part, behind detectron2's warmup.

    Example: ``{type = "detectron2.WarmupStepWithFixedGammaLR", max_iter = 1000,
    gamma = 0.5, num_decays = 3}``.
    """

    name = "detectron2.WarmupStepWithFixedGammaLR"

    gamma: float = schedkit.factor(0.1, gt=0.0)
    num_decays: int = schedkit.field(default=3, validator=_decays)

    def main(self, where: float) -> float:
        values = _fixed_gamma_values(self.gamma, self.num_decays)
        return values[min(int((where + WHERE_EPSILON) * len(values)), len(values) - 1)]


@functools.lru_cache(maxsize=8)
def _fixed_gamma_values(gamma: float, num_decays: int) -> tuple[float, ...]:
    """fvcore's values, each the one before times ``gamma`` (its rounding, not ``gamma**k``),
    computed once per schedule instead of at every step."""
    values = [1.0]
    for _ in range(num_decays):
        values.append(values[-1] * gamma)
    return tuple(values)


# -- param groups ---------------------------------------------------------------------

#: the norm layers detectron2 knows (NaiveSyncBatchNorm is a BatchNorm2d)
NORM_TYPES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.BatchNorm1d,
    torch.nn.BatchNorm2d,
    torch.nn.BatchNorm3d,
    torch.nn.SyncBatchNorm,
    torch.nn.GroupNorm,
    torch.nn.InstanceNorm1d,
    torch.nn.InstanceNorm2d,
    torch.nn.InstanceNorm3d,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
)


def _optional(**bounds: float) -> Any:
    check = number(**bounds)
    return schedkit.field(
        default=None,
        converter=lambda v: v if v is None else to_float(v),
        validator=optional(check),
    )


@attrs.frozen
class Default(schedkit.BaseRule):
    """detectron2's ``get_default_optimizer_params``: ``weight_decay_norm`` for the
    parameters of norm layers, ``bias_lr_factor`` and ``weight_decay_bias`` for biases,
    ``overrides`` by parameter name (``{"embedding": {"lr": 0.01}}``: every parameter
    whose own name is ``embedding``), and ``lr_factor_func(name)`` (in-process only)
    scaling the lr by the full name.

    As in detectron2, an override replaces what came before it: a bias with
    ``bias_lr_factor`` gets ``lr * bias_lr_factor`` without the ``lr_factor_func`` factor,
    and the full name given to ``lr_factor_func`` of a parameter of the root module starts
    with a dot.

    Example: ``{type = "detectron2.default", weight_decay_norm = 0.0}``.
    """

    name = "detectron2.default"

    weight_decay_norm: float | None = _optional(ge=0.0)
    bias_lr_factor: float = schedkit.factor(1.0, ge=0.0)
    weight_decay_bias: float | None = _optional(ge=0.0)
    lr_factor_func: Callable[[str], float] | None = function(optional=True)
    overrides: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = settings_table(
        ("lr", "weight_decay")
    )

    def __attrs_post_init__(self) -> None:
        bias = self.bias_lr_factor != 1.0 or self.weight_decay_bias is not None
        if bias and any(name == "bias" for name, _ in self.overrides):
            raise SpecError("Conflicting overrides for 'bias'", "overrides")

    def spec(self) -> dict[str, Any]:
        if self.lr_factor_func is not None:
            refuse_spec(self.name, f"the lr_factor_func {self.lr_factor_func!r}")
        out = record_spec(self)
        out["overrides"] = table_spec(self.overrides)
        return out

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]:
        table = {name: dict(settings) for name, settings in self.overrides}
        bias: dict[str, Any] = {}
        bias_mult: dict[str, float] = {}
        if self.bias_lr_factor != 1.0:
            bias_mult["lr"] = self.bias_lr_factor
        if self.weight_decay_bias is not None:
            bias["weight_decay"] = self.weight_decay_bias
        fn = self.lr_factor_func
        wd_norm = self.weight_decay_norm

        def decide(info: ParamInfo) -> RuleEffect | None:
            local = info.name.rsplit(".", 1)[-1]
            values: dict[str, Any] = {}
            mults: dict[str, float] = {}
            if wd_norm is not None and isinstance(info.module, NORM_TYPES):
                values["weight_decay"] = wd_norm
            own = table.get(local, {})
            if local == "bias" and (bias or bias_mult):
                values.update(bias)
                mults.update(bias_mult)  # the lr replaced by base_lr * bias_lr_factor
            elif fn is not None and "lr" not in own:
                mults["lr"] = float(fn(f"{info.module_name}.{local}"))
            values.update(own)
            if not values and not mults:
                return None
            return RuleEffect(values=values, multipliers=mults)

        return decide


# -- clipping -------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class ClipValue(Value):
    """detectron2's ``CLIP_TYPE: value``: every gradient element clipped to
    ``[-clip_value, clip_value]`` (``clip_grad_value_``).

    Example: ``{type = "detectron2.value", clip_value = 1.0}``.
    """

    name = "detectron2.value"

    clip_value: float = schedkit.factor(1.0, gt=0.0)  # SOLVER.CLIP_GRADIENTS.CLIP_VALUE


@attrs.frozen(kw_only=True)
class ClipNorm(ParamNorm):
    """detectron2's ``CLIP_TYPE: norm``: each parameter's gradient clipped to its own norm
    ``clip_value`` (``clip_grad_norm_`` per parameter), of ``norm_type``.

    Example: ``{type = "detectron2.norm", clip_value = 1.0, norm_type = 2.0}``.
    """

    name = "detectron2.norm"

    max_norm: float = schedkit.field(
        default=1.0,  # SOLVER.CLIP_GRADIENTS.CLIP_VALUE
        alias="clip_value",
        converter=to_float,
        validator=number(gt=0.0),
    )


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(
        WarmupMultiStepLR,
        examples=[
            {"max_iter": 1000, "steps": [600, 800], "warmup_iters": 100},
            {
                "max_iter": 500,
                "steps": [100, 300, 900],
                "warmup_iters": 50,
                "warmup_method": "constant",
                "gamma": 0.5,
            },
        ],
    )
    registry.add(
        WarmupCosineLR,
        examples=[
            {"max_iter": 1000, "warmup_iters": 100},
            {
                "max_iter": 300,
                "warmup_iters": 30,
                "base_lr": 0.02,
                "base_lr_end": 0.002,
                "rescale_interval": True,
            },
        ],
    )
    registry.add(
        WarmupStepWithFixedGammaLR,
        examples=[{"max_iter": 1000, "gamma": 0.5, "num_decays": 3, "warmup_iters": 100}],
    )


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        Default,
        examples=[
            {"weight_decay_norm": 0.0},
            {
                "bias_lr_factor": 2.0,
                "weight_decay_bias": 0.0,
                "overrides": {"pos_embed": {"weight_decay": 0.0}},
            },
        ],
    )


@schedkit.hookimpl
def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
    registry.add(ClipValue, examples=[{"clip_value": 1.0}])
    registry.add(ClipNorm, examples=[{"clip_value": 1.0}, {"clip_value": 0.5, "norm_type": 1.0}])
