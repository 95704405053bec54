"""Every alias takes its original's parameters: the same names, the same defaults, the same
positional order where the original takes positionals (torch, transformers, timm,
detectron2, Cerebras, mmpretrain, the transformers Trainer; mmengine and DeepSpeed in
``tests/convert/test_signatures.py``).

An original is read from the installed peer; Cerebras' classes (not installable) and
detectron2's ``SOLVER`` keys (the detectron2 aliases take its config, detectron2 is not on
the package index) are written down as facts. A deliberate difference is listed in
:data:`DELIBERATE` with its reason (and in docs/migrating.md).
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

import schedkit
from schedkit.registry import default_registry
from tests.support.alias_signatures import (
    REQUIRED,
    Param,
    divergences,
    facts,
    from_signature,
    of_alias,
)

Original = Callable[[], tuple[Param, ...]]


def _torch(name: str) -> Original:
    return lambda: from_signature(getattr(torch.optim.lr_scheduler, name))


def _transformers(name: str) -> Original:
    def read() -> tuple[Param, ...]:
        optimization = importlib.import_module("transformers.optimization")
        return from_signature(getattr(optimization, name))

    return read


def _timm(
    module: str, name: str, skip: tuple[str, ...] = (), *, by_keyword: bool = False
) -> Original:
    """timm's ``module.name``; ``by_keyword``: its positions do not carry over (a function
    on the model or the parameters, where the alias is a rule or clipper built by keyword)."""

    def read() -> tuple[Param, ...]:
        from tests.support.timm_peer import timm

        # timm's modules as the other timm tests load them: whichever test of this worker
        # comes first, timm's package is then either the real one or the same stand-in
        peer = timm()
        loaded = {
            "timm.scheduler": peer.scheduler,
            "timm.utils.agc": peer.agc,
            "timm.optim._param_groups": peer.param_groups,
        }
        fn = getattr(loaded[module], name)
        params = from_signature(fn, ("self", "optimizer", "initialize", *skip))
        return facts(*params, keyword_only=True) if by_keyword else params

    return read


def _facts(*params: Param | str, keyword_only: bool = False) -> Original:
    return lambda: facts(*params, keyword_only=keyword_only)


P = Param
TAGS = P("param_group_tags", None)

#: detectron2's SOLVER defaults (detectron2/config/defaults.py), keys in lower case: the
#: detectron2 schedules take its configuration, which has no positions
WARMUP = (
    P("max_iter", 40000),
    P("warmup_factor", 1.0 / 1000),
    P("warmup_iters", 1000),
    P("warmup_method", "linear"),
    P("rescale_interval", False),
)

#: every alias and its original
ORIGINALS: dict[str, Original] = {
    # torch.optim.lr_scheduler
    **{
        f"torch.{n}": _torch(n)
        for n in (
            "StepLR",
            "MultiStepLR",
            "ConstantLR",
            "LinearLR",
            "ExponentialLR",
            "PolynomialLR",
            "CosineAnnealingLR",
            "CosineAnnealingWarmRestarts",
            "CyclicLR",
            "OneCycleLR",
            "ReduceLROnPlateau",
            "LambdaLR",
            "MultiplicativeLR",
            "SequentialLR",
            "ChainedScheduler",
        )
    },
    # transformers' own formulas (the call form is checked below)
    "transformers.polynomial": _transformers("get_polynomial_decay_schedule_with_warmup"),
    "transformers.cosine_with_restarts": _transformers(
        "get_cosine_with_hard_restarts_schedule_with_warmup"
    ),
    "transformers.cosine_warmup_with_min_lr": _transformers(
        "get_cosine_with_min_lr_schedule_with_warmup_lr_rate"
    ),
    "transformers.warmup_stable_decay": _transformers("get_wsd_schedule"),
    "transformers.greedy": _transformers("GreedyLR"),
    "hf_trainer.no_decay": _facts(),  # Trainer.get_decay_parameter_names takes the model only
    # timm
    "timm.cosine": _timm("timm.scheduler", "CosineLRScheduler"),
    "timm.tanh": _timm("timm.scheduler", "TanhLRScheduler"),
    "timm.step": _timm("timm.scheduler", "StepLRScheduler"),
    "timm.multistep": _timm("timm.scheduler", "MultiStepLRScheduler"),
    "timm.poly": _timm("timm.scheduler", "PolyLRScheduler"),
    "timm.plateau": _timm("timm.scheduler", "PlateauLRScheduler"),
    "timm.layer_decay": _timm(
        "timm.optim._param_groups",
        "param_groups_layer_decay",
        ("model", "verbose"),
        by_keyword=True,
    ),
    "timm.agc": _timm("timm.utils.agc", "adaptive_clip_grad", ("parameters",), by_keyword=True),
    # detectron2: its SOLVER keys, and get_default_optimizer_params
    "detectron2.WarmupMultiStepLR": _facts(
        *WARMUP, P("steps", (30000,)), P("gamma", 0.1), keyword_only=True
    ),
    "detectron2.WarmupCosineLR": _facts(
        *WARMUP, P("base_lr", 0.001), P("base_lr_end", 0.0), keyword_only=True
    ),
    "detectron2.WarmupStepWithFixedGammaLR": _facts(
        *WARMUP, P("gamma", 0.1), P("num_decays", 3), keyword_only=True
    ),
    "detectron2.default": _facts(
        P("base_lr", None),
        P("weight_decay", None),
        P("weight_decay_norm", None),
        P("bias_lr_factor", 1.0),
        P("weight_decay_bias", None),
        P("lr_factor_func", None),
        P("overrides", None),
    ),
    "detectron2.value": _facts(P("clip_value", 1.0), keyword_only=True),
    "detectron2.norm": _facts(P("clip_value", 1.0), P("norm_type", 2.0), keyword_only=True),
    # mmpretrain: the paramwise_cfg keys of LearningRateDecayOptimWrapperConstructor
    "mmpretrain.layer_decay": _facts(
        P("layer_decay_rate", 1.0),
        P("bias_decay_mult", None),
        P("norm_decay_mult", None),
        P("flat_decay_mult", None),
        P("custom_keys", {}),
        keyword_only=True,
    ),
    # Cerebras' LR scheduler classes (the seed's signatures), after the optimizer
    "cerebras.ConstantLR": _facts("learning_rate", P("total_iters", None), TAGS),
    "cerebras.PolynomialLR": _facts(
        "initial_learning_rate",
        "end_learning_rate",
        "total_iters",
        P("power", 1.0),
        P("cycle", False),
        TAGS,
    ),
    "cerebras.LinearLR": _facts(
        "initial_learning_rate", "end_learning_rate", "total_iters", P("cycle", False), TAGS
    ),
    "cerebras.ExponentialLR": _facts(
        "initial_learning_rate", "total_iters", "decay_rate", P("staircase", False), TAGS
    ),
    "cerebras.InverseExponentialTimeDecayLR": _facts(
        "initial_learning_rate",
        "step_exponent",
        "total_iters",
        "decay_rate",
        P("staircase", False),
        TAGS,
    ),
    "cerebras.InverseSquareRootDecayLR": _facts(
        P("initial_learning_rate", 1.0), P("scale", 1.0), P("warmup_steps", 1.0), TAGS
    ),
    "cerebras.CosineDecayLR": _facts(
        "initial_learning_rate", "end_learning_rate", "total_iters", TAGS
    ),
    "cerebras.SequentialLR": _facts("schedulers", "milestones", TAGS),
    "cerebras.PiecewiseConstantLR": _facts("learning_rates", "milestones", TAGS),
    "cerebras.MultiStepLR": _facts("initial_learning_rate", "gamma", "milestones", TAGS),
    "cerebras.StepLR": _facts("initial_learning_rate", "step_size", "gamma", TAGS),
    "cerebras.CosineAnnealingLR": _facts("initial_learning_rate", "T_max", P("eta_min", 0.0), TAGS),
    "cerebras.LambdaLR": _facts("initial_learning_rate", TAGS),
    "cerebras.CosineAnnealingWarmRestarts": _facts(
        "initial_learning_rate", "T_0", P("T_mult", 1), P("eta_min", 0.0), TAGS
    ),
    "cerebras.MultiplicativeLR": _facts("initial_learning_rate", "coefficient", TAGS),
    "cerebras.ChainedScheduler": _facts("schedulers", TAGS),
    "cerebras.CyclicLR": _facts(
        "base_lr",
        "max_lr",
        P("step_size_up", 2000),
        P("step_size_down", None),
        P("mode", "triangular"),
        P("gamma", 1.0),
        P("scale_mode", "cycle"),
        TAGS,
    ),
    "cerebras.OneCycleLR": _facts(
        "initial_learning_rate",
        "max_lr",
        P("total_steps", 1000),
        P("pct_start", 0.3),
        P("final_div_factor", 1e4),
        P("three_phase", False),
        P("anneal_strategy", "cos"),
        TAGS,
    ),
    "cerebras.ScalePerParamLR": _facts("scheduler", TAGS),
}

#: schedkit's own options of every clipper (no peer has them), keyword-only
CLIPPER_OPTIONS = {
    "nonfinite": "schedkit's handling of a non-finite norm, keyword-only (no peer has it)",
    "schedule": "schedkit's schedule of the threshold, keyword-only (no peer has it)",
}
CEREBRAS_TAGS = {
    "param_group_tags": "keyword-only: every Cerebras alias shares it, ahead of its own "
    "parameters (Cerebras takes it last, where no one passes it by position)"
}

#: deliberate differences, each with its reason (docs/migrating.md lists them too)
DELIBERATE: dict[str, dict[str, str]] = {
    "torch.OneCycleLR": {
        "total_steps": "required unless epochs is given (torch's None, then refused "
        "without epochs and steps_per_epoch, as the alias refuses it)",
        "epochs": "taken by keyword, as total_steps in epochs",
        "steps_per_epoch": "taken by keyword, the scheduler's own option",
    },
    "transformers.polynomial": {
        "lr_init": "the optimizer's default lr, which transformers reads from the optimizer; "
        "keyword-only, after transformers' own parameters",
    },
    "transformers.cosine_warmup_with_min_lr": {
        "min_lr": "absolute: the call form turns it into min_lr_rate against the "
        "optimizer's default lr, as transformers does",
        "min_lr_rate": "the rate itself (0.0 when the call form is not used); transformers' "
        "None asks for min_lr instead, and the call form refuses neither, as transformers",
    },
    "transformers.greedy": {
        "warmup": "named increase_cooldown: warmup is schedkit's warmup of every schedule; "
        "the call form takes transformers' warmup",
        "increase_cooldown": "transformers' warmup (see warmup)",
    },
    **{
        f"timm.{name}": {
            "updates_per_epoch": "schedkit's: with t_in_epochs, how many updates an epoch "
            "holds, so a scheduler stepped per update holds each epoch's value"
        }
        for name in ("cosine", "tanh", "poly", "step", "multistep")
    },
    "timm.layer_decay": {
        "weight_decay": "the optimizer's weight decay (the rule scales it per group)",
        "fallback_list": "not taken (timm's fallback for models without a group matcher)",
        "fallback_no_weight_decay": "not taken (see fallback_list)",
        "no_opt_scale": "not taken (timm's frozen-layer scale)",
    },
    "timm.agc": {**CLIPPER_OPTIONS, "exclude": "schedkit's parameter names left unclipped"},
    "detectron2.WarmupCosineLR": {
        "base_lr": "the optimizer's lr when not given (SOLVER.BASE_LR is the optimizer's lr "
        "in detectron2's build_optimizer); taken by keyword with base_lr_end",
        "base_lr_end": "taken by keyword, turned into end_value = base_lr_end / base_lr",
        "end_value": "the ratio detectron2 computes from base_lr_end and base_lr",
    },
    "detectron2.default": {
        "base_lr": "the optimizer's lr: a rule scales each group's, it sets no absolute lr",
        "weight_decay": "the optimizer's weight decay (see base_lr)",
        "overrides": "an empty table where detectron2 takes None (the same: no override)",
    },
    "detectron2.value": CLIPPER_OPTIONS,
    "detectron2.norm": CLIPPER_OPTIONS,
    "cerebras.LambdaLR": {
        **CEREBRAS_TAGS,
        "lr_lambda": "Cerebras' class is subclassed for its function; the alias takes it, "
        "as torch's LambdaLR does",
    },
    **{
        name: CEREBRAS_TAGS
        for name in (
            "cerebras.ConstantLR",
            "cerebras.PolynomialLR",
            "cerebras.LinearLR",
            "cerebras.ExponentialLR",
            "cerebras.InverseExponentialTimeDecayLR",
            "cerebras.InverseSquareRootDecayLR",
            "cerebras.CosineDecayLR",
            "cerebras.SequentialLR",
            "cerebras.PiecewiseConstantLR",
            "cerebras.MultiStepLR",
            "cerebras.StepLR",
            "cerebras.CosineAnnealingLR",
            "cerebras.CosineAnnealingWarmRestarts",
            "cerebras.MultiplicativeLR",
            "cerebras.ChainedScheduler",
            "cerebras.CyclicLR",
            "cerebras.OneCycleLR",
            "cerebras.ScalePerParamLR",
        )
    },
}


PLUGINS = ("torch", "transformers", "hf_trainer", "timm", "detectron2", "mmpretrain", "cerebras")


def _registered() -> dict[str, type]:
    return {
        info.name: info.cls
        for info in default_registry().components()
        if info.plugin in PLUGINS and "." in info.name
    }


def test_every_alias_is_compared_with_its_original() -> None:
    assert sorted(_registered()) == sorted(ORIGINALS)


@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_alias_takes_the_originals_parameters(name: str) -> None:
    cls = _registered()[name]
    found = divergences(of_alias(cls), ORIGINALS[name](), deliberate=DELIBERATE.get(name, ()))
    assert found == []


@pytest.mark.parametrize("name", sorted(DELIBERATE))
def test_each_deliberate_difference_is_one(name: str) -> None:
    """A listed difference that is no longer one is taken off the list."""
    cls = _registered()[name]
    found = " ".join(divergences(of_alias(cls), ORIGINALS[name]()))
    for param in DELIBERATE[name]:
        assert repr(param) in found, f"{name}: {param!r} no longer differs"


# -- positions: the alias class called as the peer's users call the original ------------


def test_positional_arguments_land_where_torchs_do() -> None:
    cls = _registered()["torch.ReduceLROnPlateau"]
    sched = cls("max", 0.5, 3, 1e-3, "abs", 2, 0.01, 1e-6)
    assert (sched.min_lr, sched.eps) == (0.01, 1e-6)


def test_positional_arguments_land_where_transformers_does() -> None:
    reg = _registered()
    poly = reg["transformers.polynomial"](10, 100, 1e-6, 2.0, lr_init=1e-3)
    assert (poly.lr_end, poly.power) == (1e-6, 2.0)
    cos = reg["transformers.cosine_warmup_with_min_lr"](10, 100, 1.5)
    assert (cos.num_cycles, cos.min_lr_rate) == (1.5, 0.0)
    wsd = reg["transformers.warmup_stable_decay"](10, 30, 100)
    assert (wsd.num_decay_steps, wsd.num_training_steps, wsd.stable) == (30, 100, 60)
    greedy = reg["transformers.greedy"]("min", 0.5, 2, 1e-4, "rel", 1, 3, 1e-4, 2.0, 1e-9, True)
    assert (greedy.verbose, greedy.smooth) == (True, False)


def test_detectron2_takes_its_config_defaults() -> None:
    sched = schedkit.get_schedule("detectron2.WarmupMultiStepLR")
    assert (sched.max_iter, sched.steps, sched.warmup_iters) == (40000, (30000,), 1000)
    assert schedkit.get_clipper("detectron2.value").clip_value == 1.0
    assert schedkit.get_clipper("detectron2.norm").max_norm == 1.0


# -- transformers' call form ----------------------------------------------------------


def test_get_scheduler_takes_transformers_call_form_in_its_order() -> None:
    transformers_get = _transformers("get_scheduler")()
    ours = from_signature(schedkit.get_scheduler)[: len(transformers_get)]
    assert divergences(ours, transformers_get) == []


def _call_form_defaults() -> list[tuple[str, str, Any]]:
    """(name, parameter, transformers' default) for every scheduler-specific keyword of
    transformers' schedules that has a default other than None."""
    optimization = importlib.import_module("transformers.optimization")
    out = []
    for kind, fn in optimization.TYPE_TO_SCHEDULER_FUNCTION.items():
        for p in inspect.signature(fn).parameters.values():
            if p.name in ("optimizer", "num_warmup_steps", "num_training_steps", "last_epoch"):
                continue
            if p.default is not p.empty and p.default is not None:
                out.append((kind.value, p.name, p.default))
    return out


@pytest.mark.parametrize(("name", "param", "default"), _call_form_defaults())
def test_call_form_defaults_are_transformers(name: str, param: str, default: Any) -> None:
    """Given transformers' default explicitly, the call form builds the same schedule."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    extra = {"num_decay_steps": 20} if name == "warmup_stable_decay" else {}
    if name == "cosine_warmup_with_min_lr" or name == "cosine_with_min_lr":
        extra = {"min_lr_rate": 0.1}
    implicit = schedkit.get_scheduler(name, opt, 10, 100, extra).schedule
    explicit = schedkit.get_scheduler(name, opt, 10, 100, {**extra, param: default}).schedule
    steps = range(0, 120, 7)
    assert [implicit(s) for s in steps] == [explicit(s) for s in steps]
    assert not any(math.isnan(implicit(s)) for s in steps)
    assert REQUIRED is not default
