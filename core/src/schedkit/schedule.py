"""Schedules: the field helpers families are declared with (:mod:`schedkit._fields`), their
base class (:mod:`schedkit._base`) and building them from specs (:mod:`schedkit._building`),
gathered for the modules above them (the scheduler, setups, the commands).
"""

from __future__ import annotations

from schedkit._base import BaseSchedule, S
from schedkit._building import (
    _build,
    _check_keys,
    _nested,
    _resolve,
    get_schedule,
    per_update,
    resolve,
)
from schedkit._fields import (
    WARMUP_KEYS,
    Unresolved,
    _fields_of,
    _join,
    _meta,
    _to_schedule,
    attrs_spec,
    choice,
    duration,
    durations,
    factor,
    plain,
    record_spec,
    schedule,
    schedules,
)

__all__ = [
    "WARMUP_KEYS",
    "BaseSchedule",
    "S",
    "Unresolved",
    "_build",
    "_check_keys",
    "_fields_of",
    "_join",
    "_meta",
    "_nested",
    "_resolve",
    "_to_schedule",
    "attrs_spec",
    "choice",
    "duration",
    "durations",
    "factor",
    "get_schedule",
    "per_update",
    "plain",
    "record_spec",
    "resolve",
    "schedule",
    "schedules",
]

# the public functions read as this module's (reprs, tracebacks), as before the split; the
# classes keep their own modules, where inspect finds their source
for _public in (get_schedule, resolve, per_update):
    _public.__module__ = __name__
del _public
