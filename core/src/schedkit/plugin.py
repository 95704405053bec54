"""Everything a plugin author needs, in one stable module.

A plugin distribution imports schedkit only through ``schedkit`` (the user API) and this
module; the modules behind both are private and may move. First-party plugins are held to
the same rule by a test, so this module is complete for what they do.

What is here:

- **hooks**: :data:`hookimpl` and :class:`Registrar` (what ``schedkit_add_schedules``,
  ``schedkit_add_rules`` and ``schedkit_add_clippers`` receive);
- **base classes and protocols**: :class:`BaseSchedule`, :class:`BaseRule`,
  :class:`BaseClipper`, :class:`Schedule`, :class:`StatefulSchedule`,
  :class:`GroupSchedule`, :class:`ParamRule`, :class:`Clipper`, :class:`Stateful`;
- **values rules and clippers pass around**: :class:`ParamInfo`, :class:`RuleEffect`,
  :data:`Column`, :class:`ClipResult`, :class:`Target`;
- **attrs** (components are ``@attrs.frozen`` classes): :func:`field` (``attrs.field``
  with the arguments components use),
  :func:`fields` (``attrs.fields``, for a component declared without the decorator too),
  :func:`evolve`, :class:`Field` (``attrs.Attribute``), :data:`NOTHING`,
  :class:`FrozenInstanceError`;
- **field helpers** (attrs fields with validation, key paths and durations):
  :func:`duration`, :func:`durations`, :func:`factor`, :func:`choice`, :func:`schedule`,
  :func:`schedules`; and :func:`attrs_spec` (also named ``record_spec``) / :func:`plain`
  for a ``spec()`` of one's own;
- **extension points** (:mod:`schedkit.hooks`, listed in docs/plugins.md):
  :class:`ScheduleHooks` (the optional behaviours of a schedule family, bases of
  :class:`BaseSchedule`), :class:`Stepping` (a scheduler's stepping policy), and the
  protocols :class:`FollowsCurrent`, :class:`StartsFromCurrent`,
  :class:`EpochFromCurrent`, :class:`CurveWithState`, :class:`GroupCompanion`,
  :class:`GroupSettingsCompanion`,
  :class:`StateChecked`, :class:`JudgesLoss`, :class:`BindsAll`, :class:`PlacementNotes`,
  :class:`NamesGroups`,
  and of schedules :class:`Finite`, :class:`Resolvable`, :class:`SteppedPerUpdate`,
  :class:`Shiftable`, :class:`TensorValued`, :class:`TensorCurve`, :class:`Replays`;
- **validators and converters** (raising :class:`SpecError` with the field as key path):
  :func:`number`, :func:`steps`, :func:`one_of`, :func:`increasing_steps`,
  :func:`instance_of`, :func:`optional`, :func:`in_`,
  :func:`to_float`, :func:`to_pair`, :func:`optional_pair`, :func:`strings`,
  :func:`to_strings`, :data:`Validator`;
- **curve shapes**: :func:`decay`, :func:`ramp`, :func:`decay_t`, :func:`ramp_t`,
  :func:`lerp`, :func:`as_steps`, :func:`bad_step` (a step a curve must refuse), :data:`SHAPES`,
  :data:`DECAY_SHAPES` (every ``decay`` kind: also ``exponential``, ``power``, ``1-square``),
  :func:`anneal` (torch's ``OneCycleLR`` phase anneal);
- **name matching** for rules and clippers: :func:`matcher`, :func:`any_glob`,
  :func:`first_match`, :data:`MATCH_MODES`, :func:`name_matcher`; :func:`require_matches`
  (a pattern matching no parameter is an error naming the closest, :func:`closest_names`);
- **models**: :func:`parameter_names`, :func:`parameter_owners`,
  :func:`trainable_parameters`, :class:`UnplacedParameter`; :func:`group_keys_read` (the
  param-group entries the registered schedules read, which a rule may set),
  :func:`optimizer_options` (every per-group option of a ``torch.optim`` optimizer);
- **clipping building blocks** (foreach, per device and dtype, FSDP2 and pipeline aware):
  :func:`by_device_and_dtype`, :func:`norms`, :func:`total_norm`, :func:`scale_`,
  :func:`materialise`, :func:`reduce_norm`, :func:`norm_type`, :func:`check_norm_type`,
  :func:`check_exclude`, :data:`NONFINITE`;
- **numbers**: :func:`as_real` (a number as a float, or None for what no float holds:
  ``10**400``, a string, a bool), :func:`show` (a value for a message, huge ints named by
  their size), :data:`MAX_STEPS` (``2**62``, the most steps schedkit takes);
- **state**: :class:`StateReader` (reads a saved state, raising :class:`StateError` with
  the key path, for ``load_state_dict`` that checks everything before applying anything)
  and :func:`check_number` (one number of a state, checked the same way);
- **reduce on plateau**: :func:`improves` (torch's test of a better metric) and
  :func:`finite_metric` (a metric as a float, NaN and non-numbers refused);
- **errors and warnings**: :class:`SchedkitError`, :class:`SpecError`, :class:`StateError`,
  :class:`SparseGradientError`, :class:`SchedkitWarning`; :class:`NeedsContextError` (a
  :class:`SpecError` for what a setup may still give: ``steps_per_epoch``, the total).

The conformance kit a plugin's tests run is :mod:`schedkit.testing`.
"""

from __future__ import annotations

import typing as _typing

from schedkit import _lazy
from schedkit._classes import NOTHING as NOTHING
from schedkit._classes import Field as Field
from schedkit._classes import FrozenInstanceError as FrozenInstanceError
from schedkit._classes import evolve as evolve
from schedkit._classes import field as field
from schedkit._classes import fields as fields

# The imports below are the table ``_EXPORTS`` written out for type checkers (each name
# re-exported ``as`` itself); tests/core/test_exports.py checks that they match it and
# prints the lines to add or remove.
from schedkit._numbers import MAX_STEPS as MAX_STEPS
from schedkit._numbers import as_real as as_real
from schedkit._numbers import show as show
from schedkit._registrar import Registrar as Registrar
from schedkit.durations import NeedsContextError as NeedsContextError
from schedkit.errors import SchedkitError as SchedkitError
from schedkit.errors import SchedkitWarning as SchedkitWarning
from schedkit.errors import SpecError as SpecError
from schedkit.errors import StateError as StateError
from schedkit.hooks import ScheduleHooks as ScheduleHooks
from schedkit.hooks import Stepping as Stepping
from schedkit.hookspecs import hookimpl as hookimpl
from schedkit.matching import MATCH_MODES as MATCH_MODES
from schedkit.matching import any_glob as any_glob
from schedkit.matching import closest_names as closest_names
from schedkit.matching import first_match as first_match
from schedkit.matching import matcher as matcher
from schedkit.matching import require_matches as require_matches
from schedkit.plateaus import finite_metric as finite_metric
from schedkit.plateaus import improves as improves
from schedkit.protocols import BindsAll as BindsAll
from schedkit.protocols import Clipper as Clipper
from schedkit.protocols import CurveWithState as CurveWithState
from schedkit.protocols import EpochFromCurrent as EpochFromCurrent
from schedkit.protocols import Finite as Finite
from schedkit.protocols import FollowsCurrent as FollowsCurrent
from schedkit.protocols import GroupCompanion as GroupCompanion
from schedkit.protocols import GroupSchedule as GroupSchedule
from schedkit.protocols import GroupSettingsCompanion as GroupSettingsCompanion
from schedkit.protocols import JudgesLoss as JudgesLoss
from schedkit.protocols import NamesGroups as NamesGroups
from schedkit.protocols import ParamRule as ParamRule
from schedkit.protocols import PlacementNotes as PlacementNotes
from schedkit.protocols import Replays as Replays
from schedkit.protocols import Resolvable as Resolvable
from schedkit.protocols import Schedule as Schedule
from schedkit.protocols import Shiftable as Shiftable
from schedkit.protocols import StartsFromCurrent as StartsFromCurrent
from schedkit.protocols import StateChecked as StateChecked
from schedkit.protocols import Stateful as Stateful
from schedkit.protocols import StatefulSchedule as StatefulSchedule
from schedkit.protocols import SteppedPerUpdate as SteppedPerUpdate
from schedkit.protocols import TensorCurve as TensorCurve
from schedkit.protocols import TensorValued as TensorValued
from schedkit.schedule import BaseSchedule as BaseSchedule
from schedkit.schedule import attrs_spec as attrs_spec
from schedkit.schedule import choice as choice
from schedkit.schedule import duration as duration
from schedkit.schedule import durations as durations
from schedkit.schedule import factor as factor
from schedkit.schedule import plain as plain
from schedkit.schedule import record_spec as record_spec
from schedkit.schedule import schedule as schedule
from schedkit.schedule import schedules as schedules
from schedkit.shapes import DECAY_SHAPES as DECAY_SHAPES
from schedkit.shapes import SHAPES as SHAPES
from schedkit.shapes import anneal as anneal
from schedkit.shapes import as_steps as as_steps
from schedkit.shapes import bad_step as bad_step
from schedkit.shapes import decay as decay
from schedkit.shapes import decay_t as decay_t
from schedkit.shapes import lerp as lerp
from schedkit.shapes import ramp as ramp
from schedkit.shapes import ramp_t as ramp_t
from schedkit.state_checks import StateReader as StateReader
from schedkit.state_checks import check_number as check_number
from schedkit.validators import Validator as Validator
from schedkit.validators import in_ as in_
from schedkit.validators import increasing_steps as increasing_steps
from schedkit.validators import instance_of as instance_of
from schedkit.validators import number as number
from schedkit.validators import one_of as one_of
from schedkit.validators import optional as optional
from schedkit.validators import optional_pair as optional_pair
from schedkit.validators import steps as steps
from schedkit.validators import strings as strings
from schedkit.validators import to_float as to_float
from schedkit.validators import to_pair as to_pair
from schedkit.validators import to_strings as to_strings

if _typing.TYPE_CHECKING:
    from schedkit._scheduling.family import group_keys_read as group_keys_read
    from schedkit.clipping import NONFINITE as NONFINITE
    from schedkit.clipping import BaseClipper as BaseClipper
    from schedkit.clipping import SparseGradientError as SparseGradientError
    from schedkit.clipping import Target as Target
    from schedkit.clipping import by_device_and_dtype as by_device_and_dtype
    from schedkit.clipping import check_exclude as check_exclude
    from schedkit.clipping import check_norm_type as check_norm_type
    from schedkit.clipping import materialise as materialise
    from schedkit.clipping import name_matcher as name_matcher
    from schedkit.clipping import norm_type as norm_type
    from schedkit.clipping import norms as norms
    from schedkit.clipping import reduce_norm as reduce_norm
    from schedkit.clipping import scale_ as scale_
    from schedkit.clipping import total_norm as total_norm
    from schedkit.groups import BaseRule as BaseRule
    from schedkit.groups import Column as Column
    from schedkit.groups import UnplacedParameter as UnplacedParameter
    from schedkit.groups import parameter_names as parameter_names
    from schedkit.groups import parameter_owners as parameter_owners
    from schedkit.groups import trainable_parameters as trainable_parameters
    from schedkit.setup.optimizers import optimizer_options as optimizer_options
    from schedkit.values import ClipResult as ClipResult
    from schedkit.values import ParamInfo as ParamInfo
    from schedkit.values import RuleEffect as RuleEffect

#: Every name of the facade and the module it comes from, one a line: ``__all__``, the
#: look-up of a name on first use (PEP 562) and the imports above all follow it.
_EXPORTS: dict[str, str] = {
    "BaseClipper": "schedkit.clipping",
    "BaseRule": "schedkit.groups",
    "BaseSchedule": "schedkit.schedule",
    "BindsAll": "schedkit.protocols",
    "ClipResult": "schedkit.values",
    "Clipper": "schedkit.protocols",
    "Column": "schedkit.groups",
    "CurveWithState": "schedkit.protocols",
    "DECAY_SHAPES": "schedkit.shapes",
    "EpochFromCurrent": "schedkit.protocols",
    "Field": "schedkit._classes",
    "Finite": "schedkit.protocols",
    "FollowsCurrent": "schedkit.protocols",
    "FrozenInstanceError": "schedkit._classes",
    "GroupCompanion": "schedkit.protocols",
    "GroupSchedule": "schedkit.protocols",
    "GroupSettingsCompanion": "schedkit.protocols",
    "JudgesLoss": "schedkit.protocols",
    "MATCH_MODES": "schedkit.matching",
    "MAX_STEPS": "schedkit._numbers",
    "NONFINITE": "schedkit.clipping",
    "NOTHING": "schedkit._classes",
    "NamesGroups": "schedkit.protocols",
    "NeedsContextError": "schedkit.durations",
    "ParamInfo": "schedkit.values",
    "ParamRule": "schedkit.protocols",
    "PlacementNotes": "schedkit.protocols",
    "Registrar": "schedkit._registrar",
    "Replays": "schedkit.protocols",
    "Resolvable": "schedkit.protocols",
    "RuleEffect": "schedkit.values",
    "SHAPES": "schedkit.shapes",
    "SchedkitError": "schedkit.errors",
    "SchedkitWarning": "schedkit.errors",
    "Schedule": "schedkit.protocols",
    "ScheduleHooks": "schedkit.hooks",
    "Shiftable": "schedkit.protocols",
    "SparseGradientError": "schedkit.clipping",
    "SpecError": "schedkit.errors",
    "StartsFromCurrent": "schedkit.protocols",
    "StateChecked": "schedkit.protocols",
    "StateError": "schedkit.errors",
    "StateReader": "schedkit.state_checks",
    "Stateful": "schedkit.protocols",
    "StatefulSchedule": "schedkit.protocols",
    "SteppedPerUpdate": "schedkit.protocols",
    "Stepping": "schedkit.hooks",
    "Target": "schedkit.clipping",
    "TensorCurve": "schedkit.protocols",
    "TensorValued": "schedkit.protocols",
    "UnplacedParameter": "schedkit.groups",
    "Validator": "schedkit.validators",
    "anneal": "schedkit.shapes",
    "any_glob": "schedkit.matching",
    "as_real": "schedkit._numbers",
    "as_steps": "schedkit.shapes",
    "attrs_spec": "schedkit.schedule",
    "bad_step": "schedkit.shapes",
    "by_device_and_dtype": "schedkit.clipping",
    "check_exclude": "schedkit.clipping",
    "check_norm_type": "schedkit.clipping",
    "check_number": "schedkit.state_checks",
    "choice": "schedkit.schedule",
    "closest_names": "schedkit.matching",
    "decay": "schedkit.shapes",
    "decay_t": "schedkit.shapes",
    "duration": "schedkit.schedule",
    "durations": "schedkit.schedule",
    "evolve": "schedkit._classes",
    "factor": "schedkit.schedule",
    "field": "schedkit._classes",
    "fields": "schedkit._classes",
    "finite_metric": "schedkit.plateaus",
    "first_match": "schedkit.matching",
    "group_keys_read": "schedkit._scheduling.family",
    "hookimpl": "schedkit.hookspecs",
    "improves": "schedkit.plateaus",
    "in_": "schedkit.validators",
    "increasing_steps": "schedkit.validators",
    "instance_of": "schedkit.validators",
    "lerp": "schedkit.shapes",
    "matcher": "schedkit.matching",
    "materialise": "schedkit.clipping",
    "name_matcher": "schedkit.clipping",
    "norm_type": "schedkit.clipping",
    "norms": "schedkit.clipping",
    "number": "schedkit.validators",
    "one_of": "schedkit.validators",
    "optimizer_options": "schedkit.setup.optimizers",
    "optional": "schedkit.validators",
    "optional_pair": "schedkit.validators",
    "parameter_names": "schedkit.groups",
    "parameter_owners": "schedkit.groups",
    "plain": "schedkit.schedule",
    "ramp": "schedkit.shapes",
    "ramp_t": "schedkit.shapes",
    "record_spec": "schedkit.schedule",
    "reduce_norm": "schedkit.clipping",
    "require_matches": "schedkit.matching",
    "scale_": "schedkit.clipping",
    "schedule": "schedkit.schedule",
    "schedules": "schedkit.schedule",
    "show": "schedkit._numbers",
    "steps": "schedkit.validators",
    "strings": "schedkit.validators",
    "to_float": "schedkit.validators",
    "to_pair": "schedkit.validators",
    "to_strings": "schedkit.validators",
    "total_norm": "schedkit.clipping",
    "trainable_parameters": "schedkit.groups",
}

#: Imported at once. Clipping and param-group helpers, and the values rules and clippers
#: pass around, are imported when first used: a schedule plugin that needs none of them
#: keeps them, and torch's hooks machinery, off the start-up path.
_EAGER = (
    "schedkit._numbers",
    "schedkit._classes",
    "schedkit._registrar",
    "schedkit.durations",
    "schedkit.errors",
    "schedkit.hooks",
    "schedkit.hookspecs",
    "schedkit.matching",
    "schedkit.plateaus",
    "schedkit.protocols",
    "schedkit.schedule",
    "schedkit.shapes",
    "schedkit.state_checks",
    "schedkit.validators",
)

__all__ = [*_EXPORTS]

_getattr, __dir__ = _lazy.exports("schedkit.plugin", _EXPORTS, globals(), __all__)


def __getattr__(name: str) -> _typing.Any:
    if name == "Record":  # deprecated (components are attrs classes), so left out of dir()
        from schedkit._classes import Record

        return Record
    return _getattr(name)
