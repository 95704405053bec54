"""Several optimizers in one setup: routing, checks with key paths, stepping as one unit,
state all or nothing, and the same floats as the recipe wired by hand."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import tomllib
import torch
from torch import nn

from schedkit import SpecError, StateError
from schedkit.setup import SetupError, load_setup, loads_setup
from schedkit.testing import roundtrip

ROOT = Path(__file__).resolve().parents[2]
SPEEDRUN = ROOT / "examples" / "muon-adamw-speedrun.toml"


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.fc = nn.Linear(dim, 4 * dim, bias=False)
        self.out = nn.Linear(4 * dim, dim, bias=False)
        self.scalars = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        h = nn.functional.rms_norm(x, (d,))
        q, k, v = self.qkv(h).split(d, dim=-1)
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.scalars[0] * self.proj(a)
        h = nn.functional.rms_norm(x, (d,))
        return x + self.scalars[1] * self.out(nn.functional.relu(self.fc(h)).square())


class GPT(nn.Module):
    """A tiny GPT in the speedrun's shape: embedding, blocks of matrices and scalars, head."""

    def __init__(self, vocab: int = 32, dim: int = 16, depth: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(nn.functional.rms_norm(x, (x.shape[-1],)))


def gpt(dtype: torch.dtype = torch.float32) -> GPT:
    torch.manual_seed(0)
    return GPT().to(dtype)


def loss_of(model: GPT, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(step)
    idx = torch.randint(0, 32, (4, 9), generator=g)
    logits = model(idx[:, :-1])
    return nn.functional.cross_entropy(logits.flatten(0, 1), idx[:, 1:].flatten())


TWO = """
[run]
total = 20

[optimizers.muon]
type = "Muon"
lr = 0.02
params = {ndim = 2, name = "blocks.*"}

[optimizers.adamw]
type = "AdamW"
lr = 3e-3
betas = [0.9, 0.95]

[schedules.lr]
type = "cosine"
warmup = 2

[clip]
type = "norm"
max_norm = 0.5
"""


def problems(text: str) -> dict[str, str]:
    with pytest.raises(SetupError) as e:
        loads_setup(text)
    return {p.path: p.message for p in e.value.problems}


def build_problems(text: str, model: nn.Module | None = None) -> dict[str, str]:
    with pytest.raises(SetupError) as e:
        loads_setup(text).build(model if model is not None else gpt())
    return {p.path: p.message for p in e.value.problems}


def names_of(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    ids = {id(p): n for n, p in model.named_parameters()}
    return [ids[id(p)] for g in optimizer.param_groups for p in g["params"]]


def test_routes_every_parameter_to_exactly_one_optimizer():
    model = gpt()
    built = loads_setup(TWO).build(model)
    assert list(built.optimizers) == ["muon", "adamw"]
    muon, adamw = built.optimizers["muon"], built.optimizers["adamw"]
    assert type(muon) is torch.optim.Muon
    assert type(adamw) is torch.optim.AdamW
    hidden = [n for n, p in model.named_parameters() if n.startswith("blocks.") and p.ndim == 2]
    assert names_of(model, muon) == hidden
    rest = [n for n, _ in model.named_parameters() if n not in hidden]
    assert sorted(names_of(model, adamw)) == sorted(rest)
    assert "blocks.0.scalars" in rest  # 1-D inside the blocks: not Muon's
    assert adamw.param_groups[0]["betas"] == (0.9, 0.95)
    assert muon.param_groups[0]["initial_lr"] == 0.02
    assert adamw.param_groups[0]["initial_lr"] == 3e-3
    # one curve, each optimizer's own peak
    assert sorted(built.schedulers) == ["adamw.lr", "muon.lr"]
    assert built.units["muon"].schedulers["lr"] is built.schedulers["muon.lr"]
    assert built.groups is None
    assert built.units["adamw"].groups is not None
    with pytest.raises(SpecError, match="2 optimizers \\(muon, adamw\\): use built.optimizers"):
        built.optimizer  # noqa: B018


def test_the_setup_round_trips_through_toml():
    setup = loads_setup(TWO.replace('name = "blocks.*"', 'name = ["blocks.*"], module = "Linear"'))
    again = loads_setup(setup.to_toml())
    assert again == setup
    data = setup.to_dict()
    assert data["optimizers"]["muon"]["params"] == {
        "name": "blocks.*",
        "ndim": 2,
        "module": "Linear",
    }
    assert "optimizer" not in data
    assert setup.learning_rates() == {"muon": 0.02, "adamw": 3e-3}


def test_one_optimizer_keeps_its_old_names():
    model = gpt()
    built = loads_setup(
        '[optimizer]\ntype = "SGD"\nlr = 0.1\n[schedules.lr]\ntype = "cosine"\ntotal = 5\n'
    ).build(model)
    assert built.optimizers == {"optimizer": built.optimizer}
    assert list(built.schedulers) == ["lr"]
    assert built.groups is not None
    assert built.units["optimizer"].groups is built.groups
    state = built.state_dict()
    assert "optimizer" in state
    assert "optimizers" not in state
    assert list(state["schedulers"]) == ["lr"]


def test_doubles_strays_and_empty_params_name_their_tables():
    both = TWO.replace(
        '[optimizers.adamw]\ntype = "AdamW"',
        '[optimizers.adamw]\ntype = "AdamW"\nparams = {name = "*.qkv.*"}',
    )
    found = build_problems(both)
    assert found["optimizers.adamw.params"].startswith(
        "2 parameter(s) also taken by optimizers.muon: blocks.0.qkv.weight, blocks.1.qkv.weight;"
    )
    assert found["optimizers"].startswith(
        "4 trainable parameter(s) go to no optimizer: embed.weight, blocks.0.scalars, blocks.1.scalars, head.weight (give"
    )
    nothing = TWO.replace('name = "blocks.*"', 'name = "decoder.*"')
    assert (
        build_problems(nothing)["optimizers.muon.params"]
        == "takes no trainable parameter of the model"
    )
    everything = TWO.replace('params = {ndim = 2, name = "blocks.*"}', "params = {ndim = [1, 2]}")
    assert build_problems(everything)["optimizers.adamw"].startswith(
        "the other optimizers take every trainable parameter"
    )


def test_the_tables_are_checked_with_key_paths():
    found = problems(
        TWO.replace("ndim = 2,", "ndim = 2.5, shape = 3,")
        + '[optimizers.sgd]\ntype = "SGD"\nlr = -1\nmomentm = 0.9\n'
        + '[optimizer]\ntype = "SGD"\nlr = 0.1\n'
    )
    assert found["optimizers.muon.params.ndim"].startswith("expected a whole number >= 0")
    assert found["optimizers.muon.params.shape"].startswith("unknown key")
    assert found["optimizers.sgd"].startswith("optimizers.adamw already takes the parameters")
    assert found["optimizers.sgd.lr"] == "expected a learning rate >= 0, got -1"
    assert found["optimizers.sgd.momentm"].startswith("unknown key; did you mean 'momentum'?")
    assert found["optimizers"] == "give one [optimizer] table or [optimizers.NAME] tables, not both"


def test_muons_own_options_are_checked():
    base = '[optimizers.m]\ntype = "Muon"\nlr = 0.1\n'
    assert problems(base + "ns_steps = 2.5\n") == {
        "optimizers.m.ns_steps": "expected a whole number, got 2.5"
    }
    assert problems(base + "ns_steps = 100\n") == {
        "optimizers.m.ns_steps": "expected a number >= 0 and < 100, got 100"
    }
    assert problems(base + 'adjust_lr_fn = "rms"\n') == {
        "optimizers.m.adjust_lr_fn": "torch.optim.Muon refuses these options: Adjust learning "
        "rate function rms is not supported"
    }
    assert problems(base + "ns_coefficients = [1.0, 2.0]\n") == {
        "optimizers.m.ns_coefficients": "expected a list of 3 numbers, got [1.0, 2.0]"
    }
    assert problems(base + "nesterov = 1\n") == {
        "optimizers.m.nesterov": "expected true or false, got 1"
    }


def test_muon_refusing_a_parameter_names_the_params_table():
    found = build_problems(TWO.replace("ndim = 2, ", ""))
    assert found["optimizers.muon.params"].startswith(
        "torch.optim.Muon refuses its parameters: Muon only supports 2D parameters"
    )


def test_schedules_choose_their_optimizers():
    text = (
        TWO
        + '[schedules.momentum]\noptimizers = ["muon"]\ntype = "constant"\nwarmup = 4\nwarmup_start = 0.5\n'
    )
    built = loads_setup(text).build(gpt())
    assert sorted(built.schedulers) == ["adamw.lr", "muon.lr", "muon.momentum"]
    assert built.optimizers["muon"].param_groups[0]["momentum"] == 0.95 * 0.5
    assert loads_setup(text).to_dict()["schedules"]["momentum"]["optimizers"] == ["muon"]
    found = problems(
        TWO + '[schedules.wd]\nkey = "weight_decay"\noptimizers = ["adam"]\ntype = "cosine"\n'
    )
    assert found["schedules.wd.optimizers"].startswith("unknown key; did you mean 'adamw'?")
    clash = TWO + '[schedules.lr2]\nkey = "lr"\noptimizers = "muon"\ntype = "constant"\n'
    assert problems(clash)["schedules.lr2.key"].startswith(
        "'lr' is already scheduled by [schedules.lr]"
    )
    single = '[optimizer]\ntype = "SGD"\nlr = 0.1\n[schedules.lr]\ntype = "constant"\noptimizers = ["x"]\n'
    assert problems(single) == {
        "schedules.lr.optimizers": "only a setup with [optimizers.NAME] tables chooses optimizers"
    }
    # a key only one optimizer has: scheduled on that one alone
    split = TWO.replace("[schedules.lr]", '[schedules.lr]\noptimizers = ["adamw"]') + (
        '[schedules.muon_lr]\nkey = "lr"\noptimizers = ["muon"]\ntype = "constant"\n'
    )
    built = loads_setup(split).build(gpt())
    assert sorted(built.schedulers) == ["adamw.lr", "muon.muon_lr"]


def test_overrides_set_any_option_of_the_groups_optimizer():
    rule = '[[rules]]\ntype = "overrides"\nkeys = {"head.*" = {betas = [0.8, 0.99], eps = 1e-10}}\n'
    model = gpt()
    built = loads_setup(TWO + rule).build(model)
    (head,) = [g for g in built.optimizers["adamw"].param_groups if g["eps"] == 1e-10]
    assert head["betas"] == (0.8, 0.99)
    assert names_of(model, built.optimizers["adamw"]).count("head.weight") == 1
    assert len(head["params"]) == 1
    # an option the group's optimizer does not have, with the rule's key path
    on_muon = '[[rules]]\ntype = "overrides"\nkeys = {"blocks.*" = {betas = [0.8, 0.99]}}\n'
    found = build_problems(TWO + on_muon)
    assert found == {
        "rules[0].keys.blocks.*.betas": "torch.optim.Muon ([optimizers.muon]) has no option "
        "'betas' (its options: weight_decay, momentum, nesterov, ns_coefficients, eps, "
        "ns_steps, adjust_lr_fn)"
    }
    # a value the option refuses
    bad = '[[rules]]\ntype = "overrides"\nkeys = {"head.*" = {eps = -1.0, amsgrad = 2}}\n'
    found = build_problems(TWO + bad)
    assert found == {
        "rules[0].keys.head.*.eps": "expected a number >= 0, got -1.0",
        "rules[0].keys.head.*.amsgrad": "expected true or false, got 2",
    }
    typo = '[[rules]]\ntype = "overrides"\nkeys = {"head.*" = {bettas = [0.8, 0.99]}}\n'
    assert problems(TWO + typo)["rules[0].keys.head.*.bettas"].startswith(
        "unknown setting; did you mean 'betas'?"
    )


def test_one_global_norm_over_every_optimizer():
    model = gpt(torch.float64)
    twin = copy.deepcopy(model)
    built = loads_setup(TWO).build(model)
    loss_of(model, 0).backward()
    loss_of(twin, 0).backward()
    expected = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.5)
    built.step(zero_grad=False)
    assert built.last_clip is not None
    assert float(built.last_clip.total_norm) == float(expected)
    for (n, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), n
        assert p.grad is not None


def test_state_round_trips_and_loads_all_or_nothing():
    model = gpt()
    setup = loads_setup(TWO)
    built = setup.build(model)
    for step in range(3):
        loss_of(model, step).backward()
        built.step()
    state = roundtrip(built.state_dict())
    assert sorted(state["optimizers"]) == ["adamw", "muon"]
    assert sorted(state["schedulers"]) == ["adamw.lr", "muon.lr"]
    other_model = gpt()
    other = setup.build(other_model)
    other.load_state_dict(state)
    assert other.schedulers["muon.lr"].steps == 3
    assert (
        other.optimizers["adamw"].state_dict()["state"].keys()
        == built.optimizers["adamw"].state_dict()["state"].keys()
    )
    # a bad part anywhere: nothing loaded, the key path named
    fresh = setup.build(gpt())
    before = copy.deepcopy(fresh.state_dict())
    broken = copy.deepcopy(state)
    broken["optimizers"]["adamw"]["param_groups"][0]["params"] = [0]
    with pytest.raises(StateError, match="optimizers.adamw.param_groups\\[0\\].params"):
        fresh.load_state_dict(broken)
    broken = copy.deepcopy(state)
    broken["schedulers"]["adamw.lr"]["step"] = -1
    with pytest.raises(StateError, match="schedulers.adamw.lr"):
        fresh.load_state_dict(broken)
    missing = copy.deepcopy(state)
    del missing["optimizers"]["muon"]
    with pytest.raises(StateError, match="optimizers: the state has optimizers \\['adamw'\\]"):
        fresh.load_state_dict(missing)
    after = fresh.state_dict()
    assert after["schedulers"] == before["schedulers"]
    assert after["optimizers"]["muon"]["state"] == {} == after["optimizers"]["adamw"]["state"]


def test_the_speedrun_example_equals_the_recipe_wired_by_hand_in_float64():
    data = tomllib.loads(SPEEDRUN.read_text())
    total, steps = 20, 20  # a short run through the stable phase and the whole cooldown
    data["run"]["total"] = total
    data["schedules"]["momentum"]["warmup"] = 6
    data["clip"] = {"type": "norm", "max_norm": 1.0}
    by_setup = gpt(torch.float64)
    by_hand = copy.deepcopy(by_setup)
    built = load_setup(data).build(by_setup)
    for step in range(steps):
        loss_of(by_setup, step).backward()
        built.step()
    _by_hand(by_hand, steps, total, warmup=6)
    for (n, p), q in zip(by_setup.named_parameters(), by_hand.parameters(), strict=True):
        assert p.dtype == torch.float64
        assert torch.equal(p, q), n
    assert not torch.equal(by_setup.head.weight, gpt(torch.float64).head.weight)


def _by_hand(model: GPT, steps: int, total: int, warmup: int) -> None:
    """The example's recipe wired by hand: two torch optimizers, two torch schedulers, the
    momentum warmup set on Muon's group, torch's clipping over the model's parameters."""
    hidden = [p for n, p in model.named_parameters() if n.startswith("blocks.") and p.ndim == 2]
    embed = [model.embed.weight]
    head = [model.head.weight]
    seen = {id(p) for p in hidden + embed + head}
    scalars = [p for p in model.parameters() if id(p) not in seen]
    muon = torch.optim.Muon(
        hidden, lr=0.05, momentum=0.95, nesterov=True, weight_decay=0.0, adjust_lr_fn="original"
    )
    adam = torch.optim.Adam(
        [dict(params=scalars, lr=0.04), dict(params=embed, lr=0.6), dict(params=head, lr=0.008)],
        betas=(0.8, 0.95),
        eps=1e-10,
        weight_decay=0.0,
    )
    decay = round(total * 0.4)

    def lr_factor(step: int) -> float:  # stable, then linear to 0.1 over the last 40%
        start = total - decay
        if step < start:
            return 1.0
        return 0.1 + (1.0 - 0.1) * (1.0 - (step - start) / decay)

    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lr_factor) for o in (muon, adam)]
    low = 0.8947368421052632

    def momentum(step: int) -> float:  # 0.85 -> 0.95 over the warmup
        return 0.95 * (low + (1.0 - low) * min(step / warmup, 1.0))

    for g in muon.param_groups:
        g["momentum"] = momentum(0)
    for step in range(steps):
        loss_of(model, step).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        muon.step()
        adam.step()
        for s in scheds:
            s.step()
        for g in muon.param_groups:
            g["momentum"] = momentum(step + 1)
        muon.zero_grad(set_to_none=True)
        adam.zero_grad(set_to_none=True)
    assert math.isclose(muon.param_groups[0]["lr"], 0.05 * lr_factor(steps))


def test_groups_plot_and_preview_show_every_optimizer(capsys):
    import json

    from schedkit.cli import main

    assert main(["groups", str(SPEEDRUN)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("optimizer muon (Muon)\ngroup  name     params")
    assert "\n\noptimizer adam (Adam)\ngroup  name     params" in out
    assert "\n2      head.*   2       330    0.008  0 " in out
    assert main(["groups", str(SPEEDRUN), "--explain", "head.weight"]) == 0
    assert capsys.readouterr().out.startswith("optimizer adam: head.weight: group 2 (head.*)\n")
    assert main(["plot", "--json", str(SPEEDRUN)]) == 0
    plotted = json.loads(capsys.readouterr().out)
    assert sorted(plotted["curves"]) == ["adam.lr", "muon.lr", "muon.momentum"]
    assert [g["label"] for g in plotted["groups"]["adam.lr"]] == [
        "adam: default: defaults",
        "adam: *embed*: overrides",
        "adam: head.*: overrides",
    ]
    assert main(["preview", "--json", "--simulate", "3", str(SPEEDRUN)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(shown["optimizers"]) == ["adam", "muon"]
    assert [r["optimizer"] for r in shown["groups"]] == ["muon", "adam", "adam", "adam"]
    assert shown["value_mismatches"] == 0
