"""The ``composer.*`` aliases against Composer 0.32.1's own schedulers, called as its Trainer
calls them: ``compile_composer_scheduler`` (a ``LambdaLR`` on a real ``State``) stepped
after each batch while the State's timestamp advances, ``scale_schedule_ratio`` applied to
the scheduler and to ``max_duration`` as the Trainer applies them. The same lr in every
param group at every step (``==``: both compute in Python floats), with each time unit
(``ep``, ``ba``, ``sp``, ``tok``, ``dur``), Composer's errors as errors naming the argument,
the signatures, a resume, and a small model trained both ways."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError
from schedkit.registry import default_registry
from tests.support.alias_signatures import divergences, from_signature, of_alias
from tests.support.composer_peer import install, next_batch, state

install()  # the stand-ins for torchvision and mcli, which Composer imports at its top
cs = pytest.importorskip("composer.optim.scheduler")
from composer.trainer.trainer import _scale_max_duration_by_ssr  # noqa: E402

#: the State's quantities the aliases take as arguments (not Composer's own parameters)
CONTEXT = (
    "max_duration",
    "dataloader_len",
    "samples_per_batch",
    "tokens_per_batch",
    "scale_schedule_ratio",
)

#: (class, its arguments, the State's quantities): every class, every unit, ratios
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("StepScheduler", {"step_size": "7ba", "gamma": 0.5}, {}),
    ("StepScheduler", {"step_size": "1ep"}, {"dataloader_len": 6, "scale_schedule_ratio": 1.5}),
    ("StepScheduler", {"step_size": "96sp", "gamma": 0.7}, {"samples_per_batch": 8}),
    ("MultiStepScheduler", {"milestones": ["10ba", "2ep", "0.75dur"]}, {"dataloader_len": 12}),
    ("MultiStepScheduler", {"milestones": ["300tok", "900tok"]}, {"tokens_per_batch": 24}),
    ("ConstantScheduler", {"alpha": 0.3, "t_max": "0.25dur"}, {"max_duration": "4ep"}),
    ("ConstantScheduler", {"alpha": 0.3, "t_max": "20ba"}, {"scale_schedule_ratio": 0.5}),
    ("LinearScheduler", {"alpha_i": 0.9, "alpha_f": 0.05, "t_max": "0.6dur"}, {}),
    ("LinearScheduler", {"t_max": "1000tok"}, {"tokens_per_batch": 16}),
    ("ExponentialScheduler", {"gamma": 0.9}, {"dataloader_len": 7}),
    ("ExponentialScheduler", {"gamma": 0.8, "decay_period": "40sp"}, {"samples_per_batch": 3}),
    ("CosineAnnealingScheduler", {"alpha_f": 0.1}, {"max_duration": "5ep", "dataloader_len": 9}),
    ("CosineAnnealingScheduler", {"t_max": "33ba"}, {"scale_schedule_ratio": 1.7}),
    ("CosineAnnealingWarmRestartsScheduler", {"t_0": "9ba"}, {}),
    ("CosineAnnealingWarmRestartsScheduler", {"t_0": "5ba", "t_mult": 1.3, "alpha_f": 0.1}, {}),
    ("CosineAnnealingWarmRestartsScheduler", {"t_0": "1ep", "t_mult": 2.0}, {"dataloader_len": 4}),
    ("PolynomialScheduler", {"power": 2.0}, {"max_duration": "700sp", "samples_per_batch": 7}),
    ("PolynomialScheduler", {"power": 0.5, "t_max": "0.5dur", "alpha_f": 0.2}, {}),
    (
        "MultiStepWithWarmupScheduler",
        {"t_warmup": "6ba", "milestones": ["30ba", "0.8dur"], "gamma": 0.5},
        {},
    ),
    (
        "MultiStepWithWarmupScheduler",
        {"t_warmup": "0.1dur", "milestones": ["40ba"], "scale_warmup": True},
        {"scale_schedule_ratio": 1.5},
    ),
    (
        "ConstantWithWarmupScheduler",
        {"t_warmup": "64sp", "alpha": 0.5},
        {"samples_per_batch": 8, "max_duration": "800sp"},
    ),
    ("LinearWithWarmupScheduler", {"t_warmup": "0.1dur", "alpha_i": 0.8, "alpha_f": 0.1}, {}),
    (
        "LinearWithWarmupScheduler",
        {"t_warmup": "8ba", "scale_warmup": True},
        {"scale_schedule_ratio": 0.5},
    ),
    (
        "CosineAnnealingWithWarmupScheduler",
        {"t_warmup": "0.05dur", "alpha_f": 0.1},
        {"max_duration": "3200tok", "tokens_per_batch": 32},
    ),
    (
        "CosineAnnealingWithWarmupScheduler",
        {"t_warmup": "5ba", "t_max": "130ba"},
        {"max_duration": "10ep", "dataloader_len": 12},
    ),
    (
        "PolynomialWithWarmupScheduler",
        {"t_warmup": "9ba", "power": 1.5, "alpha_f": 0.2},
        {"max_duration": "4ep", "dataloader_len": 25},
    ),
]


def _optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    groups = [
        {"params": [params[0]]},
        {"params": [params[1]], "lr": 0.37},
        {"params": [params[2]], "lr": 3e-4},
    ]
    return torch.optim.AdamW(groups, lr=0.1)


def _lrs(opt: torch.optim.Optimizer) -> list[float]:
    return [g["lr"] for g in opt.param_groups]


class Composer:
    """Composer's scheduler on a State, driven as its Trainer drives it."""

    def __init__(self, name: str, args: dict[str, Any], context: dict[str, Any]) -> None:
        self.opt = _optimizer()
        self.spb = context.get("samples_per_batch", 1)
        self.tpb = context.get("tokens_per_batch", 1)
        ratio = context.get("scale_schedule_ratio", 1.0)
        self.state = state(self.opt, context["max_duration"], context["dataloader_len"], self.spb)
        self.sched = cs.compile_composer_scheduler(getattr(cs, name)(**args), self.state, ratio)
        if ratio != 1.0:  # the Trainer scales max_duration after compiling the schedulers
            self.state.max_duration = _scale_max_duration_by_ssr(ratio, self.state.max_duration)

    def step(self) -> None:
        next_batch(self.state, self.spb, self.tpb)
        self.sched.step()


def _context(context: dict[str, Any]) -> dict[str, Any]:
    return {"max_duration": "120ba", "dataloader_len": 10, **context}


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
@pytest.mark.parametrize(("name", "args", "context"), CASES, ids=lambda c: str(c)[:40])
def test_composers_floats_in_every_group(
    name: str, args: dict[str, Any], context: dict[str, Any]
) -> None:
    context = _context(context)
    peer = Composer(name, args, context)
    opt = _optimizer()
    sched = schedkit.get_scheduler(f"composer.{name}", opt, **args, **context)
    for _ in range(160):  # past max_duration: what a longer run would get
        assert _lrs(opt) == _lrs(peer.opt), sched.last_epoch
        peer.step()
        sched.step()


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
def test_a_resumed_scheduler_goes_on_as_composers() -> None:
    name, args, context = CASES[-2]
    context = _context(context)
    peer = Composer(name, args, context)
    opt = _optimizer()
    sched = schedkit.get_scheduler(f"composer.{name}", opt, **args, **context)
    for _ in range(50):
        peer.step()
        sched.step()
    saved = sched.state_dict()
    opt2 = _optimizer()
    resumed = schedkit.get_scheduler(f"composer.{name}", opt2, **args, **context)
    resumed.load_state_dict(saved)
    for _ in range(80):
        assert _lrs(opt2) == _lrs(peer.opt)
        peer.step()
        resumed.step()


def _registered() -> dict[str, type]:
    return {i.name: i.cls for i in default_registry().components() if i.plugin == "composer"}


def test_every_composer_scheduler_has_an_alias() -> None:
    assert sorted(_registered()) == sorted(f"composer.{n}" for n in cs.__all__[2:])


@pytest.mark.parametrize(
    "name", [n for n in cs.__all__ if n.endswith("Scheduler") and n != "ComposerScheduler"]
)
def test_the_alias_takes_composers_arguments(name: str) -> None:
    """Composer's parameters, names, defaults and order; the State's quantities after them
    are the alias's own (keyword only), deliberately."""
    original = from_signature(getattr(cs, name), ("self",))
    alias = of_alias(_registered()[f"composer.{name}"])
    assert divergences(alias, original, deliberate=CONTEXT) == []
    assert [p.name for p in alias if p.name in CONTEXT and p.positional] == []


def _refused(name: str, args: dict[str, Any], context: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as e:
        schedkit.get_scheduler(f"composer.{name}", _optimizer(), **args, **context)
    return e.value


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
def test_composers_errors_are_errors_naming_the_argument() -> None:
    # t_max shorter than the run: Composer raises ValueError at its first call
    args, context = {"t_warmup": "5ba", "t_max": "80ba"}, _context({})
    with pytest.raises(ValueError, match="must be greater than or equal to max_duration"):
        Composer("LinearWithWarmupScheduler", args, context)
    e = _refused("LinearWithWarmupScheduler", args, context)
    assert e.path.endswith("t_max")
    assert "at least max_duration (120ba)" in str(e)
    # the warmup and t_max in different units
    args = {"t_warmup": "40sp", "t_max": "0.9dur"}
    context = _context({"samples_per_batch": 4, "max_duration": "100ba"})
    with pytest.raises(ValueError, match="must use the same units"):
        Composer("CosineAnnealingWithWarmupScheduler", args, context)
    assert "same unit" in str(_refused("CosineAnnealingWithWarmupScheduler", args, context))
    # wall-clock times
    with pytest.raises(ValueError, match="Wall clock time not an allowed time unit"):
        Composer("LinearScheduler", {"t_max": "1h0m0s"}, _context({}))
    assert "wall-clock" in str(_refused("LinearScheduler", {"t_max": "1h0m0s"}, {}))
    # what the State holds, missing
    e = _refused("LinearScheduler", {"t_max": "0.5dur"}, {})
    assert (e.path, "needs max_duration" in str(e)) == ("t_max", True)
    e = _refused("StepScheduler", {"step_size": "2ep"}, {})
    assert (e.path, "needs dataloader_len" in str(e)) == ("step_size", True)
    e = _refused("StepScheduler", {"step_size": "20tok"}, {})
    assert "needs tokens_per_batch" in str(e)
    e = _refused("MultiStepScheduler", {"milestones": ["5ba", "9sp"]}, {})
    assert (e.path, "needs samples_per_batch" in str(e)) == ("milestones[1]", True)
    # not Composer's grammar
    for bad in ("10", "ten ep", "1.5ba", "5iter", 10):
        assert _refused("LinearScheduler", {"t_max": bad}, {}).path == "t_max"
    # intervals that shrink to nothing: Composer fails once it reaches them
    assert (
        _refused("CosineAnnealingWarmRestartsScheduler", {"t_0": "10ba", "t_mult": 0.5}, {}).path
        == "t_mult"
    )


def test_the_show_command_describes_every_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    from schedkit import cli

    for name in _registered():
        assert cli.main(["show", name]) == 0
        out = capsys.readouterr().out
        assert "Composer's" in out
        for p in of_alias(_registered()[name]):
            assert p.name in out


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
def test_a_small_model_trains_to_the_same_weights_both_ways() -> None:
    """A small model trained 3 epochs of 12 batches (16 samples of 8 tokens each: a run of
    4608 tokens) with a cosine after a warmup in tokens: Composer's scheduler on its State,
    and the alias."""

    def train(use_alias: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        model = model.double()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        args = {"t_warmup": "1536tok", "alpha_f": 0.1}
        context = {"max_duration": "4608tok", "dataloader_len": 12, "samples_per_batch": 16}
        if use_alias:
            sched: Any = schedkit.get_scheduler(
                "composer.CosineAnnealingWithWarmupScheduler",
                opt,
                **args,
                **context,
                tokens_per_batch=128,
                t_max="1dur",
            )
            advance = sched.step
        else:
            st = state(opt, "4608tok", 12, 16)
            sched = cs.compile_composer_scheduler(
                cs.CosineAnnealingWithWarmupScheduler(t_max="1dur", **args), st
            )

            def advance() -> None:
                next_batch(st, 16, 128)
                sched.step()

        gen = torch.Generator().manual_seed(1)
        for _ in range(36):
            x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
            loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            advance()
        return [p.detach().clone() for p in model.parameters()]

    for a, b in zip(train(False), train(True), strict=True):
        assert torch.equal(a, b)
    assert math.isfinite(float(train(True)[0].sum()))


@st.composite
def _plans(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A decay timed in a random unit, with a random scale schedule ratio and batch."""
    spb, tpb, dl = draw(st.integers(1, 8)), draw(st.integers(1, 64)), draw(st.integers(1, 12))
    batches = draw(st.integers(1, 60))
    unit = draw(st.sampled_from(["ba", "sp", "tok", "ep", "dur"]))
    t_max = {
        "ba": f"{batches}ba",
        "sp": f"{batches * spb}sp",
        "tok": f"{batches * tpb}tok",
        "ep": f"{max(1, batches // dl)}ep",
        "dur": f"{draw(st.sampled_from([0.1, 0.25, 0.5, 0.9, 1.0]))}dur",
    }[unit]
    name = draw(
        st.sampled_from(["LinearScheduler", "CosineAnnealingScheduler", "PolynomialScheduler"])
    )
    args: dict[str, Any] = {"t_max": t_max}
    if name == "PolynomialScheduler":
        args["power"] = draw(st.sampled_from([0.5, 1.0, 2.0, 3.3]))
    context = {
        "max_duration": f"{draw(st.integers(5, 80))}ba",
        "dataloader_len": dl,
        "samples_per_batch": spb,
        "tokens_per_batch": tpb,
        "scale_schedule_ratio": draw(st.sampled_from([0.5, 1.0, 1.5, 2.0])),
    }
    return name, args, context


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
@settings(max_examples=20, deadline=None)
@given(plan=_plans())
def test_random_plans_give_composers_floats(
    plan: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    name, args, context = plan
    try:
        opt = _optimizer()
        sched = schedkit.get_scheduler(f"composer.{name}", opt, **args, **context)
    except SpecError:
        assume(False)  # a time that converts to 0 batches: Composer divides by it
    peer = Composer(name, args, context)
    for _ in range(70):
        assert _lrs(opt) == _lrs(peer.opt)
        peer.step()
        sched.step()
