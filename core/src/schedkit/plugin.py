"""Everything a plugin author needs, in one stable module.

A plugin distribution imports schedkit only through ``schedkit`` (the user API) and this
module; the modules behind both are private and may move. First-party plugins are held to
the same rule by a test, so this module is complete for what they do.

What is here:

- **hooks**: :data:`hookimpl` and :class:`Registrar` (what ``schedkit_add_schedules``,
  ``schedkit_add_rules`` and ``schedkit_add_clippers`` receive);
- **extension points** (:mod:`schedkit.hooks`, listed in docs/plugins.md):
  :class:`ScheduleHooks` (the optional behaviours of a schedule family, bases of
  :class:`BaseSchedule`), :class:`Stepping` (a scheduler's stepping policy), and the
  protocols :class:`FollowsCurrent`, :class:`StartsFromCurrent`,
  :class:`EpochFromCurrent`, :class:`CurveWithState`, :class:`GroupCompanion`,
  :class:`StateChecked`, :class:`BindsAll`, :class:`PlacementNotes`;
- **base classes and protocols**: :class:`BaseSchedule`, :class:`BaseRule`,
  :class:`BaseClipper`, :class:`Schedule`, :class:`StatefulSchedule`,
  :class:`GroupSchedule`, :class:`ParamRule`, :class:`Clipper`, :class:`Stateful`;
- **values rules and clippers pass around**: :class:`ParamInfo`, :class:`RuleEffect`,
  :data:`Column`, :class:`ClipResult`, :class:`Target`;
- **records** (how components are declared): :class:`Record` (the base class of
  :class:`BaseSchedule`, :class:`BaseRule` and :class:`BaseClipper`), :func:`field`,
  :func:`fields`, :func:`evolve`, :class:`Field`, :data:`NOTHING`,
  :class:`FrozenInstanceError`;
- **field helpers** (fields with validation, key paths and durations):
  :func:`duration`, :func:`durations`, :func:`factor`, :func:`choice`, :func:`schedule`,
  :func:`schedules`; and :func:`record_spec` / :func:`plain` for a ``spec()`` of one's own;
- **validators and converters** (raising :class:`SpecError` with the field as key path):
  :func:`number`, :func:`steps`, :func:`one_of`, :func:`increasing_steps`,
  :func:`instance_of`, :func:`optional`, :func:`in_`,
  :func:`to_float`, :func:`to_pair`, :func:`optional_pair`, :func:`strings`,
  :func:`to_strings`, :data:`Validator`;
- **curve shapes**: :func:`decay`, :func:`ramp`, :func:`decay_t`, :func:`ramp_t`,
  :func:`lerp`, :func:`as_steps`, :func:`bad_step` (a step a curve must refuse), :data:`SHAPES`;
- **name matching** for rules and clippers: :func:`matcher`, :func:`any_glob`,
  :func:`first_match`, :data:`MATCH_MODES`, :func:`name_matcher`; :func:`require_matches`
  (a pattern matching no parameter is an error naming the closest, :func:`closest_names`);
- **models**: :func:`parameter_names`, :func:`parameter_owners`,
  :func:`trainable_parameters`, :class:`UnplacedParameter`;
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
from schedkit._numbers import MAX_STEPS, as_real, show
from schedkit._record import (
    NOTHING,
    Field,
    FrozenInstanceError,
    Record,
    Validator,
    evolve,
    field,
    fields,
)
from schedkit.durations import NeedsContextError
from schedkit.errors import SchedkitError, SchedkitWarning, SpecError, StateError
from schedkit.hooks import ScheduleHooks, Stepping
from schedkit.hookspecs import hookimpl
from schedkit.matching import MODES as MATCH_MODES
from schedkit.matching import any_glob, closest_names, first_match, matcher, require_matches
from schedkit.plateaus import finite_metric, improves
from schedkit.protocols import (
    BindsAll,
    Clipper,
    CurveWithState,
    EpochFromCurrent,
    FollowsCurrent,
    GroupCompanion,
    GroupSchedule,
    ParamRule,
    PlacementNotes,
    Schedule,
    StartsFromCurrent,
    StateChecked,
    Stateful,
    StatefulSchedule,
)
from schedkit.registry import Registrar
from schedkit.schedule import (
    BaseSchedule,
    choice,
    duration,
    durations,
    factor,
    plain,
    record_spec,
    schedule,
    schedules,
)
from schedkit.shapes import KINDS as SHAPES
from schedkit.shapes import as_steps, bad_step, decay, decay_t, lerp, ramp, ramp_t
from schedkit.state_checks import StateReader, check_number
from schedkit.validators import (
    in_,
    increasing_steps,
    instance_of,
    number,
    one_of,
    optional,
    optional_pair,
    steps,
    strings,
    to_float,
    to_pair,
    to_strings,
)

if _typing.TYPE_CHECKING:
    from schedkit.clipping import (
        NONFINITE,
        BaseClipper,
        SparseGradientError,
        Target,
        by_device_and_dtype,
        check_exclude,
        check_norm_type,
        materialise,
        name_matcher,
        norm_type,
        norms,
        reduce_norm,
        scale_,
        total_norm,
    )
    from schedkit.groups import (
        BaseRule,
        Column,
        UnplacedParameter,
        parameter_names,
        parameter_owners,
        trainable_parameters,
    )
    from schedkit.values import ClipResult, ParamInfo, RuleEffect

#: Clipping and param-group helpers, and the values rules and clippers pass around, are
#: imported when first used (PEP 562): a schedule plugin that needs none of them keeps
#: them, and torch's hooks machinery, off the start-up path.
_LAZY = {
    "NONFINITE": "schedkit.clipping",
    "BaseClipper": "schedkit.clipping",
    "SparseGradientError": "schedkit.clipping",
    "Target": "schedkit.clipping",
    "by_device_and_dtype": "schedkit.clipping",
    "check_exclude": "schedkit.clipping",
    "check_norm_type": "schedkit.clipping",
    "materialise": "schedkit.clipping",
    "name_matcher": "schedkit.clipping",
    "norm_type": "schedkit.clipping",
    "norms": "schedkit.clipping",
    "reduce_norm": "schedkit.clipping",
    "scale_": "schedkit.clipping",
    "total_norm": "schedkit.clipping",
    "BaseRule": "schedkit.groups",
    "Column": "schedkit.groups",
    "UnplacedParameter": "schedkit.groups",
    "parameter_names": "schedkit.groups",
    "parameter_owners": "schedkit.groups",
    "trainable_parameters": "schedkit.groups",
    "ClipResult": "schedkit.values",
    "ParamInfo": "schedkit.values",
    "RuleEffect": "schedkit.values",
}


__all__ = [
    "BindsAll",
    "PlacementNotes",
    "CurveWithState",
    "EpochFromCurrent",
    "FollowsCurrent",
    "GroupCompanion",
    "ScheduleHooks",
    "StartsFromCurrent",
    "StateChecked",
    "Stepping",
    "MAX_STEPS",
    "NOTHING",
    "NeedsContextError",
    "as_real",
    "check_number",
    "show",
    "Field",
    "FrozenInstanceError",
    "Record",
    "evolve",
    "field",
    "fields",
    "in_",
    "instance_of",
    "optional",
    "SchedkitWarning",
    "SparseGradientError",
    "StateReader",
    "bad_step",
    "strings",
    "to_strings",
    "MATCH_MODES",
    "NONFINITE",
    "SHAPES",
    "BaseClipper",
    "BaseRule",
    "BaseSchedule",
    "ClipResult",
    "Clipper",
    "Column",
    "GroupSchedule",
    "ParamInfo",
    "ParamRule",
    "Registrar",
    "RuleEffect",
    "SchedkitError",
    "Schedule",
    "SpecError",
    "StateError",
    "Stateful",
    "StatefulSchedule",
    "Target",
    "UnplacedParameter",
    "Validator",
    "any_glob",
    "closest_names",
    "as_steps",
    "record_spec",
    "by_device_and_dtype",
    "check_exclude",
    "check_norm_type",
    "choice",
    "decay",
    "decay_t",
    "duration",
    "durations",
    "factor",
    "finite_metric",
    "first_match",
    "hookimpl",
    "improves",
    "increasing_steps",
    "lerp",
    "materialise",
    "matcher",
    "name_matcher",
    "norm_type",
    "norms",
    "number",
    "one_of",
    "optional_pair",
    "parameter_names",
    "parameter_owners",
    "plain",
    "ramp",
    "ramp_t",
    "reduce_norm",
    "require_matches",
    "scale_",
    "schedule",
    "schedules",
    "steps",
    "to_float",
    "to_pair",
    "total_norm",
    "trainable_parameters",
]

__getattr__, __dir__ = _lazy.exports("schedkit.plugin", _LAZY, globals(), __all__)
