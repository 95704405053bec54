"""``megatron.*``: megatron-core's ``OptimizerParamScheduler``
(``megatron.core.optimizer_param_scheduler``), the lr and weight-decay scheduler of
Megatron-LM and NeMo.

One alias, ``megatron.OptimizerParamScheduler``, with the original's arguments, the decay
style an argument (``lr_decay_style``) as Megatron's users give it (``--lr-decay-style``):
a name per style would be a second vocabulary for one class whose users switch styles
from the command line.

What it reproduces, float for float (megatron computes in Python floats):

- the lr: a linear warmup from ``init_lr`` to ``max_lr`` over ``lr_warmup_steps``, then
  ``constant``, ``linear``, ``cosine``, ``inverse-square-root`` or ``WSD`` (stable at
  ``max_lr``, then the last ``wsd_decay_steps`` of ``lr_decay_steps`` along
  ``lr_wsd_decay_style``: ``linear``, ``cosine``, ``exponential`` (``2 * 0.5 ** r - 1``) or
  ``minus_sqrt`` (``1 - sqrt(r)``)) down to ``min_lr``, and ``min_lr`` after
  ``lr_decay_steps``;
- the weight decay, written in the same step: from ``start_wd`` to ``end_wd`` over
  ``wd_incr_steps`` (``constant``, ``linear`` or ``cosine``), times the group's ``wd_mult``;
- every param group's own ``max_lr``, ``min_lr``, ``start_wd``, ``end_wd`` and ``wd_mult``
  where the group carries them (megatron-core's param groups do), the arguments otherwise;
  a group's ``lr_mult`` is ignored, as megatron-core 0.16 ignores it (its groups carry
  ``max_lr`` and ``min_lr`` instead);
- its stepping: ``step(increment)`` advances ``increment`` steps (Megatron-LM's training
  loop counts samples: ``increment`` is the global batch size), ``step()`` one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

import schedkit
from schedkit import SpecError, StateError
from schedkit.plugin import Stepping, as_real, instance_of, one_of, optional, show, steps
from schedkit_compat._base import ClosedForm, count

#: megatron's lr decay styles
LR_DECAY_STYLES = ("constant", "linear", "cosine", "inverse-square-root", "WSD")
#: megatron's decay styles of the WSD's last phase
WSD_DECAY_STYLES = ("linear", "cosine", "exponential", "minus_sqrt")
#: megatron's weight-decay increment styles
WD_INCR_STYLES = ("constant", "linear", "cosine")

#: the keys of megatron's own ``state_dict()`` (and its older names), for a megatron
#: checkpoint loaded into the alias
_MEGATRON_KEYS = (
    ("max_lr", ("start_lr", "max_lr")),
    ("min_lr", ("min_lr",)),
    ("lr_warmup_steps", ("warmup_iter", "warmup_steps", "lr_warmup_steps")),
    ("lr_decay_steps", ("end_iter", "decay_steps", "lr_decay_steps")),
    ("lr_decay_style", ("decay_style", "lr_decay_style")),
)
_MEGATRON_WD_KEYS = ("start_wd", "end_wd", "wd_incr_steps", "wd_incr_style")


def _style(choices: tuple[str, ...]) -> Any:
    return schedkit.field(validator=one_of(choices))


def _number(inst: Any, attribute: Any, value: Any) -> None:
    real = as_real(value)
    if real is None or not math.isfinite(real):
        raise SpecError(f"expected a finite number, got {show(value)}", attribute.name)


def _as_float(value: Any) -> Any:
    """megatron's ``float(max_lr)``, for numbers (anything else, an int no float holds
    included, is left to the check)."""
    real = as_real(value)
    return value if real is None else real


def _lr(*, as_float: bool = False) -> Any:
    """An absolute value (megatron keeps what it is given, an int an int, but ``max_lr``)."""
    return schedkit.field(converter=_as_float if as_float else None, validator=_number)


class MegatronStepping(Stepping):
    """Megatron's stepping on the scheduler of ``megatron.OptimizerParamScheduler``:
    ``step(increment)`` advances ``increment`` steps (0 rewrites the current values),
    ``step()`` one (what trainers and ``Built.step()`` call); ``get_lr(param_group)`` and
    ``get_wd(param_group)`` are megatron's values for a group at the current step; and
    ``load_state_dict`` takes a megatron ``state_dict()`` too (see the class)."""

    def step(self, scheduler: Any, increment: int | None = None) -> None:
        if increment is None:
            super().step(scheduler)
            return
        if isinstance(increment, bool) or not isinstance(increment, int) or increment < 0:
            raise SpecError(
                f"expected a whole number of steps >= 0, got {increment!r}", "increment"
            )
        scheduler.last_epoch = scheduler.last_epoch + increment - 1
        super().step(scheduler)

    def methods(self, scheduler: Any) -> dict[str, Callable[..., Any]]:
        return {
            "get_lr": functools.partial(self.get_lr, scheduler),
            "get_wd": functools.partial(self.get_wd, scheduler),
            "load_state_dict": functools.partial(self.load_state_dict, scheduler),
        }

    def get_lr(self, scheduler: Any, param_group: Mapping[str, Any] | None = None) -> Any:
        """megatron's ``get_lr(param_group)``; without a group, schedkit's (one value per
        group)."""
        if param_group is None:
            return type(scheduler).get_lr(scheduler)
        sched: OptimizerParamScheduler = scheduler.schedule
        return sched.lr_of(scheduler.last_epoch, param_group)

    def get_wd(self, scheduler: Any, param_group: Mapping[str, Any] | None = None) -> float:
        """megatron's ``get_wd(param_group=None)`` (before the group's ``wd_mult``)."""
        sched: OptimizerParamScheduler = scheduler.schedule
        return sched.wd_of(scheduler.last_epoch, param_group or {})

    def load_state_dict(self, scheduler: Any, state_dict: Mapping[str, Any]) -> None:
        if not isinstance(state_dict, Mapping) or "format" in state_dict:
            _load_own(scheduler, state_dict)
        else:
            _load_megatron(scheduler, state_dict)


#: the policy of ``megatron.OptimizerParamScheduler``
MEGATRON_STEPPING = MegatronStepping()


def _load_own(scheduler: Any, state: Any) -> None:
    """schedkit's state of the alias; with ``override_opt_param_scheduler`` the state's
    arguments give way to the scheduler's (megatron's override), else they must be the same
    (the core's check, which names the first difference)."""
    sched: OptimizerParamScheduler = scheduler.schedule
    spec = state.get("schedule") if isinstance(state, Mapping) else None
    if (
        sched.override_opt_param_scheduler
        and isinstance(spec, Mapping)
        and spec.get("type") == sched.name
    ):
        state = {**state, "schedule": sched.spec()}
    type(scheduler).load_state_dict(scheduler, state)


def _load_megatron(scheduler: Any, state: Mapping[str, Any]) -> None:
    """A megatron ``state_dict()`` (from a megatron checkpoint): the steps are added to the
    scheduler's, as megatron's ``load_state_dict`` does; each argument it holds is checked
    with megatron's switches. ``override_opt_param_scheduler``: the scheduler's arguments
    are kept. Otherwise the checkpoint's must be the same: megatron's default
    (``use_checkpoint_opt_param_scheduler``) adopts them in place, which the alias refuses,
    since its schedule is fixed when built; the error names both values."""
    sched: OptimizerParamScheduler = scheduler.schedule

    def value(names: tuple[str, ...]) -> Any:
        for n in names:
            if n in state:
                return state[n]
        raise StateError(f"a megatron scheduler state has {names[-1]!r}", names[-1])

    checked: list[tuple[str, Any]] = [(name, value(keys)) for name, keys in _MEGATRON_KEYS]
    if "start_wd" in state:
        checked += [(name, value((name,))) for name in _MEGATRON_WD_KEYS]
    steps_ = state.get("num_iters", state.get("num_steps"))
    if isinstance(steps_, bool) or not isinstance(steps_, int) or steps_ < 0:
        raise StateError(f"expected a whole number of steps >= 0, got {steps_!r}", "num_steps")
    if not sched.override_opt_param_scheduler:
        for name, saved in checked:
            mine = getattr(sched, name)
            if saved != mine:
                raise StateError(
                    f"the checkpoint has {name} = {saved!r}, this scheduler {mine!r}: megatron "
                    + (
                        "adopts the checkpoint's value (use_checkpoint_opt_param_scheduler); "
                        "the alias keeps the schedule it was built with: build it with "
                        f"{name} = {saved!r}, or set override_opt_param_scheduler = true to "
                        "keep this one"
                        if sched.use_checkpoint_opt_param_scheduler
                        else "refuses a different value without override_opt_param_scheduler"
                    ),
                    name,
                )
    MEGATRON_STEPPING.step(scheduler, steps_)


@attrs.frozen
class OptimizerParamScheduler(ClosedForm):
    """megatron-core's ``OptimizerParamScheduler``: the lr and the weight decay of every
    param group, Megatron-LM's and NeMo's scheduler.

    Its arguments: ``init_lr``: the lr at the start of the warmup, absolute.
    ``max_lr``: the peak lr, absolute (a group's own ``max_lr`` wins).
    ``min_lr``: the lr at the end of the decay, absolute (a group's own wins).
    ``lr_warmup_steps``: the steps of the linear warmup, less than ``lr_decay_steps``.
    ``lr_decay_steps``: the step at which the lr reaches ``min_lr``, warmup included.
    ``lr_decay_style``: ``constant``, ``linear``, ``cosine``, ``inverse-square-root`` or ``WSD``.
    ``start_wd``: the weight decay at step 0.
    ``end_wd``: the weight decay from ``wd_incr_steps`` on.
    ``wd_incr_steps``: the steps of the weight-decay increment.
    ``wd_incr_style``: ``constant`` (``end_wd`` = ``start_wd``), ``linear`` or ``cosine``.
    ``use_checkpoint_opt_param_scheduler``: adopt a megatron checkpoint's arguments (refused).
    ``override_opt_param_scheduler``: keep these arguments whatever a state says.
    ``wsd_decay_steps``: with ``WSD``, the steps of its final decay.
    ``lr_wsd_decay_style``: with ``WSD``, ``linear``, ``cosine``, ``exponential`` or ``minus_sqrt``.

    The lr: linear warmup from ``init_lr`` to ``max_lr`` over ``lr_warmup_steps`` (step
    ``lr_warmup_steps`` is at ``max_lr``), then ``lr_decay_style`` down to ``min_lr`` at
    ``lr_decay_steps`` (``min_lr`` after it): ``constant`` (``max_lr``, forever),
    ``linear``, ``cosine``, ``inverse-square-root`` (``max_lr * sqrt(W / t)``, at least
    ``min_lr``) or ``WSD`` (``max_lr`` until the last ``wsd_decay_steps`` of the decay,
    which follow ``lr_wsd_decay_style``: ``linear``, ``cosine``, ``exponential`` or
    ``minus_sqrt``). The values are absolute; a group carrying ``max_lr`` / ``min_lr``
    (megatron-core's groups do: decoupled embedding lr) uses its own.

    The weight decay, in the same step: ``start_wd`` to ``end_wd`` over ``wd_incr_steps``
    (``wd_incr_style``: ``constant`` needs them equal, ``linear``, ``cosine``), times the
    group's ``wd_mult`` (0 for biases and norms in megatron-core); a group's own
    ``start_wd`` / ``end_wd`` win.

    Like megatron's, it writes every scheduled group's weight decay: a group that a rule
    gave ``weight_decay = 0`` (``no_weight_decay``) gets the schedule's unless it carries
    megatron's ``wd_mult = 0``.

    Stepping: ``step(increment)`` as megatron (Megatron-LM counts samples: ``increment``
    is the global batch size, and ``lr_warmup_steps``, ``lr_decay_steps``... are then
    samples), ``step()`` one step. Resume: schedkit's ``state_dict()`` /
    ``load_state_dict()``, exact; ``load_state_dict`` also takes a megatron
    ``state_dict()``: its steps are added, and with ``override_opt_param_scheduler`` the
    scheduler's arguments are kept (any state); otherwise the state's must be the same
    (megatron's default, ``use_checkpoint_opt_param_scheduler``, would adopt the
    checkpoint's instead: refused, naming both values).

    Example: ``{type = "megatron.OptimizerParamScheduler", init_lr = 0.0, max_lr = 3e-4,
    min_lr = 3e-5, lr_warmup_steps = 2000, lr_decay_steps = 100000, lr_decay_style =
    "cosine", start_wd = 0.1, end_wd = 0.1, wd_incr_steps = 100000, wd_incr_style =
    "constant"}``.
    """

    name = "megatron.OptimizerParamScheduler"
    stepping: ClassVar[Stepping] = MEGATRON_STEPPING
    #: what megatron reads from each param group: an ``overrides`` rule may set them
    group_keys: ClassVar[tuple[str, ...]] = ("max_lr", "min_lr", "start_wd", "end_wd", "wd_mult")
    peer_attributes: ClassVar[tuple[str, ...]] = (
        "num_steps",
        "init_lr",
        "max_lr",
        "min_lr",
        "lr_warmup_steps",
        "lr_decay_steps",
        "lr_decay_style",
        "start_wd",
        "end_wd",
        "wd_incr_steps",
        "wd_incr_style",
        "use_checkpoint_opt_param_scheduler",
        "override_opt_param_scheduler",
        "wsd_decay_steps",
        "lr_wsd_decay_style",
    )

    #: the lr at the start of the warmup (absolute)
    init_lr: float = _lr()
    #: the peak lr (absolute; a group's own ``max_lr`` wins)
    max_lr: float = _lr(as_float=True)
    #: the lr at the end of the decay (absolute; a group's own ``min_lr`` wins)
    min_lr: float = _lr()
    #: steps of linear warmup (less than ``lr_decay_steps``)
    lr_warmup_steps: int = count()
    #: the step at which the decay reaches ``min_lr``, warmup included
    lr_decay_steps: int = count(positive=True)
    #: ``constant``, ``linear``, ``cosine``, ``inverse-square-root`` or ``WSD``
    lr_decay_style: str = _style(LR_DECAY_STYLES)
    #: the weight decay at step 0
    start_wd: float = _lr()
    #: the weight decay from ``wd_incr_steps`` on
    end_wd: float = _lr()
    #: steps of the weight-decay increment
    wd_incr_steps: int = count()
    #: ``constant`` (``start_wd`` = ``end_wd``), ``linear`` or ``cosine``
    wd_incr_style: str = _style(WD_INCR_STYLES)
    #: a megatron checkpoint's arguments are adopted (refused by the alias when they
    #: differ: see the class)
    use_checkpoint_opt_param_scheduler: bool | None = schedkit.field(
        default=True, validator=optional(instance_of(bool))
    )
    #: a checkpoint's arguments give way to these
    override_opt_param_scheduler: bool | None = schedkit.field(
        default=False, validator=optional(instance_of(bool))
    )
    #: with ``WSD``: the steps of the final decay, the last of ``lr_decay_steps``
    wsd_decay_steps: int | None = schedkit.field(default=None, validator=optional(steps()))
    #: with ``WSD``: ``linear``, ``cosine``, ``exponential`` or ``minus_sqrt``
    lr_wsd_decay_style: str | None = schedkit.field(
        default=None, validator=optional(one_of(WSD_DECAY_STYLES))
    )

    def __attrs_post_init__(self) -> None:
        """megatron's assertions, as errors naming the argument (megatron checks the
        weight-decay styles at its first step: at construction)."""
        checks = (
            (self.min_lr >= 0.0, "min_lr", f"expected >= 0, got {self.min_lr!r}"),
            (
                self.max_lr >= self.min_lr,
                "max_lr",
                f"expected >= min_lr ({self.min_lr!r}), got {self.max_lr!r}",
            ),
            (
                self.init_lr <= self.max_lr,
                "init_lr",
                f"expected <= max_lr ({self.max_lr!r}), got {self.init_lr!r}",
            ),
            (
                self.lr_warmup_steps < self.lr_decay_steps,
                "lr_warmup_steps",
                f"expected < lr_decay_steps ({self.lr_decay_steps}), got {self.lr_warmup_steps}",
            ),
            (
                self.lr_decay_style != "WSD"
                or (self.wsd_decay_steps is not None and self.lr_wsd_decay_style is not None),
                "wsd_decay_steps" if self.wsd_decay_steps is None else "lr_wsd_decay_style",
                "lr_decay_style = 'WSD' needs wsd_decay_steps and lr_wsd_decay_style",
            ),
            (self.start_wd >= 0.0, "start_wd", f"expected >= 0, got {self.start_wd!r}"),
            (
                self.end_wd >= self.start_wd,
                "end_wd",
                f"expected >= start_wd ({self.start_wd!r}), got {self.end_wd!r}",
            ),
            (
                self.wd_incr_style != "constant" or self.start_wd == self.end_wd,
                "end_wd",
                "wd_incr_style = 'constant' needs end_wd = start_wd "
                f"({self.start_wd!r}), got {self.end_wd!r}",
            ),
            (
                self.wd_incr_style == "constant" or self.wd_incr_steps > 0,
                "wd_incr_steps",
                f"expected > 0 with wd_incr_style = {self.wd_incr_style!r} (megatron divides "
                "by it)",
            ),
            (
                not (self.override_opt_param_scheduler and self.use_checkpoint_opt_param_scheduler),
                "override_opt_param_scheduler",
                "both override_opt_param_scheduler and use_checkpoint_opt_param_scheduler are "
                "set (megatron refuses them together)",
            ),
        )
        for ok, name, message in checks:
            if not ok:
                raise SpecError(message, name)

    # -- megatron's formulas, in its arithmetic ----------------------------------------

    def lr(self, num_steps: int, max_lr: float, min_lr: float) -> float:
        """megatron's ``get_lr`` at ``num_steps`` for a group's ``max_lr`` / ``min_lr``."""
        warmup = self.lr_warmup_steps
        if warmup > 0 and num_steps <= warmup:
            return self.init_lr + ((max_lr - self.init_lr) * float(num_steps) / float(warmup))
        style = self.lr_decay_style
        if style == "constant":
            return max_lr
        if num_steps > self.lr_decay_steps:
            return min_lr
        if style == "inverse-square-root":
            lr: float = max_lr * max(warmup, 1) ** 0.5 / (max(num_steps, 1) ** 0.5)
            return max(min_lr, lr)
        decay_ratio = float(num_steps - warmup) / float(self.lr_decay_steps - warmup)
        delta_lr = max_lr - min_lr
        if style == "linear":
            coeff = 1.0 - decay_ratio
        elif style == "cosine":
            coeff = 0.5 * (math.cos(math.pi * decay_ratio) + 1.0)
        else:  # WSD
            assert self.wsd_decay_steps is not None
            anneal_start = self.lr_decay_steps - self.wsd_decay_steps
            if num_steps <= anneal_start:
                coeff = 1.0
            else:
                r = float(num_steps - anneal_start) / float(self.wsd_decay_steps)
                wsd = self.lr_wsd_decay_style
                if wsd == "linear":
                    coeff = 1.0 - r
                elif wsd == "cosine":
                    coeff = 0.5 * (math.cos(math.pi * r) + 1.0)
                elif wsd == "exponential":
                    coeff = (2.0 * math.pow(0.5, r)) - 1.0
                else:  # minus_sqrt
                    coeff = 1.0 - math.sqrt(r)
        return min_lr + coeff * delta_lr

    def wd(self, num_steps: int, start_wd: float, end_wd: float) -> float:
        """megatron's ``get_wd`` at ``num_steps`` for a group's ``start_wd`` / ``end_wd``."""
        if num_steps > self.wd_incr_steps or self.wd_incr_style == "constant":
            return end_wd
        incr_ratio = float(num_steps) / float(self.wd_incr_steps)
        if self.wd_incr_style == "linear":
            coeff = incr_ratio
        else:  # cosine
            coeff = 0.5 * (math.cos(math.pi * (1 - incr_ratio)) + 1.0)
        return start_wd + coeff * (end_wd - start_wd)

    def lr_of(self, step: float, group: Mapping[str, Any]) -> float:
        """The lr of ``group`` at ``step``, its own ``max_lr`` / ``min_lr`` read now."""
        return self.lr(
            int(step), group.get("max_lr", self.max_lr), group.get("min_lr", self.min_lr)
        )

    def wd_of(self, step: float, group: Mapping[str, Any]) -> float:
        """The weight decay of ``group`` at ``step`` before its ``wd_mult``."""
        return self.wd(
            int(step), group.get("start_wd", self.start_wd), group.get("end_wd", self.end_wd)
        )

    # -- schedkit's side ---------------------------------------------------------------

    def at(self, step: float, base: float, index: int) -> float:
        return self.lr(int(step), self.max_lr, self.min_lr)

    def __call__(self, step: float) -> float:
        return self.lr(int(step), self.max_lr, self.min_lr)

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]:
        """The group's lr, its ``max_lr`` / ``min_lr`` read at each step as megatron does
        (the group's own lr is not a base: megatron's values are absolute)."""
        return functools.partial(self.lr_of, group=group)

    def companions(self) -> dict[str, Any]:
        """The weight decay of every group, in the same step."""
        return {"weight_decay": _WeightDecay(self)}

    @property
    def horizon(self) -> int | None:
        """The step from which neither the lr nor the weight decay changes."""
        return max(self.lr_decay_steps, self.wd_incr_steps) + 1

    # -- megatron's attributes ---------------------------------------------------------

    def peer_get(self, name: str, scheduler: Any) -> Any:
        """megatron's attribute ``name``: ``num_steps`` is the scheduler's step, the
        others the arguments."""
        if name == "num_steps":
            return scheduler.last_epoch
        return getattr(self, name)

    def peer_set(self, name: str, value: Any, scheduler: Any) -> None:
        """``num_steps`` moves the scheduler (the values are written at the next
        ``step``, as in megatron); the arguments are fixed when the alias is built."""
        if name == "num_steps":
            scheduler.last_epoch = value
            return
        raise SpecError(
            f"{name} is fixed when the alias is built (build a new one with {name} = {value!r})",
            name,
        )


class _WeightDecay:
    """megatron's weight decay of each group: ``get_wd(group) * group["wd_mult"]``, the
    group's settings read at each step."""

    __slots__ = ("sched",)

    def __init__(self, sched: OptimizerParamScheduler) -> None:
        self.sched = sched

    def __call__(self, step: float) -> float:
        return self.sched.wd(int(step), self.sched.start_wd, self.sched.end_wd)

    def for_group(self, group: Mapping[str, Any], index: int) -> Callable[[float], float]:
        sched = self.sched
        start, end = group.get("start_wd", sched.start_wd), group.get("end_wd", sched.end_wd)
        if sched.wd_incr_style == "constant" and start != end:
            raise SpecError(
                f"wd_incr_style = 'constant' needs end_wd = start_wd, and this group has "
                f"start_wd = {start!r}, end_wd = {end!r} (megatron asserts it at each step)",
                f"param_groups[{index}].end_wd",
            )

        def wd(step: float) -> float:
            mult: float = group.get("wd_mult", 1.0)
            return sched.wd_of(step, group) * mult

        return wd


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    common = {"init_lr": 0.0, "max_lr": 1e-3, "min_lr": 1e-5, "lr_warmup_steps": 10}
    registry.add(
        OptimizerParamScheduler,
        examples=[
            {
                **common,
                "lr_decay_steps": 100,
                "lr_decay_style": "cosine",
                "start_wd": 0.01,
                "end_wd": 0.1,
                "wd_incr_steps": 100,
                "wd_incr_style": "linear",
            },
            {
                **common,
                "lr_decay_steps": 80,
                "lr_decay_style": "WSD",
                "wsd_decay_steps": 20,
                "lr_wsd_decay_style": "minus_sqrt",
                "start_wd": 0.1,
                "end_wd": 0.1,
                "wd_incr_steps": 80,
                "wd_incr_style": "constant",
            },
            {
                **common,
                "lr_decay_steps": 60,
                "lr_decay_style": "inverse-square-root",
                "start_wd": 0.0,
                "end_wd": 0.05,
                "wd_incr_steps": 50,
                "wd_incr_style": "cosine",
            },
        ],
    )
