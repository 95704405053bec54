"""Setup validation: ``check`` and build are one validation; every problem is listed with
its key path; values that would make the model NaN, strings taken as booleans, schedules
that overwrite each other are refused."""

from __future__ import annotations

import warnings

import pytest
import torch

from schedkit import Scheduler, SpecError, build_param_groups, get_rule
from schedkit.cli import main
from schedkit.setup import Setup, SetupError, loads_setup

OPT = '[optimizer]\ntype = "AdamW"\nlr = 1e-3\n'


def problems(text: str) -> dict[str, str]:
    with pytest.raises(SetupError) as e:
        loads_setup(text)
    return {p.path: p.message for p in e.value.problems}


def _check(tmp_path, text, *args):
    path = tmp_path / "setup.toml"
    path.write_text(text)
    return main(["check", str(path), *args])


@pytest.mark.parametrize(
    ("option", "path", "message"),
    [
        ("weight_decay = nan", "optimizer.weight_decay", "expected a finite number, got nan"),
        ("weight_decay = inf", "optimizer.weight_decay", "expected a finite number, got inf"),
        ("eps = inf", "optimizer.eps", "expected a finite number, got inf"),
        ("eps = -1.0", "optimizer.eps", "expected a number >= 0, got -1.0"),
        ('amsgrad = "no"', "optimizer.amsgrad", "expected true or false, got 'no'"),
        ('foreach = "yes"', "optimizer.foreach", "expected true or false, got 'yes'"),
        ("amsgrad = 1", "optimizer.amsgrad", "expected true or false, got 1"),
        ("betas = [2.0, 0.999]", "optimizer.betas", "expected numbers in [0, 1)"),
        ("betas = [0.9]", "optimizer.betas", "expected a list of 2 numbers, got [0.9]"),
        ('betas = "x"', "optimizer.betas", "expected a list of 2 numbers, got 'x'"),
        ("betas = [0.9, nan]", "optimizer.betas", "expected finite numbers"),
    ],
)
def test_optimizer_options(option, path, message, tmp_path):
    found = problems(OPT + option + "\n")
    assert found[path].startswith(message)
    assert _check(tmp_path, OPT + option + "\n") == 1


def test_sgd_momentum_nan_and_nesterov_without_momentum(tmp_path):
    sgd = '[optimizer]\ntype = "SGD"\nlr = 0.1\n'
    assert problems(sgd + "momentum = nan\n") == {
        "optimizer.momentum": "expected a finite number, got nan"
    }
    found = problems(sgd + "nesterov = true\n")
    assert found["optimizer.nesterov"].startswith("torch.optim.SGD refuses these options: Nesterov")
    assert _check(tmp_path, sgd + "nesterov = true\n") == 1
    loads_setup(sgd + "nesterov = true\nmomentum = 0.9\n").build(torch.nn.Linear(2, 1))


@pytest.mark.parametrize(
    ("options", "path", "message"),
    [
        ({"type": "SGD", "nesterov": True}, "optimizer.nesterov", "Nesterov momentum requires"),
        (
            {"type": "SGD", "nesterov": True, "momentum": 0.9, "dampening": 0.5},
            "optimizer.nesterov",
            "zero dampening",
        ),
        ({"type": "SGD", "momentum": -0.5}, "optimizer.momentum", "Invalid momentum value"),
        ({"type": "Adam", "betas": (0.9, 1.5)}, "optimizer.betas[1]", "at index 1: 1.5"),
        ({"type": "Adamax", "betas": (-0.1, 0.9)}, "optimizer.betas[0]", "at index 0: -0.1"),
        ({"type": "Adam", "eps": -1.0}, "optimizer.eps", "Invalid epsilon value: -1.0"),
        ({"type": "AdamW", "weight_decay": -0.1}, "optimizer.weight_decay", "weight_decay"),
        ({"type": "NAdam", "momentum_decay": -1.0}, "optimizer.momentum_decay", "momentum_decay"),
        ({"type": "Rprop", "etas": (1.5, 1.2)}, "optimizer.etas", "Invalid eta values"),
        ({"type": "RMSprop", "alpha": -1.0}, "optimizer.alpha", "Invalid alpha value"),
        ({"type": "Adam", "foreach": True, "fused": True}, "optimizer.fused", "cannot be"),
    ],
)
def test_the_optimizers_own_refusals_name_the_option(options, path, message):
    # a Setup made in code skips the file's checks: torch's own refusal is what is left
    (problem,) = Setup(options, lr=1e-3).problems()
    assert isinstance(problem, SpecError)
    assert problem.path == path
    assert problem.message.startswith(f"torch.optim.{options['type']} refuses these options: ")
    assert message in problem.message


def test_a_refusal_naming_no_option_falls_back_to_the_table(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise ValueError("something is wrong")

    monkeypatch.setattr(torch.optim.SGD, "__init__", refuse)
    (problem,) = Setup({"type": "SGD", "momentum": 0.9}, lr=0.1).problems()
    assert problem.path == "optimizer"
    assert problem.message == "torch.optim.SGD refuses these options: something is wrong"


@pytest.mark.parametrize(("name", "why"), [("LBFGS", "per-parameter"), ("SparseAdam", "sparse")])
def test_optimizers_a_setup_cannot_drive(name, why):
    found = problems(f'[optimizer]\ntype = "{name}"\nlr = 0.1\n')
    assert f"{name} cannot be used in a setup" in found["optimizer.type"]
    assert why in found["optimizer.type"]


def test_optimizer_names_match_case_insensitively_first():
    found = problems('[optimizer]\ntype = "adamw"\nlr = 0.1\n')
    assert found["optimizer.type"].startswith("unknown optimizer 'adamw'; did you mean 'AdamW'?")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lr = nan", "expected a finite number >= 0, got nan"),
        ("lr_mult = inf", "expected a finite number >= 0, got inf"),
        ("weight_decay = -1", "expected a finite number >= 0, got -1"),
    ],
)
def test_overrides_values_are_finite(override, message):
    setting = override.split(" ")[0]
    found = problems(OPT + f'[[rules]]\ntype = "overrides"\nkeys = {{"fc.*" = {{{override}}}}}\n')
    assert found[f"rules[0].keys.fc.*.{setting}"] == message


def test_an_overrides_pattern_matching_nothing_is_an_error_check_lists(tmp_path, capsys):
    text = OPT + '[[rules]]\ntype = "overrides"\nkeys = {"haed.*" = {lr_mult = 10.0}}\n'
    setup = loads_setup(text)  # the file alone cannot tell: the model can
    with pytest.raises(SetupError) as e:
        setup.build(_vit())
    (problem,) = e.value.problems
    assert problem.path == "rules[0].keys.haed.*"
    assert problem.message.startswith(
        "'haed.*' (glob) matches none of the parameters of TinyViT; closest: 'head'"
    )
    path = tmp_path / "s.toml"
    path.write_text(text)
    assert main(["check", str(path)]) == 0  # no model: nothing to match against
    capsys.readouterr()
    assert main(["check", str(path), "--model", "schedkit._example:tiny_vit"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: 1 problem in the setup:\n  rules[0].keys.haed.*: 'haed.*' (glob)" in err
    assert main(["groups", str(path)]) == 1
    assert "rules[0].keys.haed.*: 'haed.*' (glob) matches none" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loads_setup(text.replace("haed", "blocks")).build(_vit())
        loads_setup(text.replace("keys", "missing_ok = true\nkeys")).build(_vit())


def test_every_name_that_matches_nothing_is_listed_at_once():
    text = (
        OPT
        + '[[rules]]\ntype = "overrides"\nmode = "substring"\n'
        + 'keys = {"nonexistent" = {lr_mult = 2.0}, "head" = {lr_mult = 3.0}, "blcks" = {}}\n'
        + '[[rules]]\ntype = "no_weight_decay"\npatterns = ["pos_embd", "cls_token"]\n'
        + '[[rules]]\ntype = "layer_decay"\nrate = 0.5\nlayout = "patterns"\nrest = "top"\n'
        + 'patterns = [["^blokcs\\\\.(\\\\d+)\\\\."]]\n'
    )
    with pytest.raises(SetupError) as e:
        loads_setup(text).build(_vit())
    found = {p.path: p.message for p in e.value.problems}
    assert list(found) == [
        "rules[0].keys.nonexistent",
        "rules[0].keys.blcks",
        "rules[1].patterns[0]",
        "rules[2].patterns[0]",
    ]
    assert found["rules[0].keys.nonexistent"].startswith(
        "'nonexistent' (substring) matches none of the parameters of TinyViT (a rule meant "
        "for models that may lack it says missing_ok = true)"
    )
    assert "; closest: 'blocks'" in found["rules[0].keys.blcks"]
    assert "; closest: 'pos_embed'" in found["rules[1].patterns[0]"]
    assert (
        "(regex) matches none of the parameters of TinyViT; closest: 'blocks."
        in (found["rules[2].patterns[0]"])
    )


def test_missing_ok_lets_a_rule_name_what_a_model_lacks():
    model = torch.nn.Linear(2, 1)
    for rule in (
        {"type": "overrides", "keys": {"head.*": {"lr_mult": 2.0}}, "missing_ok": True},
        {"type": "no_weight_decay", "patterns": ["pos_embed"], "missing_ok": True},
    ):
        groups = build_param_groups(model, [rule], lr=0.1, weight_decay=0.05)
        assert {g["lr"] for g in groups} == {0.1}  # head.* names nothing here
        with pytest.raises(SpecError) as e:
            build_param_groups(model, [{**rule, "missing_ok": False}], lr=0.1)
        assert e.value.path.startswith(("rules[0].keys.head.*", "rules[0].patterns[0]"))
    assert get_rule({"type": "overrides", "keys": {"x": {}}}).spec()["missing_ok"] is False
    with pytest.raises(SpecError, match="missing_ok"):
        get_rule({"type": "overrides", "keys": {"x": {}}, "missing_ok": "yes"})


def _vit():
    from schedkit._example import tiny_vit

    return tiny_vit()


def test_two_schedules_on_the_same_key_and_groups():
    found = problems(
        OPT + '[schedules.lr]\ntype = "constant"\n[schedules.lr2]\nkey = "lr"\ntype = "constant"\n'
    )
    assert found["schedules.lr2.key"].startswith("'lr' is already scheduled by [schedules.lr]")
    # different tags: different groups, allowed
    loads_setup(
        OPT + '[schedules.lr]\ntype = "constant"\ntags = ["a"]\n[schedules.lr2]\nkey = "lr"\n'
        'type = "constant"\ntags = ["b"]\n'
    )


def test_agc_exclude_refuses_a_bare_string():
    """Read character by character, "head.*" excluded everything (its '*')."""
    found = problems(OPT + '[clip]\ntype = "agc"\nexclude = "head.*"\n')
    assert found["clip.exclude"] == (
        "expected a list of strings, got the string 'head.*': write ['head.*']"
    )
    loads_setup(OPT + '[clip]\ntype = "agc"\nexclude = ["head.*"]\n')


@pytest.mark.parametrize(
    ("run", "schedule", "path", "message"),
    [
        (
            'total = "10ep"\nsteps_per_epoch = 10',
            'warmup = "20ep"',
            "schedules.lr.warmup",
            "expected more than the warmup",
        ),
        ("total = 100", 'warmup = "100%"', "schedules.lr.warmup", "expected more than the warmup"),
    ],
)
def test_warmups_that_cannot_fit_are_found_by_check(run, schedule, path, message, tmp_path):
    text = f'[run]\n{run}\n{OPT}[schedules.lr]\ntype = "cosine"\n{schedule}\n'
    found = problems(text)
    assert any(p.endswith(("warmup", "total")) and message in m for p, m in found.items()), found
    assert _check(tmp_path, text) == 1


def test_epochs_without_steps_per_epoch(tmp_path, capsys):
    """load_setup waits for the build's steps_per_epoch; check and build say what is missing."""
    text = f'[run]\ntotal = "10ep"\n{OPT}[schedules.lr]\ntype = "cosine"\n'
    setup = loads_setup(text)
    with pytest.raises(SetupError, match="run.total: '10ep' is in epochs, but steps_per_epoch"):
        setup.build(torch.nn.Linear(2, 1))
    assert _check(tmp_path, text) == 1
    assert "steps_per_epoch was not given" in capsys.readouterr().err
    assert _check(tmp_path, text, "--steps-per-epoch", "5") == 0
    built = setup.build(torch.nn.Linear(2, 1), steps_per_epoch=5)
    assert built.total_steps == 50


def test_base_lr_needs_a_batch_size_at_check(tmp_path):
    text = '[optimizer]\ntype = "SGD"\nbase_lr = 0.1\nlr_scaling = "linear"\n'
    assert _check(tmp_path, text) == 1
    assert _check(tmp_path, text, "--batch-size", "512") == 0


def test_every_problem_is_listed_not_the_first_per_table():
    found = problems(
        '[run]\ntotal = "1O0"\n' + OPT + '[schedules.lr]\ntype = "cosine"\nwarmup = -3\n'
        '[clip]\ntype = "norm"\nmax_nrom = 1.0\nnrom_type = 2\n'
    )
    assert "run.total" in found
    assert "schedules.lr.warmup" in found
    assert "clip.max_nrom" in found
    assert "clip.nrom_type" in found
    assert "clip.max_norm" in found


def test_schedules_params_is_refused_with_a_short_message():
    found = problems(OPT + '[schedules.params]\ntype = "constant"\n')
    assert found == {"schedules.params": "'params' is not a hyperparameter a schedule can drive"}


def test_wrong_type_names_the_type_key():
    assert problems(OPT + "[schedules.lr]\ntype = 5\n") == {
        "schedules.lr.type": "expected a registered name, got 5"
    }
    found = problems(OPT + '[schedules.lr]\ntype = "cosin"\n')
    assert list(found) == ["schedules.lr.type"]


def test_a_huge_problem_text_is_trimmed():
    err = SetupError([SpecError("x" * 20000, "a")])
    assert len(str(err)) < 600


def test_check_ok_means_the_build_steps(tmp_path):
    text = (
        '[run]\ntotal = 30\n[optimizer]\ntype = "SGD"\nlr = 0.1\nmomentum = 0.9\nnesterov = true\n'
        '[schedules.lr]\ntype = "cosine"\nwarmup = "10%"\n[schedules.momentum]\ntype = "constant"\n'
        '[clip]\ntype = "norm"\nmax_norm = 1.0\n'
    )
    assert _check(tmp_path, text) == 0
    model = torch.nn.Linear(3, 1)
    built = loads_setup(text).build(model)
    for _ in range(3):
        model(torch.randn(2, 3)).sum().backward()
        built.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_key_the_optimizer_lacks_is_found_by_check(tmp_path):
    text = OPT + '[schedules.momentum]\ntype = "constant"\n'
    found = problems(text)
    assert "the group has no 'momentum'" in " ".join(found.values())


def test_tags_that_are_not_strings_are_a_problem_not_a_crash():
    found = problems(OPT + '[schedules.lr]\ntype = "constant"\ntags = [[]]\n')
    assert found == {"schedules.lr.tags": "expected a list of strings, got [[]]"}


def _tagged_opt():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD(
        [{"params": [a], "tags": ["backbone"]}, {"params": [b], "tags": ["head"]}], lr=0.1
    )


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (
            ["haed"],
            "tags ['haed'] match no param group (the groups carry: ['backbone', "
            "'head']); did you mean 'head'?",
        ),
        (
            ["head", "nek"],
            "tags ['nek'] match no param group (the groups carry: ['backbone', 'head'])",
        ),
        (["head", None], "tags [None] match no param group"),
    ],
)
def test_every_tag_of_a_schedule_selects_a_group(tags, message):
    opt = _tagged_opt()
    with pytest.raises(SpecError) as e:
        Scheduler(opt, "constant", value=0.5, tags=tags)
    assert e.value.path == "tags"
    assert e.value.message.startswith(message)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]  # nothing changed
    assert all("initial_lr" not in g for g in opt.param_groups)


def test_many_schedules_on_unmatched_tags_each_say_so():
    tables = "".join(
        f'[schedules.s{i}]\nkey = "lr"\ntype = "constant"\ntags = ["t{i}"]\n' for i in range(30)
    )
    with pytest.raises(SetupError) as e:
        loads_setup(OPT + tables).build(torch.nn.Linear(2, 1))
    found = {p.path: p.message for p in e.value.problems}
    assert list(found) == [f"schedules.s{i}.tags" for i in range(30)]
    assert found["schedules.s7.tags"] == (
        "tags ['t7'] match no param group (the groups carry: no tags)"
    )


def test_tags_that_are_not_a_list_are_no_clash_with_other_tables():
    tables = "".join(
        f'[schedules.s{i}]\nkey = "lr"\ntype = "constant"\ntags = "t{i}"\n' for i in range(3)
    )
    found = problems(OPT + tables)
    assert found == {
        f"schedules.s{i}.tags": f"expected a list of strings, got 't{i}'" for i in range(3)
    }


RULE = '[[rules]]\ntype = "overrides"\nkeys = {{"head.*" = {{ {} }}}}\n'
TWO_OPTIMIZERS = (
    '[optimizers.a]\ntype = "AdamW"\nlr = 1e-3\nparams = {ndim = 2}\n'
    '[optimizers.b]\ntype = "SGD"\nlr = 0.1\n'
)


@pytest.mark.parametrize(
    ("optimizers", "setting", "message"),
    [
        (OPT, "betas = [0.9, 2.0]", "expected numbers in [0, 1)"),
        (OPT, 'eps = "x"', "expected a finite number, got 'x'"),
        (OPT, "momentum = 0.9", "torch.optim.AdamW ([optimizer]) has no option 'momentum'"),
        (TWO_OPTIMIZERS, "betas = [0.9, 2.0]", "expected numbers in [0, 1)"),
        (TWO_OPTIMIZERS, "ns_steps = 5", "no optimizer of this setup has the option 'ns_steps'"),
    ],
)
def test_a_rule_option_no_optimizer_takes_fails_check_not_only_build(
    optimizers, setting, message, tmp_path
):
    """``schedkit check`` passed these (only a build on a model found them)."""
    text = optimizers + RULE.format(setting)
    path = f"rules[0].keys.head.*.{setting.split()[0]}"
    assert problems(text)[path].startswith(message)
    assert _check(tmp_path, text) == 1


def test_a_rule_option_one_of_several_optimizers_takes_passes_check(tmp_path):
    text = TWO_OPTIMIZERS + RULE.format("momentum = 0.5")
    loads_setup(text)
    assert _check(tmp_path, text) == 0


def test_a_rule_value_out_of_range_names_its_optimizer_once_each():
    """Two optimizers gave two identical lines ("param group 1 lr = 1e+308"), naming
    neither."""
    text = TWO_OPTIMIZERS + RULE.format("lr = 1e308").replace('"head.*"', '"*"')
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    with pytest.raises(SetupError) as e:
        loads_setup(text).build(model)
    messages = [p.message for p in e.value.problems if p.path == "rules"]
    assert len(messages) == len(set(messages)) == 2
    assert any("[optimizers.a]" in m for m in messages)
    assert any("[optimizers.b]" in m for m in messages)
