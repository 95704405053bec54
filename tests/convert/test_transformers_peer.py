"""The converted setup against the real transformers Trainer, step by step."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import schedkit
from tests.support.agree import run_both
from tests.support.models import TinyEncoder, float64

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

CONFIGS = Path(__file__).parents[2] / "examples" / "converted"


def training_args(path: Path) -> transformers.TrainingArguments:
    """The file read as TrainingArguments (a recipe's other keys left to other parsers)."""
    parser = transformers.HfArgumentParser(transformers.TrainingArguments)
    if path.suffix == ".json":
        (args,) = parser.parse_json_file(str(path), allow_extra_keys=True)
    else:
        (args,) = parser.parse_yaml_file(str(path), allow_extra_keys=True)
    return args


class Rows(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.tensor([i % 20, 1, 2]), "labels": torch.tensor(i % 3)}


@pytest.mark.parametrize(
    ("name", "dataset_size"),
    [("transformers-glue-finetune.json", 3668), ("transformers-sft-recipe.yaml", None)],
)
def test_trainer_and_converted_setup_agree(name: str, dataset_size: int | None) -> None:
    path = CONFIGS / name
    args = training_args(path)
    model = float64(TinyEncoder())
    ours = copy.deepcopy(model)
    rows = Rows(dataset_size or 64)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows)
    *_, max_steps = trainer.set_initial_training_values(args, trainer.get_train_dataloader())
    trainer.create_optimizer_and_scheduler(num_training_steps=max_steps)
    opt, sched = trainer.optimizer, trainer.lr_scheduler

    conversion = schedkit.convert("transformers", path, dataset_size=dataset_size)
    built = conversion.setup().build(ours)
    assert built.total_steps == max_steps

    def peer_step(k: int) -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad()

    assert run_both(max_steps, model, opt, peer_step, built, ours) == max_steps + 1
    # the two groups the Trainer makes, told apart the same way
    decay = set(trainer.get_decay_parameter_names(model))
    wd = {
        n: g["weight_decay"]
        for g in built.optimizer.param_groups
        for n, p in ours.named_parameters()
        if any(p is q for q in g["params"])
    }
    assert {n for n, v in wd.items() if v > 0} == decay
    assert "pooler_bn.weight" in decay
    assert "final_norm.weight" not in decay
