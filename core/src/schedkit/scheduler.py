"""The one stateful adapter: binds a schedule to an optimizer's param groups and one key.

For ``key="lr"`` it is a ``torch.optim.lr_scheduler.LRScheduler`` with torch's step
convention (the value of step 0 is applied at construction, that of step k after k calls to
``step()``), so Lightning, the transformers Trainer, Accelerate and hand-written loops take
it unchanged. Any other hyperparameter works the same way (``weight_decay``, ``momentum``,
``betas[0]``).

What a schedule may ask of its scheduler beyond ``schedule(step)`` is declared in
:mod:`schedkit.hooks` (and :mod:`schedkit.protocols` for its per-group curves); the parts
of the scheduler (binding, writers, state) are in :mod:`schedkit._scheduling`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from schedkit._numbers import show
from schedkit._scheduling import binding, state
from schedkit._scheduling.family import (
    absolute_base_of_groups,
    resolve_family,
    shared_options,
)
from schedkit._scheduling.groups import (
    check_resume,
    check_tags,
    parse_key,
    scheduled_key,
    step_number,
)
from schedkit._scheduling.peers import _PeerAttributes
from schedkit._scheduling.writers import Picker, epoch_of, group_writer, initial_of
from schedkit.errors import SpecError, StateError
from schedkit.hooks import family_hooks, hooks_of
from schedkit.plateaus import finite_metric, metric_float
from schedkit.protocols import GroupSchedule, Schedule, StatefulSchedule
from schedkit.registry import ComponentInfo
from schedkit.schedule import get_schedule, resolve

FORMAT = state.FORMAT
VERSION = state.VERSION
Replan = state.Replan
REPLAN_RTOL = state.REPLAN_RTOL
_parse_key = parse_key  # setups parse their keys as the scheduler does


def _noop(*args: Any, **kwargs: Any) -> None:
    """``step()`` of a scheduler that follows its optimizer."""


class Scheduler(LRScheduler):
    """Apply ``base * schedule(step)`` to one hyperparameter of an optimizer's param groups.

    :type key: str | None
    :type tags: Iterable[str | None] | str | None
    :type steps_per_epoch: int | None
    :type total_steps: int | None
    :type follow_optimizer: bool
    :type last_epoch: int
    :param optimizer: any ``torch.optim.Optimizer``.
    :param schedule: a schedule, a registered name with ``params``, or a spec dict.
    :param key: the hyperparameter: ``"lr"`` (default), ``"weight_decay"``, ``"betas[0]"``...;
        a family that picks its own (mmengine's momentum schedulers) takes it by default.
    :param tags: only the groups whose ``tags`` share one of these (default: every group);
        ``None`` among them selects the groups without tags.
    :param steps_per_epoch: resolves durations given in epochs (``"5ep"``).
    :param total_steps: the run's total, for durations given as shares (``"10%"``); by
        default the schedule's own total.
    :param follow_optimizer: advance from the optimizer's step post-hook (skip-aware: a
        step ``GradScaler`` skips does not advance the schedule); ``step()`` then does nothing.
    :param last_epoch: torch's resume by construction: the scheduler starts at step
        ``last_epoch + 1`` from the ``initial_<key>`` the groups carry (an error names the
        group without it); torch's aliases leave the groups' values as torch does.

    Each group's base value is recorded once, as ``initial_<key>`` in the group (torch's
    ``initial_lr`` for the learning rate), so a scheduler built after a resume scales the
    original base, not the scheduled value. Values never accumulate: the value at step k is
    computed in closed form, so resuming is exact. A tensor hyperparameter is updated in
    place.
    """

    #: the registry's entry of the family, from its look-up in ``__new__`` to the constructor
    _family_info: ComponentInfo | None

    def __new__(cls, optimizer: Any = None, schedule: Any = None, /, **options: Any) -> Any:
        # the family is looked up here, once: it says whether the scheduler carries another
        # library's attributes (:class:`PeerScheduler`); the constructor takes it from here
        return cls._allocate(resolve_family(schedule, strict=False), schedule)

    @classmethod
    def _allocate(cls, info: ComponentInfo | None, schedule: Any) -> Scheduler:
        """A scheduler not yet built, of the class the family asks for, keeping its entry."""
        family = info.cls if info is not None else type(schedule)
        peer = bool(family_hooks(family).peer_attributes)
        self = super().__new__(_with_peer_attributes(cls) if peer else cls)
        self._family_info = info
        return self

    def __init__(
        self, optimizer: Optimizer, schedule: Schedule | str | Mapping[str, Any], /, **options: Any
    ) -> None:
        # optimizer and schedule are positional only: a family's own ``schedule`` parameter
        # (warmup, scale, noise) is one of the options, never a second value for this one
        # a scheduler that fails to build leaves the groups as they were: no initial_<key>
        # recorded for a schedule that never ran, no value written
        groups = getattr(optimizer, "param_groups", [])
        saved = [{k: v for k, v in g.items() if k != "params"} for g in groups]
        try:
            self._construct(optimizer, schedule, **options)
        except BaseException:
            for g, before in zip(groups, saved, strict=False):
                for k in set(g) - set(before) - {"params"}:
                    del g[k]
                g.update(before)
            raise

    def _construct(
        self,
        optimizer: Optimizer,
        schedule: Schedule | str | Mapping[str, Any],
        /,
        *,
        key: str | None = None,
        tags: Iterable[str | None] | str | None = None,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
        follow_optimizer: bool = False,
        last_epoch: int = -1,
        **params: Any,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not a torch.optim.Optimizer")
        self.optimizer = optimizer
        # plain attribute writes only, no ``__dict__``: CPython then keeps the attributes
        # inline, which the per-step reads are faster for
        info, self._family_info = self._family_info or resolve_family(schedule), None
        family = info.cls if info is not None else type(schedule)
        self.key = key = scheduled_key(family, optimizer, key)
        self._field, self._index = parse_key(key)
        self.tags: frozenset[str | None] | None = (
            None if tags is None else frozenset([tags] if isinstance(tags, str) else tags)
        )
        check_resume(optimizer, self.tags, key, last_epoch)
        check_tags(optimizer.param_groups, self.tags)
        self.base_values: list[float] = []
        self._bound: list[dict[str, Any]] | None = None
        self._n_groups = -1
        self._groups: list[dict[str, Any]] = []
        self._write: Callable[[float], None] = lambda f: None
        self._companions: list[binding.Companion] = []
        self._per_group: Callable[..., Callable[[float], float]] | None = None
        self._curves: list[Callable[[float], float]] = []
        binding.bind(self)
        if isinstance(schedule, (str, Mapping)):
            base = None
            if info is not None:
                shared = {"total_steps": total_steps, "steps_per_epoch": steps_per_epoch}
                params = shared_options(info.cls, schedule, params, shared)
                common = set(self.base_values)
                base = common.pop() if len(common) == 1 else None
                base = absolute_base_of_groups(info.cls, optimizer, key, base)
            schedule = get_schedule(schedule, _base=base, _info=info, **params)
        elif params:
            raise TypeError(f"parameters {sorted(params)} given with a built schedule")
        elif not isinstance(schedule, Schedule):
            raise TypeError(f"expected a schedule, a registered name or a spec, got {schedule!r}")
        schedule = resolve(schedule, steps_per_epoch=steps_per_epoch, total_steps=total_steps)
        hooks = hooks_of(schedule)
        binding.own_tags(self, hooks.target_tags)
        self._stateful = isinstance(schedule, StatefulSchedule)
        if self._stateful:
            schedule = copy.deepcopy(schedule)  # its history belongs to this scheduler
            hooks = hooks_of(schedule)
        self.schedule: Schedule = schedule
        self._hooks = hooks
        binding.adopt_stepping(self, hooks.stepping)
        # the bound __call__, looked up once: calling the object would look it up every step
        self._value: Callable[[float], float] = schedule.__call__
        if isinstance(schedule, GroupSchedule):
            self._per_group = schedule.per_group
            self._value = float  # each group's curve takes the step: the "value" is the step
            binding.bind_curves(self)
        self._companions = binding.companions_for(self, self._groups)
        self._step = last_epoch + 1
        if self._curves:
            self._rewrite(initial_of, self._step)
        else:
            self._write(self._value(self._step))
        for value, write in self._companions:
            write(value(self._step))
        self.follow_optimizer = follow_optimizer
        if follow_optimizer:
            self._follow()
        if isinstance(self, _PeerAttributes):
            object.__setattr__(self, "_peer_names", frozenset(hooks.peer_attributes))

    def _follow(self) -> None:
        """Advance from the optimizer's step post-hook instead of from ``step()``.

        A step the optimizer does not take (``GradScaler`` skipping one with inf/NaN
        gradients) then does not advance the schedule, and ``step()`` calls from trainers
        (Lightning, Accelerate, a loop) do nothing, so nothing steps twice.
        """
        if self._stateful:
            raise SpecError(
                "a metric-driven schedule advances from step(metric); "
                "it cannot follow the optimizer",
                "follow_optimizer",
            )
        advance = Scheduler.step.__get__(self)
        self.step = _noop  # type: ignore[method-assign]
        self._follow_handle = self.optimizer.register_step_post_hook(lambda opt, a, k: advance())

    # -- stepping ---------------------------------------------------------------------

    def step(self, metric: float | None = None, epoch: float | None = None) -> None:  # type: ignore[override]
        """Advance one step and apply the schedule's value; ``metric`` for stateful ones.

        The drop-in aliases of torch's schedulers also take torch's deprecated
        ``step(epoch)`` (and ``step(metric, epoch)`` for ``ReduceLROnPlateau``), with torch's
        meaning and warning.
        """
        if metric is not None or epoch is not None:
            if not self._stateful:
                self._step_to(metric if epoch is None else epoch, metric, epoch)
                return
            if metric is None:
                raise TypeError("step() of a metric-driven schedule needs the metric")
            observed = metric_float(self._named_metric(metric))
            step = self._step + 1
            if epoch is not None:
                to_step = self._hooks.epoch_step(epoch)
                if to_step is None:
                    raise TypeError(
                        f"{self.schedule.spec()['type']!r} counts its steps itself: "
                        "step(metric) takes no epoch"
                    )
                step = to_step
            groups = self.optimizer.param_groups
            if groups is not self._bound or len(groups) != self._n_groups:
                binding.bind(self)  # before the metric: new groups' curves see its reduction
            self.schedule.observe(observed, step)  # type: ignore[attr-defined]
        else:
            step = self._step + 1
        groups = self.optimizer.param_groups
        if groups is not self._bound or len(groups) != self._n_groups:
            binding.bind(self)  # before the step is counted: a refused rebind changes nothing
        self._step = step
        self._write(self._value(step))
        if self._companions:
            for value, write in self._companions:
                write(value(step))

    @property
    def observes_metrics(self) -> bool:
        """Whether the schedule is metric-driven (``step(metric)`` feeds it)."""
        return self._stateful

    def checked_metric(self, metric: Any) -> float:
        """The metric ``step(metric)`` would observe, checked without stepping: a finite
        number (or a mapping holding the one the schedule monitors), else
        :class:`SpecError` at ``metric``. Stricter than ``step`` itself, which hands a NaN
        to ``plateau`` and ``torch.ReduceLROnPlateau`` as torch does (no improvement):
        :meth:`schedkit.Built.step` checks with it, so a setup never steps on a NaN."""
        return finite_metric(self._named_metric(metric))

    def _named_metric(self, metric: Any) -> Any:
        """A mapping of metrics (mmengine's ``step(metrics)``) narrowed to the one the
        schedule monitors (:meth:`~schedkit.hooks.ScheduleHooks.metric_of`)."""
        return self._hooks.metric_of(metric) if isinstance(metric, Mapping) else metric

    def _step_to(self, epoch: Any, metric: Any, given: Any) -> None:
        """torch's ``step(epoch)``: the schedule checks the epoch and warns as torch does."""
        step = None
        if self._curves and (metric is None or given is None):
            step = self._hooks.epoch_step(epoch)
        if step is None:
            raise TypeError(
                f"{self.schedule.spec()['type']!r} does not observe a metric; step() takes "
                "no argument (the scheduler counts steps itself)"
            )
        groups = self.optimizer.param_groups
        if groups is not self._bound or len(groups) != self._n_groups:
            binding.bind(self)
        self._rewrite(epoch_of, epoch)
        self._step = step
        for value, write in self._companions:
            write(value(step))

    def _rewrite(self, pick: Picker | None, step: float) -> None:
        """Write each group's chained value (``pick`` finds the curve's method) at ``step``."""
        group_writer(self._groups, self._curves, self._field, self._index, pick)(step)

    @property
    def last_epoch(self) -> int:
        """Steps taken so far (torch's name for it)."""
        return self._step

    @last_epoch.setter
    def last_epoch(self, value: int) -> None:
        self._step = step_number(value, "last_epoch", low=-1)

    @property
    def steps(self) -> int:
        """Steps taken so far."""
        return self._step

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The values of the current step, one per selected group."""
        if self._curves:
            return [c(self._step) for c in self._curves]
        f = self.schedule(self._step)
        return [b * f for b in self.base_values]

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        """The values last applied, one per selected group (copies, as torch's)."""
        out = []
        for g in self._groups:
            v = g[self._field] if self._index is None else g[self._field][self._index]
            out.append(float(v) if isinstance(v, torch.Tensor) else v)
        return out

    # -- state ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain data: format version, step, key, tags, base values, spec, schedule state,
        and each group's curve state (``curves``) for schedules whose curves keep one."""
        return state.state_dict(self)

    def load_state_dict(
        self,
        state_dict: dict[str, Any],
        replan: bool = False,
        *,
        rtol: float = state.REPLAN_RTOL,
        allow_jump: bool = False,
    ) -> None:
        """Restore a state from :meth:`state_dict`; the schedule's spec must be the same,
        unless ``replan``.

        With ``replan=True`` the run changes its plan on resume: the step count comes from
        the state, the curve (and the base values) from this scheduler's schedule, resumed
        at that step (a WSD's ``decay_start = "resume"`` starts its decay there). The value
        at the resumed step must continue the one the state's scheduler last wrote, within
        the relative tolerance ``rtol``, in every group; otherwise the load is refused with
        a :class:`StateError` giving both values and the step, unless ``allow_jump``. A
        metric-driven schedule (``plateau``) keeps its history when the state's schedule
        is of the same family, and starts fresh otherwise.

        The whole state is checked first (:meth:`check_state`, :meth:`check_replan`); a
        bad one raises :class:`StateError` naming the key and changes nothing.

        :param state_dict: what :meth:`state_dict` returned.
        :param replan: continue on this scheduler's schedule instead of the state's.
        :param rtol: with ``replan``, the relative change accepted at the resumed step.
        :param allow_jump: with ``replan``, accept any change at the resumed step.
        """
        state.check_flag(replan, "replan")
        self._check_clock(state_dict)
        if replan:
            state.load_replanned(self, state_dict, rtol=rtol, allow_jump=allow_jump)
        else:
            state.load_state(self, state_dict)

    def check_replan(
        self, state_dict: Any, *, rtol: float = state.REPLAN_RTOL, allow_jump: bool = False
    ) -> state.Replan:
        """What ``load_state_dict(state_dict, replan=True, ...)`` would do, checked without
        applying it: a :class:`Replan` (the step, the old and new values, the groups that
        jump), or :class:`StateError` as the load would raise it."""
        self._check_clock(state_dict)
        return state.check_replan(self, state_dict, rtol=rtol, allow_jump=allow_jump)

    def check_state(self, state_dict: Any) -> tuple[int, list[float], Any]:
        """Check a state against this scheduler without applying it: (step, bases, schedule
        state), or :class:`StateError` naming the first bad key."""
        self._check_clock(state_dict)
        return state.check_state(self, state_dict)

    def _check_clock(self, state_dict: Any) -> int | None:
        """A scheduler counting steps refuses the state of a token or sample clock (its
        step is the amount consumed, not a number of steps): StateError at ``clock``."""
        clock = state_dict.get("clock") if isinstance(state_dict, Mapping) else None
        if clock is not None:
            unit = clock.get("unit") if isinstance(clock, Mapping) else clock
            raise StateError(
                f"the state counts {show(unit)} (a ClockedScheduler's); this scheduler counts "
                "steps: build it as a ClockedScheduler on that clock",
                "clock",
            )
        return None

    def __repr__(self) -> str:
        return (
            f"Scheduler(key={self.key!r}, step={self._step}, groups={len(self._groups)}, "
            f"schedule={self.schedule.spec()!r})"
        )


def _constructor_signature() -> inspect.Signature:
    """The signature ``help(Scheduler)`` shows: the constructor's (``__new__`` only takes
    everything along to find the family once)."""
    params = list(inspect.signature(Scheduler.__init__).parameters.values())[1:]
    return inspect.Signature(params)


Scheduler.__signature__ = _constructor_signature()  # type: ignore[attr-defined]


class PeerScheduler(_PeerAttributes, Scheduler):
    """The scheduler of a schedule that reproduces another library's scheduler object, with
    that object's attributes. :class:`Scheduler` builds one for such a schedule (a subclass
    of :class:`Scheduler` gets a subclass of its own, with the same attributes)."""


_PEER_CLASSES: dict[type, type] = {Scheduler: PeerScheduler}


def _with_peer_attributes(cls: type[Scheduler]) -> type[Scheduler]:
    """``cls`` with another library's attributes: made once per class, when its first
    scheduler of such a schedule is built (never by changing an object's class)."""
    made = _PEER_CLASSES.get(cls)
    if made is None:
        if issubclass(cls, _PeerAttributes):
            made = cls
        else:
            namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
            made = type(cls.__name__, (_PeerAttributes, cls), namespace)
        _PEER_CLASSES[cls] = made
    return made
