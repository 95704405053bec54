"""The extension points a schedule offers the scheduler and a setup, declared once.

Every optional behaviour the :class:`schedkit.Scheduler`, :func:`schedkit.get_scheduler`
or a setup asks of a schedule is a hook here: a method or class attribute of
:class:`ScheduleHooks` (a base of :class:`schedkit.BaseSchedule`) whose default says "this
family does not do that". A family overrides the hooks it needs; the scheduler calls them
on every schedule, never looking a behaviour up by its name. A schedule that is not a
:class:`ScheduleHooks` (a plain :class:`schedkit.Schedule`) has the defaults
(:func:`hooks_of`).

The methods of :class:`schedkit.BaseSchedule`, :class:`schedkit.BaseRule` and
:class:`schedkit.BaseClipper` a component overrides are named below
(:data:`BASE_SCHEDULE_HOOKS`, :data:`RULE_HOOKS`, :data:`CLIPPER_HOOKS`). The optional
behaviours of any schedule (a plain one too: ``horizon``, ``resolve``, ``shifted``...), of
the per-group curves, rules and clippers are small protocols in :mod:`schedkit.protocols`,
checked with ``isinstance`` where a component is built, never per step. docs/plugins.md
lists every hook with the first line of its docstring, generated from this module, those
classes and protocols (``docs/gen_pages.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from schedkit.errors import SpecError


class Stepping:
    """A scheduler's stepping policy: what ``scheduler.step(...)`` does with arguments, and
    the methods another library's users call on its scheduler object.

    The default is schedkit's own ``step(metric=None, epoch=None)``. A schedule that
    reproduces another library (timm's ``step(epoch)`` and ``step_update(num_updates)``,
    mmengine's ``step(metrics=...)``) declares a subclass in :attr:`ScheduleHooks.stepping`;
    the scheduler then hands its ``step`` calls to the policy's :meth:`step` (when the
    subclass overrides it) and offers the policy's :meth:`methods` as its own.
    """

    def step(self, scheduler: Any, *args: Any, **kwargs: Any) -> None:
        """``scheduler.step(*args, **kwargs)``; by default schedkit's own ``step(metric=None,
        epoch=None)``, which a policy's own ``step`` calls to advance."""
        type(scheduler).step(scheduler, *args, **kwargs)

    def methods(self, scheduler: Any) -> Mapping[str, Callable[..., Any]]:
        """The methods ``scheduler`` offers besides its own, bound to it (timm's
        ``step_update``), by name; none by default."""
        return {}


#: the policy of every schedule that declares none
DEFAULT_STEPPING = Stepping()


class ScheduleHooks:
    """The optional behaviours of a schedule family, each with the default of a family
    that has none of them. :class:`schedkit.BaseSchedule` derives from it."""

    #: The stepping policy of the schedule's scheduler (another library's ``step`` API).
    stepping: ClassVar[Stepping] = DEFAULT_STEPPING
    #: The attribute names another library's scheduler object has (``T_max``), read and
    #: written on the scheduler through :meth:`peer_get` and :meth:`peer_set`.
    peer_attributes: ClassVar[tuple[str, ...]] = ()
    #: What the family's absolute arguments are shares of: ``"groups"`` (the scheduled
    #: groups' common base value) or ``"optimizer"`` (``optimizer.defaults``, detectron2).
    absolute_base: ClassVar[str] = "groups"
    #: Absolute arguments and the factor each becomes (``{"end_lr": "end"}``), divided by
    #: the base value (:attr:`absolute_base`).
    absolute: ClassVar[Mapping[str, str]] = {}
    #: The translator of transformers' ``get_scheduler(name, optimizer, num_warmup_steps,
    #: num_training_steps, **kwargs)`` call form to a schedule, or None (a classmethod).
    from_transformers: ClassVar[Any] = None
    #: Whether the ``warmup`` keys may wrap the family (the drop-in aliases keep their
    #: original's arguments only).
    accepts_warmup: ClassVar[bool] = True
    #: Whether the family holds a Python callable, so that a spec or a TOML file cannot
    #: declare it (``lambda``): built in Python only.
    in_process_only: ClassVar[bool] = False
    #: A function renaming or converting the family's arguments before it is built
    #: (``params -> params``, a staticmethod: an alias's ``epochs``), or None.
    translate: ClassVar[Any] = None
    #: The param-group entries the family reads from each group besides the optimizer's
    #: options (Megatron's per-group ``max_lr``, ``min_lr``, ``wd_mult``): a rule such as
    #: ``overrides`` may set them, where any other unknown key is refused as a misspelling.
    group_keys: ClassVar[tuple[str, ...]] = ()

    def peer_get(self, name: str, scheduler: Any) -> Any:
        """The value of the other library's attribute ``name`` (:attr:`peer_attributes`)
        on ``scheduler``."""
        raise AttributeError(name)

    def peer_set(self, name: str, value: Any, scheduler: Any) -> None:
        """Set the other library's attribute ``name`` on ``scheduler``, or raise
        :class:`schedkit.SpecError` where it is fixed."""
        raise AttributeError(name)

    def companions(self) -> Mapping[str, Callable[[float], float]]:
        """Keys the schedule drives besides its own, as absolute curves (one-cycle's
        ``{"momentum": curve}``); none by default."""
        return {}

    def epoch_step(self, epoch: Any) -> int | None:
        """The step of ``step(epoch=...)`` (torch's deprecated form, checked and warned as
        torch does), or None: the scheduler counts its steps itself."""
        return None

    def metric_of(self, metrics: Mapping[str, Any]) -> Any:
        """The metric a metric-driven schedule observes from a mapping of metrics
        (mmengine's ``step(metrics)``); by default a mapping is a :class:`SpecError`."""
        raise SpecError(
            "expected a number, got a mapping of metrics: "
            f"{self.spec()['type']!r} monitors no named metric",
            "metric",
        )

    def resumed(self, step: int, previous: Any) -> Any:
        """This schedule as a run resumed at ``step`` on a new plan takes it (a WSD's
        ``decay_start = "resume"`` becomes ``step``); itself by default.

        The scheduler calls it in ``load_state_dict(state, replan=True)``. ``previous`` is
        the schedule the state was written by, rebuilt from its spec (None when it cannot
        be), so that a decision an earlier resume took can stay. It returns a schedule of
        the same family. By default a schedule with nested schedules (fields declared
        with ``schedule()`` or ``schedules()``: warmup, chain, scale...) hands the call to
        each of them, paired with the same part of ``previous``; anything else is itself."""
        from schedkit._resume import resumed_parts

        return resumed_parts(self, step, previous, resume_part)

    @property
    def target_tags(self) -> frozenset[str | None] | None:
        """The param-group tags the schedule selects itself (Cerebras'
        ``param_group_tags``), or None: the scheduler's ``tags`` decide."""
        return None

    def spec(self) -> dict[str, Any]:  # pragma: no cover - every schedule has its own
        raise NotImplementedError


class _Plain(ScheduleHooks):
    """The default hooks of a schedule that is not a :class:`ScheduleHooks`."""

    def __init__(self, schedule: Any) -> None:
        self.schedule = schedule

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.schedule.spec()
        return spec

    def resumed(self, step: int, previous: Any) -> Any:
        return self.schedule


def hooks_of(schedule: Any) -> ScheduleHooks:
    """The hooks of ``schedule``: itself, or the defaults for a plain schedule."""
    return schedule if isinstance(schedule, ScheduleHooks) else _Plain(schedule)


def resume_part(part: Any, step: int, previous: Any) -> Any:
    """``part`` of a composite resumed at ``step`` (a plain schedule as it is)."""
    return hooks_of(part).resumed(step, previous)


def family_hooks(cls: Any) -> type[ScheduleHooks]:
    """The hooks of a schedule family ``cls`` (a class), the defaults for a plain one."""
    return cls if isinstance(cls, type) and issubclass(cls, ScheduleHooks) else ScheduleHooks


#: every hook a schedule family may declare, in the order docs/plugins.md lists them
SCHEDULE_HOOKS = (
    "stepping",
    "peer_attributes",
    "peer_get",
    "peer_set",
    "companions",
    "epoch_step",
    "metric_of",
    "resumed",
    "target_tags",
    "absolute_base",
    "absolute",
    "from_transformers",
    "accepts_warmup",
    "in_process_only",
    "translate",
    "group_keys",
)


#: the methods and class attributes of :class:`schedkit.BaseSchedule` a family overrides
#: (its required ``__call__`` and ``name`` aside), in the order docs/plugins.md lists them
BASE_SCHEDULE_HOOKS = (
    "spec",
    "horizon",
    "shifted",
    "resolve",
    "per_update",
    "values",
    "own_key",
    "check_groups",
)
#: the methods of :class:`schedkit.BaseRule` a rule implements (one of the two binds, and
#: the names its groups get)
RULE_HOOKS = ("spec", "bind", "bind_all", "group_name")
#: the methods and class attributes of :class:`schedkit.BaseClipper` a strategy overrides;
#: its other members are what the base class gives every strategy
CLIPPER_HOOKS = (
    "clip",
    "computes_norm",
    "initial_state",
    "state_version",
    "upgrade_state",
    "check_extra",
    "spec",
)
