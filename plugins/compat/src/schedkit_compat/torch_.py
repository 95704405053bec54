"""``torch.*``: the schedule classes of ``torch.optim.lr_scheduler`` with their arguments.

``get_scheduler("torch.StepLR", optimizer, step_size=30, gamma=0.1)`` gives the lr torch's
``StepLR(optimizer, step_size=30, gamma=0.1)`` gives, float for float, for every param group.
torch computes most of its schedulers from the previous lr (the "chainable form"); the
aliases do too, so their floats are torch's and not those of the closed form (they differ
in the last bits). The differences from torch, all deliberate:

- the scheduler is a schedkit ``Scheduler``: its state is plain data (step, spec), and
  ``scheduler.step(metric)`` feeds ``ReduceLROnPlateau``;
- ``OneCycleLR`` holds its minimum from step ``total_steps - 1`` on (torch extrapolates
  one step past it, then raises);
- ``LambdaLR`` and ``MultiplicativeLR`` hold Python functions: in-process only, as
  schedkit's ``lambda`` (no spec, no TOML, no saved state).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn

import attrs
import torch

import schedkit
from schedkit import SpecError, StateError
from schedkit.plugin import as_steps, attrs_spec, one_of, steps
from schedkit_compat._base import (
    INF,
    ClosedForm,
    Recursive,
    count,
    each_group,
    function,
    pick,
    refuse_spec,
    step_list,
)
from schedkit_schedules.one_cycle import _anneal
from schedkit_schedules.plateau import Plateau


def _gamma(default: Any = attrs.NOTHING) -> Any:
    return schedkit.factor(default, ge=0.0)


@attrs.frozen
class StepLR(Recursive):
    """torch's ``StepLR``: the lr times ``gamma`` every ``step_size`` steps.

    Chainable form, as torch: each decay multiplies the previous lr.

    Example: ``{type = "torch.StepLR", step_size = 30, gamma = 0.1}``.
    """

    name = "torch.StepLR"

    step_size: int = count(positive=True)
    gamma: float = _gamma(0.1)

    def skip(self, step: int, value: float) -> float:
        if value == 0.0 or self.gamma == 1.0:
            return INF
        return -(-step // self.step_size) * self.step_size

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * self.gamma

    def closed(self, step: float) -> float:
        return float(self.gamma ** (int(step) // self.step_size))


@attrs.frozen
class MultiStepLR(Recursive):
    """torch's ``MultiStepLR``: the lr times ``gamma`` at each milestone.

    A milestone listed twice decays twice at once (``gamma ** 2``), as torch's ``Counter``
    does. Chainable form, as torch.

    Example: ``{type = "torch.MultiStepLR", milestones = [30, 80], gamma = 0.1}``.
    """

    name = "torch.MultiStepLR"

    milestones: tuple[int, ...] = step_list()
    gamma: float = _gamma(0.1)
    _counts: Mapping[int, int] = attrs.field(init=False, eq=False, repr=False)
    _at: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)
    _sorted: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        counts = Counter(self.milestones)
        object.__setattr__(self, "_counts", dict(counts))
        object.__setattr__(self, "_at", tuple(sorted(counts)))
        object.__setattr__(self, "_sorted", tuple(sorted(self.milestones)))

    def skip(self, step: int, value: float) -> float:
        i = bisect.bisect_left(self._at, step)
        return self._at[i] if i < len(self._at) else INF

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * self.gamma ** self._counts[step]

    def closed(self, step: float) -> float:
        return float(self.gamma ** bisect.bisect_right(self._sorted, int(step)))


@attrs.frozen
class ConstantLR(Recursive):
    """torch's ``ConstantLR``: the lr times ``factor`` until ``total_iters``, then the lr.

    The lr comes back as ``lr * (1 / factor)``, as torch computes it; with
    ``total_iters = 0`` it never comes back (torch's quirk, kept).

    Example: ``{type = "torch.ConstantLR", factor = 0.5, total_iters = 4}``.
    """

    name = "torch.ConstantLR"

    factor: float = schedkit.factor(1.0 / 3, gt=0.0, le=1.0)
    total_iters: int = count(5)

    def first(self, base: float, index: int) -> float:
        return base * self.factor

    def skip(self, step: int, value: float) -> float:
        return self.total_iters if 0 < step <= self.total_iters else INF

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * (1.0 / self.factor)

    def closed(self, step: float) -> float:
        back = self.total_iters > 0 and step >= self.total_iters
        return 1.0 if back else self.factor


@attrs.frozen
class LinearLR(Recursive):
    """torch's ``LinearLR``: the factor goes linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps, then stays. Chainable form, as torch.

    Example: ``{type = "torch.LinearLR", start_factor = 0.1, total_iters = 10}``.
    """

    name = "torch.LinearLR"

    start_factor: float = schedkit.factor(1.0 / 3, gt=0.0, le=1.0)
    end_factor: float = schedkit.factor(1.0, ge=0.0, le=1.0)
    total_iters: int = count(5)

    def first(self, base: float, index: int) -> float:
        return base * self.start_factor

    def skip(self, step: int, value: float) -> float:
        return step if step <= self.total_iters else INF

    def next(self, value: float, step: int, base: float, index: int) -> float:
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        return value * (1.0 + (e - s) / (n * s + (step - 1) * (e - s)))

    def closed(self, step: float) -> float:
        if self.total_iters == 0:
            return self.start_factor
        done = min(self.total_iters, step) / self.total_iters
        return self.start_factor + (self.end_factor - self.start_factor) * done


@attrs.frozen
class ExponentialLR(Recursive):
    """torch's ``ExponentialLR``: the lr times ``gamma`` every step. Chainable form.

    Example: ``{type = "torch.ExponentialLR", gamma = 0.95}``.
    """

    name = "torch.ExponentialLR"

    gamma: float = _gamma()

    def skip(self, step: int, value: float) -> float:
        return INF if value * self.gamma == value else step

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * self.gamma

    def closed(self, step: float) -> float:
        return float(self.gamma**step)


@attrs.frozen
class PolynomialLR(Recursive):
    """torch's ``PolynomialLR``: ``(1 - t / total_iters) ** power`` of the lr, reaching 0
    at ``total_iters``. Chainable form, as torch.

    Example: ``{type = "torch.PolynomialLR", total_iters = 100, power = 2.0}``.
    """

    name = "torch.PolynomialLR"

    total_iters: int = count(5)
    power: float = schedkit.factor(1.0, ge=0.0)

    def skip(self, step: int, value: float) -> float:
        return step if step <= self.total_iters else INF

    def next(self, value: float, step: int, base: float, index: int) -> float:
        n = self.total_iters
        ratio: float = ((1.0 - step / n) / (1.0 - (step - 1) / n)) ** self.power
        return value * ratio

    def closed(self, step: float) -> float:
        if self.total_iters == 0:
            return 1.0
        return float((1.0 - min(self.total_iters, step) / self.total_iters) ** self.power)


@attrs.frozen
class CosineAnnealingLR(Recursive):
    """torch's ``CosineAnnealingLR``: half a cosine from the lr to ``eta_min`` (absolute)
    over ``T_max`` steps, and on: torch's curve is periodic, back up to the lr at
    ``2 * T_max`` (kept). Chainable form, as torch (one update per step).

    Example: ``{type = "torch.CosineAnnealingLR", T_max = 100, eta_min = 1e-5}``.
    """

    name = "torch.CosineAnnealingLR"

    T_max: int = count(positive=True)
    eta_min: float = schedkit.factor(0.0, ge=0.0)

    def next(self, value: float, step: int, base: float, index: int) -> float:
        t, low = self.T_max, self.eta_min
        if (step - 1 - t) % (2 * t) == 0:
            return value + (base - low) * (1 - math.cos(math.pi / t)) / 2
        return (1 + math.cos(math.pi * step / t)) / (1 + math.cos(math.pi * (step - 1) / t)) * (
            value - low
        ) + low

    def closed(self, step: float) -> float:
        low = self.eta_min
        return low + (1.0 - low) * (1 + math.cos(math.pi * step / self.T_max)) / 2


@attrs.frozen
class CosineAnnealingWarmRestarts(ClosedForm):
    """torch's ``CosineAnnealingWarmRestarts`` (SGDR): a cosine from the lr to ``eta_min``
    over ``T_0`` steps, restarting, each period ``T_mult`` times longer than the last.

    Example: ``{type = "torch.CosineAnnealingWarmRestarts", T_0 = 10, T_mult = 2}``.
    """

    name = "torch.CosineAnnealingWarmRestarts"

    T_0: int = count(positive=True)
    T_mult: int = count(1, positive=True)
    eta_min: float = schedkit.factor(0.0, ge=0.0)

    def at(self, step: float, base: float, index: int) -> float:
        t_cur, t_i = int(step), self.T_0
        if self.T_mult == 1:
            t_cur %= t_i
        else:
            while t_cur >= t_i:
                t_cur -= t_i
                t_i *= self.T_mult
        low = self.eta_min
        return low + (base - low) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


_SCALE_MODES = ("cycle", "iterations")


@attrs.frozen
class CyclicLR(ClosedForm):
    """torch's ``CyclicLR``: the lr cycles between ``base_lr`` and ``max_lr`` (absolute;
    a list gives each group its own), ``triangular``, ``triangular2`` or ``exp_range``.

    With ``cycle_momentum`` the momentum (Adam's beta1) cycles inversely between
    ``max_momentum`` and ``base_momentum``. ``scale_fn`` (a Python function, in-process
    only) replaces the mode's scaling, evaluated per ``scale_mode``.

    Example: ``{type = "torch.CyclicLR", base_lr = 0.001, max_lr = 0.1, step_size_up = 20,
    cycle_momentum = false}``.
    """

    name = "torch.CyclicLR"

    base_lr: float | tuple[float, ...] = each_group(ge=0.0)
    max_lr: float | tuple[float, ...] = each_group(ge=0.0)
    step_size_up: int = count(2000, positive=True)
    step_size_down: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(steps(positive=True))
    )
    mode: str = schedkit.choice("triangular", "triangular2", "exp_range")
    gamma: float = schedkit.factor(1.0, gt=0.0)
    scale_fn: Callable[[float], float] | None = function(optional=True)
    scale_mode: str = attrs.field(default="cycle", validator=one_of(_SCALE_MODES))
    cycle_momentum: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    base_momentum: float = schedkit.factor(0.8, ge=0.0)
    max_momentum: float = schedkit.factor(0.9, ge=0.0)

    def spec(self) -> dict[str, Any]:
        if self.scale_fn is not None:
            refuse_spec(self.name, f"the scale_fn {self.scale_fn!r}")
        return super().spec()

    def _shape(self, step: float) -> tuple[float, float]:
        """torch's (scale_factor, scale) at ``step``."""
        up = float(self.step_size_up)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        total = up + down
        ratio = up / total
        cycle = math.floor(1 + step / total)
        x = 1.0 + step / total - cycle
        shape = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if self.scale_fn is not None:
            fn, by_cycle = self.scale_fn, self.scale_mode == "cycle"
        elif self.mode == "triangular":
            return shape, 1.0
        elif self.mode == "triangular2":
            # torch's 1 / 2.0 ** (c - 1): powers of two are exact, so 0.5 ** (c - 1) is the
            # same float, and goes to 0 where torch's overflows (after 1024 cycles)
            fn, by_cycle = (lambda c: 0.5 ** (c - 1)), True
        else:
            gamma = self.gamma
            fn, by_cycle = (lambda c: gamma**c), False
        return shape, fn(cycle if by_cycle else step)

    def at(self, step: float, base: float, index: int) -> float:
        low = pick(self.base_lr, index, "base_lr")
        high = pick(self.max_lr, index, "max_lr")
        shape, scale = self._shape(step)
        return low + (high - low) * shape * scale

    def companions(self) -> dict[str, Callable[[float], float]]:
        """The momentum, cycled inversely (absolute values), with ``cycle_momentum``."""
        if not self.cycle_momentum:
            return {}

        def momentum(step: float) -> float:
            shape, scale = self._shape(step)
            return self.max_momentum - (self.max_momentum - self.base_momentum) * shape * scale

        return {"momentum": momentum}


@attrs.frozen
class OneCycleLR(ClosedForm):
    """torch's ``OneCycleLR``: from ``max_lr / div_factor`` up to ``max_lr`` (absolute; a
    list gives each group its own) over ``pct_start`` of the run, then down to
    ``max_lr / div_factor / final_div_factor``; ``three_phase`` as torch.

    The run is ``total_steps``, or ``epochs`` with the scheduler's ``steps_per_epoch``.
    With ``cycle_momentum`` the momentum (Adam's beta1) cycles inversely. From step
    ``total_steps - 1`` on the minimum is held, as torch documents; torch itself
    extrapolates one step further (at step ``total_steps``, below the minimum, negative with
    ``linear``) and raises after that.

    Example: ``{type = "torch.OneCycleLR", max_lr = 0.1, total_steps = 1000}``.
    """

    name = "torch.OneCycleLR"

    max_lr: float | tuple[float, ...] = each_group(gt=0.0)
    total_steps: int = schedkit.duration(positive=True, horizon=True)
    pct_start: float = schedkit.factor(0.3, ge=0.0, le=1.0)
    anneal_strategy: str = schedkit.choice("cos", "linear")
    cycle_momentum: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    base_momentum: float = schedkit.factor(0.85, ge=0.0)
    max_momentum: float = schedkit.factor(0.95, ge=0.0)
    div_factor: float = schedkit.factor(25.0, gt=0.0)
    final_div_factor: float = schedkit.factor(1e4, gt=0.0)
    three_phase: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    @staticmethod
    def translate(params: dict[str, Any]) -> dict[str, Any]:
        """torch's ``epochs`` (with the scheduler's ``steps_per_epoch``) as ``total_steps``."""
        if "epochs" in params:
            epochs = params.pop("epochs")
            if params.get("total_steps") is not None:
                raise SpecError("give total_steps, or epochs (with steps_per_epoch), not both")
            if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
                raise SpecError(f"expected a positive whole number, got {epochs!r}", "epochs")
            params["total_steps"] = f"{epochs}ep"
        elif params.get("total_steps") is None:
            raise SpecError(
                "You must define either total_steps OR (epochs AND steps_per_epoch)", "total_steps"
            )
        return params

    def _phase(self, step: float) -> tuple[float, int, int]:
        """(pct, start point, end point); points index (initial, max, min) values."""
        n = self.total_steps
        if self.three_phase:
            ends = [
                float(self.pct_start * n) - 1,
                float(2 * self.pct_start * n) - 2,
                n - 1,
            ]
            points = [(0, 1), (1, 0), (0, 2)]
        else:
            ends = [float(self.pct_start * n) - 1, n - 1]
            points = [(0, 1), (1, 2)]
        step = min(step, n - 1)
        start = 0.0
        for i, end in enumerate(ends):
            if step <= end or i == len(ends) - 1:
                return (step - start) / (end - start), *points[i]
            start = end
        raise AssertionError("unreachable")

    def at(self, step: float, base: float, index: int) -> float:
        high = pick(self.max_lr, index, "max_lr")
        initial = high / self.div_factor
        values = (initial, high, initial / self.final_div_factor)
        pct, a, b = self._phase(step)
        return _anneal(self.anneal_strategy, values[a], values[b], pct)

    def companions(self) -> dict[str, Callable[[float], float]]:
        """The momentum, cycled inversely (absolute values), with ``cycle_momentum``."""
        if not self.cycle_momentum:
            return {}
        values = (self.max_momentum, self.base_momentum, self.max_momentum)

        def momentum(step: float) -> float:
            pct, a, b = self._phase(step)
            return _anneal(self.anneal_strategy, values[a], values[b], pct)

        return {"momentum": momentum}


@attrs.define(eq=False)
class ReduceLROnPlateau(Plateau):
    """torch's ``ReduceLROnPlateau``: after ``patience`` steps without improvement each
    group's lr becomes ``max(lr * factor, min_lr)`` (absolute; a list gives each group its
    own), skipped when the change is at most ``eps``, then ``cooldown`` steps pass.

    Fed with ``scheduler.step(metric)``. The state counts the reductions (with the best
    metric and the counters), so a resumed run has torch's floats.

    Example: ``{type = "torch.ReduceLROnPlateau", mode = "max", patience = 5}``.
    """

    name = "torch.ReduceLROnPlateau"
    absolute: ClassVar[Mapping[str, str]] = {}
    accepts_warmup: ClassVar[bool] = False

    min_value: float = attrs.field(init=False, default=0.0)
    min_lr: float | tuple[float, ...] = each_group(0.0, ge=0.0)
    reductions: int = attrs.field(init=False, default=0)

    from_transformers = None

    def _reduce(self) -> None:
        self.reductions += 1

    def _lr(self, base: float, floor: float, n: int) -> float:
        value = base
        for _ in range(n):
            new = max(value * self.factor, floor)
            if value - new > self.eps:
                value = new
        return value

    def __call__(self, step: float) -> float:
        return self._lr(1.0, pick(self.min_lr, 0, "min_lr"), self.reductions)

    def values(self, steps: Any) -> torch.Tensor:
        """The curve of a group whose lr is 1.0, with the reductions seen so far."""
        return torch.tensor([self(s) for s in as_steps(steps).tolist()], dtype=torch.float64)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        floor = pick(self.min_lr, index, "min_lr")
        seen: list[Any] = [0, base]  # reductions applied so far, and the lr they gave

        def lr(step: float) -> float:
            n = self.reductions
            done, value = seen
            if n < done:
                done, value = 0, base
            if n > done:
                value = self._lr(value, floor, n - done)
            seen[:] = [n, value]
            return float(value)

        return lr

    def spec(self) -> dict[str, Any]:
        return attrs_spec(self)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "reductions": self.reductions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        try:
            self.reductions = int(state["reductions"])
        except (KeyError, TypeError, ValueError) as e:
            raise StateError(f"not a torch.ReduceLROnPlateau state: {e}") from None


@attrs.frozen
class LambdaLR(ClosedForm):
    """torch's ``LambdaLR``: the lr times ``lr_lambda(step)`` (a list: one function per
    group). In-process only: a function cannot be written as data.

    Example: ``get_scheduler("torch.LambdaLR", opt, lr_lambda=lambda t: 0.95 ** t)``.
    """

    name = "torch.LambdaLR"
    in_process_only = True

    lr_lambda: Any = function()

    def at(self, step: float, base: float, index: int) -> float:
        fns = self.lr_lambda if isinstance(self.lr_lambda, tuple) else (self.lr_lambda,)
        fn = fns[index] if len(fns) > 1 else fns[0]
        return base * fn(int(step))  # type: ignore[no-any-return]

    def spec(self) -> NoReturn:
        refuse_spec(self.name, "lr_lambda")


@attrs.frozen
class MultiplicativeLR(Recursive):
    """torch's ``MultiplicativeLR``: each step the lr times ``lr_lambda(step)`` (a list: one
    function per group). In-process only: a function cannot be written as data.

    Example: ``get_scheduler("torch.MultiplicativeLR", opt, lr_lambda=lambda t: 0.95)``.
    """

    name = "torch.MultiplicativeLR"
    in_process_only = True

    lr_lambda: Any = function()

    def _fn(self, index: int) -> Callable[[int], float]:
        fns = self.lr_lambda if isinstance(self.lr_lambda, tuple) else (self.lr_lambda,)
        return fns[index] if len(fns) > 1 else fns[0]  # type: ignore[no-any-return]

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * self._fn(index)(step)

    def closed(self, step: float) -> float:
        value = 1.0
        for k in range(1, int(step) + 1):
            value = value * self._fn(0)(k)
        return value

    def spec(self) -> NoReturn:
        refuse_spec(self.name, "lr_lambda")


def _decay(step: int) -> float:
    """The example function: 0.99 per step."""
    return float(0.99**step)


def _mult(step: int) -> float:
    """The example function: 0.99 each step."""
    return 0.99


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    registry.add(StepLR, examples=[{"step_size": 30}, {"step_size": 7, "gamma": 0.5}])
    registry.add(MultiStepLR, examples=[{"milestones": [30, 80]}, {"milestones": [5, 5, 9]}])
    registry.add(ConstantLR, examples=[{}, {"factor": 0.5, "total_iters": 0}])
    registry.add(LinearLR, examples=[{}, {"start_factor": 0.1, "end_factor": 0.5}])
    registry.add(ExponentialLR, examples=[{"gamma": 0.95}])
    registry.add(PolynomialLR, examples=[{}, {"total_iters": 100, "power": 2.0}])
    registry.add(CosineAnnealingLR, examples=[{"T_max": 100}, {"T_max": 7, "eta_min": 0.01}])
    registry.add(
        CosineAnnealingWarmRestarts,
        examples=[{"T_0": 10}, {"T_0": 5, "T_mult": 2, "eta_min": 0.001}],
    )
    registry.add(
        CyclicLR,
        examples=[
            {"base_lr": 0.001, "max_lr": 0.1, "step_size_up": 20},
            {"base_lr": 0.01, "max_lr": 0.1, "mode": "exp_range", "gamma": 0.99},
            {"base_lr": 0.01, "max_lr": 0.2, "mode": "triangular2", "step_size_down": 5},
        ],
    )
    registry.add(
        OneCycleLR,
        examples=[
            {"max_lr": 0.1, "total_steps": 1000},
            {"max_lr": 0.1, "total_steps": 90, "three_phase": True, "anneal_strategy": "linear"},
        ],
    )
    registry.add(ReduceLROnPlateau, examples=[{}, {"mode": "max", "patience": 2, "min_lr": 0.01}])
    registry.add(LambdaLR, examples=[{"lr_lambda": _decay}])
    registry.add(MultiplicativeLR, examples=[{"lr_lambda": _mult}])
