"""schedkit: schedules, param-group rules and gradient clippers for PyTorch optimizers.

Everything public is importable from here; the modules behind it are private.
"""

import typing as _typing

from schedkit import _lazy

# The imports below are the table ``_EXPORTS`` written out for type checkers (each name
# re-exported ``as`` itself); tests/core/test_exports.py checks that they match it and
# prints the lines to add or remove.
from schedkit._classes import field as field
from schedkit.durations import Duration as Duration
from schedkit.durations import to_steps as to_steps
from schedkit.errors import ConflictError as ConflictError
from schedkit.errors import HorizonWarning as HorizonWarning
from schedkit.errors import PluginImportError as PluginImportError
from schedkit.errors import SchedkitError as SchedkitError
from schedkit.errors import SchedkitWarning as SchedkitWarning
from schedkit.errors import SpecError as SpecError
from schedkit.errors import StateError as StateError
from schedkit.errors import UnknownNameError as UnknownNameError
from schedkit.schedule import BaseSchedule as BaseSchedule
from schedkit.schedule import Unresolved as Unresolved
from schedkit.schedule import choice as choice
from schedkit.schedule import duration as duration
from schedkit.schedule import durations as durations
from schedkit.schedule import factor as factor
from schedkit.schedule import get_schedule as get_schedule
from schedkit.schedule import resolve as resolve
from schedkit.schedule import schedule as schedule
from schedkit.schedule import schedules as schedules

if _typing.TYPE_CHECKING:
    from schedkit._by_name import get_scheduler as get_scheduler
    from schedkit._registrar import ComponentInfo as ComponentInfo
    from schedkit._registrar import Registrar as Registrar
    from schedkit._scheduling.state import Replan as Replan
    from schedkit.clipping import BaseClipper as BaseClipper
    from schedkit.clipping import SparseGradientError as SparseGradientError
    from schedkit.clock import BatchRamp as BatchRamp
    from schedkit.clock import ClockedScheduler as ClockedScheduler
    from schedkit.components import get_clipper as get_clipper
    from schedkit.components import get_rule as get_rule
    from schedkit.compose import Chain as Chain
    from schedkit.compose import Scale as Scale
    from schedkit.compose import Sequence as Sequence
    from schedkit.compose import Stretch as Stretch
    from schedkit.compose import Warmup as Warmup
    from schedkit.compose import chain as chain
    from schedkit.compose import scale as scale
    from schedkit.compose import sequence as sequence
    from schedkit.compose import stretch as stretch
    from schedkit.compose import warmup as warmup
    from schedkit.conversion import Conversion as Conversion
    from schedkit.conversion import ConversionError as ConversionError
    from schedkit.conversion import convert as convert
    from schedkit.groups import BaseRule as BaseRule
    from schedkit.groups import ParamGroups as ParamGroups
    from schedkit.groups import UnplacedParameter as UnplacedParameter
    from schedkit.groups import build_param_groups as build_param_groups
    from schedkit.groups import parameter_names as parameter_names
    from schedkit.groups import parameter_owners as parameter_owners
    from schedkit.groups import trainable_parameters as trainable_parameters
    from schedkit.hookspecs import hookimpl as hookimpl
    from schedkit.lr_finder import LRFinderResult as LRFinderResult
    from schedkit.lr_finder import find_lr as find_lr
    from schedkit.monitor import Monitor as Monitor
    from schedkit.protocols import Clipper as Clipper
    from schedkit.protocols import ParamRule as ParamRule
    from schedkit.protocols import Schedule as Schedule
    from schedkit.protocols import Stateful as Stateful
    from schedkit.protocols import StatefulSchedule as StatefulSchedule
    from schedkit.registry import Registry as Registry
    from schedkit.registry import default_registry as default_registry
    from schedkit.registry import plugin_errors as plugin_errors
    from schedkit.registry import register as register
    from schedkit.registry import registered as registered
    from schedkit.scheduler import Scheduler as Scheduler
    from schedkit.setup import Built as Built
    from schedkit.setup import Setup as Setup
    from schedkit.setup import SetupError as SetupError
    from schedkit.setup import load_setup as load_setup
    from schedkit.setup import loads_setup as loads_setup
    from schedkit.values import ClipResult as ClipResult
    from schedkit.values import ParamInfo as ParamInfo
    from schedkit.values import RuleEffect as RuleEffect

#: Every public name and the module it comes from, one a line: ``__all__``, the look-up
#: of a name on first use (PEP 562) and the imports above all follow it.
_EXPORTS: dict[str, str] = {
    "BaseClipper": "schedkit.clipping",
    "BaseRule": "schedkit.groups",
    "BaseSchedule": "schedkit.schedule",
    "BatchRamp": "schedkit.clock",
    "build_param_groups": "schedkit.groups",
    "Built": "schedkit.setup",
    "Chain": "schedkit.compose",
    "chain": "schedkit.compose",
    "choice": "schedkit.schedule",
    "Clipper": "schedkit.protocols",
    "ClipResult": "schedkit.values",
    "ClockedScheduler": "schedkit.clock",
    "ComponentInfo": "schedkit._registrar",
    "ConflictError": "schedkit.errors",
    "Conversion": "schedkit.conversion",
    "ConversionError": "schedkit.conversion",
    "convert": "schedkit.conversion",
    "default_registry": "schedkit.registry",
    "Duration": "schedkit.durations",
    "duration": "schedkit.schedule",
    "durations": "schedkit.schedule",
    "factor": "schedkit.schedule",
    "field": "schedkit._classes",
    "find_lr": "schedkit.lr_finder",
    "get_clipper": "schedkit.components",
    "get_rule": "schedkit.components",
    "get_schedule": "schedkit.schedule",
    "get_scheduler": "schedkit._by_name",
    "hookimpl": "schedkit.hookspecs",
    "HorizonWarning": "schedkit.errors",
    "load_setup": "schedkit.setup",
    "loads_setup": "schedkit.setup",
    "LRFinderResult": "schedkit.lr_finder",
    "Monitor": "schedkit.monitor",
    "parameter_names": "schedkit.groups",
    "parameter_owners": "schedkit.groups",
    "ParamGroups": "schedkit.groups",
    "ParamInfo": "schedkit.values",
    "ParamRule": "schedkit.protocols",
    "plugin_errors": "schedkit.registry",
    "PluginImportError": "schedkit.errors",
    "register": "schedkit.registry",
    "registered": "schedkit.registry",
    "Registrar": "schedkit._registrar",
    "Registry": "schedkit.registry",
    "Replan": "schedkit._scheduling.state",
    "resolve": "schedkit.schedule",
    "RuleEffect": "schedkit.values",
    "Scale": "schedkit.compose",
    "scale": "schedkit.compose",
    "SchedkitError": "schedkit.errors",
    "SchedkitWarning": "schedkit.errors",
    "Schedule": "schedkit.protocols",
    "schedule": "schedkit.schedule",
    "Scheduler": "schedkit.scheduler",
    "schedules": "schedkit.schedule",
    "Sequence": "schedkit.compose",
    "sequence": "schedkit.compose",
    "Setup": "schedkit.setup",
    "SetupError": "schedkit.setup",
    "SparseGradientError": "schedkit.clipping",
    "SpecError": "schedkit.errors",
    "StateError": "schedkit.errors",
    "Stateful": "schedkit.protocols",
    "StatefulSchedule": "schedkit.protocols",
    "Stretch": "schedkit.compose",
    "stretch": "schedkit.compose",
    "to_steps": "schedkit.durations",
    "trainable_parameters": "schedkit.groups",
    "UnknownNameError": "schedkit.errors",
    "UnplacedParameter": "schedkit.groups",
    "Unresolved": "schedkit.schedule",
    "Warmup": "schedkit.compose",
    "warmup": "schedkit.compose",
}

#: Imported at once: small, and two of their names (``schedule``, ``durations``) are also
#: the names of modules, which an import of the module would otherwise bind here. The rest
#: is imported when first used, so ``import schedkit`` stays cheap next to ``import torch``:
#: a script that only schedules never loads TOML setups or clippers.
_EAGER = ("schedkit._classes", "schedkit.durations", "schedkit.errors", "schedkit.schedule")

__version__ = "0.1.0"

__all__ = [*_EXPORTS, "__version__"]

_getattr, __dir__ = _lazy.exports("schedkit", _EXPORTS, globals(), __all__)


def __getattr__(name: str) -> _typing.Any:
    if name == "Record":  # deprecated (components are attrs classes), so left out of dir()
        from schedkit._classes import Record

        return Record
    return _getattr(name)
