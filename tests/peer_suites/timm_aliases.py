"""timm's scheduler classes as the ``timm.*`` aliases, for timm's own test file
(``pytest -p tests.peer_suites.timm_aliases``)."""

from __future__ import annotations

from tests.peer_suites.shims import install, scheduler_alias

CLASSES = {
    "CosineLRScheduler": "timm.cosine",
    "TanhLRScheduler": "timm.tanh",
    "StepLRScheduler": "timm.step",
    "MultiStepLRScheduler": "timm.multistep",
    "PolyLRScheduler": "timm.poly",
    "PlateauLRScheduler": "timm.plateau",
}

install(
    {
        "timm.scheduler": {peer: scheduler_alias(alias, peer) for peer, alias in CLASSES.items()},
    }
)
