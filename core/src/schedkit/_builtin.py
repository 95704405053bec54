"""Core's own plugin: the composites, registered like any family so specs can name them."""

from __future__ import annotations

from schedkit.compose import Chain, Scale, Sequence, Stretch, Warmup
from schedkit.hookspecs import hookimpl
from schedkit.registry import Registrar

_C = {"type": "constant"}
_COS = {"type": "cosine", "total": 100}
_MAIN = {"type": "cosine", "total": 100, "end": 0.05}


@hookimpl
def schedkit_add_schedules(registry: Registrar) -> None:
    registry.add(
        Warmup,
        examples=[
            {"schedule": _COS, "steps": 10},
            {"schedule": _COS, "steps": 20, "start": 0.1, "kind": "cosine", "mode": "overlay"},
            # one main curve under each mode: the plot in the docs shows how they differ
            {"mode": "shift", "schedule": _MAIN, "steps": 30, "start": 0.1},
            {"mode": "overlay", "schedule": _MAIN, "steps": 30, "start": 0.1},
            {"mode": "replace", "schedule": _MAIN, "steps": 30, "start": 0.1},
            {"mode": "bridge", "schedule": _MAIN, "steps": 30, "start": 0.1},
        ],
    )
    registry.add(Sequence, examples=[{"schedules": [_C, _COS], "milestones": [10]}])
    registry.add(Chain, examples=[{"schedules": [_COS, {"type": "linear", "total": 50}]}])
    registry.add(Scale, examples=[{"schedule": _COS, "factor": 0.5}])
    registry.add(Stretch, examples=[{"schedule": _COS, "factor": 2.5}])
