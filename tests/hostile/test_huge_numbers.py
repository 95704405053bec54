"""Numbers no float holds (``10**400``: ``float()`` raises OverflowError) and steps past
``2**62``, wherever a user's number enters: parameters, setups, converters' inputs, the
steps and epochs the aliases are moved to. Each is refused with schedkit's error naming
its key path, before anything changes; names and keys are matched whole (no final newline
slipping past a ``$``)."""

from __future__ import annotations

import json
import math

import pytest
import torch

import schedkit
from schedkit import SpecError, get_scheduler
from schedkit.setup import SetupError, load_setup, loads_setup
from tests.helpers import sgd

HUGE = 10**400


def _lrs(sched):
    return [g["lr"] for g in sched.optimizer.param_groups]


@pytest.mark.parametrize(
    ("name", "params", "path", "message"),
    [
        (
            "cosine",
            {"total": 10, "end": HUGE},
            "end",
            "expected a finite number >= 0, got an integer of about 10**400 "
            "(too large for a float)",
        ),
        (
            "cosine",
            {"total": HUGE},
            "total",
            "expected a whole number of steps <= 2**62, got an integer of about 10**400",
        ),
        (
            "one_cycle",
            {"total": 2**62 + 1},
            "total",
            "expected a whole number of steps <= 2**62, got 4611686018427387905",
        ),
        (
            "deepspeed.WarmupLR",
            {"warmup_max_lr": -HUGE},
            "warmup_max_lr",
            "expected a finite number >= 0, got an integer of about -10**400 "
            "(too large for a float)",
        ),
        (
            "detectron2.WarmupStepWithFixedGammaLR",
            {"max_iter": 100, "num_decays": 10**9},
            "num_decays",
            "expected at most 65536 decays, got 1000000000: detectron2 builds a list",
        ),
        (
            "timm.cosine",
            {"t_initial": 10, "cycle_mul": 2.0, "cycle_limit": 2**62},
            "cycle_limit",
            "cycle_mul ** cycle_limit = 2 ** 4611686018427387904 is more than a float holds",
        ),
        (
            "timm.cosine",
            {"t_initial": 10, "cycle_mul": 1e300, "cycle_limit": 3},
            "cycle_limit",
            "cycle_mul ** cycle_limit = 1e+300 ** 3 is more than a float holds",
        ),
        (
            "timm.cosine",
            {"t_initial": 10, "noise_range_t": [0, HUGE]},
            "noise_range_t",
            "expected a step or [start, end] steps, at most 2**62, got (0, 1000000000",
        ),
    ],
)
def test_parameters_no_float_holds(name, params, path, message):
    """The old code raised OverflowError (float(), math.isfinite, timm's cycle length),
    ran out of memory (detectron2's list of num_decays values) or took the value."""
    opt = sgd(2)
    before = [dict(g, params=None) for g in opt.param_groups]
    with pytest.raises(SpecError) as e:
        get_scheduler(name, opt, **params)
    assert (e.value.path, e.value.message[: len(message)]) == (path, message)
    assert [dict(g, params=None) for g in opt.param_groups] == before


@pytest.mark.parametrize(
    ("kwargs", "path", "message"),
    [
        ({"min_lr": HUGE}, "min_lr", "expected a number, got an integer of about 10**400"),
        (
            {"min_lr_rate": -HUGE},
            "min_lr_rate",
            "expected a number, got an integer of about -10**400",
        ),
        ({"min_lr_rate": "x"}, "min_lr_rate", "expected a number, got 'x'"),
    ],
)
def test_transformers_call_form_numbers(kwargs, path, message):
    """The old code raised OverflowError (or ValueError) from float()."""
    opt = sgd(2)
    with pytest.raises(SpecError) as e:
        get_scheduler(
            "cosine_with_min_lr",
            opt,
            num_warmup_steps=1,
            num_training_steps=100,
            scheduler_specific_kwargs=kwargs,
        )
    assert (e.value.path, e.value.message) == (path, message)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2]


def test_a_norm_type_no_float_holds():
    """The old code raised OverflowError converting it to a float."""
    with pytest.raises(SpecError) as e:
        schedkit.get_clipper("norm", max_norm=1.0, norm_type=HUGE)
    assert (e.value.path, e.value.message) == (
        "norm_type",
        "expected a norm type > 0 or 'inf', got an integer of about 10**400",
    )


def test_timm_past_the_float_range_is_at_its_floor():
    """Where timm's cycle arithmetic leaves the float range (it raises OverflowError or a
    math domain error), every cycle is over: the floor, as at any step after the last."""
    far = get_scheduler(
        "timm.cosine", sgd(2), t_initial=10, lr_min=1e-5, cycle_mul=1e300, t_in_epochs=False
    )
    far.step_update(2**62)
    assert _lrs(far) == [1e-5, 1e-5]
    short = get_scheduler(
        "timm.cosine",
        sgd(2),
        t_initial=10,
        lr_min=1e-5,
        cycle_mul=0.5,
        cycle_limit=3,
        t_in_epochs=False,
    )
    short.step_update(100)
    assert _lrs(short) == [1e-5, 1e-5]


@pytest.mark.parametrize(
    ("move", "path", "message"),
    [
        (
            lambda s: s.step_update(HUGE),
            "last_epoch",
            "expected a whole number of steps from -1 to 2**62, got an integer of about 10**400",
        ),
        (
            lambda s: setattr(s, "last_epoch", 2**62 + 1),
            "last_epoch",
            "expected a whole number of steps from -1 to 2**62, got 4611686018427387905",
        ),
    ],
)
def test_moving_a_scheduler_to_a_huge_step_changes_nothing(move, path, message):
    """The old code set the step, then raised OverflowError computing its value."""
    sched = get_scheduler("timm.cosine", sgd(2), t_initial=10, t_in_epochs=False)
    sched.step()
    before = (sched.last_epoch, _lrs(sched))
    with pytest.raises(SpecError) as e:
        move(sched)
    assert (e.value.path, e.value.message) == (path, message)
    assert (sched.last_epoch, _lrs(sched)) == before


def test_torch_step_epoch_no_float_holds():
    sched = get_scheduler("torch.StepLR", sgd(2), step_size=3)
    before = _lrs(sched)
    with pytest.raises(SpecError) as e:
        sched.step(HUGE)
    assert (e.value.path, e.value.message) == (
        "epoch",
        "expected an epoch number up to 2**62, got an integer of about 10**400",
    )
    assert _lrs(sched) == before


def test_last_epoch_at_construction():
    opt = sgd(2)
    for g in opt.param_groups:
        g["initial_lr"] = g["lr"]
    with pytest.raises(SpecError) as e:
        get_scheduler("cosine", opt, total=10, last_epoch=HUGE)
    assert (e.value.path, e.value.message) == (
        "last_epoch",
        "expected a whole number < 2**62, got an integer of about 10**400",
    )


@pytest.mark.parametrize(
    ("toml", "path", "message"),
    [
        (
            f'[optimizer]\ntype = "AdamW"\nlr = {HUGE}\n',
            "optimizer.lr",
            "expected a learning rate >= 0, got an integer of about 10**400",
        ),
        (
            f'[optimizer]\ntype = "AdamW"\nlr = 1e-3\nweight_decay = {HUGE}\n',
            "optimizer.weight_decay",
            "expected a finite number, got an integer of about 10**400",
        ),
        (
            f'[optimizer]\ntype = "AdamW"\nlr = 1e-3\nbetas = [0.9, {HUGE}]\n',
            "optimizer.betas",
            "expected finite numbers, got [0.9, 1000",
        ),
        (
            f'[run]\ntotal = "2ep"\nsteps_per_epoch = {HUGE}\n'
            '[optimizer]\ntype = "AdamW"\nlr = 1e-3\n',
            "run.steps_per_epoch",
            "expected a whole number <= 2**62, got an integer of about 10**400",
        ),
    ],
)
def test_setup_values_no_float_holds(toml, path, message):
    """TOML integers have no limit in Python's reader: the old code raised OverflowError
    (math.isfinite, the duration's arithmetic) or ValueError (an int too long to print)."""
    with pytest.raises(SetupError) as e:
        loads_setup(toml)
    found = {p.path: p.message for p in e.value.problems}
    assert found[path][: len(message)] == message, found


def test_setup_names_no_text_holds():
    """An int too long to print (past Python's 4300 digits) where a name is expected: the
    old code raised ValueError building the suggestion; a TOML file with one, too."""
    with pytest.raises(SetupError) as e:
        load_setup({"optimizer": {"type": 10**5000, "lr": 1e-3}})
    assert e.value.problems[0].path == "optimizer.type"
    assert e.value.problems[0].message.startswith("unknown optimizer an integer of about 10**5000")
    with pytest.raises(SetupError) as e:
        loads_setup('[optimizer]\ntype = "AdamW"\nlr = 1' + "0" * 5000 + "\n")
    assert e.value.problems[0].message.startswith("TOML value not read: Exceeds the limit")


_HUGE = 10**5000


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"type": _HUGE}, "rules[0]", "a rule name must be a string, got an integer of about"),
        (
            {"type": "overrides", "keys": {"a*": {"tags": [_HUGE]}}},
            "rules[0].keys.a*.tags",
            "expected a list of tags, got a tuple holding a number too long to print",
        ),
        (
            {"type": "overrides", "keys": {"a*": {"lr": 10**400}}},
            "rules[0].keys.a*.lr",
            "expected a finite number >= 0, got an integer of about 10**400",
        ),
        (
            {"type": "overrides", "keys": {"a*": _HUGE}},
            "rules[0].keys.a*",
            "expected a table of settings, got an integer of about 10**5000",
        ),
    ],
)
def test_rules_no_float_or_text_holds(rule, path, message):
    """The old code raised ValueError (printing the int) or OverflowError (math.isfinite)."""
    with pytest.raises(SetupError) as e:
        load_setup({"optimizer": {"type": "SGD", "lr": 0.1}, "rules": [rule]})
    (problem,) = e.value.problems
    assert problem.path == path
    assert problem.message.startswith(message)


def test_converter_numbers_no_float_holds(tmp_path):
    """The converters' numbers: the old code raised OverflowError from math.isfinite."""
    path = tmp_path / "ds_config.json"
    path.write_text(
        json.dumps(
            {
                "optimizer": {"type": "Adam", "params": {"lr": 1e-3}},
                "gradient_clipping": HUGE,
                "train_batch_size": 8,
            }
        )
    )
    with pytest.raises(schedkit.ConversionError) as e:
        schedkit.convert("deepspeed", path)
    found = {p.path: p.message for p in e.value.problems}
    assert found["gradient_clipping"] == "expected a number >= 0, got an integer of about 10**400"


def test_deepspeed_one_cycle_refuses_betas_that_are_not_a_pair():
    """DeepSpeed's OneCycle writes (momentum, 0.99) into betas: a group with three betas
    would lose one (the optimizer then fails at its step). The old code kept the third
    and gave other values than DeepSpeed."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999, 0.5))
    params = {"cycle_min_lr": 1e-4, "cycle_max_lr": 1e-3, "cycle_first_step_size": 10}
    with pytest.raises(SpecError) as e:
        get_scheduler("deepspeed.OneCycle", opt, **params)
    assert e.value.path == "param_groups[0].betas"
    assert e.value.message.startswith("expected a pair (beta1, beta2), got (0.9, 0.999, 0.5)")
    assert opt.param_groups[0]["betas"] == (0.9, 0.999, 0.5)
    assert opt.param_groups[0]["lr"] == 0.1
    assert "initial_lr" not in opt.param_groups[0]
    get_scheduler("deepspeed.OneCycle", opt, cycle_momentum=False, **params)  # betas untouched
    assert opt.param_groups[0]["betas"] == (0.9, 0.999, 0.5)


def test_keys_are_matched_whole():
    """``$`` matches before a final newline: the old code took ``"lr\\n"`` as a key."""
    opt = sgd()
    with pytest.raises(SpecError) as e:
        get_scheduler("cosine", opt, key="lr\n", total=10)
    assert e.value.path == "key"
    assert e.value.message == "expected a param-group key such as 'lr' or 'betas[0]', got 'lr\\n'"
    assert "initial_lr\n" not in opt.param_groups[0]


def test_a_registered_name_with_a_final_newline_is_refused(fresh_registry):
    registry = fresh_registry()

    class Odd(schedkit.BaseSchedule):
        """A schedule whose name ends in a newline."""

        name = "odd\n"

        def __call__(self, step: float) -> float:
            return 1.0

    class Plugin:
        @staticmethod
        @schedkit.hookimpl
        def schedkit_add_schedules(registry):
            registry.add(Odd)

    with pytest.raises(SpecError, match="needs a name made of identifiers"):
        registry.register(Plugin, name="odd")


def test_durations_are_matched_whole():
    from schedkit.durations import to_steps

    with pytest.raises(SpecError, match="is not a duration"):
        to_steps("5ep\nx", steps_per_epoch=10)
    assert to_steps(" 5ep\n", steps_per_epoch=10) == 50
    with pytest.raises(SpecError, match=r"^steps_per_epoch=an integer of about 10\*\*400 must"):
        to_steps("5ep", steps_per_epoch=HUGE)


def test_a_huge_int_is_shown_by_its_size():
    from schedkit.plugin import as_real, show

    assert show(10**5000) == "an integer of about 10**5000"
    assert show(-(10**400)) == "an integer of about -10**400"
    assert show(2**64) == "an integer of about 10**19"
    assert show([10**5000]) == "a list holding a number too long to print"
    assert as_real(10**400) is None
    assert as_real(True) is None
    assert as_real("1") is None
    assert math.isnan(as_real(math.nan))
    assert as_real(2**62) == float(2**62)


@pytest.mark.parametrize(
    ("table", "path"),
    [
        (f"[run]\ntotal = {HUGE}\n", "run.total"),
        ("[run]\ntotal = 1e300\n", "run.total"),
        ('[run]\ntotal = "1e300"\n', "run.total"),
    ],
)
def test_a_run_length_past_the_step_limit_is_named_at_its_key(table, path):
    """It was reported at the schedule that divided it (``schedules.lr.decay``)."""
    text = (
        table
        + '[optimizer]\ntype = "SGD"\nlr = 0.1\n'
        + '[schedules.lr]\ntype = "wsd"\ndecay = "20%"\ntotal = 100\n'
    )
    with pytest.raises(SetupError) as e:
        loads_setup(text)
    found = {p.path: p.message for p in e.value.problems}
    assert path in found, found
