"""The converted setup against what DeepSpeed's engine builds from the same ds_config.json:
its config parser, its optimizer selection and its scheduler factory (the engine's own
methods, without a distributed launch), stepped beside the setup. This holds the final
weights to float64 precision; ``test_deepspeed_initialize.py`` runs ``deepspeed.initialize``
itself, whose engine keeps float32 master weights."""

from __future__ import annotations

import copy
import json
import types
from pathlib import Path
from typing import Any

import pytest
import torch

import schedkit
from tests.support.agree import run_both
from tests.support.models import TinyEncoder, float64

pytest.importorskip("deepspeed")
from deepspeed.runtime.config import DeepSpeedConfig
from deepspeed.runtime.engine import DeepSpeedEngine

#: the runs go past the end of the schedules on purpose (the values must hold there as
#: the peer's do): the warning a user gets there is not what these tests look at
pytestmark = pytest.mark.filterwarnings("ignore::schedkit.HorizonWarning")

CONFIGS = Path(__file__).parents[2] / "examples" / "converted"


def engine_parts(cfg: dict[str, Any], model: torch.nn.Module) -> tuple[Any, Any, float]:
    """The optimizer and scheduler DeepSpeedEngine builds for ``cfg`` (one process)."""
    cfg = dict(cfg)
    cfg.pop("train_batch_size", None)  # written for 8 processes; this is one
    c = DeepSpeedConfig(cfg)
    engine = types.SimpleNamespace(
        optimizer_name=lambda: c.optimizer_name,
        optimizer_params=lambda: c.optimizer_params,
        zero_use_cpu_optimizer=lambda: False,
        scheduler_name=lambda: c.scheduler_name,
        scheduler_params=lambda: c.scheduler_params,
    )
    engine.get_optimizer_configuration = types.MethodType(
        DeepSpeedEngine.get_optimizer_configuration, engine
    )
    opt = DeepSpeedEngine._configure_basic_optimizer(engine, model.parameters())
    sched = DeepSpeedEngine._scheduler_from_config(engine, opt)
    return opt, sched, c.gradient_clipping


def onecycle_config(tmp_path: Path) -> Path:
    cfg = {
        "train_micro_batch_size_per_gpu": 8,
        "optimizer": {
            "type": "Adam",
            "params": {"lr": 1e-3, "torch_adam": True, "adam_w_mode": False, "weight_decay": 1e-4},
        },
        "scheduler": {
            "type": "OneCycle",
            "params": {
                "cycle_min_lr": 1e-4,
                "cycle_max_lr": 1e-3,
                "cycle_first_step_size": 30,
                "cycle_second_step_size": 20,
                "decay_step_size": 5,
                "decay_lr_rate": 0.1,
                "decay_mom_rate": 0.01,
            },
        },
        "gradient_clipping": 0.5,
    }
    path = tmp_path / "ds_onecycle.json"
    path.write_text(json.dumps(cfg))
    return path


def sgd_cosine_config(tmp_path: Path) -> Path:
    cfg = {
        "train_micro_batch_size_per_gpu": 8,
        "optimizer": {
            "type": "SGD",
            "params": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": True},
        },
        "scheduler": {
            "type": "WarmupCosineLR",
            "params": {"total_num_steps": 90, "warmup_num_steps": 15, "warmup_min_ratio": 0.01},
        },
    }
    path = tmp_path / "ds_sgd.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.parametrize("which", ["warmup-decay", "onecycle", "sgd-cosine"])
def test_engine_and_converted_setup_agree(tmp_path: Path, which: str) -> None:
    path = {
        "warmup-decay": CONFIGS / "deepspeed-warmup-decay.json",
        "onecycle": onecycle_config(tmp_path),
        "sgd-cosine": sgd_cosine_config(tmp_path),
    }[which]
    model = float64(TinyEncoder())
    ours = copy.deepcopy(model)
    opt, sched, clip = engine_parts(json.loads(path.read_text()), model)
    built = schedkit.convert("deepspeed", path).setup().build(ours)
    assert type(built.optimizer) is type(opt)

    def peer_step(k: int) -> None:
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        opt.zero_grad()

    steps = 130
    assert run_both(steps, model, opt, peer_step, built, ours) == steps + 1


def test_unexpressible_keys_are_listed(tmp_path: Path) -> None:
    cfg = {
        "optimizer": {"type": "Lamb", "params": {"lr": "auto"}},
        "scheduler": {"type": "WarmupLR", "params": {"warmup_max_lr": "auto"}},
    }
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("deepspeed", path)
    assert [p.path for p in info.value.problems] == [
        "optimizer.params.lr",
        "scheduler.params.warmup_max_lr",
    ]
