"""Real recipes of the peers, trained both ways: with the peer's own functions, and from a
schedkit setup (native names, and the drop-in aliases).

Each recipe trains a small model 200 steps in float64 on batches drawn from the step number,
recording every parameter's lr and weight decay at every step and the final parameters.
The setups here are the ones docs/migrating.md shows (a test checks the page against them).

``python -m tests.peers.recipes RECIPE VARIANT STATE OUT`` resumes a setup run from STATE
(written halfway by :func:`run_setup`) in a fresh process and saves the rest of its record
in OUT.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import schedkit

STEPS = 200
HALF = STEPS // 2


@dataclass
class Record:
    """Per step: each parameter's lr and weight decay (model order); the final parameters."""

    lr: list[list[float]] = field(default_factory=list)
    weight_decay: list[list[float]] = field(default_factory=list)
    params: list[torch.Tensor] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        return {"lr": self.lr, "weight_decay": self.weight_decay, "params": self.params}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Record:
        return cls(data["lr"], data["weight_decay"], data["params"])


def _observe(record: Record, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    groups = [group_of[id(p)] for p in model.parameters()]
    record.lr.append([float(g["lr"]) for g in groups])
    record.weight_decay.append([float(g["weight_decay"]) for g in groups])


def _finish(record: Record, model: torch.nn.Module) -> Record:
    record.params = [p.detach().clone() for p in model.parameters()]
    return record


# -- the recipes ----------------------------------------------------------------------


@dataclass
class Recipe:
    """A model, its batches and loss, the peer's training loop, and the setups."""

    name: str
    model: Callable[[], torch.nn.Module]
    batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]]
    peer: Callable[[torch.nn.Module, Callable[[torch.nn.Module, int], torch.Tensor]], Record]
    setups: dict[str, str]

    def loss(self, model: torch.nn.Module, step: int) -> torch.Tensor:
        x, y = self.batch(step)
        return torch.nn.functional.cross_entropy(model(x), y)


def _batch(shape: tuple[int, ...], classes: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(10_000 + step)
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        return x, torch.randint(0, classes, (shape[0],), generator=g)

    return batch


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16),
        torch.nn.LayerNorm(16),
        torch.nn.GELU(),
        torch.nn.Linear(16, 16),
        torch.nn.LayerNorm(16),
        torch.nn.GELU(),
        torch.nn.Linear(16, 3),
    ).double()


# timm: ViT fine-tuning (train.py with --layer-decay, --sched cosine, --clip-grad) -------

TIMM_LR, TIMM_WD, TIMM_DECAY, TIMM_CLIP = 1e-3, 0.05, 0.65, 1.0
TIMM_WARMUP, TIMM_WARMUP_LR, TIMM_MIN_LR = 20, 1e-6, 1e-5


def _timm() -> Any:
    from tests.support import torchvision_stub

    torchvision_stub.install()
    import timm.models.vision_transformer as vit
    import timm.optim
    import timm.scheduler

    return vit, timm.optim, timm.scheduler


def _vit() -> torch.nn.Module:
    vit, _, _ = _timm()
    torch.manual_seed(0)
    model = vit.VisionTransformer(
        img_size=8, patch_size=4, in_chans=3, num_classes=5, embed_dim=16, depth=3, num_heads=2
    )
    return model.double()


def _timm_peer(
    model: torch.nn.Module, loss: Callable[[torch.nn.Module, int], torch.Tensor]
) -> Record:
    _, optim, scheduler = _timm()
    groups = optim.param_groups_layer_decay(
        model,
        weight_decay=TIMM_WD,
        no_weight_decay_list=model.no_weight_decay(),
        layer_decay=TIMM_DECAY,
    )
    opt = torch.optim.AdamW(groups, lr=TIMM_LR)
    sched = scheduler.CosineLRScheduler(
        opt,
        t_initial=STEPS,
        lr_min=TIMM_MIN_LR,
        warmup_t=TIMM_WARMUP,
        warmup_lr_init=TIMM_WARMUP_LR,
        t_in_epochs=False,
    )
    record = Record()
    for step in range(STEPS):
        _observe(record, model, opt)
        loss(model, step).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TIMM_CLIP)
        opt.step()
        opt.zero_grad()
        sched.step_update(num_updates=step + 1)  # train.py: after each update
    return _finish(record, model)


TIMM_NATIVE = """\
[optimizer]
type = "AdamW"
lr = 1e-3
weight_decay = 0.05

[[rules]]
type = "layer_decay"       # layer_decay = 0.65
rate = 0.65
layout = "timm"            # timm's group_matcher: the final norm with the last block

[[rules]]
type = "no_weight_decay"   # 1-D parameters and the model's no_weight_decay()

[schedules.lr]
type = "cosine"            # CosineLRScheduler, t_initial = 200
total = 200
end_lr = 1e-5              # lr_min, scaled per group as timm scales it
warmup = 20                # warmup_t
warmup_start = 0.001       # warmup_lr_init = 1e-6, as a share of lr = 1e-3
warmup_mode = "replace"    # timm's warmup_prefix = false: the cosine keeps the run's clock

[clip]
type = "norm"              # --clip-grad 1.0 --clip-mode norm
max_norm = 1.0
"""

TIMM_ALIASES = """\
[optimizer]
type = "AdamW"
lr = 1e-3
weight_decay = 0.05

[[rules]]
type = "timm.layer_decay"  # param_groups_layer_decay, with the model's no_weight_decay()
layer_decay = 0.65

[schedules.lr]
type = "timm.cosine"       # CosineLRScheduler, stepped per update (step_update)
t_initial = 200
lr_min = 1e-5
warmup_t = 20
warmup_lr_init = 1e-6
t_in_epochs = false        # counts updates, as t_in_epochs=False (timm's default counts epochs)

[clip]
type = "norm"
max_norm = 1.0
"""


# detectron2: the solver (build_optimizer, build_lr_scheduler) ---------------------------

D2_LR, D2_WD, D2_MOMENTUM, D2_CLIP = 0.02, 1e-4, 0.9, 1.0
D2_STEPS, D2_GAMMA, D2_FACTOR, D2_WARMUP, D2_LR_END = (120, 170), 0.1, 0.001, 20, 2e-4
D2_BIAS_LR_FACTOR, D2_WD_NORM, D2_WD_BIAS = 2.0, 0.0, 0.0

_NORMS = (
    torch.nn.BatchNorm1d,
    torch.nn.BatchNorm2d,
    torch.nn.BatchNorm3d,
    torch.nn.SyncBatchNorm,
    torch.nn.GroupNorm,
    torch.nn.InstanceNorm1d,
    torch.nn.InstanceNorm2d,
    torch.nn.InstanceNorm3d,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
)


def d2_default_optimizer_params(model: torch.nn.Module) -> list[dict[str, Any]]:
    """detectron2's ``get_default_optimizer_params(model, base_lr, weight_decay_norm,
    bias_lr_factor, weight_decay_bias)`` as its solver documents and builds it: per
    parameter, the norm layers' weight decay, then the bias override (lr times the factor,
    its weight decay), merged into one group per distinct setting in first-seen order."""
    overrides = {"lr": D2_LR * D2_BIAS_LR_FACTOR, "weight_decay": D2_WD_BIAS}
    merged: dict[tuple[tuple[str, float], ...], list[torch.nn.Parameter]] = {}
    seen: set[int] = set()
    for module in model.modules():
        for name, value in module.named_parameters(recurse=False):
            if not value.requires_grad or id(value) in seen:
                continue
            seen.add(id(value))
            hyper: dict[str, float] = {"lr": D2_LR}
            if isinstance(module, _NORMS):
                hyper["weight_decay"] = D2_WD_NORM
            if name == "bias":
                hyper.update(overrides)
            merged.setdefault(tuple(hyper.items()), []).append(value)
    return [{**dict(k), "params": v} for k, v in merged.items()]


def _d2_multiplier(kind: str) -> Callable[[float], float]:
    """detectron2's ``build_lr_scheduler`` multiplier: fvcore's schedule behind
    ``WarmupParamScheduler`` (fvcore's composite of a linear warmup and the main curve)."""
    from fvcore.common import param_scheduler as fv

    if kind == "multistep":
        main: Any = fv.MultiStepParamScheduler(
            [D2_GAMMA**k for k in range(len(D2_STEPS) + 1)],
            milestones=list(D2_STEPS),
            num_updates=STEPS,
        )
    else:
        main = fv.CosineParamScheduler(1, D2_LR_END / D2_LR)
    length = min(D2_WARMUP / STEPS, 1.0)
    warm = fv.LinearParamScheduler(D2_FACTOR * main(0.0), main(length))
    composite = fv.CompositeParamScheduler(
        [warm, main], interval_scaling=["rescaled", "fixed"], lengths=[length, 1 - length]
    )
    return lambda it: float(composite(it / STEPS))


def _d2_peer(kind: str) -> Callable[..., Record]:
    def train(
        model: torch.nn.Module, loss: Callable[[torch.nn.Module, int], torch.Tensor]
    ) -> Record:
        opt = torch.optim.SGD(
            d2_default_optimizer_params(model), lr=D2_LR, momentum=D2_MOMENTUM, weight_decay=D2_WD
        )
        multiplier = _d2_multiplier(kind)
        # LRMultiplier: base_lr * multiplier(iter / max_iter), as LambdaLR computes it
        sched = torch.optim.lr_scheduler.LambdaLR(opt, multiplier)
        record = Record()
        for step in range(STEPS):
            _observe(record, model, opt)
            loss(model, step).backward()
            for g in opt.param_groups:  # CLIP_TYPE norm: clip_grad_norm_ per parameter
                for p in g["params"]:
                    torch.nn.utils.clip_grad_norm_(p, D2_CLIP)
            opt.step()
            opt.zero_grad()
            sched.step()
        return _finish(record, model)

    return train


D2_OPTIMIZER = """\
[optimizer]
type = "SGD"
lr = 0.02                  # BASE_LR
momentum = 0.9
weight_decay = 1e-4
"""

D2_NATIVE_RULES = """
[[rules]]                  # WEIGHT_DECAY_NORM: 0.0 (norm layers, by type)
type = "no_weight_decay"
bias = false
one_dim = false
model_list = false
norm_names = []

[[rules]]                  # BIAS_LR_FACTOR: 2.0, WEIGHT_DECAY_BIAS: 0.0
type = "bias"
lr_factor = 2.0
weight_decay = 0.0

[clip]                     # CLIP_TYPE: norm is per parameter in detectron2
type = "param_norm"
max_norm = 1.0
"""

D2_ALIAS_RULES = """
[[rules]]
type = "detectron2.default"  # get_default_optimizer_params
weight_decay_norm = 0.0
bias_lr_factor = 2.0
weight_decay_bias = 0.0

[clip]
type = "detectron2.norm"
clip_value = 1.0
"""

D2_MULTISTEP_NATIVE = (
    D2_OPTIMIZER
    + """
[schedules.lr]
type = "multistep"         # WarmupMultiStepLR
milestones = [120, 170]    # STEPS
gamma = 0.1
warmup = 20                # WARMUP_ITERS
warmup_start = 0.001       # WARMUP_FACTOR
warmup_mode = "bridge"     # fvcore's WarmupParamScheduler
"""
    + D2_NATIVE_RULES
)

D2_MULTISTEP_ALIASES = (
    D2_OPTIMIZER
    + """
[schedules.lr]
type = "detectron2.WarmupMultiStepLR"
max_iter = 200
steps = [120, 170]
gamma = 0.1
warmup_factor = 0.001
warmup_iters = 20
"""
    + D2_ALIAS_RULES
)

D2_COSINE_NATIVE = (
    D2_OPTIMIZER
    + """
[schedules.lr]
type = "cosine"            # WarmupCosineLR
total = 200                # MAX_ITER
end_lr = 2e-4              # BASE_LR_END
warmup = 20
warmup_start = 0.001
warmup_mode = "bridge"
"""
    + D2_NATIVE_RULES
)

D2_COSINE_ALIASES = (
    D2_OPTIMIZER
    + """
[schedules.lr]
type = "detectron2.WarmupCosineLR"
max_iter = 200
base_lr = 0.02
base_lr_end = 2e-4
warmup_factor = 0.001
warmup_iters = 20
"""
    + D2_ALIAS_RULES
)


# transformers: the Trainer's optimizer, scheduler and clipping ---------------------------

HF_LR, HF_WD, HF_RATIO, HF_CLIP = 5e-4, 0.01, 0.06, 1.0


def _hf_peer(
    model: torch.nn.Module, loss: Callable[[torch.nn.Module, int], torch.Tensor]
) -> Record:
    from transformers import Trainer, get_scheduler

    # Trainer.create_optimizer: decay for get_decay_parameter_names, none for the rest
    decay = set(Trainer.get_decay_parameter_names(None, model))  # type: ignore[arg-type]
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if n in decay], "weight_decay": HF_WD},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=HF_LR, betas=(0.9, 0.999), eps=1e-8)
    warmup = math.ceil(STEPS * HF_RATIO)  # TrainingArguments.get_warmup_steps
    sched = get_scheduler("cosine", opt, num_warmup_steps=warmup, num_training_steps=STEPS)
    record = Record()
    for step in range(STEPS):
        _observe(record, model, opt)
        loss(model, step).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), HF_CLIP)  # max_grad_norm
        opt.step()
        sched.step()
        opt.zero_grad()
    return _finish(record, model)


HF_NATIVE = """\
[optimizer]
type = "AdamW"
lr = 5e-4                  # learning_rate
weight_decay = 0.01
betas = [0.9, 0.999]
eps = 1e-8

[[rules]]
type = "no_weight_decay"   # get_decay_parameter_names: biases and norm layers

[schedules.lr]
type = "cosine"            # lr_scheduler_type = "cosine"
total = 200                # max_steps
warmup_ratio = 0.06        # ceil(200 * 0.06) = 12, as transformers counts it

[clip]
type = "norm"              # max_grad_norm
max_norm = 1.0
"""

HF_ALIASES = """\
[optimizer]
type = "AdamW"
lr = 5e-4
weight_decay = 0.01
betas = [0.9, 0.999]
eps = 1e-8

[[rules]]
type = "no_weight_decay"

[schedules.lr]
type = "cosine"            # get_scheduler("cosine", ...) in transformers' own call form
num_warmup_steps = 12
num_training_steps = 200

[clip]
type = "norm"
max_norm = 1.0
"""


# the same two solvers as detectron2's model zoo writes them, converted by `schedkit
# convert --from detectron2`: a base file with the schedule (tuples as YAML strings, which
# yacs decodes), a child in a folder of its own with the solver's other keys
D2_ZOO_BASE = """\
MODEL:
  META_ARCHITECTURE: "GeneralizedRCNN"
DATASETS:
  TRAIN: ("coco_2017_train",)
SOLVER:
  IMS_PER_BATCH: 16
  BASE_LR: 0.02
  STEPS: (120, 170)
  MAX_ITER: 200
  WARMUP_ITERS: 20
INPUT:
  MIN_SIZE_TRAIN: (640, 672, 704, 736, 768, 800)
"""
D2_ZOO_CHILD = """\
_BASE_: "../Base-RCNN-FPN.yaml"
SOLVER:
  BIAS_LR_FACTOR: 2.0
  WEIGHT_DECAY_BIAS: 0.0
  CLIP_GRADIENTS:
    ENABLED: True
    CLIP_TYPE: "norm"
    CLIP_VALUE: 1.0
"""
D2_ZOO_COSINE = """\
_BASE_: "faster_rcnn_R_50_FPN_1x.yaml"
SOLVER:
  LR_SCHEDULER_NAME: "WarmupCosineLR"
  BASE_LR_END: 2e-4
"""


def _converted_zoo(name: str) -> str:
    """The setup ``schedkit convert`` writes for ``name`` of the model-zoo-style files."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "COCO-Detection").mkdir()
        (root / "Base-RCNN-FPN.yaml").write_text(D2_ZOO_BASE)
        (root / "COCO-Detection" / "faster_rcnn_R_50_FPN_1x.yaml").write_text(D2_ZOO_CHILD)
        (root / "COCO-Detection" / "cosine.yaml").write_text(D2_ZOO_COSINE)
        return str(schedkit.convert("detectron2", root / "COCO-Detection" / name).toml)


RECIPES = {
    r.name: r
    for r in [
        Recipe(
            "timm-vit",
            _vit,
            _batch((4, 3, 8, 8), 5),
            _timm_peer,
            {"native": TIMM_NATIVE, "aliases": TIMM_ALIASES},
        ),
        Recipe(
            "detectron2-multistep",
            _mlp,
            _batch((8, 6), 3),
            _d2_peer("multistep"),
            {
                "native": D2_MULTISTEP_NATIVE,
                "aliases": D2_MULTISTEP_ALIASES,
                "converted": _converted_zoo("faster_rcnn_R_50_FPN_1x.yaml"),
            },
        ),
        Recipe(
            "detectron2-cosine",
            _mlp,
            _batch((8, 6), 3),
            _d2_peer("cosine"),
            {
                "native": D2_COSINE_NATIVE,
                "aliases": D2_COSINE_ALIASES,
                "converted": _converted_zoo("cosine.yaml"),
            },
        ),
        Recipe(
            "transformers-trainer",
            _mlp,
            _batch((8, 6), 3),
            _hf_peer,
            {"native": HF_NATIVE, "aliases": HF_ALIASES},
        ),
    ]
}


# -- running them ---------------------------------------------------------------------


def run_peer(name: str) -> Record:
    """The recipe with the peer's own functions."""
    recipe = RECIPES[name]
    return recipe.peer(recipe.model(), recipe.loss)


def run_setup(
    name: str,
    variant: str,
    *,
    start: int = 0,
    stop: int = STEPS,
    state: dict[str, Any] | None = None,
) -> tuple[Record, dict[str, Any]]:
    """The recipe from its setup, steps ``start`` to ``stop``; ``state`` (from an earlier
    call) restores the model and everything built before going on. Returns the record and
    the state at ``stop``."""
    recipe = RECIPES[name]
    model = recipe.model()
    built = schedkit.loads_setup(recipe.setups[variant]).build(model, total_steps=STEPS)
    if state is not None:
        model.load_state_dict(state["model"])
        built.load_state_dict(state["built"])
    record = Record()
    for step in range(start, stop):
        _observe(record, model, built.optimizer)
        recipe.loss(model, step).backward()
        built.step()
    return _finish(record, model), {"model": model.state_dict(), "built": built.state_dict()}


def main(argv: list[str]) -> None:
    """Resume a setup run from a saved state in this (fresh) process."""
    name, variant, state_path, out_path = argv
    torch.set_num_threads(1)  # as the tests' process: the same reductions
    state = torch.load(state_path, weights_only=True)
    record, _ = run_setup(name, variant, start=HALF, state=state)
    torch.save(record.to_data(), out_path)


if __name__ == "__main__":
    main(sys.argv[1:])
