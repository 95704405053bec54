"""``schedkit convert --from deepspeed`` (DeepSpeed's engine itself: tests/convert)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import schedkit

CONFIGS = Path(__file__).parents[3] / "examples" / "converted"


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "ds_config.json"
    path.write_text(json.dumps(data))
    return path


def test_warmup_decay_config() -> None:
    conv = schedkit.convert("deepspeed", CONFIGS / "deepspeed-warmup-decay.json")
    assert 'type = "deepspeed.WarmupDecayLR"  # scheduler.type' in conv.toml
    assert "warmup_num_steps = 20  # scheduler.params.warmup_num_steps" in conv.toml
    assert "betas = [0.9, 0.95]  # optimizer.params.betas" in conv.toml
    assert "max_norm = 1.0  # gradient_clipping" in conv.toml
    assert "total = 120  # scheduler.params.total_num_steps" in conv.toml
    assert "call built.step() once every 2 micro-batches" in conv.toml
    assert "torch_adam" not in conv.toml
    assert set(conv.ignored) == {
        "train_batch_size",
        "train_micro_batch_size_per_gpu",
        "gradient_accumulation_steps",
        "steps_per_print",
        "zero_optimization",
        "wall_clock_breakdown",
    }
    setup = conv.setup()
    assert setup.optimizer["type"] == "AdamW"
    assert setup.clip is not None
    assert setup.clip["max_norm"] == 1.0


def test_defaults_and_optimizer_kinds(tmp_path: Path) -> None:
    conv = schedkit.convert("deepspeed", write(tmp_path, {"optimizer": {"type": "Adam"}}))
    assert 'type = "AdamW"  # optimizer.type' in conv.toml  # adam_w_mode defaults to true
    assert "lr = 0.001  # optimizer.params.lr (default)" in conv.toml
    assert "max_norm = 1.0  # gradient_clipping (default)" in conv.toml
    assert "FusedAdam" in conv.toml
    data = {"optimizer": {"type": "Adam", "params": {"adam_w_mode": False, "torch_adam": True}}}
    conv = schedkit.convert("deepspeed", write(tmp_path, data))
    assert 'type = "Adam"  # optimizer.type, optimizer.params.adam_w_mode' in conv.toml
    data = {
        "optimizer": {"type": "SGD", "params": {"lr": 0.1, "momentum": 0.9}},
        "gradient_clipping": 0,
    }
    setup = schedkit.convert("deepspeed", write(tmp_path, data)).setup()
    assert setup.optimizer["momentum"] == 0.9
    assert setup.clip is None


def test_schedulers(tmp_path: Path) -> None:
    data = {
        "optimizer": {"type": "SGD", "params": {"lr": 0.1, "momentum": 0.9}},
        "scheduler": {"type": "OneCycle", "params": {"cycle_min_lr": 0.01, "cycle_max_lr": 0.1}},
    }
    conv = schedkit.convert("deepspeed", write(tmp_path, data))
    assert "cycle_momentum = false  # optimizer.type SGD: no betas" in conv.toml
    data["scheduler"] = {"type": "StepLR", "params": {"step_size": 10, "gamma": 0.5}}
    conv = schedkit.convert("deepspeed", write(tmp_path, data))
    assert conv.setup().schedules[0].schedule.spec()["type"] == "torch.StepLR"


def test_every_unexpressible_key_is_listed(tmp_path: Path) -> None:
    data = {
        "optimizer": {"type": "Lamb", "params": {"lr": 1e-3}},
        "scheduler": {"type": "Magic", "params": {}},
        "gradient_clipping": -1,
    }
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("deepspeed", write(tmp_path, data))
    assert [p.path for p in info.value.problems] == [
        "optimizer.type",
        "scheduler.type",
        "gradient_clipping",
    ]
    with pytest.raises(schedkit.ConversionError, match=r"optimizer: no optimizer in the config"):
        schedkit.convert("deepspeed", write(tmp_path, {"gradient_clipping": 1.0, "scheduler": {}}))
    data = {"optimizer": {"type": "AdamW", "params": {"lr": 1e-3, "bias_correction": False}}}
    with pytest.raises(schedkit.ConversionError, match=r"bias_correction: torch's AdamW"):
        schedkit.convert("deepspeed", write(tmp_path, data))


def test_a_value_toml_cannot_hold_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ds.yaml"
    path.write_text("optimizer:\n  type: SGD\n  params:\n    lr: 0.1\n    start: 2024-01-01\n")
    with pytest.raises(schedkit.ConversionError, match="cannot write"):
        schedkit.convert("deepspeed", path)
