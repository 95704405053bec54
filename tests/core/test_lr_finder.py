"""``schedkit.find_lr``: the lr range test on a setup. It sweeps every group by the same
factor, stops on divergence, suggests within the steps it keeps, and leaves the model, a
built setup's optimizer and clipper, and the random number generators exactly as they were.
(Agreement with Lightning and torch-lr-finder: tests/trainers/test_lr_finder_peers.py, in
the trainers env, which has both.)"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import schedkit
from schedkit._example import tiny_vit
from schedkit.lr_finder import suggest, sweep

SGD = '[optimizer]\ntype = "SGD"\nlr = 0.1\n'
SETUP = schedkit.loads_setup(SGD)


class Net(nn.Module):
    """Parameters, a running-statistics buffer, a non-persistent buffer, dropout, a frozen
    parameter and a submodule left in eval mode: everything a restore must put back."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2))
        self.head = nn.Linear(8, 1)
        self.frozen = nn.Parameter(torch.ones(1), requires_grad=False)
        self.register_buffer("calls", torch.zeros(1), persistent=False)
        self.body[1].eval()  # a frozen-statistics norm, as fine-tuning often keeps it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(self.body(x)) * self.frozen


def batches(n: int = 6, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(8, 4, generator=g)
        out.append((x, x.sum(dim=1, keepdim=True)))
    return out


def mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def snapshot(model: nn.Module) -> dict[str, object]:
    return {
        "tensors": {
            n: (t, t.detach().clone())
            for n, t in [*model.named_parameters(), *model.named_buffers()]
        },
        "grads": {
            n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()
        },
        "training": [m.training for m in model.modules()],
        "rng": torch.get_rng_state(),
    }


def assert_same(model: nn.Module, before: dict[str, object]) -> None:
    now = dict([*model.named_parameters(), *model.named_buffers()])
    tensors = before["tensors"]
    assert isinstance(tensors, dict)
    assert set(now) == set(tensors)
    for name, (obj, value) in tensors.items():
        assert now[name] is obj, name  # the same tensor: the optimizer still holds it
        assert torch.equal(now[name], value), name
    grads = before["grads"]
    assert isinstance(grads, dict)
    for name, p in model.named_parameters():
        if grads[name] is None:
            assert p.grad is None, name
        else:
            assert torch.equal(p.grad, grads[name]), name
    assert [m.training for m in model.modules()] == before["training"]
    assert torch.equal(torch.get_rng_state(), before["rng"])


def trained(model: nn.Module) -> None:
    """Some gradients left over, as a training loop leaves them before the finder runs."""
    mse(model, batches(1, seed=9)[0]).backward()


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is many times faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- what it records ------------------------------------------------------------------------


def test_it_sweeps_records_and_suggests():
    model = Net()
    result = schedkit.find_lr(
        SETUP, model, mse, batches(), min_lr=1e-4, max_lr=0.5, num_training=30
    )
    assert result.lrs == tuple(sweep(1e-4, 0.5, 30, "exponential", "lightning"))
    assert len(result.losses) == len(result.raw_losses) == 30
    assert not result.stopped_early
    assert result.index is not None
    assert 10 <= result.index < 29
    assert result.suggestion == result.lrs[result.index]
    assert result.toml_line() == f"lr = {result.suggestion:.1e}"
    assert result.mode == "exponential"
    assert result.key == "lr"


def test_a_setup_file_a_dict_and_a_setup_object_give_the_same_result(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text(SGD)
    a = schedkit.find_lr(str(path), Net(), mse, batches(), num_training=15)
    b = schedkit.find_lr(path, Net(), mse, batches(), num_training=15)
    c = schedkit.find_lr(schedkit.loads_setup(SGD), Net(), mse, batches(), num_training=15)
    table = {"optimizer": {"type": "SGD", "lr": 0.1}}
    d = schedkit.find_lr(table, Net(), mse, batches(), num_training=15)
    assert a == b == c == d


def test_the_smoothing_is_a_bias_corrected_moving_average():
    result = schedkit.find_lr(SETUP, Net(), mse, batches(), num_training=12, beta=0.9)
    avg = 0.0
    for k, (raw, smooth) in enumerate(zip(result.raw_losses, result.losses, strict=True)):
        avg = 0.9 * avg + (1 - 0.9) * raw
        assert smooth == avg / (1 - 0.9 ** (k + 2))
    flat = schedkit.find_lr(SETUP, Net(), mse, batches(), num_training=12, beta=0.0)
    assert flat.losses == flat.raw_losses


def test_torch_lr_finder_smoothing_starts_at_the_first_loss():
    r = schedkit.find_lr(SETUP, Net(), mse, batches(), num_training=12, like="torch-lr-finder")
    assert r.losses[0] == r.raw_losses[0]
    for k in range(1, 12):
        f = 0.05  # torch-lr-finder's own smooth_f
        assert r.losses[k] == f * r.raw_losses[k] + (1 - f) * r.losses[k - 1]
    assert r.lrs == tuple(sweep(1e-8, 1.0, 12, "exponential", "torch-lr-finder"))
    assert r.lrs[0] == 1e-8
    assert r.lrs[-1] == pytest.approx(1.0)


def test_the_linear_mode_steps_evenly():
    r = schedkit.find_lr(
        SETUP, Net(), mse, batches(), min_lr=0.01, max_lr=0.2, num_training=11, mode="linear"
    )
    gaps = [b - a for a, b in zip(r.lrs[1:], r.lrs[2:], strict=False)]
    assert r.lrs[-1] == pytest.approx(0.2)
    assert gaps == pytest.approx([gaps[0]] * len(gaps))
    assert r.mode == "linear"


def test_a_diverging_loss_stops_the_sweep():
    r = schedkit.find_lr(SETUP, Net(), mse, batches(), min_lr=1e-3, max_lr=1e4, num_training=60)
    assert r.stopped_early
    assert len(r.lrs) < 60
    assert r.losses[-1] > 4.0 * min(r.losses[:-1])
    never = schedkit.find_lr(
        SETUP,
        Net(),
        mse,
        batches(),
        min_lr=1e-3,
        max_lr=1e4,
        num_training=60,
        early_stop_threshold=None,
    )
    assert len(never.lrs) > len(r.lrs)


def test_a_loss_that_turns_nan_stops_the_sweep_and_is_never_suggested():
    def loss(model, batch):
        out = mse(model, batch)
        return out * math.nan if model.calls.item() > 20 else out

    r = schedkit.find_lr(SETUP, Net(), loss, batches(), num_training=40, skip_end=0)
    assert len(r.lrs) == 21
    assert r.stopped_early
    assert math.isnan(r.raw_losses[-1])
    assert r.index is not None
    assert r.index < 20
    t = schedkit.find_lr(
        SETUP, Net(), loss, batches(), num_training=40, skip_end=0, like="torch-lr-finder"
    )
    assert t.index is not None
    assert math.isfinite(t.losses[t.index])


def test_too_few_steps_give_no_suggestion_and_no_toml_line():
    r = schedkit.find_lr(SETUP, Net(), mse, batches(), num_training=11)
    assert r.suggestion is None
    assert r.index is None
    with pytest.raises(schedkit.SpecError, match="make num_training 13 or more") as e:
        r.toml_line()
    assert e.value.path == "suggestion"
    assert r.least_steps == 13
    assert schedkit.find_lr(SETUP, Net(), mse, batches(), num_training=13).suggestion
    assert schedkit.find_lr(SETUP, Net(), mse, batches(), num_training=11, skip_begin=0).suggestion


# -- the setup's rules --------------------------------------------------------------------


def test_every_group_follows_the_sweep_at_its_own_share():
    setup = schedkit.load_setup("../../examples/vit-finetune.toml".replace("../../", _root()))
    model = tiny_vit()
    built = setup.build(model)
    shares = [
        g["initial_lr"] / built.resolved["optimizer"]["lr"] for g in built.optimizer.param_groups
    ]
    assert len(set(shares)) > 3  # layer decay: a fan of shares
    seen: list[list[float]] = []

    def loss(m, batch):
        seen.append([g["lr"] for g in built.optimizer.param_groups])
        return nn.functional.cross_entropy(m(batch[0]), batch[1])

    data = [model.example_batch(seed=i) for i in range(3)]
    r = schedkit.find_lr(built, model, loss, data, min_lr=1e-5, max_lr=1e-2, num_training=6)
    assert len(seen) == 6
    for lr, lrs in zip(r.lrs, seen, strict=True):
        assert lrs == [lr * s for s in shares]
    # the setup scales base_lr with the batch size: the line to use is base_lr's
    assert r.key == "base_lr"
    assert r.per_peak == pytest.approx(256 / 1024)


def test_a_base_lr_setup_prints_its_base_lr():
    text = (
        '[optimizer]\ntype = "SGD"\nbase_lr = 0.1\nlr_scaling = "linear"\nbase_batch_size = 256\n'
    )
    r = schedkit.find_lr(text_setup(text), Net(), mse, batches(), num_training=20, batch_size=1024)
    assert r.key == "base_lr"
    assert r.suggestion is not None
    assert r.toml_line() == f"base_lr = {r.suggestion / 4:.1e}"
    with pytest.raises(schedkit.SetupError, match="batch size"):
        schedkit.find_lr(text_setup(text), Net(), mse, batches(), num_training=20)


def test_an_epoch_setup_without_steps_per_epoch_takes_the_batches_length():
    text = (
        '[run]\ntotal = "3ep"\n[optimizer]\ntype = "AdamW"\nlr = 1e-3\n'
        '[schedules.lr]\ntype = "cosine"\nwarmup = "1ep"\n[clip]\ntype = "norm"\nmax_norm = 1.0\n'
    )
    r = schedkit.find_lr(text_setup(text), Net(), mse, batches(), num_training=12)
    assert len(r.lrs) == 12  # the warmup's zero lr at step 0 does not hold the sweep back
    assert r.raw_losses[-1] != r.raw_losses[0]
    with pytest.raises(schedkit.SetupError, match="steps_per_epoch"):
        schedkit.find_lr(text_setup(text), Net(), mse, iter(batches()), num_training=12)


def test_the_clipper_clips_every_step():
    def moved(setup: schedkit.Setup) -> float:
        weights = []

        def loss(model, batch):
            weights.append(model.head.weight.detach().clone())
            return mse(model, batch)

        schedkit.find_lr(setup, Net(), loss, batches(), min_lr=0.1, max_lr=1.0, num_training=12)
        return float((weights[-1] - weights[0]).abs().max())

    assert moved(text_setup(SGD + '[clip]\ntype = "norm"\nmax_norm = 1e-9\n')) < 1e-8
    assert moved(SETUP) > 1e-3


# -- batches ------------------------------------------------------------------------------


def test_short_batches_cycle_and_an_iterator_is_kept_to_cycle():
    data = batches(3)
    order: list[int] = []

    def loss(model, batch):
        order.append(next(i for i, b in enumerate(data) if b is batch))
        return mse(model, batch)

    schedkit.find_lr(SETUP, Net(), loss, data, num_training=8)
    assert order == [0, 1, 2, 0, 1, 2, 0, 1]
    order.clear()
    schedkit.find_lr(SETUP, Net(), loss, iter(data), num_training=8)
    assert order == [0, 1, 2, 0, 1, 2, 0, 1]
    order.clear()
    schedkit.find_lr(SETUP, Net(), loss, (b for b in data), num_training=2)
    assert order == [0, 1]


def test_a_data_loader_is_iterated_anew():
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randn(16, 1)),
        batch_size=8,
        shuffle=True,
    )
    r = schedkit.find_lr(SETUP, Net(), mse, loader, num_training=12)
    assert len(r.lrs) == 12


# -- restoring ------------------------------------------------------------------------------


def test_the_model_comes_back_bit_for_bit():
    model = Net()
    trained(model)
    before = snapshot(model)
    schedkit.find_lr(SETUP, model, mse, batches(), min_lr=1e-3, max_lr=1e3, num_training=30)
    assert_same(model, before)


def test_a_built_setup_comes_back_bit_for_bit():
    text = (
        '[optimizer]\ntype = "AdamW"\nlr = 1e-3\nweight_decay = 0.05\n'
        '[[rules]]\ntype = "no_weight_decay"\n'
        '[[rules]]\ntype = "overrides"\nkeys = {"head.*" = {lr_mult = 10.0}}\n'
        '[schedules.lr]\ntype = "cosine"\ntotal = 50\nwarmup = 5\n'
        '[clip]\ntype = "norm"\nmax_norm = 0.5\n'
    )
    model = Net()
    built = text_setup(text).build(model)
    for batch in batches(3):
        mse(model, batch).backward()
        built.step()
    trained(model)
    before = snapshot(model)
    groups = [dict(g) for g in built.optimizer.param_groups]
    group_objects = list(built.optimizer.param_groups)
    state = {p: {k: v.clone() for k, v in s.items()} for p, s in built.optimizer.state.items()}
    state_objects = {p: dict(s) for p, s in built.optimizer.state.items()}
    schedulers = {k: s.state_dict() for k, s in built.schedulers.items()}
    clip_state = built.clipper.state_dict()
    last_clip = built.last_clip
    r = schedkit.find_lr(built, model, mse, batches(), min_lr=1e-4, max_lr=10.0, num_training=25)
    assert len(r.lrs) > 12
    assert_same(model, before)
    assert list(built.optimizer.param_groups) == group_objects  # the same dicts
    for g, saved in zip(built.optimizer.param_groups, groups, strict=True):
        assert g == saved
    assert set(built.optimizer.state) == set(state)
    for p, s in built.optimizer.state.items():
        assert set(s) == set(state[p])
        for k, v in s.items():
            assert v is state_objects[p][k]
            assert torch.equal(v, state[p][k])
    assert {k: s.state_dict() for k, s in built.schedulers.items()} == schedulers
    assert _plain(built.clipper.state_dict()) == _plain(clip_state)
    assert built.last_clip is last_clip
    # and training goes on as if nothing happened
    mse(model, batches(1)[0]).backward()
    built.step()


def test_an_error_in_the_loss_restores_and_propagates():
    model = Net()
    before = snapshot(model)

    def loss(m, batch):
        if m.calls.item() > 5:
            raise RuntimeError("out of memory, say")
        return mse(m, batch)

    with pytest.raises(RuntimeError, match="out of memory"):
        schedkit.find_lr(SETUP, model, loss, batches(), num_training=20)
    assert_same(model, before)


def test_the_random_numbers_after_are_those_without_the_finder():
    model = Net()
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    schedkit.find_lr(SETUP, model, mse, batches(), num_training=12)  # dropout draws numbers
    assert torch.equal(torch.rand(3), expected)


OPTIMIZERS = ['type = "SGD"\nmomentum = 0.9', 'type = "AdamW"', 'type = "Adam"\namsgrad = true']
RULES = [
    "",
    '[[rules]]\ntype = "no_weight_decay"\n',
    '[[rules]]\ntype = "overrides"\nkeys = {"head.*" = {lr_mult = 3.0}}\n',
]
CLIPS = [
    "",
    '[clip]\ntype = "norm"\nmax_norm = 0.1\n',
    '[clip]\ntype = "value"\nclip_value = 0.05\n',
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(OPTIMIZERS),
    st.sampled_from(RULES),
    st.sampled_from(CLIPS),
    st.integers(2, 14),
    st.floats(1e-3, 1e4),
    st.booleans(),
    st.sampled_from(["lightning", "torch-lr-finder"]),
)
def test_restoring_is_exact_for_any_setup(optimizer, rules, clip, n, high, use_built, like):
    text = f"[optimizer]\n{optimizer}\nlr = 0.01\nweight_decay = 0.01\n{rules}{clip}"
    model = Net()
    trained(model)
    setup = text_setup(text)
    built = setup.build(model) if use_built else None
    if built is not None:
        for batch in batches(2):
            mse(model, batch).backward()
            built.step()
        trained(model)
    state = None if built is None else _plain(built.optimizer.state_dict())
    before = snapshot(model)
    r = schedkit.find_lr(
        built or setup, model, mse, batches(3), min_lr=1e-5, max_lr=high, num_training=n, like=like
    )
    assert 1 <= len(r.lrs) <= n
    assert_same(model, before)
    if built is not None:
        assert _plain(built.optimizer.state_dict()) == state


# -- the suggestion -------------------------------------------------------------------------

values = st.lists(
    st.one_of(st.floats(-1e3, 1e3), st.just(math.nan), st.just(math.inf)), min_size=0, max_size=50
)


@settings(max_examples=300, deadline=None)
@given(
    values,
    st.integers(0, 15),
    st.integers(0, 8),
    st.sampled_from(["lightning", "torch-lr-finder"]),
    st.sampled_from(["exponential", "linear"]),
)
def test_the_suggestion_is_within_the_kept_steps(losses, skip_begin, skip_end, like, mode):
    lrs = sweep(1e-7, 1.0, max(len(losses), 2), mode, like)[: len(losses)]
    index = suggest(lrs, losses, skip_begin, skip_end, like)
    kept = list(range(skip_begin, len(losses) - skip_end))
    if like == "lightning":
        usable = len([i for i in kept if math.isfinite(losses[i])]) >= 2
    else:  # a gradient over the kept steps, by central differences: one must be finite
        with np.errstate(invalid="ignore"):
            usable = len(kept) >= 2 and np.isfinite(np.gradient([losses[i] for i in kept])).any()
    assert (index is not None) == usable
    if index is not None:
        assert skip_begin <= index < len(losses) - skip_end
        if like == "lightning":
            assert math.isfinite(losses[index])


def test_the_suggestion_is_the_steepest_descent():
    losses = [5.0] * 12 + [4.9, 4.5, 3.0, 2.9, 2.85] + [3.0, 6.0]
    lrs = sweep(1e-6, 1.0, len(losses), "exponential", "torch-lr-finder")
    # against the step: (3.0 - 4.9) / 2 at step 13 is the least central difference
    assert suggest(lrs, losses, 10, 1, "torch-lr-finder") == 13
    # against the lr, whose steps grow: the later side of the drop weighs more
    assert suggest(lrs, losses, 10, 1, "lightning") in (13, 14)
    assert suggest(lrs, losses, 14, 1, "torch-lr-finder") == 14


# -- plot ---------------------------------------------------------------------------------


def test_plot_writes_a_png_with_the_suggestion_marked(tmp_path):
    pytest.importorskip("matplotlib")
    r = schedkit.find_lr(SETUP, Net(), mse, batches(), num_training=30)
    fig = r.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert r.toml_line() in [t.get_text() for t in ax.get_legend().get_texts()][1]
    flat = schedkit.find_lr(SETUP, Net(), mse, batches(), mode="linear", num_training=11)
    assert flat.plot().axes[0].get_xscale() == "linear"  # no suggestion: nothing marked


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "path", "message"),
    [
        ({"min_lr": 0.0}, "min_lr", "positive"),
        ({"min_lr": -1e-3}, "min_lr", "positive"),
        ({"max_lr": math.inf}, "max_lr", "finite"),
        ({"min_lr": "1e-3"}, "min_lr", "positive"),
        ({"min_lr": 1e-2, "max_lr": 1e-2}, "max_lr", "more than min_lr"),
        ({"min_lr": 1.0, "max_lr": 0.5}, "max_lr", "more than min_lr"),
        ({"num_training": 1}, "num_training", "at least 2"),
        ({"num_training": 10.0}, "num_training", "int"),
        ({"num_training": True}, "num_training", "int"),
        ({"mode": "log"}, "mode", "exponential, linear"),
        ({"like": "fastai"}, "like", "lightning, torch-lr-finder"),
        ({"early_stop_threshold": 0}, "early_stop_threshold", "positive"),
        ({"early_stop_threshold": math.nan}, "early_stop_threshold", "positive"),
        ({"beta": 1.0}, "beta", r"\[0, 1\)"),
        ({"beta": -0.1}, "beta", r"\[0, 1\)"),
        ({"skip_begin": -1}, "skip_begin", "at least 0"),
        ({"skip_end": -1}, "skip_end", "at least 0"),
        ({"skip_end": 1.5}, "skip_end", "int"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, path, message):
    model = Net()
    before = snapshot(model)
    with pytest.raises(schedkit.SpecError, match=message) as e:
        schedkit.find_lr(SETUP, model, mse, batches(), **kwargs)
    assert e.value.path == path
    assert_same(model, before)


def test_bad_inputs_name_themselves():
    cases = [
        ((SETUP, Net(), mse, []), "batches", "no batches"),
        ((SETUP, Net(), mse, iter([])), "batches", "no batches"),
        ((SETUP, Net(), mse, 3), "batches", "iterable"),
        ((SETUP, Net(), "mse", batches()), "loss_fn", "loss_fn"),
        ((SETUP, "model", mse, batches()), "model", "torch.nn.Module"),
        ((42, Net(), mse, batches()), "setup", "a Setup"),
        ((SETUP, Net(), lambda m, b: m(b[0]), batches()), "loss_fn", "scalar"),
        ((SETUP, Net(), lambda m, b: 1.0, batches()), "loss_fn", "scalar"),
        ((SETUP, Net(), lambda m, b: mse(m, b).long(), batches()), "loss_fn", "float"),
        ((SETUP, Net(), lambda m, b: mse(m, b) * math.nan, batches()), "loss_fn", "first step's"),
        ((SETUP, Net(), lambda m, b: mse(m, b) * math.inf, batches()), "loss_fn", "first step's"),
        ((SETUP, Net(), lambda m, b: mse(m, b).detach(), batches()), "loss_fn", "no gradient"),
    ]
    for args, path, message in cases:
        model = args[1]
        before = snapshot(model) if isinstance(model, nn.Module) else None
        with pytest.raises(schedkit.SpecError, match=message) as e:
            schedkit.find_lr(*args, num_training=5)  # type: ignore[arg-type]
        assert e.value.path == path, args
        if before is not None:
            assert_same(model, before)


def test_a_built_setup_of_another_model_is_refused():
    built = text_setup(SGD).build(Net())
    with pytest.raises(schedkit.SpecError, match="not the model's") as e:
        schedkit.find_lr(built, Net(), mse, batches(), num_training=5)
    assert e.value.path == "setup"


# -- helpers --------------------------------------------------------------------------------


def text_setup(text: str) -> schedkit.Setup:
    return schedkit.loads_setup(text)


def _root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2]) + "/"


def _plain(value: object) -> object:
    """Tensors as lists, so states compare with ``==``."""
    if isinstance(value, torch.Tensor):
        return ("tensor", value.dtype, value.tolist())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- the command's logic ----------------------------------------------------------------------

USER_CODE = """
import torch
from torch import nn


def regressor():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))


def classifier():
    torch.manual_seed(0)
    return nn.Linear(4, 3)


def pairs():
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(4):
        x = torch.randn(8, 4, generator=g)
        out.append((x, x.sum(dim=1, keepdim=True)))
    return out


LABELLED = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(4)]


class WithLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 1)

    def forward(self, x, labels):
        return {"loss": nn.functional.mse_loss(self.net(x), labels)}


def mappings():
    return [{"x": x, "labels": y} for x, y in pairs()]


def l1(model, batch):
    return nn.functional.l1_loss(model(batch[0]), batch[1])


def broken():
    raise OSError("no data here")


def wrong_shape():
    torch.manual_seed(0)
    return nn.Linear(5, 1)


def raising_loss(model, batch):
    raise KeyError("labels")


class BadBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise ArithmeticError("no gradient today")


def bad_backward_loss(model, batch):
    return BadBackward.apply(nn.functional.mse_loss(model(batch[0]), batch[1]))


class FailingData:
    def __len__(self):
        return 4

    def __iter__(self):
        yield from pairs()[:2]
        raise RuntimeError("disk gone")
"""


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    (tmp_path / "user_code_lr.py").write_text(USER_CODE)
    (tmp_path / "train.toml").write_text(SGD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_command_prints_the_sweep_the_suggestion_and_the_toml_line(user_code):
    from schedkit.cli.lr_range import run

    text = run(
        "train.toml",
        "user_code_lr:regressor",
        "user_code_lr:pairs",
        min_lr=1e-4,
        max_lr=10.0,
        num_training=40,
        plot=str(user_code / "lr.png"),
    )
    lines = text.splitlines()
    assert re.fullmatch(
        r"lr range test of train.toml on user_code_lr:regressor: (\d+) steps, peak lr "
        r"1.0e-04 to \d.\de[+-]\d\d \(exponential\)",
        lines[0],
    )
    assert "steepest descent at step " in text
    assert lines[-2:] == ["[optimizer]", lines[-1]]
    assert lines[-1].startswith("lr = ")
    assert schedkit.loads_setup(SGD.replace("lr = 0.1", lines[-1])).lr is not None
    if (user_code / "lr.png").exists():  # matplotlib installed
        assert "  plot: " + str(user_code / "lr.png") in lines


def test_the_command_takes_a_loss_labels_mappings_and_a_loader_object(user_code):
    from schedkit.cli.lr_range import run

    for model, data, loss in [
        ("user_code_lr:classifier", "user_code_lr:LABELLED", None),
        ("user_code_lr:WithLoss", "user_code_lr:mappings", None),
        ("user_code_lr:regressor", "user_code_lr:pairs", "user_code_lr:l1"),
    ]:
        text = run("train.toml", model, data, loss=loss, num_training=20, mode="linear")
        assert "(linear)" in text
        assert text.splitlines()[-1].startswith("lr = ")


@pytest.mark.parametrize(
    ("args", "option", "message"),
    [
        (("user_code_lr", "user_code_lr:pairs"), "--model", "module:name"),
        (("user_code_lr:nothing", "user_code_lr:pairs"), "--model", "nothing"),
        (("no_such_module_here:f", "user_code_lr:pairs"), "--model", "no_such_module_here"),
        (("user_code_lr:LABELLED", "user_code_lr:pairs"), "--model", "not callable"),
        (("user_code_lr:pairs", "user_code_lr:pairs"), "--model", "not a torch.nn.Module"),
        (("user_code_lr:broken", "user_code_lr:pairs"), "--model", "OSError: no data here"),
        (("user_code_lr:regressor", "user_code_lr:broken"), "--data", "OSError"),
        (("user_code_lr:regressor", "user_code_lr:"), "--data", "module:name"),
    ],
)
def test_the_command_names_the_option_that_is_wrong(user_code, args, option, message):
    from schedkit.cli.lr_range import run

    with pytest.raises(schedkit.SpecError, match=message) as e:
        run("train.toml", *args, num_training=5)
    assert e.value.path == option


def test_the_command_without_a_suggestion_says_what_to_do(user_code, capsys):
    from schedkit.cli import main
    from schedkit.cli.lr_range import run

    text = run("train.toml", "user_code_lr:regressor", "user_code_lr:pairs", num_training=5)
    lines = text.splitlines()
    assert lines[0].startswith("lr range test of train.toml on user_code_lr:regressor: 5 steps")
    assert lines[1] == (
        "  no suggestion: the first 10 and last 1 steps are left out, so it needs --steps 13 "
        "or more"
    )
    assert "[optimizer]" not in text
    args = ["find-lr", "train.toml", "--model", "user_code_lr:regressor"]
    code = main([*args, "--data", "user_code_lr:pairs", "--steps", "5"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (1, text, "")
    # the --steps it names gives one
    assert main([*args, "--data", "user_code_lr:pairs", "--steps", "13"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("lr = ")
    # like torch-lr-finder, its own skip_end
    main([*args, "--data", "user_code_lr:pairs", "--steps", "16", "--like", "torch-lr-finder"])
    assert "--steps 17 or more" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "1"], "--steps: expected an int of at least 2, got 1"),
        (
            ["--min-lr", "1", "--max-lr", "0.1"],
            "--max-lr: expected more than --min-lr (1.0), got 0.1",
        ),
        (["--beta", "1.5"], "--beta: expected a number in [0, 1), got 1.5"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_the_command_errors_name_its_options(user_code, capsys, args, message):
    from schedkit.cli import main

    base = ["find-lr", "train.toml", "--model", "user_code_lr:regressor"]
    try:
        code = main([*base, "--data", "user_code_lr:pairs", *args])
    except SystemExit as e:  # argparse's own checks
        code = e.code
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert message in err
    for python_name in ("num_training", "max_lr", "min_lr", "batch_size", "Traceback"):
        assert python_name not in err


@pytest.mark.parametrize(
    ("model", "data", "loss", "message"),
    [
        (
            "user_code_lr:wrong_shape",
            "user_code_lr:pairs",
            None,
            "--model: user_code_lr:wrong_shape raised RuntimeError: ",
        ),
        (
            "user_code_lr:regressor",
            "user_code_lr:pairs",
            "user_code_lr:raising_loss",
            "--loss: user_code_lr:raising_loss raised KeyError: 'labels'",
        ),
        (
            "user_code_lr:regressor",
            "user_code_lr:pairs",
            "user_code_lr:bad_backward_loss",
            "--model: a training step of user_code_lr:regressor raised ArithmeticError: "
            "no gradient today",
        ),
        (
            "user_code_lr:regressor",
            "user_code_lr:FailingData",
            None,
            "--data: iterating user_code_lr:FailingData raised RuntimeError: disk gone",
        ),
    ],
)
def test_user_code_failing_in_the_sweep_is_one_line_and_restored(
    user_code, capsys, monkeypatch, model, data, loss, message
):
    import importlib

    from schedkit.cli import main

    # the model the command builds, kept to compare after
    module = importlib.import_module("user_code_lr")
    made: list[nn.Module] = []
    factory = getattr(module, model.partition(":")[2])

    def keep() -> nn.Module:
        made.append(factory())
        made.append(snapshot(made[-1]))
        return made[-2]

    monkeypatch.setattr(module, "keep_made", keep, raising=False)
    args = ["find-lr", "train.toml", "--model", "user_code_lr:keep_made", "--data", data]
    code = main([*args, *([] if loss is None else ["--loss", loss]), "--steps", "20"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("schedkit find-lr: ")
    assert err.count("\n") == 1
    assert message.replace(model, "user_code_lr:keep_made") in err
    assert "Traceback" not in err
    assert_same(made[0], made[1])


def test_the_docs_figure_shows_both_conventions_on_the_vit_example(monkeypatch):
    pytest.importorskip("matplotlib")
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen_pages", root / "docs" / "gen_pages.py")
    assert spec is not None
    assert spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    figures = []
    monkeypatch.setattr(gen, "_png", lambda fig: figures.append(fig) or b"\x89PNG")
    gen.lr_find_png(steps=20)
    (fig,) = figures
    left, right = fig.axes
    assert left.get_title() == 'like="lightning"'
    assert right.get_title() == 'like="torch-lr-finder"'
    for ax in (left, right):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[1].startswith("steepest descent: lr = ")
        assert "base_lr = " in labels[1]  # vit-finetune.toml scales a base lr
    page = (root / "docs" / "while-it-trains.md").read_text()
    assert "](img/lr-find.png)" in page
    assert "(while-it-trains.md)" in (root / "docs" / "index.md").read_text()


def test_the_command_without_matplotlib_says_so(user_code, monkeypatch):
    import sys

    from schedkit.cli.lr_range import run

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    with pytest.raises(schedkit.SpecError, match="needs matplotlib") as e:
        run(
            "train.toml",
            "user_code_lr:regressor",
            "user_code_lr:pairs",
            num_training=20,
            plot="lr.png",
        )
    assert e.value.path == "--plot"


def test_schedkit_find_lr_on_the_command_line_prints_the_toml_line(user_code, capsys):
    from schedkit.cli import main

    code = main(
        [
            "find-lr",
            "train.toml",
            "--model",
            "user_code_lr:regressor",
            "--data",
            "user_code_lr:pairs",
            "--min-lr",
            "1e-4",
            "--max-lr",
            "10",
            "--steps",
            "40",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("lr range test of train.toml on user_code_lr:regressor: ")
    assert out.splitlines()[-2:-1] == ["[optimizer]"]
    assert out.splitlines()[-1].startswith("lr = ")


def test_schedkit_find_lr_errors_are_one_line_with_the_option(user_code, capsys):
    from schedkit.cli import main

    code = main(["find-lr", "train.toml", "--model", "user_code_lr", "--data", "x:y"])
    _out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("schedkit find-lr: ")
    assert "--model" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["find-lr", "train.toml", "--model", "a:b", "--data", "c:d", "--max-lr", "-1"])
    assert e.value.code == 2
    assert "expected a finite number > 0" in capsys.readouterr().err
