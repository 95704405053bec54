"""The interfaces every component implements.

A *schedule* is a pure factor curve; a *stateful schedule* also observes a metric; a
*rule* decides hyperparameters of parameters; a *clipper* clips gradients in place. Anything
with progress to save is *Stateful*, the same two methods as
``torch.distributed.checkpoint.stateful.Stateful``, so a component can be handed to
``torch.distributed.checkpoint`` as it is. The values they pass around (``ParamInfo``,
``RuleEffect``, ``ClipResult``) are in :mod:`schedkit.values`, created when first used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

if TYPE_CHECKING:
    import torch

    from schedkit.values import ClipResult, ParamInfo, RuleEffect


@runtime_checkable
class Schedule(Protocol):
    """A dimensionless curve: ``schedule(step) -> factor``.

    Closed form and immutable: its value at a step never depends on earlier calls, so
    resuming at any step is exact and composition never drifts. ``spec()`` describes it as
    plain data (``{"type": "cosine", "total": 1000, "end": 0.0}``) that rebuilds an equal
    schedule through the registry.
    """

    def __call__(self, step: float) -> float: ...

    def spec(self) -> dict[str, Any]: ...


@runtime_checkable
class Stateful(Protocol):
    """Progress that can be saved as plain data and restored exactly.

    ``state_dict()`` returns only ints, floats, strings, bools, lists, dicts (and tensors at
    most), loadable with ``torch.load(weights_only=True)``.
    """

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


@runtime_checkable
class StatefulSchedule(Schedule, Stateful, Protocol):
    """A schedule whose value depends on observed metrics (reduce-on-plateau).

    The scheduler calls ``observe(metric, step)`` from ``step(metric)`` and then reads the
    value with ``schedule(step)``. Its history is its state. A schedule that monitors a
    named metric may also offer ``metric_of(metrics) -> metric``: ``step(mapping)`` then
    observes what it picks from the mapping (mmengine's ``step(metrics)`` dict); without
    it a mapping is a :class:`~schedkit.SpecError` at ``metric``.
    """

    def observe(self, metric: float, step: int) -> None: ...


@runtime_checkable
class GroupSchedule(Schedule, Protocol):
    """A schedule whose values are not ``base * factor``: one curve per param group.

    For the drop-in aliases of other libraries whose values are absolute (Cerebras), affine
    in the base (torch's ``eta_min``, timm's ``lr_min``) or computed recursively from the
    previous value (torch's ``StepLR``): reproducing their floats needs the group. The
    scheduler calls ``per_group(group, base, index)`` once per selected group when it binds
    (again after ``optimizer.load_state_dict``) and writes ``curve(step)`` into the group
    every step. ``base`` is the group's ``initial_<key>``; ``index`` its position among the
    selected groups (for per-group argument lists). ``schedule(step)`` stays the curve of a
    group whose base is 1.0, for plots. Native families never need this: a factor of the
    base is what keeps per-group scales from rules intact.
    """

    def per_group(
        self, group: Mapping[str, Any], base: float, index: int
    ) -> Callable[[float], float]: ...


@runtime_checkable
class ParamRule(Protocol):
    """A param-group rule: bound to a model once, then asked about each parameter.

    ``bind(model)`` does the per-model work (e.g. find the depth of every layer) and returns
    a function from :class:`ParamInfo` to a :class:`RuleEffect`, or ``None`` when the rule
    has nothing to say about that parameter. A rule may also offer
    ``bind_all(model)``, returning a function that decides for a whole sequence of
    parameters at once (a list, in order): the builder prefers it, since one loop inside
    the rule costs less than a call per parameter. :class:`schedkit.BaseRule` derives
    either from the other, so a rule implements one.
    """

    def spec(self) -> dict[str, Any]: ...

    def bind(self, model: torch.nn.Module) -> Callable[[ParamInfo], RuleEffect | None]: ...


#: What a clipper accepts: parameters, or an optimizer whose parameters it clips.
ClipTarget = Union["torch.optim.Optimizer", Iterable["torch.Tensor"], "torch.Tensor"]


@runtime_checkable
class Clipper(Protocol):
    """Clips gradients in place: ``clipper(params_or_optimizer) -> ClipResult``."""

    def __call__(self, target: ClipTarget) -> ClipResult: ...

    def spec(self) -> dict[str, Any]: ...


# -- optional behaviours of the per-group curves, clippers and schedules: the scheduler and
# -- a setup find them by these types, never by a name (docs/plugins.md lists them)


@runtime_checkable
class FollowsCurrent(Protocol):
    """A per-group curve chained on the group's current value (torch's ``get_lr``):
    ``follow(step, current)`` is the value at ``step`` from what the group holds."""

    def follow(self, step: float, current: float) -> float: ...


@runtime_checkable
class StartsFromCurrent(Protocol):
    """A per-group curve whose first value comes from the group's current one:
    ``initial(step, current)`` is the value the scheduler writes when it is built."""

    def initial(self, step: float, current: float) -> float: ...


@runtime_checkable
class EpochFromCurrent(Protocol):
    """A per-group curve for torch's ``step(epoch)``: ``epoch(epoch, current)`` is the
    value torch's closed form (or its ``get_lr``) gives at ``epoch``."""

    def epoch(self, epoch: float, current: float) -> float: ...


@runtime_checkable
class CurveWithState(Protocol):
    """A per-group curve computed from the one before (mmengine's recurrences), saved with
    the scheduler: ``curve_state(step)`` as plain data, ``load_curve_state(step, state)``
    checking the whole state first (:class:`~schedkit.StateError` naming its keys)."""

    def curve_state(self, step: int) -> Any: ...

    def load_curve_state(self, step: int, state: Any) -> None: ...


@runtime_checkable
class GroupCompanion(Protocol):
    """A companion curve (:meth:`schedkit.hooks.ScheduleHooks.companions`) with one curve
    per group: ``per_group(index)`` is the curve of the ``index``-th scheduled group."""

    def per_group(self, index: int) -> Callable[[float], float]: ...


@runtime_checkable
class GroupSettingsCompanion(Protocol):
    """A companion curve (:meth:`schedkit.hooks.ScheduleHooks.companions`) whose curve for
    a group depends on settings the group carries (Megatron's ``start_wd``, ``end_wd`` and
    ``wd_mult`` in each param group): ``for_group(group, index)`` is the curve of the
    ``index``-th scheduled group, given that group."""

    def for_group(self, group: Mapping[str, Any], index: int) -> Callable[[float], float]: ...


@runtime_checkable
class StateChecked(Protocol):
    """A clipper (or schedule) that checks a saved state without applying it:
    ``check_state(state)`` raises :class:`~schedkit.StateError` naming the bad key."""

    def check_state(self, state: Any) -> Any: ...


@runtime_checkable
class JudgesLoss(Protocol):
    """A clipper that judges the training loss too (``zclip``): ``loss_spike(loss)`` learns
    from ``loss`` and returns whether it is a spike by the clipper's test, the same on every
    rank; ``Built.step(loss=...)`` then skips the optimizer step."""

    def loss_spike(self, loss: Any) -> bool: ...


@runtime_checkable
class Finite(Protocol):
    """A schedule whose curve ends: ``horizon`` is its last meaningful step (or None)."""

    @property
    def horizon(self) -> int | None: ...


@runtime_checkable
class Resolvable(Protocol):
    """A schedule whose durations may still be in epochs or shares of the run:
    ``resolve(steps_per_epoch=..., total_steps=...)`` is it in steps (every
    :class:`schedkit.BaseSchedule`, and a spec's ``Unresolved`` schedule)."""

    def resolve(
        self, *, steps_per_epoch: int | None = ..., total_steps: int | None = ...
    ) -> Any: ...


@runtime_checkable
class SteppedPerUpdate(Protocol):
    """A schedule a setup steps once per optimizer update: ``per_update(steps_per_epoch)``
    is it in updates (a family counting epochs of its own, timm's ``t_in_epochs``)."""

    def per_update(self, steps_per_epoch: int | None) -> Any: ...


@runtime_checkable
class Shiftable(Protocol):
    """A schedule behind a warmup: ``shifted(steps)`` is it with its positions measured
    from ``steps`` instead of 0 (a cosine of ``total=1000`` behind 100 warmup steps)."""

    def shifted(self, steps: int) -> Any: ...


@runtime_checkable
class TensorValued(Protocol):
    """A schedule computing whole curves at once: ``values(steps)`` is the factor at each
    step as a float64 tensor, equal to calls (every :class:`schedkit.BaseSchedule`; fast
    where the family is a :class:`TensorCurve`)."""

    def values(self, steps: Any) -> torch.Tensor: ...


@runtime_checkable
class TensorCurve(Protocol):
    """A family computing its curve in one pass: ``tensor_values(t)`` is the factor at
    each step of a float64 tensor, equal to calls (what ``BaseSchedule.values`` uses
    instead of one call per step)."""

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Replays(Protocol):
    """A curve replayed from the last value it computed (a recurrence without a closed
    form): ``max_replay`` is how far one call replays; it may refuse a step farther than
    that from the one before with a :class:`~schedkit.SpecError` at ``step``."""

    max_replay: int


@runtime_checkable
class BindsAll(Protocol):
    """A rule deciding for a whole sequence of parameters at once: ``bind_all(model)``
    returns a function from a list of :class:`ParamInfo` to their decisions, in order
    (preferred to ``bind``: one loop inside the rule)."""

    def bind_all(self, model: torch.nn.Module) -> Callable[..., Any]: ...


@runtime_checkable
class PlacementNotes(Protocol):
    """A rule explaining its placement: ``placement_notes(model)`` returns lines that
    ``schedkit explain`` prints for the built groups (layer decay's layer table)."""

    def placement_notes(self, model: torch.nn.Module) -> list[str]: ...


@runtime_checkable
class NamesGroups(Protocol):
    """A rule naming its groups: ``group_name(model, effect, params)`` returns its part of
    the names of the groups holding ``params`` (``blocks.3``, ``no_decay``), or ``None``."""

    def group_name(self, model: torch.nn.Module, effect: Any, params: Any) -> str | None: ...


#: the protocols of optional behaviours, by what offers them (docs/plugins.md lists them)
OPTIONAL_BEHAVIOURS: tuple[tuple[str, type], ...] = (
    ("schedule", GroupSchedule),
    ("schedule", StatefulSchedule),
    ("schedule", Finite),
    ("schedule", Resolvable),
    ("schedule", SteppedPerUpdate),
    ("schedule", Shiftable),
    ("schedule", TensorValued),
    ("schedule", TensorCurve),
    ("schedule", Replays),
    ("per-group curve", FollowsCurrent),
    ("per-group curve", StartsFromCurrent),
    ("per-group curve", EpochFromCurrent),
    ("per-group curve", CurveWithState),
    ("companion curve", GroupCompanion),
    ("companion curve", GroupSettingsCompanion),
    ("clipper", StateChecked),
    ("clipper", JudgesLoss),
    ("rule", BindsAll),
    ("rule", PlacementNotes),
    ("rule", NamesGroups),
)
