"""Tokens and samples as time: a batch-size ramp (:class:`BatchRamp`) and a scheduler whose
clock counts what the steps consumed (:class:`ClockedScheduler`).

When the batch size changes during a run (a ramp-up), steps and tokens stop being
proportional, and a recipe written in tokens ("warm up over 2B tokens") can no longer be
converted to steps once, up front. A clocked scheduler evaluates its schedule at the number
of tokens (or samples) consumed so far instead of the number of steps: each ``step()`` says
how much that step consumed (``step(tokens=n)``), or the scheduler reads it from its
:class:`BatchRamp`. Its state stores the consumed count, so resuming is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import torch

from schedkit._numbers import MAX_STEPS, show
from schedkit._scheduling import binding
from schedkit.errors import SpecError, StateError
from schedkit.protocols import Schedule
from schedkit.schedule import Unresolved, get_schedule
from schedkit.scheduler import REPLAN_RTOL, Replan, Scheduler
from schedkit.state_checks import StateReader

#: the clocks a :class:`ClockedScheduler` counts on
CLOCKS = ("tokens", "samples")
#: how an lr may follow the batch size during a ramp (as ``[optimizer] lr_scaling``)
SCALINGS = ("linear", "sqrt")
_SCHEDULER_OPTIONS = ("key", "tags", "steps_per_epoch", "total_steps", "last_epoch")


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(f"expected a positive whole number, got {show(value)}", name)
    if value > MAX_STEPS:
        raise SpecError(f"expected a whole number <= 2**62, got {show(value)}", name)
    return value


def _positive(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _count(value, attribute.name)


@attrs.frozen
class BatchRamp:
    """A global batch size that grows from ``start`` by ``increment`` to ``batch_size``,
    evenly over the first ``ramp_samples`` samples (Megatron-LM's ``--rampup-batch-size
    start increment ramp_samples``).

    With ``n = (batch_size - start) / increment`` increments, the batch after ``c`` samples
    is ``start + floor(c / (ramp_samples / n)) * increment``, and ``batch_size`` once ``c``
    exceeds ``ramp_samples``. The batch is the global one (all devices, all accumulation
    micro-batches); it is not rounded to a multiple of the micro-batch times data-parallel
    size.

    :param start: the global batch size of the first step.
    :param increment: how much the batch grows at each increase.
    :param ramp_samples: the samples over which it grows.
    :param batch_size: the global batch size after the ramp.

    >>> ramp = BatchRamp(start=32, increment=32, ramp_samples=1000, batch_size=128)
    >>> [ramp.batch(c) for c in (0, 333, 334, 1000, 1001)]
    [32, 32, 64, 128, 128]
    """

    start: int = attrs.field(validator=_positive)
    increment: int = attrs.field(validator=_positive)
    ramp_samples: int = attrs.field(validator=_positive)
    batch_size: int = attrs.field(validator=_positive)
    _per_increment: float = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        diff = self.batch_size - self.start
        if diff < 0:
            raise SpecError(
                f"expected at least start ({self.start}), got {self.batch_size}", "batch_size"
            )
        if diff % self.increment:
            raise SpecError(
                f"batch_size - start ({diff}) must be a multiple of increment ({self.increment})",
                "increment",
            )
        n = diff // self.increment
        object.__setattr__(self, "_per_increment", self.ramp_samples / n if n else math.inf)

    def batch(self, consumed_samples: int) -> int:
        """The global batch size of the step after ``consumed_samples`` samples."""
        if consumed_samples > self.ramp_samples:
            return self.batch_size
        return self.start + int(consumed_samples / self._per_increment) * self.increment

    def consumed(self, steps: int) -> int:
        """The samples consumed after ``steps`` steps of this ramp."""
        c = 0
        for _ in range(steps):
            if c > self.ramp_samples:
                return c + (steps - _) * self.batch_size
            c += self.batch(c)
        return c

    def spec(self) -> dict[str, int]:
        """The ramp as plain data (the ``[run.batch_ramp]`` table without ``batch_size``)."""
        return {"start": self.start, "increment": self.increment, "ramp_samples": self.ramp_samples}


def _batch_of(ramp: BatchRamp) -> Callable[[int], int]:
    """``ramp.batch`` as a closure over its numbers (no attribute look-ups per step)."""
    full, start, increment = ramp.batch_size, ramp.start, ramp.increment
    limit, per = ramp.ramp_samples, ramp._per_increment

    def batch(consumed: int) -> int:
        if consumed > limit:
            return full
        return start + int(consumed / per) * increment

    return batch


def _amount(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"expected a whole number >= 0, got {show(value)}", name)
    return value


class ClockedScheduler(Scheduler):
    """A :class:`Scheduler` whose clock counts tokens or samples consumed instead of steps.

    The schedule is evaluated at the count consumed so far: ``step(tokens=n)`` (or
    ``step(samples=n)``) adds what the step consumed; with a ``ramp``, ``step()`` reads it
    from the ramp (the ramp's batch at the samples consumed so far, times ``seq_len`` on a
    token clock). The schedule's durations are in the clock's unit: ``"2e9tok"`` and
    ``"500ksp"`` (samples need ``seq_len`` on a token clock, tokens on a sample clock),
    ``"10%"`` of ``total_steps`` (given in the clock's unit) and ``"2ep"`` with
    ``steps_per_epoch`` in the clock's unit; a bare number counts the clock's unit.

    :param optimizer: any ``torch.optim.Optimizer``.
    :param schedule: a schedule, a registered name with ``params``, or a spec dict.
    :param clock: ``"tokens"`` or ``"samples"``.
    :param seq_len: tokens per sample: converts between the two.
    :param ramp: the batch-size ramp ``step()`` reads the consumed samples from.
    :param lr_scaling: with a ramp, the value also follows the batch size: times
        ``batch / ramp.batch_size`` (``"linear"``) or its square root (``"sqrt"``), so a
        ``base_lr`` scaled for the full batch is scaled for the current one.
    :param per_step: what ``step()`` adds when not told, in the clock's unit (a run whose
        batch is constant; ``step(tokens=n)`` still says otherwise for one step).
    :param options: :class:`Scheduler`'s (``key``, ``tags``, ``steps_per_epoch``,
        ``total_steps``, ``last_epoch``) and the schedule's parameters.

    Its state (:meth:`state_dict`) adds ``clock``: the unit, the optimizer updates taken
    and the ramp; ``step`` is the consumed count.

    >>> sched = ClockedScheduler(opt, "cosine", clock="tokens", total="1Mtok")  # doctest: +SKIP
    >>> sched.step(tokens=4096)  # doctest: +SKIP
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | str | Mapping[str, Any],
        /,
        *,
        clock: str = "tokens",
        seq_len: int | None = None,
        ramp: BatchRamp | None = None,
        lr_scaling: str | None = None,
        per_step: int | None = None,
        **options: Any,
    ) -> None:
        if clock not in CLOCKS:
            raise SpecError(
                f"expected one of {', '.join(map(repr, CLOCKS))}, got {show(clock)}", "clock"
            )
        if seq_len is not None:
            _count(seq_len, "seq_len")
        if ramp is not None and not isinstance(ramp, BatchRamp):
            raise SpecError(f"expected a BatchRamp, got {show(ramp)}", "ramp")
        if ramp is not None and clock == "tokens" and seq_len is None:
            raise SpecError("a ramp counts samples: a token clock needs seq_len", "seq_len")
        if lr_scaling is not None and lr_scaling not in SCALINGS:
            raise SpecError(
                f"expected one of {', '.join(map(repr, SCALINGS))}, got {show(lr_scaling)}",
                "lr_scaling",
            )
        if lr_scaling is not None and ramp is None:
            raise SpecError("lr_scaling follows a batch-size ramp; give ramp", "lr_scaling")
        if options.get("follow_optimizer"):
            raise SpecError(
                "a clocked scheduler advances by what each step consumed: step(tokens=n)",
                "follow_optimizer",
            )
        params = {k: v for k, v in options.items() if k not in _SCHEDULER_OPTIONS}
        options = {k: v for k, v in options.items() if k in _SCHEDULER_OPTIONS}
        if isinstance(schedule, (str, Mapping)):
            schedule = get_schedule(schedule, **params)
        elif params:
            raise TypeError(f"parameters {sorted(params)} given with a built schedule")
        if isinstance(schedule, Unresolved):
            if clock == "tokens":
                schedule = schedule.in_steps(
                    tokens_per_step=1, samples_per_step=None if seq_len is None else 1 / seq_len
                )
            else:
                schedule = schedule.in_steps(samples_per_step=1, tokens_per_step=seq_len)
        self.clock = clock
        self.seq_len = seq_len
        self.ramp = ramp
        self.lr_scaling = lr_scaling
        self.per_step = None if per_step is None else _amount(per_step, "per_step")
        #: the optimizer updates taken (the scheduler's ``step`` counts the clock)
        self.updates = 0
        super().__init__(optimizer, schedule, **options)
        if self._curves or self._stateful:
            raise SpecError(
                f"{self.schedule.spec()['type']!r} steps on its own terms (per-group curves or "
                "a metric); a clocked scheduler takes the native families",
                "schedule",
            )
        self._unit = 1 if clock == "samples" or seq_len is None else seq_len
        #: ``step(tokens=n)`` adds n as is
        self._direct = clock == "tokens"
        self._next = self._next_of()
        #: the schedule's own value; ``_value`` follows the ramp's batch while it ramps
        self._curve = self._value
        self._ramp_end = -1 if ramp is None else ramp.ramp_samples
        self._settle()
        if lr_scaling is not None:
            self._write(self._value(self._step))

    def _settle(self) -> None:
        """What ``step()`` uses from the current count: on the ramp, the ramp's batch and
        (with ``lr_scaling``) the value following it; past the ramp, or without one, the
        constant batch (``_per``) and the schedule's own value (the scaling is 1 there)."""
        ramp = self.ramp
        self._on_ramp = ramp is not None and self._step // self._unit <= ramp.ramp_samples
        if ramp is not None and self._on_ramp:
            self._per: int | None = None
            if self.lr_scaling is not None:
                self._value = self._following(self._curve)
            return
        self._per = self.per_step if ramp is None else ramp.batch_size * self._unit
        self._value = self._curve

    def _next_of(self) -> Callable[[], int]:
        """What ``step()`` adds when not told: the ramp's batch, or the constant one."""
        ramp, unit, per = self.ramp, self._unit, self.per_step
        if ramp is not None:
            batch = _batch_of(ramp)
            return lambda: batch(self._step // unit) * unit
        if per is not None:
            return lambda: per

        def refuse() -> int:
            raise SpecError(
                f"a {self.clock} clock advances by what each step consumed: "
                f"step({self.clock}=n), or give a ramp or per_step",
                self.clock,
            )

        return refuse

    def _following(self, curve: Callable[[float], float]) -> Callable[[float], float]:
        """The schedule's value times the lr scaling of the ramp's current batch."""
        ramp = self.ramp
        assert ramp is not None
        unit, full, sqrt = self._unit, ramp.batch_size, self.lr_scaling == "sqrt"
        batch = _batch_of(ramp)

        def value(consumed: float) -> float:
            ratio = batch(int(consumed) // unit) / full
            return curve(consumed) * (math.sqrt(ratio) if sqrt else ratio)

        return value

    def step(  # type: ignore[override]
        self,
        metric: float | None = None,
        epoch: float | None = None,
        *,
        tokens: int | None = None,
        samples: int | None = None,
    ) -> None:
        """Advance by what this step consumed and apply the schedule's value there.

        :param tokens: the tokens this step consumed (on a sample clock: needs ``seq_len``
            and a multiple of it).
        :param samples: the samples this step consumed.

        Without either, the ramp's batch at the samples consumed so far; without a ramp it
        is a :class:`SpecError`. Nothing changes when the amount is refused.
        """
        # the common forms first, with the fewest checks: nothing told (the ramp or the
        # constant batch says), or tokens told on a token clock
        if metric is None and epoch is None and samples is None:
            if tokens is None:
                n: int = self._per if self._per is not None else self._next()
            elif tokens.__class__ is int and self._direct and tokens >= 0:
                n = tokens
            else:
                n = self._consumed(tokens, None)
        elif metric is not None or epoch is not None:
            raise TypeError("a clocked scheduler's step() takes tokens= or samples=")
        else:
            n = self._consumed(tokens, samples)
        groups = self.optimizer.param_groups
        if groups is not self._bound or len(groups) != self._n_groups:
            binding.bind(self)
        step = self._step + n
        if step > MAX_STEPS:
            raise SpecError(f"the clock would pass 2**62 {self.clock}", self.clock)
        self._step = step
        self.updates += 1
        if self._on_ramp and step // self._unit > self._ramp_end:
            self._settle()  # the ramp is over: the constant batch from here
        self._write(self._value(step))
        if self._companions:
            for value, write in self._companions:
                write(value(step))

    def _consumed(self, tokens: Any, samples: Any) -> int:
        """What one step consumed, in the clock's unit (checked, nothing changed)."""
        if tokens is not None and samples is not None:
            raise SpecError("give tokens= or samples=, not both", "samples")
        if self.clock == "tokens":
            if tokens is not None:
                return _amount(tokens, "tokens")
            if self.seq_len is None:
                raise SpecError("samples on a token clock need seq_len", "samples")
            return _amount(samples, "samples") * self.seq_len
        if samples is not None:
            return _amount(samples, "samples")
        n = _amount(tokens, "tokens")
        if self.seq_len is None or n % self.seq_len:
            raise SpecError(
                f"a sample clock counts whole samples: {n} tokens is not a multiple of "
                f"seq_len ({self.seq_len})",
                "tokens",
            )
        return n // self.seq_len

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The values at the current count, one per selected group."""
        f = self._value(self._step)
        return [b * f for b in self.base_values]

    @property
    def told_only(self) -> bool:
        """Whether ``step()`` must be told what each step consumed (no ramp, no
        ``per_step``)."""
        return self.ramp is None and self.per_step is None

    @property
    def steps(self) -> int:
        """Optimizer updates taken so far (the clock's count is :attr:`consumed`)."""
        return self.updates

    @property
    def consumed(self) -> int:
        """The tokens (or samples) consumed so far."""
        return self._step

    def state_dict(self) -> dict[str, Any]:
        """:meth:`Scheduler.state_dict` with ``clock``: its unit, ``seq_len``, the
        optimizer updates taken and the ramp (``step`` is the consumed count)."""
        out = super().state_dict()
        out["clock"] = {
            "unit": self.clock,
            "seq_len": self.seq_len,
            "updates": self.updates,
            "ramp": None if self.ramp is None else self.ramp.spec(),
        }
        return out

    def check_state(self, state_dict: Any) -> tuple[int, list[float], Any]:
        """:meth:`Scheduler.check_state`, and the clock's part: the same unit, ``seq_len``
        and ramp, a whole number of updates."""
        self._check_clock(state_dict)
        return super().check_state(state_dict)

    def _check_clock(self, state_dict: Any) -> int:
        reader = StateReader(state_dict, what="scheduler state")
        clock = reader.mapping("clock")
        mine = {
            "unit": self.clock,
            "seq_len": self.seq_len,
            "ramp": None if self.ramp is None else self.ramp.spec(),
        }
        for k, v in mine.items():
            if clock.state.get(k) != v:
                raise StateError(
                    f"the state's clock has {k} {show(clock.state.get(k))}, this scheduler "
                    f"{show(v)}",
                    f"clock.{k}",
                )
        return clock.integer("updates")

    def check_replan(
        self, state_dict: Any, *, rtol: float = REPLAN_RTOL, allow_jump: bool = False
    ) -> Replan:
        """:meth:`Scheduler.check_replan`, and the clock's part (a replan keeps the clock)."""
        self._check_clock(state_dict)
        return super().check_replan(state_dict, rtol=rtol, allow_jump=allow_jump)

    def load_state_dict(
        self,
        state_dict: dict[str, Any],
        replan: bool = False,
        *,
        rtol: float = REPLAN_RTOL,
        allow_jump: bool = False,
    ) -> None:
        """Restore a state from :meth:`state_dict` (all of it or none); with ``replan``, on
        this scheduler's plan (:meth:`Scheduler.load_state_dict`), on the same clock."""
        updates = self._check_clock(state_dict)
        super().load_state_dict(state_dict, replan, rtol=rtol, allow_jump=allow_jump)
        self.updates = updates
        self._settle()


def consumed_curve(ramp: BatchRamp, steps: int, *, seq_len: int = 1) -> Iterable[tuple[int, int]]:
    """(step, consumed) for each step ``0..steps`` of ``ramp``: samples, or tokens with
    ``seq_len``, consumed before that step (for plots)."""
    c = 0
    for k in range(steps + 1):
        yield k, c * seq_len
        c += ramp.batch(c)
