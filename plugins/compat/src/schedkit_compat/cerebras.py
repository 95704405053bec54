"""``cerebras.*``: the Cerebras LR scheduler classes with their argument names.

Cerebras' values are absolute: every selected param group gets the value itself, whatever
its own lr (``ScalePerParamLR`` multiplies it by each group's ``adjust_learning_rate``).
``param_group_tags`` selects the groups by their ``tags`` as Cerebras does: ``None`` means
every group, a tag or a list of tags the groups carrying one of them, and ``None`` inside
the list the groups without tags.

Cerebras computes on its device in float32; the aliases compute the same formulas, in the
same order, in float64 (the values agree to float32 precision). Where Cerebras' code
contradicts its documentation the alias follows the documentation, and says so.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import attrs

import schedkit
from schedkit import SpecError
from schedkit.plugin import NOTHING, Field, instance_of, optional, steps
from schedkit_compat._base import Absolute, count, each_group, function, refuse_spec, step_list


def _tags(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    return value


def _check_tags(inst: Any, attribute: Field, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, tuple) or not all(v is None or isinstance(v, str) for v in value):
        raise SpecError(f"expected a tag, a list of tags (or null), got {value!r}", attribute.name)
    if len(set(value)) != len(value):
        raise SpecError(
            f"`param_group_tags` contains duplicate values. Tag list: {list(value)}.",
            attribute.name,
        )


@attrs.frozen
class CerebrasLR(Absolute):
    """What every Cerebras alias shares: ``param_group_tags``, and absolute values."""

    param_group_tags: str | tuple[str | None, ...] | None = schedkit.field(
        default=None, kw_only=True, converter=_tags, validator=_check_tags
    )

    @property
    def target_tags(self) -> frozenset[str | None] | None:
        """The tags the scheduler selects groups by (None: every group)."""
        tags = self.param_group_tags
        if tags is None:
            return None
        return frozenset([tags] if isinstance(tags, str) else tags)


def _lr(default: Any = NOTHING) -> Any:
    return schedkit.factor(default, ge=0.0)


@attrs.frozen
class ConstantLR(CerebrasLR):
    """Cerebras' ``ConstantLR``: ``learning_rate`` at every step.

    Example: ``{type = "cerebras.ConstantLR", learning_rate = 0.001}``.
    """

    name = "cerebras.ConstantLR"

    learning_rate: float = _lr()
    total_iters: int | None = schedkit.field(default=None, validator=optional(steps()))

    def value(self, step: float) -> float:
        return self.learning_rate


@attrs.frozen
class PolynomialLR(CerebrasLR):
    """Cerebras' ``PolynomialLR``: from ``initial_learning_rate`` to ``end_learning_rate``
    as ``(1 - t / total_iters) ** power`` of the difference, then held.

    ``cycle``: Cerebras' code computes a cycle length and then clamps every step past
    ``total_iters`` to the end value anyway, so its ``cycle`` does nothing; the alias does
    what the argument documents and restarts the decay over ``total_iters * ceil((t + 1) /
    total_iters)`` steps (Cerebras' own cycle length).

    Example: ``{type = "cerebras.PolynomialLR", initial_learning_rate = 0.1,
    end_learning_rate = 0.001, total_iters = 1000, power = 2.0}``.
    """

    name = "cerebras.PolynomialLR"

    initial_learning_rate: float = _lr()
    end_learning_rate: float = _lr()
    total_iters: int = count(positive=True)
    power: float = schedkit.factor(1.0, ge=0.0)
    cycle: bool = schedkit.field(default=False, validator=instance_of(bool))

    def value(self, step: float) -> float:
        diff = self.initial_learning_rate - self.end_learning_rate
        n = self.total_iters
        if self.cycle:
            n = n * math.ceil((step + 1) / n)
        elif step >= n:
            return self.end_learning_rate
        return float((1 - step / n) ** self.power * diff + self.end_learning_rate)


@attrs.frozen
class LinearLR(PolynomialLR):
    """Cerebras' ``LinearLR``: ``PolynomialLR`` with ``power = 1``.

    Example: ``{type = "cerebras.LinearLR", initial_learning_rate = 0.0,
    end_learning_rate = 0.1, total_iters = 100}``.
    """

    name = "cerebras.LinearLR"

    power: float = schedkit.field(default=1.0, init=False)


@attrs.frozen
class ExponentialLR(CerebrasLR):
    """Cerebras' ``ExponentialLR``: ``initial_learning_rate * decay_rate ** (t /
    total_iters)``, with ``staircase`` the exponent floored.

    Example: ``{type = "cerebras.ExponentialLR", initial_learning_rate = 0.1,
    total_iters = 100, decay_rate = 0.5}``.
    """

    name = "cerebras.ExponentialLR"

    initial_learning_rate: float = _lr()
    total_iters: int = count(positive=True)
    decay_rate: float = schedkit.factor(ge=0.0)
    staircase: bool = schedkit.field(default=False, validator=instance_of(bool))

    def value(self, step: float) -> float:
        power = step / self.total_iters
        if self.staircase:
            power = math.floor(power)
        return float(self.decay_rate**power * self.initial_learning_rate)


@attrs.frozen
class InverseExponentialTimeDecayLR(CerebrasLR):
    """Cerebras' ``InverseExponentialTimeDecayLR`` (Keras' ``InverseTimeDecay``):
    ``initial_learning_rate / (1 + decay_rate * t ** step_exponent / total_iters)``,
    with ``staircase`` the ratio floored.

    Example: ``{type = "cerebras.InverseExponentialTimeDecayLR",
    initial_learning_rate = 0.1, step_exponent = 1, total_iters = 100, decay_rate = 0.5}``.
    """

    name = "cerebras.InverseExponentialTimeDecayLR"

    initial_learning_rate: float = _lr()
    step_exponent: float = schedkit.factor(ge=0.0)
    total_iters: int = count(positive=True)
    decay_rate: float = schedkit.factor(ge=0.0)
    staircase: bool = schedkit.field(default=False, validator=instance_of(bool))

    def value(self, step: float) -> float:
        alpha: float = float(step) ** self.step_exponent / self.total_iters
        if self.staircase:
            alpha = math.floor(alpha)
        return self.initial_learning_rate / (alpha * self.decay_rate + 1.0)


@attrs.frozen
class InverseSquareRootDecayLR(CerebrasLR):
    """Cerebras' ``InverseSquareRootDecayLR``: ``initial_learning_rate * scale /
    sqrt(max(t, warmup_steps))``.

    Example: ``{type = "cerebras.InverseSquareRootDecayLR", initial_learning_rate = 1.0,
    scale = 0.5, warmup_steps = 100}``.
    """

    name = "cerebras.InverseSquareRootDecayLR"

    initial_learning_rate: float = _lr(1.0)
    scale: float = schedkit.factor(1.0, ge=0.0)
    warmup_steps: int = count(1, positive=True)

    def value(self, step: float) -> float:
        return (
            self.scale
            / math.sqrt(max(float(self.warmup_steps), step))
            * (self.initial_learning_rate)
        )


@attrs.frozen
class CosineDecayLR(CerebrasLR):
    """Cerebras' ``CosineDecayLR`` (Keras' ``CosineDecay``): half a cosine from
    ``initial_learning_rate`` to ``end_learning_rate`` over ``total_iters``, then held.

    Example: ``{type = "cerebras.CosineDecayLR", initial_learning_rate = 0.1,
    end_learning_rate = 0.001, total_iters = 1000}``.
    """

    name = "cerebras.CosineDecayLR"

    initial_learning_rate: float = _lr()
    end_learning_rate: float = _lr()
    total_iters: int = count(positive=True)

    def value(self, step: float) -> float:
        t = min(float(self.total_iters), step)
        progress = (math.cos(math.pi / self.total_iters * t) + 1) * 0.5
        return progress * (self.initial_learning_rate - self.end_learning_rate) + (
            self.end_learning_rate
        )


@attrs.frozen
class SequentialLR(CerebrasLR):
    """Cerebras' ``SequentialLR``: ``schedulers[i]`` from ``milestones[i - 1]`` on, each
    counting its steps from its own start.

    Example: ``{type = "cerebras.SequentialLR", milestones = [100], schedulers = [
    {type = "cerebras.LinearLR", initial_learning_rate = 0.0, end_learning_rate = 0.1,
    total_iters = 100}, {type = "cerebras.CosineDecayLR", initial_learning_rate = 0.1,
    end_learning_rate = 0.0, total_iters = 900}]}``.
    """

    name = "cerebras.SequentialLR"

    schedulers: tuple[Any, ...] = schedkit.schedules(per_group=True)
    milestones: tuple[int, ...] = step_list()

    def __attrs_post_init__(self) -> None:
        if len(self.milestones) != len(self.schedulers) - 1:
            raise SpecError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers "
                f"{len(self.schedulers)} and the number of milestones to be equal to "
                f"{len(self.milestones)}"
            )

    def value(self, step: float) -> float:
        i = bisect.bisect_right(self.milestones, step)
        start = self.milestones[i - 1] if i else 0
        return float(self.schedulers[i](step - start))


@attrs.frozen
class PiecewiseConstantLR(CerebrasLR):
    """Cerebras' ``PiecewiseConstantLR``: ``learning_rates[i]`` from ``milestones[i - 1]``
    on (one more rate than milestones).

    Example: ``{type = "cerebras.PiecewiseConstantLR", learning_rates = [0.1, 0.01, 0.001],
    milestones = [100, 200]}``.
    """

    name = "cerebras.PiecewiseConstantLR"

    learning_rates: tuple[float, ...] = each_group(ge=0.0)
    milestones: tuple[int, ...] = step_list()

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.learning_rates, tuple):
            raise SpecError("expected a list of learning rates", "learning_rates")
        if len(self.learning_rates) != len(self.milestones) + 1:
            raise SpecError(
                f"expected one more learning rate than milestones, got "
                f"{len(self.learning_rates)} and {len(self.milestones)}",
                "learning_rates",
            )

    def value(self, step: float) -> float:
        return self.learning_rates[bisect.bisect_right(self.milestones, step)]


@attrs.frozen
class MultiStepLR(CerebrasLR):
    """Cerebras' ``MultiStepLR``: ``initial_learning_rate``, times ``gamma`` at each
    milestone reached.

    Example: ``{type = "cerebras.MultiStepLR", initial_learning_rate = 0.1, gamma = 0.1,
    milestones = [300, 600]}``.
    """

    name = "cerebras.MultiStepLR"

    initial_learning_rate: float = _lr()
    gamma: float = schedkit.factor(ge=0.0)
    milestones: tuple[int, ...] = step_list()

    def value(self, step: float) -> float:
        value = self.initial_learning_rate
        for m in self.milestones:
            if step >= m:
                value = self.gamma * value
        return value


@attrs.frozen
class StepLR(CerebrasLR):
    """Cerebras' ``StepLR``: ``initial_learning_rate * gamma ** floor(t / step_size)``.

    Example: ``{type = "cerebras.StepLR", initial_learning_rate = 0.1, step_size = 100,
    gamma = 0.5}``.
    """

    name = "cerebras.StepLR"

    initial_learning_rate: float = _lr()
    step_size: int = count(positive=True)
    gamma: float = schedkit.factor(ge=0.0)

    def value(self, step: float) -> float:
        return float(self.gamma ** math.floor(step / self.step_size) * self.initial_learning_rate)


def _half_cosine(initial: float, low: float, ratio: float) -> float:
    """Cerebras' cosine annealing at ``ratio`` of the period, in its arithmetic."""
    return (math.cos(ratio * math.pi) + 1) / 2 * (initial - low) + low


@attrs.frozen
class CosineAnnealingLR(CerebrasLR):
    """Cerebras' ``CosineAnnealingLR``: a cosine from ``initial_learning_rate`` to
    ``eta_min`` over ``T_max`` steps, periodic past it (as torch's).

    Example: ``{type = "cerebras.CosineAnnealingLR", initial_learning_rate = 0.1,
    T_max = 1000}``.
    """

    name = "cerebras.CosineAnnealingLR"

    initial_learning_rate: float = _lr()
    T_max: int = count(positive=True)
    eta_min: float = _lr(0.0)

    def value(self, step: float) -> float:
        return _half_cosine(self.initial_learning_rate, self.eta_min, step / self.T_max)


@attrs.frozen
class CosineAnnealingWarmRestarts(CerebrasLR):
    """Cerebras' ``CosineAnnealingWarmRestarts``: a cosine from ``initial_learning_rate``
    to ``eta_min`` over ``T_0`` steps, restarting every ``T_0`` steps (``T_mult`` must be
    1, as in Cerebras).

    Cerebras' code computes the position in the period after the first restart as
    ``floor(t / T_0) * T_0 - T_0``, which freezes the curve; the alias follows the
    documented SGDR curve (``t mod T_0``).

    Example: ``{type = "cerebras.CosineAnnealingWarmRestarts", initial_learning_rate = 0.1,
    T_0 = 100}``.
    """

    name = "cerebras.CosineAnnealingWarmRestarts"

    initial_learning_rate: float = _lr()
    T_0: int = count(positive=True)
    T_mult: int = count(1, positive=True)
    eta_min: float = _lr(0.0)

    def __attrs_post_init__(self) -> None:
        if self.T_mult != 1:
            raise SpecError(
                "Unsupported value of Parameters 'T_mult' for LR scheduler type "
                "CosineAnnealingWarmRestarts, Only supported default T_mult value: 1.0.",
                "T_mult",
            )

    def value(self, step: float) -> float:
        t_cur = step - math.floor(step / self.T_0) * self.T_0
        return _half_cosine(self.initial_learning_rate, self.eta_min, t_cur / self.T_0)


@attrs.frozen
class MultiplicativeLR(CerebrasLR):
    """Cerebras' ``MultiplicativeLR``: ``initial_learning_rate * coefficient ** t``.

    Example: ``{type = "cerebras.MultiplicativeLR", initial_learning_rate = 0.1,
    coefficient = 0.99}``.
    """

    name = "cerebras.MultiplicativeLR"

    initial_learning_rate: float = _lr()
    coefficient: float = schedkit.factor(ge=0.0)

    def value(self, step: float) -> float:
        return float(self.coefficient**step * self.initial_learning_rate)


@attrs.frozen
class LambdaLR(CerebrasLR):
    """Cerebras' ``LambdaLR``: ``initial_learning_rate * lr_lambda(t)``, in-process only.

    Cerebras' class is meant to be subclassed (its ``set_value_lambda`` returns example
    functions); the alias takes the function as ``lr_lambda``, as torch's does.

    Example: ``get_scheduler("cerebras.LambdaLR", opt, initial_learning_rate=0.1,
    lr_lambda=lambda t: 0.95 ** t)``.
    """

    name = "cerebras.LambdaLR"
    in_process_only = True

    initial_learning_rate: float = _lr()
    lr_lambda: Callable[[float], float] = function()

    def value(self, step: float) -> float:
        return float(self.initial_learning_rate * self.lr_lambda(step))

    def spec(self) -> NoReturn:
        refuse_spec(self.name, "lr_lambda")


@attrs.frozen
class ChainedScheduler(CerebrasLR):
    """Cerebras' ``ChainedScheduler``: the first schedule's value times each following
    schedule's value over its ``initial_learning_rate``.

    Example: ``{type = "cerebras.ChainedScheduler", schedulers = [
    {type = "cerebras.ConstantLR", learning_rate = 0.1}, {type = "cerebras.StepLR",
    initial_learning_rate = 1.0, step_size = 10, gamma = 0.5}]}``.
    """

    name = "cerebras.ChainedScheduler"

    schedulers: tuple[Any, ...] = schedkit.schedules(per_group=True)

    def __attrs_post_init__(self) -> None:
        for i, s in enumerate(self.schedulers[1:], 1):
            if not getattr(s, "initial_learning_rate", None):
                raise SpecError(
                    "each schedule after the first is divided by its initial_learning_rate; "
                    f"{s.spec().get('type')!r} has none",
                    f"schedulers[{i}]",
                )

    def value(self, step: float) -> float:
        value = float(self.schedulers[0](step))
        for s in self.schedulers[1:]:
            value = value * (s(step) / s.initial_learning_rate)
        return value


@attrs.frozen
class CyclicLR(CerebrasLR):
    """Cerebras' ``CyclicLR``: between ``base_lr`` and ``max_lr`` (absolute),
    ``triangular``, ``triangular2`` or ``exp_range``; the mode sets the scale mode, as in
    Cerebras (and torch without a ``scale_fn``).

    Example: ``{type = "cerebras.CyclicLR", base_lr = 0.001, max_lr = 0.1,
    step_size_up = 100}``.
    """

    name = "cerebras.CyclicLR"

    base_lr: float = _lr()
    max_lr: float = _lr()
    step_size_up: int = count(2000, positive=True)
    step_size_down: int | None = schedkit.field(
        default=None, validator=optional(steps(positive=True))
    )
    mode: str = schedkit.choice("triangular", "triangular2", "exp_range")
    gamma: float = schedkit.factor(1.0, gt=0.0)
    scale_mode: str = schedkit.choice("cycle", "iterations")

    def value(self, step: float) -> float:
        down = self.step_size_down if self.step_size_down is not None else self.step_size_up
        total = self.step_size_up + down
        ratio = self.step_size_up / total
        cycle = math.floor(step / total + 1)
        x = step / total - cycle + 1
        shape = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        height = shape * (self.max_lr - self.base_lr)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 0.5 ** (cycle - 1)  # 1 / 2 ** (cycle - 1): the same float
        else:
            scale = self.gamma**step
        return height * scale + self.base_lr


@attrs.frozen
class OneCycleLR(CerebrasLR):
    """Cerebras' ``OneCycleLR``: from ``initial_learning_rate`` up to ``max_lr`` over
    ``pct_start`` of ``total_steps``, then down to ``initial_learning_rate /
    final_div_factor`` (``three_phase``: back to the initial rate first).

    The minimum is held from step ``total_steps - 1`` on, as documented (Cerebras' code
    extrapolates the last phase past it).

    Example: ``{type = "cerebras.OneCycleLR", initial_learning_rate = 0.004,
    max_lr = 0.1, total_steps = 1000}``.
    """

    name = "cerebras.OneCycleLR"

    initial_learning_rate: float = _lr()
    max_lr: float = _lr()
    total_steps: int = count(1000, positive=True)
    pct_start: float = schedkit.factor(0.3, ge=0.0, le=1.0)
    final_div_factor: float = schedkit.factor(1e4, gt=0.0)
    three_phase: bool = schedkit.field(default=False, validator=instance_of(bool))
    anneal_strategy: str = schedkit.choice("cos", "linear")

    def value(self, step: float) -> float:
        n, p = self.total_steps, self.pct_start
        low = self.initial_learning_rate / self.final_div_factor
        init, high = self.initial_learning_rate, self.max_lr
        if self.three_phase:
            ends = [p * n - 1, 2 * p * n - 2, n - 1]
            points = [(init, high), (high, init), (init, low)]
        else:
            ends = [p * n - 1, n - 1]
            points = [(init, high), (high, low)]
        step = min(step, n - 1)
        i = 0
        while i < len(ends) - 1 and step > ends[i]:
            i += 1
        start = ends[i - 1] if i else 0
        pct = (step - start) / (ends[i] - start)
        a, b = points[i]
        if self.anneal_strategy == "cos":
            return (math.cos(pct * math.pi) + 1) * ((a - b) / 2.0) + b
        return pct * (b - a) + a


def _adjustment(group: Mapping[str, Any]) -> float:
    return float(group.get("adjust_learning_rate", group.get("adjust_val", 1.0)))


@attrs.frozen
class ScalePerParamLR(CerebrasLR):
    """Cerebras' ``ScalePerParamLR``: the wrapped schedule's value times each group's
    ``adjust_learning_rate`` (µP's per-layer lr scaling; 1.0 where a group has none).

    Example: ``{type = "cerebras.ScalePerParamLR", scheduler = {type =
    "cerebras.CosineDecayLR", initial_learning_rate = 0.1, end_learning_rate = 0.0,
    total_iters = 100}}``.
    """

    name = "cerebras.ScalePerParamLR"

    scheduler: Any = schedkit.schedule(per_group=True)

    def value(self, step: float) -> float:
        return float(self.scheduler(step))

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        scale = _adjustment(group)
        inner = self.scheduler

        def lr(step: float) -> float:
            return float(inner(step)) * scale

        return lr


def _decay(step: float) -> float:
    """The example function: 0.95 per step."""
    return float(0.95**step)


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    cos = {
        "type": "cerebras.CosineDecayLR",
        "initial_learning_rate": 0.1,
        "end_learning_rate": 0.001,
        "total_iters": 90,
    }
    lin = {
        "type": "cerebras.LinearLR",
        "initial_learning_rate": 0.0,
        "end_learning_rate": 0.1,
        "total_iters": 10,
    }
    registry.add(ConstantLR, examples=[{"learning_rate": 0.001}])
    registry.add(
        PolynomialLR,
        examples=[
            {"initial_learning_rate": 0.1, "end_learning_rate": 0.001, "total_iters": 50},
            {
                "initial_learning_rate": 0.1,
                "end_learning_rate": 0.0,
                "total_iters": 20,
                "power": 2.0,
                "cycle": True,
            },
        ],
    )
    registry.add(
        LinearLR,
        examples=[{"initial_learning_rate": 0.1, "end_learning_rate": 0.0, "total_iters": 30}],
    )
    registry.add(
        ExponentialLR,
        examples=[
            {"initial_learning_rate": 0.1, "total_iters": 10, "decay_rate": 0.5},
            {"initial_learning_rate": 0.1, "total_iters": 7, "decay_rate": 0.9, "staircase": True},
        ],
    )
    registry.add(
        InverseExponentialTimeDecayLR,
        examples=[
            {
                "initial_learning_rate": 0.1,
                "step_exponent": 1,
                "total_iters": 10,
                "decay_rate": 0.5,
                "staircase": True,
            }
        ],
    )
    registry.add(InverseSquareRootDecayLR, examples=[{}, {"scale": 0.5, "warmup_steps": 100}])
    registry.add(CosineDecayLR, examples=[{k: v for k, v in cos.items() if k != "type"}])
    registry.add(SequentialLR, examples=[{"schedulers": [lin, cos], "milestones": [10]}])
    registry.add(
        PiecewiseConstantLR,
        examples=[{"learning_rates": [0.1, 0.01, 0.001], "milestones": [10, 20]}],
    )
    registry.add(
        MultiStepLR,
        examples=[{"initial_learning_rate": 0.1, "gamma": 0.1, "milestones": [30, 60]}],
    )
    registry.add(StepLR, examples=[{"initial_learning_rate": 0.1, "step_size": 10, "gamma": 0.5}])
    registry.add(
        CosineAnnealingLR,
        examples=[{"initial_learning_rate": 0.1, "T_max": 50, "eta_min": 0.001}],
    )
    registry.add(CosineAnnealingWarmRestarts, examples=[{"initial_learning_rate": 0.1, "T_0": 25}])
    registry.add(MultiplicativeLR, examples=[{"initial_learning_rate": 0.1, "coefficient": 0.99}])
    registry.add(LambdaLR, examples=[{"initial_learning_rate": 0.1, "lr_lambda": _decay}])
    registry.add(
        ChainedScheduler,
        examples=[
            {
                "schedulers": [
                    {"type": "cerebras.ConstantLR", "learning_rate": 0.1},
                    {
                        "type": "cerebras.StepLR",
                        "initial_learning_rate": 1.0,
                        "step_size": 10,
                        "gamma": 0.5,
                    },
                ]
            }
        ],
    )
    registry.add(
        CyclicLR,
        examples=[
            {"base_lr": 0.001, "max_lr": 0.1, "step_size_up": 10},
            {
                "base_lr": 0.001,
                "max_lr": 0.1,
                "step_size_up": 5,
                "mode": "exp_range",
                "gamma": 0.99,
            },
        ],
    )
    registry.add(
        OneCycleLR,
        examples=[
            {"initial_learning_rate": 0.004, "max_lr": 0.1, "total_steps": 100},
            {
                "initial_learning_rate": 0.004,
                "max_lr": 0.1,
                "total_steps": 60,
                "three_phase": True,
                "anneal_strategy": "linear",
            },
        ],
    )
    registry.add(ScalePerParamLR, examples=[{"scheduler": cos}])
