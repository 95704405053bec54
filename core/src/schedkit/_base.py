"""The base class of schedule families (:class:`BaseSchedule`).

A family is an ``@attrs.frozen`` subclass with a ``name`` and a ``__call__``; its fields are
declared with the helpers of :mod:`schedkit._fields` (``duration``, ``factor``...), so that
specs, key paths in errors, duration resolution and warmup shifting work the same for
every family without code of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from schedkit._classes import Component, base_class, fields
from schedkit._fields import _meta, record_spec
from schedkit.errors import SpecError
from schedkit.hooks import ScheduleHooks

if TYPE_CHECKING:
    import torch


@base_class
class BaseSchedule(ScheduleHooks, Component):
    """Base class of schedule families: spec, horizon, warmup shifting and ``values``.

    **Writing a family** (an ``@attrs.frozen`` subclass with a ``name`` and a docstring):

    - implement ``__call__(step) -> float``: the factor at ``step`` (a dimensionless curve,
      usually peaking at 1.0), in closed form, finite and non-negative at every step up to
      ``2**62``;
    - declare fields with the helpers of :mod:`schedkit.plugin` (``duration``,
      ``durations``, ``factor``, ``choice``, ``schedule``, ``schedules``): specs, key paths
      in errors, ``"5ep"``/``"10%"`` durations, the :attr:`horizon` and warmup shifting
      then work without code of their own;
    - optionally implement ``tensor_values(t)``: the factors at the steps of a float64
      tensor, equal to calls, for fast whole curves (plots, the gallery);
    - class attributes: ``accepts_warmup = False`` for a family that must not be wrapped by
      the ``warmup`` keys, ``in_process_only = True`` for one holding Python code
      (refused in specs and TOML);
    - a family that observes a metric (reduce-on-plateau) also implements
      ``observe(metric, step)``, ``state_dict()`` and ``load_state_dict(state)``
      (:class:`schedkit.StatefulSchedule`): plain data (a ``version`` entry lets a later
      release convert older states); loading checks everything before changing anything
      and raises :class:`schedkit.StateError` for a state it cannot take.
    """

    name: ClassVar[str] = ""
    #: whether the ``warmup`` keys may wrap it (the drop-in aliases keep their original's)
    accepts_warmup: ClassVar[bool] = True

    def __call__(self, step: float) -> float:
        raise NotImplementedError

    @classmethod
    def own_key(cls, optimizer: Any) -> str | None:
        """The hyperparameter the family schedules by itself on ``optimizer`` (mmengine's
        momentum schedulers: ``momentum``, or ``betas[0]`` of the Adam family), or None: the
        scheduler's ``key`` (``lr`` by default). A scheduler given another key refuses it."""
        return None

    def check_groups(self, count: int) -> None:
        """Called when a scheduler binds ``count`` param groups: a family holding one
        value per group (``eta_max=[...]``) refuses a list of another length."""

    def spec(self) -> dict[str, Any]:
        """Plain-data description, every parameter included, that rebuilds this schedule."""
        return record_spec(self)

    @property
    def horizon(self) -> int | None:
        """The step from which the value no longer changes (None: it never settles)."""
        for f in fields(type(self)):
            if _meta(f).get("horizon"):
                value = getattr(self, f.name)
                return int(value)
        return None

    def shifted(self: S, steps: int) -> S:
        """This schedule with its positions measured from ``steps`` instead of 0.

        What a warmup of ``steps`` in front of it needs: a cosine of ``total=1000`` behind a
        100-step warmup is a cosine of ``total=900`` that starts at step 100.
        """
        if steps == 0:
            return self
        changes: dict[str, Any] = {}
        for f in fields(type(self)):
            meta = _meta(f)
            if not (f.init and meta.get("duration") and meta.get("position")):
                continue
            value = getattr(self, f.name)
            if meta.get("many"):
                if value and value[0] < steps:
                    raise SpecError(
                        f"expected positions after the warmup ({steps} steps), got {list(value)}",
                        f.name,
                    )
                changes[f.name] = tuple(v - steps for v in value)
            else:
                if value <= steps:
                    raise SpecError(
                        f"expected more than the warmup ({steps} steps), got {value}", f.name
                    )
                changes[f.name] = value - steps
        return attrs.evolve(self, **changes) if changes else self  # type: ignore[misc]

    def resolve(
        self: S, *, steps_per_epoch: int | None = None, total_steps: int | None = None
    ) -> S:
        """Resolved already: returns itself (see :class:`Unresolved`)."""
        return self

    def per_update(self: S, steps_per_epoch: int | None) -> S:
        """This schedule as a setup steps it: once per optimizer update (``Built.step()``),
        ``steps_per_epoch`` updates an epoch (``None``: not given). Itself by default; a
        schedule that counts epochs of its own (timm's ``t_in_epochs``) takes its updates
        per epoch from it, or raises :class:`NeedsContextError` when it is not given."""
        return self

    def values(self, steps: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """The factor at each of ``steps`` as a float64 tensor (for plots and checks).

        Families make this fast by implementing ``tensor_values(t)`` (formerly
        ``_values(t)``) on a float64 tensor; the fallback calls the schedule once per step.
        """
        import torch

        from schedkit.protocols import TensorCurve
        from schedkit.shapes import as_steps

        t = as_steps(steps)
        if isinstance(self, TensorCurve):  # the family's own whole-curve formula
            out: torch.Tensor = self.tensor_values(t)
            return out
        return torch.tensor([self(s) for s in t.tolist()], dtype=torch.float64)


S = TypeVar("S", bound=BaseSchedule)
