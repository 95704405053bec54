"""schedkit: schedules, param-group rules and gradient clippers for PyTorch optimizers.

Everything public is importable from here; the modules behind it are private.
"""

import typing as _typing

from schedkit import _lazy
from schedkit._classes import field

# Imported at once: small, and two of their names (``schedule``, ``durations``) are also
# the names of modules, which an import of the module would otherwise bind here.
from schedkit.durations import Duration, to_steps
from schedkit.errors import (
    ConflictError,
    PluginImportError,
    SchedkitError,
    SchedkitWarning,
    SpecError,
    StateError,
    UnknownNameError,
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

if _typing.TYPE_CHECKING:
    from schedkit.clipping import BaseClipper, SparseGradientError
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
        ParamRule,
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
    from schedkit.scheduler import Scheduler, get_scheduler
    from schedkit.setup import Built, Setup, SetupError, load_setup, loads_setup
    from schedkit.values import ClipResult, ParamInfo, RuleEffect

#: The rest is imported when first used (PEP 562), so ``import schedkit`` stays cheap next
#: to ``import torch``: a script that only schedules never loads TOML setups or clippers.
_LAZY = {
    "BaseClipper": "schedkit.clipping",
    "SparseGradientError": "schedkit.clipping",
    "get_clipper": "schedkit.components",
    "get_rule": "schedkit.components",
    "Chain": "schedkit.compose",
    "Scale": "schedkit.compose",
    "Sequence": "schedkit.compose",
    "Stretch": "schedkit.compose",
    "Warmup": "schedkit.compose",
    "chain": "schedkit.compose",
    "scale": "schedkit.compose",
    "sequence": "schedkit.compose",
    "stretch": "schedkit.compose",
    "warmup": "schedkit.compose",
    "Conversion": "schedkit.conversion",
    "ConversionError": "schedkit.conversion",
    "convert": "schedkit.conversion",
    "BaseRule": "schedkit.groups",
    "ParamGroups": "schedkit.groups",
    "UnplacedParameter": "schedkit.groups",
    "build_param_groups": "schedkit.groups",
    "parameter_names": "schedkit.groups",
    "parameter_owners": "schedkit.groups",
    "trainable_parameters": "schedkit.groups",
    "hookimpl": "schedkit.hookspecs",
    "Clipper": "schedkit.protocols",
    "ClipResult": "schedkit.values",
    "ParamInfo": "schedkit.values",
    "ParamRule": "schedkit.protocols",
    "RuleEffect": "schedkit.values",
    "Schedule": "schedkit.protocols",
    "Stateful": "schedkit.protocols",
    "StatefulSchedule": "schedkit.protocols",
    "ComponentInfo": "schedkit.registry",
    "Registrar": "schedkit.registry",
    "Registry": "schedkit.registry",
    "default_registry": "schedkit.registry",
    "plugin_errors": "schedkit.registry",
    "register": "schedkit.registry",
    "registered": "schedkit.registry",
    "Scheduler": "schedkit.scheduler",
    "get_scheduler": "schedkit.scheduler",
    "Built": "schedkit.setup",
    "Setup": "schedkit.setup",
    "SetupError": "schedkit.setup",
    "load_setup": "schedkit.setup",
    "loads_setup": "schedkit.setup",
}


__version__ = "0.1.0"

__all__ = [
    "field",
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
    "SchedkitWarning",
    "Schedule",
    "Scheduler",
    "Sequence",
    "Setup",
    "SparseGradientError",
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
    "loads_setup",
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

_getattr, __dir__ = _lazy.exports("schedkit", _LAZY, globals(), __all__)


def __getattr__(name: str) -> _typing.Any:
    if name == "Record":  # deprecated (components are attrs classes), so left out of dir()
        from schedkit._classes import Record

        return Record
    return _getattr(name)
