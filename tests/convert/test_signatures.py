"""Every mmengine and DeepSpeed alias takes its original's parameters: the same names, the
same defaults, the same positional order (the comparison of ``tests/support/alias_signatures.py``;
the other peers' aliases in ``tests/plugins/compat/test_signatures.py``).

mmengine's ``*LR`` and ``*Momentum`` classes take their parameters through
``*ParamScheduler`` (the mixins pass them on), so those are read. A deliberate difference
is listed in :data:`DELIBERATE` with its reason.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schedkit.registry import default_registry
from tests.support.alias_signatures import Param, divergences, facts, from_signature, of_alias

# imported when collected: importing DeepSpeed warns, which a test run turns into errors
lr_schedules = pytest.importorskip("deepspeed.runtime.lr_schedules")
mm_schedulers = pytest.importorskip("mmengine.optim.scheduler")

Original = Callable[[], tuple[Param, ...]]
P = Param


def _deepspeed(name: str) -> Original:
    def read() -> tuple[Param, ...]:
        return from_signature(
            getattr(lr_schedules, name), ("self", "optimizer", "last_batch_iteration")
        )

    return read


def _mmengine(name: str) -> Original:
    """mmengine's ``XLR`` / ``XMomentum``: the parameters of its ``XParamScheduler``."""
    base = name.removesuffix("LR").removesuffix("Momentum")

    def read() -> tuple[Param, ...]:
        cls = getattr(mm_schedulers, f"{base}ParamScheduler")
        return from_signature(cls, ("self", "optimizer", "param_name"))

    return read


MMENGINE = [
    f"{family}{kind}"
    for family in (
        "Constant",
        "CosineAnnealing",
        "CosineRestart",
        "Exponential",
        "Linear",
        "MultiStep",
        "Poly",
        "ReduceOnPlateau",
        "Step",
    )
    for kind in ("LR", "Momentum")
] + ["OneCycleLR"]

#: every alias and its original
ORIGINALS: dict[str, Original] = {
    **{
        f"deepspeed.{n}": _deepspeed(n)
        for n in ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle", "LRRangeTest")
    },
    **{f"mmengine.{n}": _mmengine(n) for n in MMENGINE},
    # a config's param_scheduler list: the runner builds each scheduler in it
    "mmengine.param_scheduler": lambda: facts("schedulers"),
    # DefaultOptimWrapperConstructor's paramwise_cfg keys (a dict: no positions)
    "mmengine.paramwise": lambda: facts(
        P("custom_keys", {}),
        P("bias_lr_mult", None),
        P("bias_decay_mult", None),
        P("norm_decay_mult", None),
        P("dwconv_decay_mult", None),
        P("flat_decay_mult", None),
        P("dcn_offset_lr_mult", None),
        P("bypass_duplicate", False),
        keyword_only=True,
    ),
}

_RUNNER = {
    "convert_to_iter_based": "a key of mmengine's config that the runner reads "
    "(build_iter_from_epoch), not a constructor argument",
    "steps_per_epoch": "the runner's epoch length, which mmengine passes to build_iter_from_epoch",
}

#: deliberate differences, each with its reason (docs/migrating.md lists them too)
DELIBERATE: dict[str, dict[str, str]] = {
    **{f"mmengine.{n}": _RUNNER for n in MMENGINE},
    "mmengine.param_scheduler": {"steps_per_epoch": _RUNNER["steps_per_epoch"]},
    "mmengine.paramwise": {
        "dcn_offset_lr_mult": "the offsets of mmcv's deformable convolutions, which only mmcv "
        "defines (the converter refuses a config that sets it, saying so)"
    },
}


def _registered() -> dict[str, type]:
    return {
        info.name: info.cls
        for info in default_registry().components()
        if info.plugin in ("mmengine", "deepspeed")
    }


def test_every_alias_is_compared_with_its_original() -> None:
    assert sorted(_registered()) == sorted(ORIGINALS)


@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_alias_takes_the_originals_parameters(name: str) -> None:
    cls = _registered()[name]
    found = divergences(of_alias(cls), ORIGINALS[name](), deliberate=DELIBERATE.get(name, ()))
    assert found == []


def test_deepspeed_warmup_decay_takes_total_num_steps_first() -> None:
    """``WarmupDecayLR(opt, 1000)`` is DeepSpeed's run of 1000 steps."""
    cls = _registered()["deepspeed.WarmupDecayLR"]
    sched = cls(1000, 0.0, 0.01, 10)
    assert (sched.total_num_steps, sched.warmup_max_lr, sched.warmup_num_steps) == (1000, 0.01, 10)
