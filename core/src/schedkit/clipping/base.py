"""The base class of gradient clippers: the call, the non-finite policy, AMP checks,
scheduled thresholds, the strategy's own state, and attaching to an optimizer.

A strategy subclasses :class:`BaseClipper` and implements
``clip(target, factor, process_group)`` returning a :class:`~schedkit.ClipResult`; a
strategy with history declares it in ``initial_state()`` and reads and writes it through
``self.state`` (see :class:`BaseClipper`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import torch
from torch.utils.hooks import RemovableHandle

from schedkit._classes import Component
from schedkit._numbers import as_real, show
from schedkit.clipping.target import Target, _require_dense
from schedkit.clipping.tensors import _NARROW, _wide_norm, materialise, reduce_norm, total_norm
from schedkit.errors import SpecError, StateError, UnknownNameError
from schedkit.protocols import Schedule
from schedkit.schedule import Unresolved, get_schedule, record_spec
from schedkit.state_checks import StateReader
from schedkit.validators import one_of
from schedkit.values import ClipResult

NONFINITE = ("ignore", "error", "skip")


# -- the base class ---------------------------------------------------------------------


class _State:
    """The mutable part of a clipper: steps taken, steps skipped, the last result."""

    def __init__(self) -> None:
        self.step = 0
        self.skipped = 0
        self.last: ClipResult | None = None
        self.extra: dict[str, Any] = {}


def _optional_schedule(value: Any) -> Any:
    """A clipper's ``schedule``: a schedule, a spec dict or a registered name, built now."""
    if not isinstance(value, (str, Mapping)):
        return value
    try:
        return get_schedule(value)
    except SpecError as e:
        raise e.at("schedule") from None
    except UnknownNameError as e:  # its message keeps the closest names
        own = isinstance(value, Mapping) and value.get("type") == e.name
        raise SpecError(str(e), "schedule.type" if own else "schedule") from None


def _check_schedule(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """The threshold's factor per call: a schedule in steps, refused when built otherwise
    (not at the first clip)."""
    if value is None:
        return
    if not isinstance(value, Schedule):
        raise SpecError(
            f"expected a schedule, a spec table or a registered name, got {value!r}",
            attribute.name,
        )
    if isinstance(value, Unresolved):
        raise SpecError(
            "a clipper's schedule counts clipper calls: give its durations in steps, not "
            f"epochs or shares ({value.spec()})",
            attribute.name,
        )


@attrs.frozen(kw_only=True)
class BaseClipper(Component, kw_only=True):
    """Base class of gradient clippers.

    ``nonfinite``: what a non-finite gradient norm does: ``ignore`` (torch's default: clip
    with it, no host sync), ``error`` (raise, naming the first parameter with a non-finite
    gradient), ``skip`` (drop this step's gradients, so the optimizer step updates nothing,
    and count it in ``skipped_steps``). ``schedule``: the threshold follows a schedule,
    ``threshold * schedule(step)`` (e.g. a ``max_norm`` warmup), one step per call.

    **Writing a strategy** (an ``@attrs.frozen(kw_only=True)`` subclass with a ``name``, a
    docstring and validated fields):

    - implement :meth:`clip`: clip ``target.grads`` in place, threshold times ``factor``;
    - not finite: a strategy that computes a total norm calls
      ``self.finite(target, total)`` before scaling and, when it returns False, returns
      ``ClipResult(total_norm=total, skipped=True)`` at once (the policy has already raised
      or dropped the gradients). With ``computes_norm = False`` the base class checks the
      gradients before :meth:`clip` is called;
    - state: declare the strategy's own history in :meth:`initial_state` (plain data:
      numbers, strings, lists, dicts, tensors), read and update it through :attr:`state`;
      it is saved by :meth:`state_dict` and checked and restored by
      :meth:`load_state_dict`. Bump :attr:`state_version` when its layout changes and
      convert older states in :meth:`upgrade_state`. A subclass that defines
      ``__attrs_post_init__`` calls ``super().__attrs_post_init__()`` first.
    """

    name: ClassVar[str] = ""
    #: whether the strategy computes a total norm (and so can check it cheaply); with
    #: False, the base class checks the gradients for the non-finite policy before
    #: :meth:`clip` is called
    computes_norm: ClassVar[bool] = True
    #: the layout version of the strategy's own state (:meth:`initial_state`)
    state_version: ClassVar[int] = 1

    nonfinite: str = attrs.field(default="ignore", validator=one_of(NONFINITE))
    schedule: Schedule | None = attrs.field(
        default=None, converter=_optional_schedule, validator=_check_schedule
    )
    _state: _State = attrs.field(init=False, factory=_State, eq=False, repr=False)

    def spec(self) -> dict[str, Any]:
        """Plain-data description, every parameter included, that rebuilds this clipper."""
        out = record_spec(self)
        for key, value in out.items():
            if isinstance(value, float) and math.isinf(value):
                out[key] = "inf"  # TOML and JSON have no infinity
        return out

    # -- the call -------------------------------------------------------------------------

    def __call__(
        self,
        target: Any,
        *,
        scaler: Any = None,
        process_group: Any = None,
        names: Mapping[int, str] | None = None,
    ) -> ClipResult:
        """Clip the gradients of ``target`` in place: parameters, ``(name, parameter)``
        pairs, a module, or an optimizer. ``scaler``: a ``torch.amp.GradScaler`` whose
        gradients must be unscaled first (this unscales them when it can). ``process_group``:
        ranks holding *different* parameters (pipeline stages) whose norms combine into one."""
        if scaler is not None and isinstance(target, torch.optim.Optimizer):
            _unscale(scaler, target)
        if isinstance(target, Target):
            tgt = target
            tgt._reread()
        else:
            tgt = Target(target, names)
        _require_dense(self.name, tgt)
        factor = 1.0
        if self.schedule is not None:
            factor = self.schedule(self._state.step)
        if not self.computes_norm and not self.finite(tgt, None):
            result = ClipResult(skipped=True)
        else:
            result = self.clip(tgt, factor, process_group)
        # counted once the call went through: a call that raised leaves the clipper as it was
        self._state.step += 1
        self._state.last = result
        return result

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        """Clip ``target.grads`` in place; what every strategy implements.

        :param target: the gradients to clip, with their parameters and names.
        :param factor: the threshold's factor this step, from ``schedule`` (1.0 without).
        :param process_group: ranks holding *different* parameters whose norms combine
            into one (pass it to :meth:`global_norm`), or None.
        :returns: the pre-clip norm (a 0-dim tensor, no host sync) and the coefficient
            applied when the strategy has them; ``ClipResult(total_norm=total,
            skipped=True)`` when :meth:`finite` returned False.
        """
        raise NotImplementedError(f"{type(self).__name__} implements no clip() method")

    def __attrs_post_init__(self) -> None:
        self._state.extra.update(self.initial_state())

    if not TYPE_CHECKING:
        #: the name an undecorated strategy's ``__post_init__`` calls on its base
        __post_init__ = __attrs_post_init__

    def initial_state(self) -> dict[str, Any]:
        """The strategy's own state before the first step (default: none).

        Plain data only (numbers, strings, lists, dicts, tensors): it goes into
        :meth:`state_dict` as ``"extra"``, and :meth:`load_state_dict` refuses a saved
        state whose keys or types differ from these. Every entry exists from the start, so
        loaders that fill a fresh object's state in place (``torch.distributed.checkpoint``)
        find it.
        """
        return {}

    @property
    def state(self) -> dict[str, Any]:
        """The strategy's own mutable state (declared by :meth:`initial_state`)."""
        return self._state.extra

    def upgrade_state(self, state: dict[str, Any], version: int) -> dict[str, Any]:
        """Convert a saved strategy state of an older :attr:`state_version` (default:
        refuse it with a :class:`~schedkit.StateError`)."""
        raise StateError(
            f"{self.name}: the state was saved with state version {show(version)}; this clipper "
            f"reads version {self.state_version} and cannot convert it"
        )

    def _checked_extra(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The strategy state of a saved clipper state, upgraded and checked against
        :meth:`initial_state`; nothing is changed."""
        extra = dict(state.get("extra") or {})
        version = state.get("state_version", 1)
        if isinstance(version, bool) or not isinstance(version, int):
            raise StateError(f"{self.name}: state_version must be an int, got {version!r}")
        if version != self.state_version:
            extra = dict(self.upgrade_state(extra, version))
        declared = self.initial_state()
        if not declared:
            return extra
        if extra.keys() != declared.keys():
            raise StateError(
                f"{self.name}: the saved state has the entries {sorted(extra)}, this clipper "
                f"declares {sorted(declared)}",
                "extra",
            )
        for key, want in declared.items():
            got = extra[key]
            if isinstance(want, torch.Tensor):
                if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                    raise StateError(
                        f"{self.name}: state entry {key!r} must be a tensor of shape "
                        f"{tuple(want.shape)}, got {got!r}",
                        f"extra.{key}",
                    )
                extra[key] = got.to(want.dtype)
            elif type(want) is float and type(got) is int:
                if as_real(got) is None:
                    raise StateError(
                        f"{self.name}: state entry {key!r} must be a float, got {show(got)} "
                        "(too large for a float)",
                        f"extra.{key}",
                    )
                extra[key] = float(got)
            elif type(got) is not type(want):
                raise StateError(
                    f"{self.name}: state entry {key!r} must be {type(want).__name__}, got {got!r}",
                    f"extra.{key}",
                )
        return extra

    def global_norm(self, target: Target, norm_type: float, process_group: Any) -> torch.Tensor:
        """The norm of all of ``target``'s gradients as one vector, the full value under
        FSDP2, combined over ``process_group`` when given (pipeline stages)."""
        grads = target.grads
        total = materialise(total_norm(grads, norm_type))
        if process_group is not None:
            total = reduce_norm(total, norm_type, process_group)
        if total.dtype in _NARROW and not bool(torch.isfinite(total).item()):
            total = _wide_norm(grads, norm_type, process_group, total)
        return total

    def finite(self, target: Target, total: torch.Tensor | None) -> bool:
        """Apply the non-finite policy before anything is clipped: True to go on.

        Strategies that compute a total norm call it with that norm before scaling (one host
        sync, only when the policy is not ``ignore``); for the others the base class checks
        the gradients. ``error`` raises, ``skip`` drops the gradients and returns False.
        """
        if self.nonfinite == "ignore":
            return True
        if total is not None:
            finite = bool(torch.isfinite(total).item())
        else:
            finite = all(bool(torch.isfinite(g).all()) for g in target.grads)
        if finite:
            return True
        if self.nonfinite == "error":
            bad = next(
                (
                    n
                    for n, g in zip(target.names, target.grads, strict=True)
                    if not torch.isfinite(g).all()
                ),
                None,
            )
            if bad is None:
                raise FloatingPointError(
                    f"{self.name}: the gradient norm is not finite although every gradient "
                    "is (it overflows float32); nonfinite='skip' drops such steps, 'ignore' "
                    "clips anyway"
                )
            raise FloatingPointError(
                f"{self.name}: the gradient of {bad!r} is not finite (nan or inf); "
                "nonfinite='skip' drops such steps, 'ignore' clips anyway"
            )
        self.drop(target)
        return False

    def drop(self, target: Target) -> None:
        """Skip this step: drop ``target``'s gradients (an optimizer step then updates
        nothing) and count it in :attr:`skipped_steps`. What ``nonfinite = "skip"`` does; a
        strategy that skips steps of its own (a spike) calls it, then returns
        ``ClipResult(..., skipped=True)``."""
        for p in target.params:
            p.grad = None
        target._grads = []
        self._state.skipped += 1

    # -- attaching ------------------------------------------------------------------------

    def attach(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        scaler: Any = None,
        model: torch.nn.Module | None = None,
        process_group: Any = None,
    ) -> RemovableHandle:
        """Clip before every ``optimizer.step()`` through torch's step pre-hook.

        ``model`` gives parameter names (for messages and ``exclude`` patterns). With a
        ``scaler``, step through ``scaler.step(optimizer)``, which unscales first; a plain
        ``optimizer.step()`` on still-scaled gradients is refused with an error.
        """
        names = {id(p): n for n, p in model.named_parameters()} if model is not None else None

        def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            if scaler is not None:
                _require_unscaled(scaler, opt)
            self(opt, process_group=process_group, names=names)

        return optimizer.register_step_pre_hook(hook)

    # -- state ----------------------------------------------------------------------------

    @property
    def last_result(self) -> ClipResult | None:
        """What the last call returned."""
        return self._state.last

    @property
    def skipped_steps(self) -> int:
        """How many steps were dropped (``nonfinite='skip'``, a strategy's :meth:`drop`)."""
        return self._state.skipped

    def state_dict(self) -> dict[str, Any]:
        """Plain data: format, steps, skipped steps, and the strategy's own history."""
        return {
            "format": "schedkit.clipper",
            "version": 1,
            "spec": self.spec(),
            "step": self._state.step,
            "skipped": self._state.skipped,
            "extra": dict(self._state.extra),
            "state_version": self.state_version,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; the spec must be the same. The whole state
        is checked first: a bad one raises :class:`StateError` and changes nothing."""
        step, skipped, extra = self.check_state(state)
        self._state.step = step
        self._state.skipped = skipped
        self._state.extra = extra

    def check_state(self, state: Any) -> tuple[int, int, dict[str, Any]]:
        """Check a state against this clipper without applying it: (step, skipped, extra)."""
        reader = StateReader(state, what="clipper state")
        if reader.state.get("format") != "schedkit.clipper":
            raise StateError(
                f"not a schedkit clipper state (format {show(reader.state.get('format'))})"
            )
        reader.integer("version", ge=1, le=1)
        if reader.get("spec") != self.spec():
            from schedkit._diff import spec_diff

            raise StateError(
                "the state was written by a different clipper:\n  "
                + "\n  ".join(spec_diff(reader.get("spec"), self.spec()))
            )
        step = reader.integer("step")
        skipped = reader.integer("skipped", le=step)
        if not isinstance(reader.state.get("extra") or {}, Mapping):
            raise StateError(f"expected a table, got {show(reader.state.get('extra'))}", "extra")
        extra = self._checked_extra(reader.state)
        return step, skipped, self.check_extra(StateReader(extra, "extra"))

    def check_extra(self, extra: StateReader) -> dict[str, Any]:
        """The strategy's own saved history (``extra``, already matched to
        :meth:`initial_state`'s entries and types), checked for the strategy's own ranges
        and shapes: return what to restore, or raise :class:`~schedkit.StateError` through
        ``extra``'s readers (which name the key path). Nothing is applied before it returns.
        Default: the history as it is (refused when the strategy declares none)."""
        if extra.state and not self.initial_state():
            raise StateError(f"{self.name!r} keeps no history, got {sorted(extra.state)}", "extra")
        return dict(extra.state)


def _unscale(scaler: Any, optimizer: torch.optim.Optimizer) -> None:
    """Unscale ``optimizer``'s gradients once, as ``GradScaler`` allows."""
    if not getattr(scaler, "is_enabled", lambda: False)():
        return
    stage = _stage(scaler, optimizer)
    if stage != "UNSCALED":
        scaler.unscale_(optimizer)


def _stage(scaler: Any, optimizer: torch.optim.Optimizer) -> str:
    states = getattr(scaler, "_per_optimizer_states", {})
    stage = states.get(id(optimizer), {}).get("stage")
    return getattr(stage, "name", str(stage))


def _require_unscaled(scaler: Any, optimizer: torch.optim.Optimizer) -> None:
    if getattr(scaler, "is_enabled", lambda: False)() and _stage(scaler, optimizer) != "UNSCALED":
        raise RuntimeError(
            "the gradients are still scaled by the GradScaler: step with scaler.step(optimizer) "
            "(it unscales first) or call scaler.unscale_(optimizer) before optimizer.step()"
        )
