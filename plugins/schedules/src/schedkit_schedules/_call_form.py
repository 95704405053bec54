"""transformers' call form of the native families, without importing its families.

``cosine``, ``linear``, ``constant``... answer transformers' ``get_scheduler(name,
optimizer, num_warmup_steps=..., num_training_steps=...)`` through ``from_transformers``.
The translation lives in :mod:`schedkit_schedules.transformers`, beside transformers' own
formulas; it is imported on the first such call, so that a look-up of ``cosine`` does not
build transformers' five families (start-up time).
"""

from __future__ import annotations

from typing import Any


def _call_form(cls: type, /, *args: Any, **kwargs: Any) -> Any:
    from schedkit_schedules.transformers import call_form

    return call_form(cls, *args, **kwargs)


#: Set as ``from_transformers`` on the families whose names transformers uses.
transformers_call_form: Any = classmethod(_call_form)
