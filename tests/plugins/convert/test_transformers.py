"""``schedkit convert --from transformers``: every scheduler, the warmup rounding, the run
length, the optimizers, and the errors (the Trainer itself: tests/convert)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

import schedkit
from schedkit.cli import main
from tests.support.models import TinyEncoder, float64

transformers = pytest.importorskip("transformers")

CONFIGS = Path(__file__).parents[3] / "examples" / "converted"

#: every SchedulerType the converter expresses, with kwargs it needs
SCHEDULERS: dict[str, dict[str, Any]] = {
    "linear": {},
    "cosine": {"num_cycles": 0.25},
    "cosine_with_restarts": {"num_cycles": 3},
    "polynomial": {"lr_end": 1e-6, "power": 2.0},
    "constant": {},
    "constant_with_warmup": {},
    "inverse_sqrt": {"timescale": 20},
    "cosine_with_min_lr": {"min_lr": 1e-5},
    "cosine_warmup_with_min_lr": {"min_lr_rate": 0.05},
    "warmup_stable_decay": {"num_decay_steps": 30, "decay_type": "1-sqrt"},
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "args.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_every_scheduler_type_is_known() -> None:
    names = {s.value for s in transformers.SchedulerType}
    assert names - set(SCHEDULERS) == {"reduce_lr_on_plateau", "greedy"}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_schedules_give_transformers_lr(tmp_path: Path, name: str) -> None:
    kwargs = SCHEDULERS[name]
    path = write(
        tmp_path,
        {
            "learning_rate": 3e-4,
            "lr_scheduler_type": name,
            "lr_scheduler_kwargs": kwargs,
            "max_steps": 123,
            "warmup_steps": 0.1,
            "optim": "adamw_torch",
        },
    )
    built = schedkit.convert("transformers", path).setup().build(float64(TinyEncoder()))
    model = torch.nn.Linear(2, 2).double()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    warmup = math.ceil(123 * 0.1)  # transformers' rounding: 13
    sched = transformers.get_scheduler(
        name,
        opt,
        num_warmup_steps=warmup,
        num_training_steps=123,
        scheduler_specific_kwargs=dict(kwargs),
    )
    for step in range(124):
        want = opt.param_groups[0]["lr"]
        for group in built.optimizer.param_groups:
            assert group["lr"] == pytest.approx(want, rel=1e-12, abs=1e-300), (step, name)
        opt.step()
        sched.step()
        built.schedulers["lr"].step()


def test_epochs_need_a_run_fact_and_round_as_the_trainer(tmp_path: Path) -> None:
    data = {"num_train_epochs": 2.5, "gradient_accumulation_steps": 3, "warmup_steps": 0.1}
    path = write(tmp_path, data)
    with pytest.raises(schedkit.ConversionError, match=r"--dataset-size"):
        schedkit.convert("transformers", path)
    # 100 batches -> ceil(100 / 3) = 34 updates per epoch -> ceil(2.5 * 34) = 85 steps
    setup = schedkit.convert("transformers", path, steps_per_epoch=100).setup()
    assert setup.total == 85
    assert setup.schedules[0].schedule.spec()["warmup"] == 9  # ceil(8.5)
    # 1000 samples, 8 per device, 3 processes: ceil(ceil(1000 / 8) / 3) = 42 batches
    setup = schedkit.convert("transformers", path, dataset_size=1000, world_size=3).setup()
    assert setup.total == math.ceil(2.5 * 14)


def test_transformers4_warmup_ratio(tmp_path: Path) -> None:
    path = write(tmp_path, {"max_steps": 1000, "warmup_steps": 0, "warmup_ratio": 0.033})
    setup = schedkit.convert("transformers", path).setup()
    assert setup.schedules[0].schedule.spec()["warmup"] == 33
    path = write(tmp_path, {"max_steps": 1000, "warmup_steps": 50, "warmup_ratio": 0.5})
    assert (
        schedkit.convert("transformers", path).setup().schedules[0].schedule.spec()["warmup"] == 50
    )


def test_every_value_names_its_source(tmp_path: Path) -> None:
    conv = schedkit.convert(
        "transformers", CONFIGS / "transformers-glue-finetune.json", dataset_size=3668
    )
    values = [line for line in conv.toml.splitlines() if line and not line.startswith(("#", "["))]
    assert values
    for line in values:
        assert re.match(r"^\S+ = .+  # \S", line), line
    assert "lr = 2e-05  # learning_rate" in conv.toml
    assert "betas = [0.9, 0.98]  # adam_beta1, adam_beta2" in conv.toml
    assert "warmup = 11  # ceil(warmup_steps * total 174)" in conv.toml
    assert "output_dir" in conv.ignored
    assert "learning_rate" not in conv.ignored


def test_defaults_are_marked(tmp_path: Path) -> None:
    conv = schedkit.convert("transformers", write(tmp_path, {"max_steps": 10}))
    assert "lr = 5e-05  # learning_rate (default)" in conv.toml
    assert 'type = "AdamW"  # optim (default)' in conv.toml
    assert "fused = true  # optim (default)" in conv.toml
    assert "max_norm = 1.0  # max_grad_norm (default)" in conv.toml
    assert "rules" not in conv.toml  # no weight decay: one group is what the Trainer's two are


def test_torch_optimizers_and_optim_args(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "max_steps": 10,
            "optim": "sgd",
            "optim_args": "momentum=0.9, nesterov=True",
            "weight_decay": 1e-4,
        },
    )
    setup = schedkit.convert("transformers", path).setup()
    assert setup.optimizer["type"] == "SGD"
    assert setup.optimizer["momentum"] == 0.9
    assert setup.optimizer["nesterov"] is True
    for optim, cls in (("adagrad", "Adagrad"), ("rmsprop", "RMSprop"), ("adamw_torch", "AdamW")):
        path = write(tmp_path, {"max_steps": 10, "optim": optim})
        assert schedkit.convert("transformers", path).setup().optimizer["type"] == cls


def test_every_unexpressible_key_is_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "max_steps": 10,
            "optim": "adamw_bnb_8bit",
            "deepspeed": "ds_config.json",
            "optim_target_modules": ["attn"],
            "lr_scheduler_type": "cosine_annealing",
        },
    )
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("transformers", path)
    paths = [p.path for p in info.value.problems]
    assert paths == ["optim", "lr_scheduler_type", "deepspeed", "optim_target_modules"]
    assert "--from deepspeed" in str(info.value)
    assert "not one of transformers' schedulers" in str(info.value)


def test_bad_values_and_scheduler_kwargs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"max_steps": 10, "learning_rate": "fast", "lr_scheduler_type": "linear"},
    )
    with pytest.raises(schedkit.ConversionError, match=r"learning_rate: expected a number"):
        schedkit.convert("transformers", path)
    path = write(tmp_path, {"max_steps": 10, "lr_scheduler_kwargs": {"power": 2}})
    with pytest.raises(schedkit.ConversionError, match=r"lr_scheduler_kwargs: .*power"):
        schedkit.convert("transformers", path)


def test_plateau_converts_with_a_note(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "lr_scheduler_type": "reduce_lr_on_plateau",
            "lr_scheduler_kwargs": {"patience": 2, "factor": 0.5},
        },
    )
    conv = schedkit.convert("transformers", path)
    assert "scheduler.step(metric)" in conv.toml
    assert conv.setup().schedules[0].schedule.spec()["patience"] == 2


def test_yaml_recipe(tmp_path: Path) -> None:
    conv = schedkit.convert("transformers", CONFIGS / "transformers-sft-recipe.yaml")
    setup = conv.setup()
    assert setup.total == 300
    assert setup.optimizer["betas"] == [0.9, 0.95]
    assert {"model_name_or_path", "dataset_mixer", "max_seq_length"} <= set(conv.ignored)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = CONFIGS / "transformers-glue-finetune.json"
    out = tmp_path / "setup.toml"
    code = main(
        [
            "convert",
            "--from",
            "transformers",
            str(src),
            "--dataset-size",
            "3668",
            "-o",
            str(out),
            "--verbose",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "ignored" in err
    assert "output_dir" in err
    assert main(["check", str(out)]) == 0
    assert main(["convert", "--from", "transformers", str(src)]) == 1
    assert "--dataset-size on the command line" in capsys.readouterr().err
    assert main(["convert", "--from", "transformers", str(tmp_path / "nope.json")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["convert", "--from", "transfomers", str(src)]) == 1
    assert "did you mean 'transformers'?" in capsys.readouterr().err


def test_unknown_source() -> None:
    with pytest.raises(
        schedkit.ConversionError,
        match=r"no converter for 'transfomers'; did you mean 'transformers'",
    ):
        schedkit.convert("transfomers", "x.json")
