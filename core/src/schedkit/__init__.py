"""schedkit: schedules, param-group rules and gradient clippers for PyTorch optimizers.

Everything public is importable from here; the modules behind it are private.
"""

from schedkit.clipping import BaseClipper
from schedkit.components import get_clipper, get_rule
from schedkit.compose import (
    Chain,
    Scale,
    Sequence,
    Stretch,
    Warmup,
    chain,
    scale,
    sequence,
    stretch,
    warmup,
)
from schedkit.conversion import Conversion, ConversionError, convert
from schedkit.durations import Duration, to_steps
from schedkit.errors import (
    ConflictError,
    PluginImportError,
    SchedkitError,
    SpecError,
    StateError,
    UnknownNameError,
)
from schedkit.groups import (
    BaseRule,
    ParamGroups,
    UnplacedParameter,
    build_param_groups,
    parameter_names,
    parameter_owners,
    trainable_parameters,
)
from schedkit.hookspecs import hookimpl
from schedkit.protocols import (
    Clipper,
    ClipResult,
    ParamInfo,
    ParamRule,
    RuleEffect,
    Schedule,
    Stateful,
    StatefulSchedule,
)
from schedkit.registry import (
    ComponentInfo,
    Registrar,
    Registry,
    default_registry,
    plugin_errors,
    register,
    registered,
)
from schedkit.schedule import (
    BaseSchedule,
    Unresolved,
    choice,
    duration,
    durations,
    factor,
    get_schedule,
    resolve,
    schedule,
    schedules,
)
from schedkit.scheduler import Scheduler, get_scheduler
from schedkit.setup import Built, Setup, SetupError, load_setup

__version__ = "0.1.0"

__all__ = [
    "BaseClipper",
    "BaseRule",
    "BaseSchedule",
    "Built",
    "Chain",
    "ClipResult",
    "Clipper",
    "ComponentInfo",
    "ConflictError",
    "Conversion",
    "ConversionError",
    "Duration",
    "ParamGroups",
    "ParamInfo",
    "ParamRule",
    "PluginImportError",
    "Registrar",
    "Registry",
    "RuleEffect",
    "Scale",
    "SchedkitError",
    "Schedule",
    "Scheduler",
    "Sequence",
    "Setup",
    "SetupError",
    "SpecError",
    "StateError",
    "Stateful",
    "StatefulSchedule",
    "Stretch",
    "UnknownNameError",
    "UnplacedParameter",
    "Unresolved",
    "Warmup",
    "__version__",
    "build_param_groups",
    "chain",
    "choice",
    "convert",
    "default_registry",
    "duration",
    "durations",
    "factor",
    "get_clipper",
    "get_rule",
    "get_schedule",
    "get_scheduler",
    "hookimpl",
    "load_setup",
    "parameter_names",
    "parameter_owners",
    "plugin_errors",
    "register",
    "registered",
    "resolve",
    "scale",
    "schedule",
    "schedules",
    "sequence",
    "stretch",
    "to_steps",
    "trainable_parameters",
    "warmup",
]
