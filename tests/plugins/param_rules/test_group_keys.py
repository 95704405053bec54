"""``overrides`` sets the param-group entries a schedule family declares it reads
(``ScheduleHooks.group_keys``: Megatron's per-group ``max_lr``, ``wd_mult``...), and still
refuses a key no optimizer and no family knows."""

from __future__ import annotations

import pytest
import torch

import schedkit
from schedkit.plugin import group_keys_read


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))


def test_the_families_declare_what_they_read():
    assert {"max_lr", "min_lr", "start_wd", "end_wd", "wd_mult"} <= group_keys_read()


def test_a_per_group_max_lr_and_wd_mult_drive_megatron_per_group():
    setup = schedkit.loads_setup(
        """
        [optimizer]
        type = "AdamW"
        lr = 1e-3
        weight_decay = 0.1

        [[rules]]
        type = "overrides"
        keys = { "0.*" = { max_lr = 3e-3 }, "*.bias" = { wd_mult = 0.0 }, "1.*" = { wd_mult = 0.0 } }

        [schedules.lr]
        type = "megatron.OptimizerParamScheduler"
        init_lr = 0.0
        max_lr = 1e-3
        min_lr = 1e-4
        lr_warmup_steps = 2
        lr_decay_steps = 10
        lr_decay_style = "linear"
        start_wd = 0.1
        end_wd = 0.1
        wd_incr_steps = 10
        wd_incr_style = "constant"
        """
    )
    model = _model()
    built = setup.build(model)
    for _ in range(2):
        built.step()
    by_name = {}
    for g in built.optimizer.param_groups:
        for p in g["params"]:
            by_name[next(n for n, q in model.named_parameters() if q is p)] = g
    # the end of the warmup: each group at its own peak
    assert by_name["0.weight"]["lr"] == pytest.approx(3e-3)
    assert by_name["2.weight"]["lr"] == pytest.approx(1e-3)
    assert by_name["2.weight"]["weight_decay"] == 0.1
    assert by_name["2.bias"]["weight_decay"] == 0.0
    assert by_name["1.weight"]["weight_decay"] == 0.0


def test_a_key_nobody_reads_is_still_a_misspelling():
    with pytest.raises(schedkit.SetupError) as e:
        schedkit.loads_setup(
            """
            [optimizer]
            type = "AdamW"
            lr = 1e-3

            [[rules]]
            type = "overrides"
            keys = { "0.*" = { max_lrr = 3e-3 } }
            """
        )
    assert "rules[0].keys.0.*.max_lrr" in str(e.value)
    assert "did you mean 'max_lr'?" in str(e.value)
