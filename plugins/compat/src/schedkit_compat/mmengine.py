"""``mmengine.*``: mmengine's parameter schedulers (``mmengine.optim.scheduler``).

Each alias takes the arguments of its mmengine class in its order (``begin``, ``end``,
``last_step``, ``by_epoch``, ``verbose``), then ``convert_to_iter_based`` and
``steps_per_epoch`` by keyword, and computes mmengine's floats: mmengine updates the
value from the one before (its chainable form), and so do the aliases, for every param
group. Two aliases on one optimizer compose as mmengine's schedulers do, each updating
the value the other wrote. ``mmengine.param_scheduler`` composes a ``param_scheduler``
list as mmengine does: every scheduler acts on ``[begin, end)`` of its own count, each
updating the value the ones before it wrote, in list order, so schedulers active at once
multiply. The scheduler of an alias has mmengine's ``get_last_value()``, ``last_step``
and attributes (``T_max``, ``milestones``...).

Steps: with ``steps_per_epoch`` (on the list or the alias), a schedkit step is one
training iteration, as mmengine's runner counts them: the iteration-based schedulers
(``by_epoch = false``, or converted with ``convert_to_iter_based``) step after every
iteration, the epoch-based ones after every ``steps_per_epoch`` iterations (after the
iteration-based ones). Without it, every scheduler steps at every schedkit step, as
calling each mmengine scheduler's ``step()`` yourself does. Building applies each
scheduler's first step in list order, as constructing them does.

mmengine's schedulers have no closed form, and the aliases keep its floats: a value is
replayed from the last one computed, one update per step forward (stepping is never
refused, however long the run). The replay skips the steps where no scheduler can change
the value (outside every range, between milestones and step sizes, after a scheduler's
last change, at a fixed point such as 0.0 under a decay), so a jump costs one update per
step where some value changes; one call replays at most :data:`MAX_REPLAY` (a million,
about a second) and refuses farther with an error saying so. A scheduler's state carries
each group's value, so resuming at any step replays nothing, as mmengine resumes from
the optimizer's restored values.

Momentum schedulers (``LinearMomentum``...) schedule ``momentum``, or ``betas[0]`` of the
Adam family, as mmengine picks it from the optimizer (a scheduler given another key
refuses it). ``ReduceOnPlateauLR`` and
``ReduceOnPlateauMomentum`` observe a validation metric (``scheduler.step(metric)``), alone
or in a list (:mod:`schedkit_compat.mmengine_plateau`). ``OneCycleLR`` sets the groups'
``initial_lr`` to ``eta_max / div_factor`` as mmengine does; schedulers after it in the
list start from that value.
"""

from __future__ import annotations

from typing import Any

import schedkit
from schedkit_compat.mmengine_plateau import PLATEAU, add_schedules
from schedkit_compat.mmengine_schedulers import (
    INF,
    MAX_REPLAY,
    MOMENTUM,
    SCHEDULES,
    ConstantLR,
    ConstantMomentum,
    CosineAnnealingLR,
    CosineAnnealingMomentum,
    CosineRestartLR,
    CosineRestartMomentum,
    ExponentialLR,
    ExponentialMomentum,
    LinearLR,
    LinearMomentum,
    MMEngineStepping,
    Momentum,
    MultiStepLR,
    MultiStepMomentum,
    OneCycleLR,
    ParamSchedulerList,
    Paramwise,
    Part,
    PolyLR,
    PolyMomentum,
    StepLR,
    StepMomentum,
)

__all__ = [
    "ConstantLR",
    "ConstantMomentum",
    "CosineAnnealingLR",
    "CosineAnnealingMomentum",
    "CosineRestartLR",
    "CosineRestartMomentum",
    "ExponentialLR",
    "ExponentialMomentum",
    "INF",
    "LinearLR",
    "LinearMomentum",
    "MAX_REPLAY",
    "MMEngineStepping",
    "Momentum",
    "MOMENTUM",
    "MultiStepLR",
    "MultiStepMomentum",
    "OneCycleLR",
    "ParamSchedulerList",
    "Paramwise",
    "Part",
    "PLATEAU",
    "PolyLR",
    "PolyMomentum",
    "SCHEDULES",
    "StepLR",
    "StepMomentum",
]


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        Paramwise,
        examples=[
            {"norm_decay_mult": 0.0, "bias_decay_mult": 0.0},
            {"custom_keys": {"backbone": {"lr_mult": 0.1}, ".cls_token": {"decay_mult": 0.0}}},
        ],
    )


#: the examples of each scheduler (the momentum schedulers take their lr twin's)
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "StepLR": [{"step_size": 3}, {"step_size": 2, "gamma": 0.5, "end": 9}],
    "MultiStepLR": [{"milestones": [3, 6]}, {"milestones": [2, 2, 5]}],
    "ConstantLR": [{"end": 5}, {"factor": 0.5, "begin": 2, "end": 6}],
    "LinearLR": [{"end": 5}, {"start_factor": 0.1, "begin": 0, "end": 8}],
    "ExponentialLR": [{"gamma": 0.9}],
    "PolyLR": [{"end": 20}, {"eta_min": 0.001, "power": 2.0, "end": 10}],
    "CosineAnnealingLR": [{"end": 20}, {"T_max": 7, "eta_min_ratio": 0.1}],
    "CosineRestartLR": [
        {"periods": [5, 10], "restart_weights": [1.0, 0.5], "eta_min": 0.0},
        {"periods": [8], "eta_min_ratio": 0.1},
    ],
    "OneCycleLR": [
        {"eta_max": 0.1, "total_steps": 20},
        {"eta_max": 0.1, "end": 30, "three_phase": True, "anneal_strategy": "linear"},
    ],
}


@schedkit.hookimpl
def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
    for name, cls in SCHEDULES.items():
        registry.add(cls, examples=EXAMPLES[name])
    for name, cls in MOMENTUM.items():
        registry.add(cls, examples=EXAMPLES[name.replace("Momentum", "LR")])
    # ReduceOnPlateau* and the list (which observes the metric when it holds one)
    add_schedules(
        registry,
        examples=[
            {
                "schedulers": [
                    {"type": "mmengine.LinearLR", "start_factor": 0.1, "end": 5},
                    {"type": "mmengine.CosineAnnealingLR", "begin": 5, "end": 30},
                ]
            },
            {
                "steps_per_epoch": 4,
                "schedulers": [
                    {"type": "mmengine.LinearLR", "start_factor": 0.1, "by_epoch": False, "end": 6},
                    {"type": "mmengine.MultiStepLR", "milestones": [3, 5], "end": 8},
                ],
            },
        ],
    )
