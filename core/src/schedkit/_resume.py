"""The default of :meth:`schedkit.hooks.ScheduleHooks.resumed`: a schedule with nested
schedules hands the resume to each of its parts (without importing the hooks: they import
this module when a resume asks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from schedkit._classes import fields
from schedkit._fields import _meta

#: ``(part, previous part) -> the part resumed``
PartResume = Callable[[Any, Any], Any]


def resumed_parts(
    schedule: Any, step: int, previous: Any, resume: Callable[[Any, int, Any], Any]
) -> Any:
    """``schedule`` with each nested schedule (``schedule()`` / ``schedules()`` fields)
    resumed at ``step`` by ``resume(part, step, previous_part)``, paired with the same part
    of ``previous`` when that is of the same family; a schedule without parts as it is."""
    if not attrs.has(type(schedule)):
        return schedule
    return resume_parts(schedule, lambda part, before: resume(part, step, before), previous)


def resume_parts(schedule: Any, resume: PartResume, previous: Any) -> Any:
    """``schedule`` with ``resume(part, previous_part)`` applied to each nested schedule
    (``previous_part`` is None unless ``previous`` is of the same family)."""
    same = type(previous) is type(schedule)
    changes: dict[str, Any] = {}
    for f in fields(type(schedule)):
        meta = _meta(f)
        if not (f.init and meta.get("schedule")):
            continue
        value = getattr(schedule, f.name)
        before = getattr(previous, f.name) if same else None
        if meta.get("many"):
            olds = before if before is not None and len(before) == len(value) else None
            parts = tuple(resume(v, None if olds is None else olds[i]) for i, v in enumerate(value))
            if any(a is not b for a, b in zip(parts, value, strict=True)):
                changes[f.name] = parts
        else:
            part = resume(value, before)
            if part is not value:
                changes[f.name] = part
    return attrs.evolve(schedule, **changes) if changes else schedule
