"""The one stateful adapter: binds a schedule to an optimizer's param groups and one key.

For ``key="lr"`` it is a ``torch.optim.lr_scheduler.LRScheduler`` with torch's step
convention (the value of step 0 is applied at construction, that of step k after k calls to
``step()``), so Lightning, the transformers Trainer, Accelerate and hand-written loops take
it unchanged. Any other hyperparameter works the same way (``weight_decay``, ``momentum``,
``betas[0]``).
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from schedkit._numbers import MAX_STEPS, as_real, show, too_large
from schedkit.errors import SchedkitError, SpecError, StateError
from schedkit.plateaus import finite_metric, metric_float
from schedkit.protocols import Schedule, StatefulSchedule
from schedkit.registry import default_registry
from schedkit.schedule import BaseSchedule, _fields_of, get_schedule, resolve
from schedkit.state_checks import StateReader, check_number

#: matched whole (``fullmatch``: ``$`` would let "lr\n" through)
_KEY = re.compile(r"(?P<field>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?")
FORMAT = "schedkit.scheduler"
VERSION = 1


def _parse_key(key: str) -> tuple[str, int | None]:
    m = _KEY.fullmatch(key) if isinstance(key, str) else None
    if m is None:
        raise SpecError(
            f"expected a param-group key such as 'lr' or 'betas[0]', got {key!r}", "key"
        )
    index = m.group("index")
    return m.group("field"), None if index is None else int(index)


def _selected(
    groups: list[dict[str, Any]], tags: frozenset[str | None] | None
) -> list[dict[str, Any]]:
    """The groups sharing a tag with ``tags``; ``None`` among them selects untagged groups."""
    if tags is None:
        return list(groups)
    return [g for g in groups if tags & set(g.get("tags") or (None,))]


def _check_tags(groups: list[dict[str, Any]], tags: frozenset[str | None] | None) -> None:
    """Every tag given selects a group: a tag no group carries is a typo most often, never
    silently ignored beside one that matches (``None`` needs an untagged group)."""
    if not tags:
        return
    unmatched = [t for t in tags if not _selected(groups, frozenset([t]))]
    if unmatched and len(unmatched) < len(tags):  # none at all: _bind's error
        raise _no_group(groups, unmatched)


def _no_group(groups: list[dict[str, Any]], tags: Iterable[str | None]) -> SpecError:
    """The error for tags that select no group: the tags the groups carry, the closest."""
    present = sorted({t for g in groups for t in g.get("tags") or ()})
    wanted = sorted(tags, key=str)
    close = [c for t in wanted if t is not None for c in difflib.get_close_matches(t, present)]
    hint = f"; did you mean {' or '.join(map(repr, dict.fromkeys(close)))}?" if close else ""
    return SpecError(
        f"tags {wanted} match no param group (the groups carry: {present or 'no tags'}){hint}",
        "tags",
    )


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise SpecError(
                f"expected a number or a one-element tensor, got shape {tuple(value.shape)}", where
            )
        return float(value.item())
    x = as_real(value)
    if x is None:
        why = " (too large for a float)" if too_large(value) else ""
        raise SpecError(f"expected a number, got {show(value)}{why}", where)
    return x


def _writer(
    groups: list[dict[str, Any]], bases: list[float], field: str, index: int | None
) -> Callable[[float], None]:
    """A function writing ``base * factor`` into each group, with no per-step dispatch."""
    floats: list[tuple[dict[str, Any], float]] = []
    tensors: list[tuple[torch.Tensor, float]] = []
    items: list[tuple[dict[str, Any], float]] = []
    for g, b in zip(groups, bases, strict=True):
        value = g[field] if index is None else g[field][index]
        if isinstance(value, torch.Tensor):
            tensors.append((value, b))
        elif index is None:
            floats.append((g, b))
        else:
            items.append((g, b))

    # Groups that share a base value share one product: fewer multiplications and float
    # objects per step (merged groups often differ in weight decay only).
    shared: dict[float, list[dict[str, Any]]] = {}
    for g, b in floats:
        shared.setdefault(b, []).append(g)
    buckets = [(b, gs) for b, gs in shared.items()]
    if len(buckets) == len(floats) and len(floats) > 1:
        buckets = []
    else:
        floats = []

    if not (tensors or items):
        # the common cases get a function with a single loop: it runs every step
        if len(buckets) == 1:
            ((base, same),) = buckets

            def write_one(f: float) -> None:
                v = base * f
                for g in same:
                    g[field] = v

            return write_one
        if not buckets:

            def write_floats(f: float) -> None:
                for g, b in floats:
                    g[field] = b * f

            return write_floats

    def write(f: float) -> None:
        for g, b in floats:
            g[field] = b * f
        for b, gs in buckets:
            v = b * f
            for g in gs:
                g[field] = v
        for t, b in tensors:
            t.fill_(b * f)
        for g, b in items:
            _set_item(g, field, index, b * f)

    return write


def _set_item(group: dict[str, Any], field: str, index: Any, value: float) -> None:
    """Replace one item of a tuple or list hyperparameter (Adam's ``betas[0]``)."""
    old = group[field]
    new = list(old)
    new[index] = value
    group[field] = type(old)(new)


def _group_writer(
    groups: list[dict[str, Any]],
    curves: list[Callable[[float], float]],
    field: str,
    index: int | None,
    method: str | None = "follow",
) -> Callable[[float], None]:
    """A function writing each group's own ``curve(step)`` (schedules with ``per_group``).

    A curve with the method named ``method`` (``follow``: torch's chainable ``get_lr``) is
    given the group's current value too, ``curve.follow(step, current)``: it then reads
    what another scheduler on the same optimizer wrote, as torch's schedulers do.
    """
    floats = []
    chained = []
    others = []
    for g, c in zip(groups, curves, strict=True):
        value = g[field] if index is None else g[field][index]
        from_current = getattr(c, method, None) if method else None
        if index is None and not isinstance(value, torch.Tensor):
            if from_current is None:
                floats.append((g, c))
            else:
                chained.append((g, from_current))
        else:
            others.append((g, c, from_current))

    def write(step: float) -> None:
        for g, c in floats:
            g[field] = c(step)
        for g, f in chained:
            g[field] = f(step, g[field])
        for g, c, f in others:
            old = g[field] if index is None else g[field][index]
            v = c(step) if f is None else f(step, float(old))
            if isinstance(old, torch.Tensor):
                old.fill_(v)
            else:
                _set_item(g, field, index, v)

    return write


_PEER_CLASSES: dict[tuple[type, tuple[str, ...]], type] = {}


def _peer_class(cls: type, names: tuple[str, ...]) -> type:
    """``cls`` with the attributes the original scheduler object has (``sched.T_max``...).

    Each is a property reading (and, where the original lets users change it, writing)
    through the schedule's ``peer_get(name, scheduler)`` / ``peer_set(name, value,
    scheduler)``; nothing is looked up on the per-step path.
    """
    key = (cls, names)
    if key not in _PEER_CLASSES:

        def prop(name: str) -> property:
            def get(self: Scheduler) -> Any:
                return self.schedule.peer_get(name, self)  # type: ignore[attr-defined]

            def put(self: Scheduler, value: Any) -> None:
                self.schedule.peer_set(name, value, self)  # type: ignore[attr-defined]

            return property(get, put, doc=f"The original scheduler's ``{name}``.")

        _PEER_CLASSES[key] = type(cls.__name__, (cls,), {n: prop(n) for n in names})
    return _PEER_CLASSES[key]


def _shared_options(
    schedule: str | Mapping[str, Any], params: dict[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """The scheduler's options that the family takes as parameters of its own too
    (:data:`schedkit.registry.SHARED_OPTIONS`: the same meaning for both).

    ``total_steps`` is the run's length for the scheduler (durations given as shares) and,
    for aliases such as ``torch.OneCycleLR``, the schedule's own argument: it goes to both;
    so does ``steps_per_epoch``, mmengine's epoch length.
    """
    name = schedule.get("type") if isinstance(schedule, Mapping) else schedule
    if not isinstance(name, str):
        return params
    fields = _fields_of(default_registry().get("schedule", name).cls)
    out = dict(params)
    for key, value in options.items():
        own = isinstance(schedule, Mapping) and key in schedule
        if value is not None and key in fields and key not in out and not own:
            out[key] = value
    return out


def _key(schedule: Any, optimizer: Optimizer, key: str | None) -> str:
    """The hyperparameter to schedule: ``key``, or the family's own (:meth:`BaseSchedule.
    own_key`), ``lr`` when neither says; a key other than the family's own is refused."""
    if isinstance(schedule, (str, Mapping)):
        name = schedule.get("type") if isinstance(schedule, Mapping) else schedule
        if not isinstance(name, str):
            return "lr" if key is None else key
        cls: Any = default_registry().get("schedule", name).cls
    else:
        cls = type(schedule)
    own: str | None = cls.own_key(optimizer) if issubclass(cls, BaseSchedule) else None
    if own is None:
        return "lr" if key is None else key
    if key is not None and key != own:
        raise SpecError(
            f"{getattr(cls, 'name', cls.__name__)!r} schedules {own!r} on this optimizer, "
            f"not {key!r}: give no key (or key={own!r})",
            "key",
        )
    return own


def _check_resume(
    optimizer: Optimizer, tags: frozenset[str | None] | None, key: str, last_epoch: Any
) -> None:
    """torch's resume by construction (``last_epoch=k``) needs ``initial_<key>`` in the groups."""
    if last_epoch == -1:
        return
    if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
        raise SpecError(f"expected a whole number >= -1, got {show(last_epoch)}", "last_epoch")
    if last_epoch >= MAX_STEPS:
        raise SpecError(f"expected a whole number < 2**62, got {show(last_epoch)}", "last_epoch")
    init_key = f"initial_{key}"
    for i, g in enumerate(optimizer.param_groups):
        if _selected([g], tags) and init_key not in g:
            raise SpecError(
                f"resuming at last_epoch={last_epoch} needs each group's base value, which the "
                f"first run's scheduler wrote as {init_key!r} and the optimizer's state keeps; "
                "load the optimizer's state first (or start with last_epoch=-1)",
                f"param_groups[{i}].{init_key}",
            )


def _absolute_base(
    schedule: str | Mapping[str, Any], optimizer: Optimizer, key: str, base: float | None
) -> float | None:
    """The value a family's absolute arguments are converted against.

    The scheduled groups' common base value by default; a family declaring
    ``absolute_base = "optimizer"`` (detectron2, whose ``base_lr_end`` is divided by
    ``SOLVER.BASE_LR``) takes the optimizer's constructor value (``optimizer.defaults``),
    which is there even when the groups' values differ (bias factors, overrides).
    """
    name = schedule.get("type") if isinstance(schedule, Mapping) else schedule
    if not isinstance(name, str):
        return base
    cls = default_registry().get("schedule", name).cls
    if getattr(cls, "absolute_base", "groups") != "optimizer":
        return base
    default = optimizer.defaults.get(key)
    if default is None:
        return base
    return _as_float(default, f"optimizer.defaults.{key}")


def _step_number(value: Any, where: str, *, low: int = 0) -> int:
    """A step count from a user (``last_epoch``, a step to go to): a whole number from
    ``low`` to ``2**62`` (an integral float is taken as its int), else SpecError."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_STEPS:
        raise SpecError(
            f"expected a whole number of steps from {low} to 2**62, got {show(value)}", where
        )
    return value


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

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | str | Mapping[str, Any],
        /,
        **options: Any,
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
        key = _key(schedule, optimizer, key)
        self.key = key
        self._field, self._index = _parse_key(key)
        self.tags: frozenset[str | None] | None = (
            None if tags is None else frozenset([tags] if isinstance(tags, str) else tags)
        )
        _check_resume(optimizer, self.tags, key, last_epoch)
        _check_tags(optimizer.param_groups, self.tags)
        self.base_values: list[float] = []
        self._bound: list[dict[str, Any]] | None = None
        self._n_groups = -1
        self._groups: list[dict[str, Any]] = []
        self._write: Callable[[float], None] = lambda f: None
        self._companions: list[tuple[Callable[[float], float], Callable[[float], None]]] = []
        self._per_group: Callable[..., Callable[[float], float]] | None = None
        self._curves: list[Callable[[float], float]] = []
        self._bind()
        if isinstance(schedule, (str, Mapping)):
            shared = {"total_steps": total_steps, "steps_per_epoch": steps_per_epoch}
            params = _shared_options(schedule, params, shared)
            common = set(self.base_values)
            base = common.pop() if len(common) == 1 else None
            base = _absolute_base(schedule, optimizer, self.key, base)
            schedule = get_schedule(schedule, _base=base, **params)
        elif params:
            raise TypeError(f"parameters {sorted(params)} given with a built schedule")
        elif not isinstance(schedule, Schedule):
            raise TypeError(f"expected a schedule, a registered name or a spec, got {schedule!r}")
        schedule = resolve(schedule, steps_per_epoch=steps_per_epoch, total_steps=total_steps)
        self._own_tags(schedule)
        self._stateful = isinstance(schedule, StatefulSchedule)
        if self._stateful:
            schedule = copy.deepcopy(schedule)  # its history belongs to this scheduler
        self.schedule: Schedule = schedule
        _adopt_stepping(self, schedule)
        # the bound __call__, looked up once: calling the object would look it up every step
        self._value: Callable[[float], float] = schedule.__call__
        self._per_group = getattr(schedule, "per_group", None)
        if self._per_group is not None:
            # each group's curve takes the step itself: the "value" handed on is the step
            self._value = float
            self._bind_curves()
        self._bind_companions()
        self._step = last_epoch + 1
        if self._curves:
            self._rewrite("initial", self._step)
        else:
            self._write(self._value(self._step))
        for value, write in self._companions:
            write(value(self._step))
        self.follow_optimizer = follow_optimizer
        if follow_optimizer:
            self._follow()
        names = tuple(getattr(schedule, "peer_attributes", ()))
        if names:
            self.__class__ = _peer_class(type(self), names)

    def _own_tags(self, schedule: Schedule) -> None:
        """Use the tags a schedule names itself (Cerebras' ``param_group_tags``)."""
        own = getattr(schedule, "target_tags", None)
        if own is None:
            return
        if self.tags is not None and self.tags != own:
            raise SpecError(
                f"the schedule targets tags {sorted(own, key=str)}, the scheduler "
                f"{sorted(self.tags, key=str)}: give them once",
                "tags",
            )
        self.tags = frozenset(own)
        self.base_values = []
        self._bind()

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

    # -- binding to the optimizer's groups ------------------------------------------

    def _bind(self) -> None:
        """(Re)find the target groups: after ``optimizer.load_state_dict`` they are new dicts."""
        groups = self.optimizer.param_groups
        chosen = _selected(groups, self.tags)
        if not chosen:
            raise _no_group(groups, self.tags or ())
        field, index, init_key = self._field, self._index, f"initial_{self.key}"
        bases = []
        missing: list[tuple[dict[str, Any], Any]] = []  # groups without their initial value
        position = {id(g): i for i, g in enumerate(groups)}
        for i, g in enumerate(chosen):
            where = f"param_groups[{position[id(g)]}].{self.key}"
            if field not in g:
                raise SpecError(
                    f"the group has no {field!r} (its keys: {sorted(set(g) - {'params'})})",
                    where,
                )
            value = g[field]
            if index is not None:
                if not isinstance(value, (tuple, list)) or index >= len(value):
                    raise SpecError(
                        f"expected a sequence with an item {index}, got {value!r}", where
                    )
                value = value[index]
            if i < len(self.base_values):
                bases.append(self.base_values[i])
                continue
            initial = g.get(init_key)
            if initial is None:
                initial = value.clone() if isinstance(value, torch.Tensor) else value
                missing.append((g, initial))
            bases.append(_as_float(initial, where))
        # everything checked before anything is set: a refused rebind (a group added that
        # a per-group list has no value for) leaves the scheduler and the groups as they
        # were, and refuses the next step the same way
        if self._per_group is not None and isinstance(self.schedule, BaseSchedule):
            self.schedule.check_groups(len(chosen))
        companions = self._companions_for(chosen) if self._companions else []
        for g, initial in missing:
            g[init_key] = initial
        self.base_values = bases
        self._groups = chosen
        self._bound = groups
        self._n_groups = len(groups)
        self._write = _writer(chosen, bases, self._field, self._index)
        if self._per_group is not None:
            self._bind_curves()
        self._companions = companions
        if self.key == "lr":
            self.base_lrs = list(bases)

    def _bind_curves(self) -> None:
        """One curve per selected group, for schedules whose values are not base * factor.

        A rebind (new group dicts after ``optimizer.load_state_dict``) hands each curve
        that keeps a state (:meth:`_curve_states`) on to its successor, so a recurrence
        continues where it was instead of replaying from the start.
        """
        assert self._per_group is not None
        if isinstance(self.schedule, BaseSchedule):
            self.schedule.check_groups(len(self._groups))
        old = self._curves
        self._curves = [
            self._per_group(g, b, i)
            for i, (g, b) in enumerate(zip(self._groups, self.base_values, strict=True))
        ]
        for prev, new in zip(old, self._curves, strict=False):
            save, load = getattr(prev, "curve_state", None), getattr(new, "load_curve_state", None)
            if save is not None and load is not None:
                load(self._step, save(self._step))
        self._write = _group_writer(self._groups, self._curves, self._field, self._index)

    def _curve_states(self) -> bool:
        """Whether the groups' curves keep a state of their own, saved with the scheduler's.

        A curve computed from the one before (mmengine's recurrences) offers
        ``curve_state(step)`` (plain data) and ``load_curve_state(step, state)`` (checks
        the whole state first, raising :class:`StateError` naming its keys): a resume then
        continues from the saved values, as the original library continues from the
        optimizer's restored ones, instead of replaying every step.
        """
        return bool(self._curves) and all(hasattr(c, "load_curve_state") for c in self._curves)

    def _bind_companions(self) -> None:
        """Keys a schedule drives besides its own (one-cycle's momentum), as absolute values.

        A schedule offers them as ``companions() -> {"momentum": curve}`` (a curve with
        ``per_group(index) -> curve`` gives each group its own); ``momentum`` is
        written to ``betas[0]`` on optimizers that have betas instead (Adam), as torch does.
        """
        self._companions = self._companions_for(self._groups)

    def _companions_for(
        self, groups: list[dict[str, Any]]
    ) -> list[tuple[Callable[[float], float], Callable[[float], None]]]:
        """:meth:`_bind_companions`' (value, writer) pairs for ``groups``, set nowhere."""
        out: list[tuple[Callable[[float], float], Callable[[float], None]]] = []
        companions = getattr(self.schedule, "companions", None)
        if companions is None:
            return out
        for name, curve in companions().items():
            key = name
            if name == "momentum" and all("momentum" not in g and "betas" in g for g in groups):
                key = "betas[0]"
            field, index = _parse_key(key)
            for g in groups:
                if field not in g:
                    raise SpecError(
                        f"the schedule drives {name!r} too, but a scheduled group has no {field!r}",
                        "schedule",
                    )
            per_group = getattr(curve, "per_group", None)
            if per_group is not None:
                # one curve per group (torch's per-group momentum lists), given the step
                curves = [per_group(i) for i in range(len(groups))]
                out.append((float, _group_writer(groups, curves, field, index, None)))
                continue
            out.append((curve, _writer(groups, [1.0] * len(groups), field, index)))
        return out

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
                to_epoch = getattr(self.schedule, "epoch_step", None)
                if to_epoch is None:
                    raise TypeError(
                        f"{self.schedule.spec()['type']!r} counts its steps itself: "
                        "step(metric) takes no epoch"
                    )
                step = to_epoch(epoch)
            groups = self.optimizer.param_groups
            if groups is not self._bound or len(groups) != self._n_groups:
                self._bind()  # before the metric: new groups' curves see its reduction
            self.schedule.observe(observed, step)  # type: ignore[attr-defined]
        else:
            step = self._step + 1
        groups = self.optimizer.param_groups
        if groups is not self._bound or len(groups) != self._n_groups:
            self._bind()  # before the step is counted: a refused rebind changes nothing
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
        schedule monitors, through its ``metric_of``; anything else as it is."""
        if not isinstance(metric, Mapping):
            return metric
        pick = getattr(self.schedule, "metric_of", None)
        if pick is None:
            raise SpecError(
                f"expected a number, got a mapping of metrics: "
                f"{self.schedule.spec()['type']!r} monitors no named metric",
                "metric",
            )
        return pick(metric)

    def _step_to(self, epoch: Any, metric: Any, given: Any) -> None:
        """torch's ``step(epoch)``: the schedule checks the epoch and warns as torch does."""
        to_epoch = getattr(self.schedule, "epoch_step", None)
        if to_epoch is None or not self._curves or (metric is not None and given is not None):
            raise TypeError(
                f"{self.schedule.spec()['type']!r} does not observe a metric; step() takes "
                "no argument (the scheduler counts steps itself)"
            )
        step = to_epoch(epoch)
        groups = self.optimizer.param_groups
        if groups is not self._bound or len(groups) != self._n_groups:
            self._bind()
        self._rewrite("epoch", epoch)
        self._step = step
        for value, write in self._companions:
            write(value(step))

    def _rewrite(self, method: str, step: float) -> None:
        """Write each group's ``curve.<method>(step, current)`` (or ``curve(step)``)."""
        _group_writer(self._groups, self._curves, self._field, self._index, method)(step)

    @property
    def last_epoch(self) -> int:
        """Steps taken so far (torch's name for it)."""
        return self._step

    @last_epoch.setter
    def last_epoch(self, value: int) -> None:
        self._step = _step_number(value, "last_epoch", low=-1)

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
        state = {
            "format": FORMAT,
            "version": VERSION,
            "step": self._step,
            "key": self.key,
            "tags": None if self.tags is None else sorted(self.tags, key=str),
            "base_values": list(self.base_values),
            "schedule": self.schedule.spec(),
            "schedule_state": self.schedule.state_dict() if self._stateful else None,  # type: ignore[attr-defined]
        }
        if self._curve_states():
            state["curves"] = [c.curve_state(self._step) for c in self._curves]  # type: ignore[attr-defined]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`; the schedule's spec must be the same.

        The whole state is checked first (:meth:`check_state`); a bad one raises
        :class:`StateError` naming the key and changes nothing.
        """
        step, bases, schedule_state = self.check_state(state_dict)
        if self._stateful:
            self.schedule.load_state_dict(schedule_state)  # type: ignore[attr-defined]
        self.base_values = bases
        self._step = step
        self._bound = None
        saved = self._curve_states()
        self._curves = []  # the new curves take the state's values, not the old curves'
        self._bind()
        if saved:
            for curve, data in zip(self._curves, state_dict["curves"], strict=True):
                curve.load_curve_state(step, data)  # type: ignore[attr-defined]
        if self._curves:
            self._rewrite("", self._step)  # from the start, not from the groups' values
        else:
            self._write(self._value(self._step))
        for value, write in self._companions:
            write(value(self._step))

    def check_state(self, state_dict: Any) -> tuple[int, list[float], Any]:
        """Check a state against this scheduler without applying it: (step, bases, schedule
        state), or :class:`StateError` naming the first bad key."""
        state = StateReader(state_dict, what="scheduler state")
        if state.state.get("format") != FORMAT:
            raise StateError(
                f"not a schedkit scheduler state (format {show(state.state.get('format'))})"
            )
        version = state.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise StateError(f"expected a version >= 1, got {show(version)}", "version")
        if version > VERSION:
            raise StateError(
                f"scheduler state version {show(version)} is newer than this schedkit reads "
                f"({VERSION})",
                "version",
            )
        if state.get("key") != self.key:
            raise StateError(
                f"the state schedules {show(state.get('key'))}, this scheduler {self.key!r}", "key"
            )
        mine = self.schedule.spec()
        if state.get("schedule") != mine:
            from schedkit._diff import spec_diff

            raise StateError(
                "the state was written by a different schedule:\n  "
                + "\n  ".join(spec_diff(state.get("schedule"), mine))
                + "\nbuild the scheduler with the state's schedule, or start the new one fresh"
            )
        tags = None if self.tags is None else sorted(self.tags, key=str)
        saved_tags = state.state.get("tags")
        if saved_tags is not None and (
            not isinstance(saved_tags, (list, tuple)) or sorted(saved_tags, key=str) != tags
        ):
            raise StateError(
                f"the state targets tags {show(saved_tags)}, this scheduler {tags!r}", "tags"
            )
        raw = state.get("base_values")
        if not isinstance(raw, (list, tuple)):
            raise StateError(f"expected a list of numbers, got {show(raw)}", "base_values")
        bases = [check_number(b, f"base_values[{i}]", ge=0.0) for i, b in enumerate(raw)]
        if len(bases) != len(self._groups):
            raise StateError(
                f"the state has base values for {len(bases)} groups, this scheduler targets "
                f"{len(self._groups)}",
                "base_values",
            )
        step = state.integer("step")
        if step > MAX_STEPS:
            raise StateError("expected a whole number <= 2**62 (the farthest step)", "step")
        self._check_curves(state, step, bases)
        schedule_state = state.state.get("schedule_state")
        trial = self.schedule
        if self._stateful:
            # a copy takes the schedule's state first: a bad one leaves ours untouched
            trial = copy.deepcopy(self.schedule)
            try:
                trial.load_state_dict(schedule_state)  # type: ignore[attr-defined]
            except StateError as e:
                raise e.at("schedule_state") from None
            except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as e:
                raise StateError(f"cannot be loaded: {show(e)}", "schedule_state") from None
        elif schedule_state is not None:
            raise StateError(
                f"expected None ({self.schedule.spec()['type']!r} keeps no history)",
                "schedule_state",
            )
        self._check_values(trial, step, bases, state.state.get("curves"))
        return step, bases, schedule_state

    def _check_values(self, schedule: Schedule, step: int, bases: list[float], curves: Any) -> None:
        """Compute, on trial objects, every value loading the state would write: one that
        cannot be computed (an overflow at a far step) or is not finite is a StateError at
        ``step``, raised before anything is changed."""
        values: list[Any] = []
        try:
            per_group = getattr(schedule, "per_group", None)
            if per_group is not None:
                for i, (g, b) in enumerate(zip(self._groups, bases, strict=True)):
                    curve = per_group(g, b, i)
                    if self._curve_states():
                        curve.load_curve_state(step, curves[i])
                    values.append(curve(step))
            else:
                factor = schedule(step)
                values += [b * factor for b in bases]
            companions = getattr(schedule, "companions", None)
            for curve in (companions() if companions is not None else {}).values():
                each = getattr(curve, "per_group", None)
                if each is not None:
                    values += [each(i)(float(step)) for i in range(len(self._groups))]
                else:
                    values.append(curve(step))
        except (ArithmeticError, ValueError) as e:
            raise StateError(
                f"the schedule cannot be computed at step {step}: {show(e)}", "step"
            ) from None
        for v in values:
            x = as_real(v) if not isinstance(v, torch.Tensor) else float(v)
            if x is None or not math.isfinite(x):
                raise StateError(
                    f"the schedule's value at step {step} is {show(v)}, not a finite number",
                    "step",
                )

    def _check_curves(self, state: StateReader, step: int, bases: list[float]) -> None:
        """Check the groups' curve states (:meth:`_curve_states`) on trial curves."""
        curves = state.state.get("curves")
        if not self._curve_states():
            if curves is not None:
                raise StateError(
                    f"expected None ({self.schedule.spec()['type']!r} keeps no curve state)",
                    "curves",
                )
            return
        if not isinstance(curves, (list, tuple)) or len(curves) != len(self._groups):
            raise StateError(
                f"expected a list of {len(self._groups)} curve states (one per group), got "
                f"{show(curves)}",
                "curves",
            )
        assert self._per_group is not None
        for i, (g, b, data) in enumerate(zip(self._groups, bases, curves, strict=True)):
            try:
                self._per_group(g, b, i).load_curve_state(step, data)  # type: ignore[attr-defined]
            except StateError as e:
                raise e.at(f"curves[{i}]") from None

    def __repr__(self) -> str:
        return (
            f"Scheduler(key={self.key!r}, step={self._step}, groups={len(self._groups)}, "
            f"schedule={self.schedule.spec()!r})"
        )


def get_scheduler(
    name: Schedule | str | Mapping[str, Any],
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    tags: Iterable[str | None] | str | None = None,
    steps_per_epoch: int | None = None,
    total_steps: int | None = None,
    follow_optimizer: bool = False,
    last_epoch: int = -1,
    **params: Any,
) -> Scheduler:
    """A :class:`Scheduler` for a registered schedule name (with its ``params``) or a schedule.

    ``name`` may be given by keyword, as transformers' ``get_scheduler(name=..., optimizer=...)``.

    :param name: a registered schedule name (its parameters in ``params``), a spec dict
        with a ``type`` key, or a schedule.
    :param optimizer: any ``torch.optim.Optimizer``; its groups' current values are the bases.
    :param num_warmup_steps: transformers' call form: the warmup's length in steps.
    :param num_training_steps: transformers' call form: the run's length in steps.
    :param scheduler_specific_kwargs: transformers' call form: the schedule's other arguments
        (``num_cycles``, ``power``, ``lr_end``...), under transformers' names.
    :param key: the hyperparameter: ``"lr"`` (default), ``"weight_decay"``, ``"betas[0]"``...;
        a family that picks its own (mmengine's momentum schedulers) takes it by default.
    :param tags: only the groups whose ``tags`` share one of these (default: every group).
    :param steps_per_epoch: resolves durations given in epochs (``"5ep"``).
    :param total_steps: the run's total, for durations given as shares (``"10%"``).
    :param follow_optimizer: advance from the optimizer's step post-hook (skip-aware).
    :param last_epoch: torch's resume by construction: the scheduler starts at step
        ``last_epoch + 1``.
    :param params: the schedule's parameters when ``name`` is a registered name
        (``total``, ``warmup``, ``min_lr``...; ``schedkit show NAME`` lists them).
    :returns: a :class:`Scheduler`; step it once per optimizer step.
    :raises SpecError: an unknown name or a bad parameter, naming its key path.

    >>> sched = get_scheduler("cosine", optimizer, warmup=100, total=1000)  # doctest: +SKIP

    transformers' call form is accepted too and then reproduces transformers' lr at every
    step up to ``num_training_steps``, quirks included:

    >>> get_scheduler(
    ...     "cosine", optimizer, num_warmup_steps=100, num_training_steps=1000
    ... )  # doctest: +SKIP
    """
    # a family whose own parameters carry transformers' names (``transformers.polynomial``
    # has ``num_warmup_steps``) takes them as its parameters: no transformers call form there
    own = _family_fields(name)
    if num_warmup_steps is not None and "num_warmup_steps" in own:
        params["num_warmup_steps"], num_warmup_steps = num_warmup_steps, None
    if num_training_steps is not None and "num_training_steps" in own:
        params["num_training_steps"], num_training_steps = num_training_steps, None
    if (
        num_warmup_steps is not None
        or num_training_steps is not None
        or scheduler_specific_kwargs is not None
    ):
        schedule = _transformers_call(
            name,
            optimizer,
            num_warmup_steps,
            num_training_steps,
            scheduler_specific_kwargs,
            params,
        )
        return Scheduler(
            optimizer,
            schedule,
            key=key,
            tags=tags,
            follow_optimizer=follow_optimizer,
            last_epoch=last_epoch,
        )
    return Scheduler(
        optimizer,
        name,
        key=key,
        tags=tags,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        follow_optimizer=follow_optimizer,
        last_epoch=last_epoch,
        **params,
    )


def _family_fields(name: Any) -> Collection[str]:
    """The parameter names of the family ``name`` (a registered name or a spec dict) takes;
    none for a built schedule or a name the registry does not know (its own error later)."""
    kind = name.get("type") if isinstance(name, Mapping) else name
    if not isinstance(kind, str):
        return ()
    try:
        info = default_registry().get("schedule", kind)
    except SchedkitError:
        return ()
    return _fields_of(info.cls).keys()


def _transformers_call(
    name: Any,
    optimizer: Optimizer,
    num_warmup_steps: int | None,
    num_training_steps: int | None,
    specific: Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> Schedule:
    """Translate transformers' ``get_scheduler`` arguments through the family's
    ``from_transformers(name, optimizer, num_warmup_steps, num_training_steps, **kwargs)``."""
    name = getattr(name, "value", name)  # transformers' SchedulerType enum
    if not isinstance(name, str):
        raise TypeError("transformers' call form takes a schedule name, e.g. 'cosine'")
    if params:
        raise TypeError(
            f"{sorted(params)} given with transformers' call form; pass them in "
            "scheduler_specific_kwargs, or use schedkit's own parameters alone"
        )
    if specific is not None and not isinstance(specific, Mapping):
        raise SpecError(
            f"expected a mapping of the schedule's own arguments, got {specific!r}",
            "scheduler_specific_kwargs",
        )
    info = default_registry().get("schedule", name)
    translate = getattr(info.cls, "from_transformers", None)
    if translate is None:
        raise SpecError(
            f"{name!r} is not one of transformers' schedules; use schedkit's parameters"
        )
    schedule: Schedule = translate(
        name, optimizer, num_warmup_steps, num_training_steps, **dict(specific or {})
    )
    return schedule


def _adopt_stepping(scheduler: Scheduler, schedule: Schedule) -> None:
    """Give ``scheduler`` the stepping API of the library its schedule reproduces.

    A schedule may name ``stepping``, a mixin class whose methods (timm's ``step(epoch,
    metric)``, ``step_update(num_updates)``...) come before the scheduler's own, so the
    calls that library's users make keep working on the drop-in alias.
    """
    mixin = getattr(schedule, "stepping", None)
    if mixin is None or isinstance(scheduler, mixin):
        return
    scheduler.__class__ = _stepping_class(type(scheduler), mixin)


_STEPPING: dict[tuple[type, type], type] = {}


def _stepping_class(base: type[Scheduler], mixin: type) -> type[Scheduler]:
    """The scheduler class with ``mixin`` first, made once per pair."""
    cls = _STEPPING.get((base, mixin))
    if cls is None:
        cls = _STEPPING[(base, mixin)] = type(
            f"{base.__name__}With{mixin.__name__}", (mixin, base), {}
        )
    return cls
