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
  schedkit's ``lambda`` (no spec, no TOML, no saved state);
- torch's ``CyclicLR`` and ``OneCycleLR`` record their own starting lr as the groups'
  ``initial_lr`` (and ``base_lrs``); the aliases keep the groups' lr there, so a torch
  scheduler built after them on the same optimizer starts from the groups' lr;
- a tensor ``base_lr`` given to torch's ``CyclicLR`` over float group lrs is written into
  the groups by reference and then moved by torch's in-place updates; the alias keeps it.

torch's own calling conventions work with torch's meaning: ``step(epoch)`` (deprecated in
torch: the same ``UserWarning``; the closed form where torch has one; fractional epochs
for ``CosineAnnealingWarmRestarts``), ``last_epoch=`` with ``initial_lr`` in the groups
(resume by construction), ``ReduceLROnPlateau.step(metric, epoch)``, torch's attributes
(``sched.gamma``, ``sched.T_max``, ``sched.milestones``, ``sched.min_lrs``...), and two
schedulers on one optimizer compose as torch's do: the chainable ones read the lr the
other wrote. ``torch.SequentialLR`` and ``torch.ChainedScheduler`` take torch's
arguments.

Far steps: a resume (``load_state_dict``) or ``get_lr()`` at a step more than 65536
updates past the last value known replays no further: it takes torch's closed form
(``_get_closed_form_lr``). torch's recurrence drifts from it by at most ``k * 2**-52`` of
the lr (relative; ``k`` the step) for ``StepLR``, ``MultiStepLR``, ``ConstantLR``,
``LinearLR``, ``ExponentialLR`` and ``PolynomialLR``, and by at most
``(base_lr - eta_min) * k * (T_max + 1) * 2**-52`` for ``CosineAnnealingLR`` (whose
restart branch loses about ``T_max`` ulps per period). Below that, the floats are torch's.
``MultiplicativeLR`` has no closed form: it moves in one step the ways torch moves it
(``step(epoch)``, ``last_epoch=``, setting ``last_epoch``), from the group's lr.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn

import attrs
import torch
from torch.optim.lr_scheduler import EPOCH_DEPRECATION_WARNING

import schedkit
from schedkit import SpecError, StateError
from schedkit.plugin import (
    MAX_STEPS,
    NOTHING,
    EpochFromCurrent,
    Field,
    FollowsCurrent,
    ScheduleHooks,
    StartsFromCurrent,
    anneal,
    as_real,
    as_steps,
    fields,
    instance_of,
    one_of,
    optional,
    record_spec,
    show,
    steps,
)
from schedkit_compat._base import (
    INF,
    REPLAY_LIMIT,
    ClosedForm,
    Recursive,
    check_one_cycle_warmup,
    count,
    each_group,
    function,
    pick,
    refuse_spec,
    scalar,
    step_list,
)
from schedkit_schedules.plateau import Plateau


def _gamma(default: Any = NOTHING) -> Any:
    return schedkit.factor(default, ge=0.0)


def _whole_epoch(epoch: Any) -> int:
    if isinstance(epoch, torch.Tensor) and epoch.numel() == 1:
        epoch = epoch.item()
    number = as_real(epoch)
    if number is None or not math.isfinite(number) or number > MAX_STEPS:
        raise SpecError(f"expected an epoch number up to 2**62, got {show(epoch)}", "epoch")
    if epoch < 0 or epoch != int(epoch):
        raise SpecError(
            f"expected a whole epoch >= 0, got {epoch!r} (only "
            "torch.CosineAnnealingWarmRestarts takes fractional epochs)",
            "epoch",
        )
    return int(epoch)


class TorchScheduler(ScheduleHooks):
    """What the ``torch.*`` aliases share: torch's deprecated ``step(epoch)`` and the
    attributes torch's scheduler objects carry (``sched.gamma``, ``sched.T_max``...)."""

    #: the attribute names the torch scheduler object exposes, read through the scheduler
    peer_attributes: ClassVar[tuple[str, ...]] = ()

    def epoch_step(self, epoch: Any) -> int:
        """torch's ``step(epoch)``: warns as torch does; the closed form is used where
        torch has one (``_get_closed_form_lr``), its ``get_lr`` otherwise."""
        step = _whole_epoch(epoch)
        warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=4)
        return step

    def peer_get(self, name: str, scheduler: Any) -> Any:
        return getattr(self, name)

    def peer_set(self, name: str, value: Any, scheduler: Any) -> None:
        raise SpecError(
            f"{name!r} is fixed when the scheduler is built (its schedule is immutable data); "
            "build a new scheduler with the new value",
            name,
        )


@attrs.frozen
class StepLR(TorchScheduler, Recursive):
    """torch's ``StepLR``: the lr times ``gamma`` every ``step_size`` steps.

    Chainable form, as torch: each decay multiplies the previous lr.

    Example: ``{type = "torch.StepLR", step_size = 30, gamma = 0.1}``.
    """

    name = "torch.StepLR"
    peer_attributes = ("step_size", "gamma")

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

    keeps_at_construction = False

    def closed_form(self, step: int, base: float, index: int) -> float:
        return float(base * self.gamma ** (step // self.step_size))


@attrs.frozen
class MultiStepLR(TorchScheduler, Recursive):
    """torch's ``MultiStepLR``: the lr times ``gamma`` at each milestone.

    A milestone listed twice decays twice at once (``gamma ** 2``), as torch's ``Counter``
    does. Chainable form, as torch.

    Example: ``{type = "torch.MultiStepLR", milestones = [30, 80], gamma = 0.1}``.
    """

    name = "torch.MultiStepLR"
    peer_attributes = ("milestones", "gamma")

    milestones: tuple[int, ...] = step_list()
    gamma: float = _gamma(0.1)
    _counts: Mapping[int, int] = schedkit.field(init=False, eq=False, repr=False)
    _at: tuple[int, ...] = schedkit.field(init=False, eq=False, repr=False)
    _sorted: tuple[int, ...] = schedkit.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        counts = Counter(self.milestones)
        object.__setattr__(self, "_counts", dict(counts))
        object.__setattr__(self, "_at", tuple(sorted(counts)))
        object.__setattr__(self, "_sorted", tuple(sorted(self.milestones)))

    def skip(self, step: int, value: float) -> float:
        i = bisect.bisect_left(self._at, step)
        return self._at[i] if i < len(self._at) else INF

    def peer_get(self, name: str, scheduler: Any) -> Any:
        if name == "milestones":
            return Counter(self.milestones)  # torch's attribute is a Counter
        return super().peer_get(name, scheduler)

    def first(self, base: float, index: int) -> float:
        at_zero = self._counts.get(0, 0)
        return base * self.gamma**at_zero if at_zero else base

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * self.gamma ** self._counts[step]

    def closed(self, step: float) -> float:
        return float(self.gamma ** bisect.bisect_right(self._sorted, int(step)))

    keeps_at_construction = False

    def closed_form(self, step: int, base: float, index: int) -> float:
        return float(base * self.gamma ** bisect.bisect_right(self._sorted, step))


@attrs.frozen
class ConstantLR(TorchScheduler, Recursive):
    """torch's ``ConstantLR``: the lr times ``factor`` until ``total_iters``, then the lr.

    The lr comes back as ``lr * (1 / factor)``, as torch computes it; with
    ``total_iters = 0`` it never comes back (torch's quirk, kept).

    Example: ``{type = "torch.ConstantLR", factor = 0.5, total_iters = 4}``.
    """

    name = "torch.ConstantLR"
    peer_attributes = ("factor", "total_iters")

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

    keeps_at_construction = False

    def closed_form(self, step: int, base: float, index: int) -> float:
        return base * (self.factor + (step >= self.total_iters) * (1 - self.factor))


@attrs.frozen
class LinearLR(TorchScheduler, Recursive):
    """torch's ``LinearLR``: the factor goes linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps, then stays. Chainable form, as torch.

    Example: ``{type = "torch.LinearLR", start_factor = 0.1, total_iters = 10}``.
    """

    name = "torch.LinearLR"
    peer_attributes = ("start_factor", "end_factor", "total_iters")

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

    def closed_form(self, step: int, base: float, index: int) -> float:
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        if n == 0:
            return base * s
        return base * (s + (e - s) * min(n, step) / n)


@attrs.frozen
class ExponentialLR(TorchScheduler, Recursive):
    """torch's ``ExponentialLR``: the lr times ``gamma`` every step. Chainable form.

    Example: ``{type = "torch.ExponentialLR", gamma = 0.95}``.
    """

    name = "torch.ExponentialLR"
    peer_attributes = ("gamma",)

    gamma: float = _gamma()

    def skip(self, step: int, value: float) -> float:
        return INF if value * self.gamma == value else step

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * self.gamma

    def closed(self, step: float) -> float:
        return float(self.gamma**step)

    def closed_form(self, step: int, base: float, index: int) -> float:
        return float(base * self.gamma**step)


@attrs.frozen
class PolynomialLR(TorchScheduler, Recursive):
    """torch's ``PolynomialLR``: ``(1 - t / total_iters) ** power`` of the lr, reaching 0
    at ``total_iters``. Chainable form, as torch.

    Example: ``{type = "torch.PolynomialLR", total_iters = 100, power = 2.0}``.
    """

    name = "torch.PolynomialLR"
    peer_attributes = ("total_iters", "power")

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

    def closed_form(self, step: int, base: float, index: int) -> float:
        n = self.total_iters
        if n == 0:
            return base
        return float(base * (1.0 - min(n, step) / n) ** self.power)


@attrs.frozen
class CosineAnnealingLR(TorchScheduler, Recursive):
    """torch's ``CosineAnnealingLR``: half a cosine from the lr to ``eta_min`` (absolute)
    over ``T_max`` steps, and on: torch's curve is periodic, back up to the lr at
    ``2 * T_max`` (kept). Chainable form, as torch (one update per step).

    Example: ``{type = "torch.CosineAnnealingLR", T_max = 100, eta_min = 1e-5}``.
    """

    name = "torch.CosineAnnealingLR"
    peer_attributes = ("T_max", "eta_min")

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

    def closed_form(self, step: int, base: float, index: int) -> float:
        low = self.eta_min
        return low + (base - low) * (1 + math.cos(math.pi * step / self.T_max)) / 2


@attrs.frozen
class CosineAnnealingWarmRestarts(TorchScheduler, ClosedForm):
    """torch's ``CosineAnnealingWarmRestarts`` (SGDR): a cosine from the lr to ``eta_min``
    over ``T_0`` steps, restarting, each period ``T_mult`` times longer than the last.

    Example: ``{type = "torch.CosineAnnealingWarmRestarts", T_0 = 10, T_mult = 2}``.
    """

    name = "torch.CosineAnnealingWarmRestarts"
    peer_attributes = ("T_0", "T_i", "T_mult", "eta_min", "T_cur")

    T_0: int = count(positive=True)
    T_mult: int = count(1, positive=True)
    eta_min: float = schedkit.factor(0.0, ge=0.0)

    def _restart(self, step: int) -> tuple[int, int]:
        """(T_cur, T_i) at a whole step."""
        t_cur, t_i = step, self.T_0
        if self.T_mult == 1:
            t_cur %= t_i
        else:
            while t_cur >= t_i:
                t_cur -= t_i
                t_i *= self.T_mult
        return t_cur, t_i

    def at(self, step: float, base: float, index: int) -> float:
        t_cur, t_i = self._restart(int(step))
        low = self.eta_min
        return low + (base - low) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    def per_group(self, group: Mapping[str, Any], base: float, index: int) -> _Restarts:
        return _Restarts(self, base)

    def epoch_step(self, epoch: Any) -> int:
        """torch's ``step(epoch)``: fractional epochs (``epoch + i / iters``), no warning."""
        if isinstance(epoch, torch.Tensor) and epoch.numel() == 1:
            epoch = epoch.item()
        if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or epoch != epoch:
            raise SpecError(f"expected an epoch number, got {epoch!r}", "epoch")
        if epoch == math.inf:  # torch's T_cur would be inf % T_0: a NaN lr
            raise SpecError(f"expected a finite epoch, got {epoch!r}", "epoch")
        if epoch < 0:
            raise SpecError(f"Expected non-negative epoch, but got {epoch}", "epoch")
        return math.floor(epoch)

    def peer_get(self, name: str, scheduler: Any) -> Any:
        if name in ("T_cur", "T_i"):
            curve = scheduler._curves[0]
            return curve.t_cur if name == "T_cur" else curve.t_i
        return super().peer_get(name, scheduler)

    def peer_set(self, name: str, value: Any, scheduler: Any) -> None:
        """``sched.T_cur = t``, as torch's users reset the position in the period: the
        next ``step()`` goes on from it (torch's counter)."""
        if name != "T_cur":
            super().peer_set(name, value, scheduler)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise SpecError(f"expected a number of steps >= 0, got {value!r}", "T_cur")
        for curve in scheduler._curves:
            curve.t_cur = value


class _Restarts:
    """One group of ``torch.CosineAnnealingWarmRestarts``, with torch's ``T_cur`` and
    ``T_i``: a fractional ``step(epoch)`` carries on through the following ``step()``s
    exactly as torch's counters do."""

    __slots__ = ("base", "sched", "step", "t_cur", "t_i")

    def __init__(self, sched: CosineAnnealingWarmRestarts, base: float) -> None:
        self.sched = sched
        self.base = base
        self.step = 0
        self.t_cur: float = 0
        self.t_i = sched.T_0

    def _lr(self) -> float:
        low = self.sched.eta_min
        return low + (self.base - low) * (1 + math.cos(math.pi * self.t_cur / self.t_i)) / 2

    def _at(self, step: int) -> None:
        self.step = step
        self.t_cur, self.t_i = self.sched._restart(step)

    def __call__(self, step: float) -> float:
        if int(step) != self.step:
            self._at(int(step))
        return self._lr()

    def follow(self, step: float, current: float) -> float:
        k = int(step)
        if k != self.step + 1:
            self._at(k)
            return self._lr()
        self.step = k
        self.t_cur = self.t_cur + 1
        if self.t_cur >= self.t_i:
            self.t_cur = self.t_cur % self.t_i
            self.t_i = self.t_i * self.sched.T_mult
        return self._lr()

    def initial(self, step: float, current: float) -> float:
        """torch's constructor: at ``last_epoch + 1``, one restart at most (torch's own)."""
        k = int(step)
        self.step, self.t_cur, self.t_i = k, k, self.sched.T_0
        if k and self.t_cur >= self.t_i:
            self.t_cur = self.t_cur % self.t_i
            self.t_i = self.t_i * self.sched.T_mult
        return self._lr()

    def epoch(self, epoch: float, current: float) -> float:
        """torch's ``step(epoch)``, fractional epochs included, in torch's arithmetic."""
        t_0, t_mult = self.sched.T_0, self.sched.T_mult
        if epoch >= t_0:
            if t_mult == 1:
                self.t_cur = epoch % t_0
            else:
                n = int(math.log((epoch / t_0 * (t_mult - 1) + 1), t_mult))
                self.t_cur = epoch - t_0 * (t_mult**n - 1) / (t_mult - 1)
                self.t_i = t_0 * t_mult**n
        else:
            self.t_i = t_0
            self.t_cur = epoch
        self.step = math.floor(epoch)
        return self._lr()


_SCALE_MODES = ("cycle", "iterations")


@attrs.frozen
class CyclicLR(TorchScheduler, ClosedForm):
    """torch's ``CyclicLR``: the lr cycles between ``base_lr`` and ``max_lr`` (absolute;
    a list gives each group its own), ``triangular``, ``triangular2`` or ``exp_range``.

    With ``cycle_momentum`` the momentum (Adam's beta1) cycles inversely between
    ``max_momentum`` and ``base_momentum``. ``scale_fn`` (a Python function, in-process
    only) replaces the mode's scaling, evaluated per ``scale_mode``.

    Example: ``{type = "torch.CyclicLR", base_lr = 0.001, max_lr = 0.1, step_size_up = 20,
    cycle_momentum = false}``.
    """

    name = "torch.CyclicLR"
    peer_attributes = (
        "max_lrs",
        "total_size",
        "step_ratio",
        "mode",
        "gamma",
        "scale_fn",
        "scale_mode",
        "cycle_momentum",
        "base_momentums",
        "max_momentums",
    )

    base_lr: float | tuple[float, ...] = each_group(ge=0.0)
    max_lr: float | tuple[float, ...] = each_group(ge=0.0)
    step_size_up: int = count(2000, positive=True)
    step_size_down: int | None = schedkit.field(
        default=None, validator=optional(steps(positive=True))
    )
    mode: str = schedkit.choice("triangular", "triangular2", "exp_range")
    gamma: float = schedkit.factor(1.0, gt=0.0)
    scale_fn: Callable[[float], float] | None = function(optional=True)
    scale_mode: str = schedkit.field(default="cycle", validator=one_of(_SCALE_MODES))
    cycle_momentum: bool = schedkit.field(default=True, validator=instance_of(bool))
    base_momentum: float | tuple[float, ...] = each_group(0.8, ge=0.0)
    max_momentum: float | tuple[float, ...] = each_group(0.9, ge=0.0)

    def peer_get(self, name: str, scheduler: Any) -> Any:
        n = len(scheduler.base_values)
        per_group = {
            "max_lrs": "max_lr",
            "base_momentums": "base_momentum",
            "max_momentums": "max_momentum",
        }
        if name in per_group:
            key = per_group[name]
            return [pick(getattr(self, key), i, key) for i in range(n)]
        up = float(self.step_size_up)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        if name == "total_size":
            return up + down
        if name == "step_ratio":
            return up / (up + down)
        return super().peer_get(name, scheduler)

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
        """The momentum, cycled inversely (absolute values), with ``cycle_momentum``; lists
        of ``base_momentum`` / ``max_momentum`` give each group its own."""
        if not self.cycle_momentum:
            return {}
        return {"momentum": _Momentum(self, 0)}


class _Momentum:
    """``torch.CyclicLR``'s momentum of one group; ``per_group`` gives the others'."""

    __slots__ = ("high", "low", "sched")

    def __init__(self, sched: CyclicLR, index: int) -> None:
        self.sched = sched
        self.low = pick(sched.base_momentum, index, "base_momentum")
        self.high = pick(sched.max_momentum, index, "max_momentum")

    def __call__(self, step: float) -> float:
        shape, scale = self.sched._shape(step)
        return self.high - (self.high - self.low) * shape * scale

    def per_group(self, index: int) -> _Momentum:
        return _Momentum(self.sched, index)


@attrs.frozen
class OneCycleLR(TorchScheduler, ClosedForm):
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
    peer_attributes = ("total_steps", "cycle_momentum")

    max_lr: float | tuple[float, ...] = each_group(gt=0.0)
    total_steps: int = schedkit.duration(positive=True, horizon=True)
    pct_start: float = schedkit.factor(0.3, ge=0.0, le=1.0)
    anneal_strategy: str = schedkit.choice("cos", "linear")
    cycle_momentum: bool = schedkit.field(default=True, validator=instance_of(bool))
    base_momentum: float = scalar(0.85, ge=0.0)
    max_momentum: float = scalar(0.95, ge=0.0)
    div_factor: float = schedkit.factor(25.0, gt=0.0)
    final_div_factor: float = schedkit.factor(1e4, gt=0.0)
    three_phase: bool = schedkit.field(default=False, validator=instance_of(bool))

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

    def __attrs_post_init__(self) -> None:
        check_one_cycle_warmup(self.pct_start, self.total_steps, "torch")

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
        return anneal(self.anneal_strategy, values[a], values[b], pct)

    def companions(self) -> dict[str, Callable[[float], float]]:
        """The momentum, cycled inversely (absolute values), with ``cycle_momentum``."""
        if not self.cycle_momentum:
            return {}
        values = (self.max_momentum, self.base_momentum, self.max_momentum)

        def momentum(step: float) -> float:
            pct, a, b = self._phase(step)
            return anneal(self.anneal_strategy, values[a], values[b], pct)

        return {"momentum": momentum}


@attrs.define(eq=False)
class ReduceLROnPlateau(TorchScheduler, Plateau):
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

    min_value: float = schedkit.field(init=False, default=0.0)
    min_lr: float | tuple[float, ...] = each_group(0.0, ge=0.0)
    # torch's order: min_lr before eps (a field declared again takes this position)
    eps: float = schedkit.factor(1e-8, ge=0.0)
    reductions: int = schedkit.field(init=False, default=0)
    #: torch's ``min_lrs``: one floor per group, extended when groups are added
    min_lrs: list[float] = schedkit.field(init=False, factory=list)
    #: how many groups are bound: a reduction checks they all have a floor before any is written
    _n_groups: int = schedkit.field(init=False, default=0, eq=False, repr=False)

    peer_attributes = (
        "factor",
        "patience",
        "cooldown",
        "eps",
        "mode",
        "threshold",
        "threshold_mode",
        "min_lrs",
        "best",
        "num_bad_epochs",
        "cooldown_counter",
    )
    _PEER_NAMES: ClassVar[Mapping[str, str]] = {
        "num_bad_epochs": "bad_steps",
        "cooldown_counter": "cooldown_left",
    }

    from_transformers = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if isinstance(self.min_lr, tuple):
            self.min_lrs = list(self.min_lr)

    def epoch_step(self, epoch: Any) -> int:
        """torch's ``step(metrics, epoch)``: warns as torch does."""
        step = _whole_epoch(epoch)
        warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=3)
        return step

    def peer_get(self, name: str, scheduler: Any) -> Any:
        if name == "min_lrs":
            if not isinstance(self.min_lr, tuple):  # one min_lr: as long as the groups
                self._floor(len(scheduler.base_values) - 1)
            return self.min_lrs
        return getattr(self, self._PEER_NAMES.get(name, name))

    def peer_set(self, name: str, value: Any, scheduler: Any) -> None:
        if name != "min_lrs":
            super().peer_set(name, value, scheduler)
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value
        ):
            raise SpecError(f"expected a list of numbers >= 0, got {value!r}", "min_lrs")
        self.min_lrs = [float(v) for v in value]

    def _floor(self, index: int) -> float:
        """The group's floor; a single ``min_lr`` covers groups added later, as in torch."""
        if index < len(self.min_lrs):
            return self.min_lrs[index]
        if isinstance(self.min_lr, tuple):
            raise SpecError(
                f"The number of param groups in the `optimizer` ({index + 1}) differs from "
                f"when `ReduceLROnPlateau` was initialized ({len(self.min_lrs)}), usually due "
                "to a new param group being added to the optimizer. Please modify the "
                "`min_lrs` field to match the length of the `optimizer` param groups.",
                "min_lrs",
            )
        self.min_lrs.extend([self.min_lr] * (index + 1 - len(self.min_lrs)))
        return self.min_lr

    def reduce(self) -> None:
        if self._n_groups:
            self._floor(self._n_groups - 1)  # torch checks min_lrs before reducing any group
        self.reductions += 1

    def _lr(self, base: float, floor: float, n: int) -> float:
        value = base
        for _ in range(n):
            new = max(value * self.factor, floor)
            if value - new > self.eps:
                value = new
            else:
                # every later reduction makes the same test on the same value: none changes
                # it (and a state's count of reductions, however large, ends here)
                break
        return value

    def __call__(self, step: float) -> float:
        floor = self.min_lr if not isinstance(self.min_lr, tuple) else self.min_lr[0]
        return self._lr(1.0, floor, self.reductions)

    def values(self, steps: Any) -> torch.Tensor:
        """The curve of a group whose lr is 1.0, with the reductions seen so far."""
        return torch.tensor([self(s) for s in as_steps(steps).tolist()], dtype=torch.float64)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        self._n_groups = index + 1
        return _Reduced(self, base, index)

    def spec(self) -> dict[str, Any]:
        return record_spec(self)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "reductions": self.reductions, "min_lrs": self.min_lrs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        try:
            self.reductions = int(state["reductions"])
            floors = state.get("min_lrs", self.min_lrs)
            self.min_lrs = [float(v) for v in floors]
        except (KeyError, TypeError, ValueError) as e:
            raise StateError(f"not a torch.ReduceLROnPlateau state: {e}") from None


class _Reduced:
    """One group of ``torch.ReduceLROnPlateau``: torch reduces the group's current lr, so
    ``follow`` starts from it (another scheduler's writes included) and applies the
    reductions made since it last looked (``seen``: a group bound again mid-run, after
    ``optimizer.load_state_dict`` or ``add_param_group``, already carries the earlier ones);
    called with a step alone, it replays the reductions from the base (a resume from the
    state)."""

    __slots__ = ("base", "done", "index", "sched", "seen", "value")

    def __init__(self, sched: ReduceLROnPlateau, base: float, index: int) -> None:
        self.sched = sched
        self.base = base
        self.index = index
        self.done = 0
        self.value = base
        self.seen = sched.reductions

    def __call__(self, step: float) -> float:
        n = self.sched.reductions
        if n < self.done:
            self.done, self.value = 0, self.base
        if n > self.done:
            self.value = self.sched._lr(self.value, self.sched._floor(self.index), n - self.done)
            self.done = n
        self.seen = n
        return float(self.value)

    def follow(self, step: float, current: float) -> float:
        n = self.sched.reductions
        value = current
        if n > self.seen:
            value = self.sched._lr(current, self.sched._floor(self.index), n - self.seen)
        self.done = self.seen = n
        self.value = value
        return value

    def initial(self, step: float, current: float) -> float:
        """torch's constructor leaves the lrs alone."""
        self.done = self.seen = self.sched.reductions
        self.value = current
        return current


@attrs.frozen
class LambdaLR(TorchScheduler, ClosedForm):
    """torch's ``LambdaLR``: the lr times ``lr_lambda(step)`` (a list: one function per
    group). In-process only: a function cannot be written as data.

    Example: ``get_scheduler("torch.LambdaLR", opt, lr_lambda=lambda t: 0.95 ** t)``.
    """

    name = "torch.LambdaLR"
    peer_attributes = ("lr_lambdas",)
    in_process_only = True

    lr_lambda: Any = function()

    def peer_get(self, name: str, scheduler: Any) -> Any:
        fns = self.lr_lambda if isinstance(self.lr_lambda, tuple) else (self.lr_lambda,)
        return [fns[i] if len(fns) > 1 else fns[0] for i in range(len(scheduler.base_values))]

    def at(self, step: float, base: float, index: int) -> float:
        fns = self.lr_lambda if isinstance(self.lr_lambda, tuple) else (self.lr_lambda,)
        fn = fns[index] if len(fns) > 1 else fns[0]
        return base * fn(int(step))  # type: ignore[no-any-return]

    def spec(self) -> NoReturn:
        refuse_spec(self.name, "lr_lambda")


@attrs.frozen
class MultiplicativeLR(TorchScheduler, Recursive):
    """torch's ``MultiplicativeLR``: each step the lr times ``lr_lambda(step)`` (a list: one
    function per group). In-process only: a function cannot be written as data.

    Example: ``get_scheduler("torch.MultiplicativeLR", opt, lr_lambda=lambda t: 0.95)``.
    """

    name = "torch.MultiplicativeLR"
    peer_attributes = ("lr_lambdas",)
    in_process_only = True

    lr_lambda: Any = function()

    def peer_get(self, name: str, scheduler: Any) -> Any:
        return [self._fn(i) for i in range(len(scheduler.base_values))]

    def _fn(self, index: int) -> Callable[[int], float]:
        fns = self.lr_lambda if isinstance(self.lr_lambda, tuple) else (self.lr_lambda,)
        return fns[index] if len(fns) > 1 else fns[0]  # type: ignore[no-any-return]

    def next(self, value: float, step: int, base: float, index: int) -> float:
        return value * self._fn(index)(step)

    def lr_at(self, step: int, current: float, base: float, index: int) -> float:
        return current * self._fn(index)(step)

    def closed(self, step: float) -> float:
        value = 1.0
        for k in range(1, int(step) + 1):
            value = value * self._fn(0)(k)
        return value

    def spec(self) -> NoReturn:
        refuse_spec(self.name, "lr_lambda")


def _ways(curve: Any) -> tuple[Callable[[float, float], float], ...]:
    """How torch steps ``curve`` from the group's value: its ``initial``, ``epoch`` and
    ``follow`` (:class:`StartsFromCurrent`, :class:`EpochFromCurrent`,
    :class:`FollowsCurrent`) where the curve reads the group's value (torch's chainable
    forms), ``curve(step)`` where it overwrites it (torch's closed forms); found once."""

    def closed(step: float, current: float) -> float:
        return float(curve(step))

    return (
        curve.initial if isinstance(curve, StartsFromCurrent) else closed,
        curve.epoch if isinstance(curve, EpochFromCurrent) else closed,
        curve.follow if isinstance(curve, FollowsCurrent) else closed,
    )


def _sub_schedulers(params: dict[str, Any]) -> dict[str, Any]:
    """torch passes scheduler objects: take a schedkit scheduler's schedule (or a spec)."""
    subs = params.get("schedulers")
    if isinstance(subs, (list, tuple)):
        params["schedulers"] = [
            s.schedule if isinstance(s, schedkit.Scheduler) else s for s in subs
        ]
    return params


def _torch_subs(inst: Any, attribute: Field, value: Any, chained: bool = False) -> None:
    """Refuse what torch refuses among ``schedulers``; with ``chained``, a
    ``ChainedScheduler`` is taken (torch's ``SequentialLR`` steps one like the others)."""
    taken = ChainedScheduler if chained else ()
    for i, sub in enumerate(value):
        refused = isinstance(sub, (ReduceLROnPlateau, _Composite)) and not isinstance(sub, taken)
        if not isinstance(sub, TorchScheduler) or refused:
            what = sub.spec().get("type") if hasattr(sub, "spec") else repr(sub)
            raise SpecError(
                f"expected one of torch's chainable or closed-form schedulers, got {what!r} "
                "(torch refuses ReduceLROnPlateau here; native schedules compose with "
                "'sequence' and 'chain')",
                f"{attribute.name}[{i}]",
            )


@attrs.frozen
class _Composite(TorchScheduler, schedkit.BaseSchedule):
    """torch's schedulers of schedulers: one curve per sub-scheduler and group."""

    accepts_warmup: ClassVar[bool] = False

    schedulers: tuple[Any, ...] = schedkit.schedules(per_group=True)

    translate = staticmethod(_sub_schedulers)

    def epoch_step(self, epoch: Any) -> int:
        raise TypeError(f"{self.name}.step() takes no epoch, as torch's")

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        raise NotImplementedError

    def __call__(self, step: float) -> float:
        return float(self.per_group({}, 1.0, 0)(step))

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        """The curve for a base of 1.0 at ``t``, one pass forward (for plots)."""
        curve = self.per_group({}, 1.0, 0)
        return torch.tensor([float(curve(s)) for s in t.tolist()], dtype=torch.float64)


class _Replayed:
    """A composite's group: stepped as torch steps it; asked for a step out of turn
    (a resume from the state), it replays from step 0 (at most :data:`REPLAY_LIMIT` steps,
    then the last part's own far step)."""

    __slots__ = ("base", "curves", "step", "value", "ways")

    def __init__(self, curves: list[Any], base: float) -> None:
        self.curves = curves
        self.ways = [_ways(c) for c in curves]  # (initial, epoch, follow) of each curve
        self.base = base
        self.step = -1  # not started: the first call starts from the initial step
        self.value = base

    def initial(self, step: float, current: float) -> float:
        raise NotImplementedError

    def follow(self, step: float, current: float) -> float:
        raise NotImplementedError

    def far(self, step: int) -> float:
        raise NotImplementedError

    def __call__(self, step: float) -> float:
        k = int(step)
        if k == self.step:
            return self.value
        if k < self.step or self.step < 0:
            self.initial(0, self.base)
        if k - self.step > REPLAY_LIMIT:
            self.step, self.value = k, self.far(k)
            return self.value
        while self.step < k:
            self.follow(self.step + 1, self.value)
        return self.value


@attrs.frozen
class SequentialLR(_Composite):
    """torch's ``SequentialLR``: ``schedulers[i]`` from ``milestones[i - 1]`` on, each
    counting its own steps from there.

    As in torch: the lr is reset to each group's ``initial_lr`` at construction; at a
    milestone the next scheduler starts from its closed form at its step 0 (torch's
    ``_update_lr(0)``), then goes on from the lr it finds. ``schedulers`` are torch
    aliases: schedkit schedulers built on the optimizer (as torch's users pass them) or
    specs. torch's ``last_epoch`` resume is not taken (torch resets the lrs there); load
    the scheduler's state instead.

    Example: ``{type = "torch.SequentialLR", milestones = [5], schedulers = [
    {type = "torch.LinearLR", start_factor = 0.1, total_iters = 5},
    {type = "torch.CosineAnnealingLR", T_max = 95}]}``.
    """

    name = "torch.SequentialLR"

    schedulers: tuple[Any, ...] = schedkit.schedules(per_group=True)
    milestones: tuple[int, ...] = step_list()

    def __attrs_post_init__(self) -> None:
        _torch_subs(self, fields(type(self)).schedulers, self.schedulers, chained=True)
        if len(self.milestones) != len(self.schedulers) - 1:
            raise SpecError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers "
                f"{len(self.schedulers)} and the number of milestones to be equal to "
                f"{len(self.milestones)}",
                "milestones",
            )

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return _InSequence(self, group, base, index)


class _InSequence(_Replayed):
    __slots__ = ("milestones",)

    def __init__(self, sched: SequentialLR, group: Mapping[str, Any], base: float, index: int):
        super().__init__([s.per_group(group, base, index) for s in sched.schedulers], base)
        self.milestones = sched.milestones

    def initial(self, step: float, current: float) -> float:
        if int(step) != 0:
            raise SpecError(
                "torch.SequentialLR does not resume by construction (torch resets the lrs); "
                "load the scheduler's state instead",
                "last_epoch",
            )
        # torch resets the lr to initial_lr, then takes the first scheduler's initial step
        self.step = 0
        self.value = float(self.ways[0][0](0, self.base))
        return self.value

    def follow(self, step: float, current: float) -> float:
        t = int(step)
        i = bisect.bisect_right(self.milestones, t)
        if i > 0 and self.milestones[i - 1] == t:
            value = float(self.ways[i][1](0, current))
        else:
            start = self.milestones[i - 1] if i else 0
            value = float(self.ways[i][2](t - start, current))
        self.step, self.value = t, value
        return value

    def far(self, step: int) -> float:
        i = bisect.bisect_right(self.milestones, step)
        start = self.milestones[i - 1] if i else 0
        return float(self.curves[i](step - start))


@attrs.frozen
class ChainedScheduler(_Composite):
    """torch's ``ChainedScheduler``: every scheduler steps, in order, each from the lr the
    one before it wrote (so ``ConstantLR`` then ``ExponentialLR`` multiply).

    ``schedulers`` are torch aliases: schedkit schedulers built on the optimizer (as torch's
    users pass them) or specs; at construction each one's first value is applied in turn,
    as building them one after the other does.

    Example: ``{type = "torch.ChainedScheduler", schedulers = [
    {type = "torch.ConstantLR", factor = 0.1, total_iters = 20},
    {type = "torch.ExponentialLR", gamma = 0.9}]}``.
    """

    name = "torch.ChainedScheduler"

    def __attrs_post_init__(self) -> None:
        _torch_subs(self, fields(type(self)).schedulers, self.schedulers)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        return _InChain([s.per_group(group, base, index) for s in self.schedulers], base)


class _InChain(_Replayed):
    __slots__ = ()

    def initial(self, step: float, current: float) -> float:
        k = int(step)
        value = self.base if k == 0 else current
        for initial, _, _ in self.ways:
            value = float(initial(k, value))
        self.step, self.value = k, value
        return value

    def follow(self, step: float, current: float) -> float:
        k = int(step)
        value = current
        for _, _, follow in self.ways:
            value = float(follow(k, value))
        self.step, self.value = k, value
        return value

    def far(self, step: int) -> float:
        value = self.base
        for c in self.curves:
            value = value * (float(c(step)) / c(0)) if c(0) else 0.0
        return value


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
    registry.add(
        SequentialLR,
        examples=[
            {
                "milestones": [5],
                "schedulers": [
                    {"type": "torch.LinearLR", "start_factor": 0.1, "total_iters": 5},
                    {"type": "torch.CosineAnnealingLR", "T_max": 20},
                ],
            }
        ],
    )
    registry.add(
        ChainedScheduler,
        examples=[
            {
                "schedulers": [
                    {"type": "torch.ConstantLR", "factor": 0.1, "total_iters": 20},
                    {"type": "torch.ExponentialLR", "gamma": 0.9},
                ]
            }
        ],
    )
    registry.add(LambdaLR, examples=[{"lr_lambda": _decay}])
    registry.add(MultiplicativeLR, examples=[{"lr_lambda": _mult}])
