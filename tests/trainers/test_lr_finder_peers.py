"""``find_lr`` against Lightning's ``Tuner.lr_find`` and torch-lr-finder's ``LRFinder``: the
same model, data and sweep give the same lrs, smoothed losses, stopping step and
suggestion, to the last bit; and each peer's own suggestion code, given our recorded
losses, picks the lr ours picks."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import schedkit
from schedkit.lr_finder import suggest, sweep

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning"
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is many times faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SETUP = schedkit.loads_setup('[optimizer]\ntype = "SGD"\nlr = 0.1\n')


def data() -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True) + 1.0)


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(4, 1)


def mse(model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def ours(**kwargs: object) -> schedkit.LRFinderResult:
    batches = list(torch.utils.data.DataLoader(data(), batch_size=8))
    return schedkit.find_lr(SETUP, net(), mse, batches, **kwargs)  # type: ignore[arg-type]


#: (mode, min_lr, max_lr, num_training): a sweep that ends well, and one that diverges
RUNS = [
    ("exponential", 1e-4, 0.5, 30),
    ("linear", 1e-3, 0.3, 25),
    ("exponential", 1e-3, 50.0, 40),
    ("linear", 1e-2, 20.0, 40),
]

# -- Lightning ------------------------------------------------------------------------------


def test_lightning_lr_find_records_what_we_record(tmp_path):
    pytest.importorskip("lightning")
    import lightning as L
    from lightning.pytorch.tuner import Tuner

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net()
            self.lr = 0.1

        def training_step(self, batch, batch_idx):
            return mse(self.net, batch)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    stopped = []
    for mode, low, high, n in RUNS:
        trainer = L.Trainer(
            max_epochs=100,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            accelerator="cpu",
            default_root_dir=tmp_path,
        )
        loader = torch.utils.data.DataLoader(data(), batch_size=8)
        peer = Tuner(trainer).lr_find(
            Module(),
            train_dataloaders=loader,
            min_lr=low,
            max_lr=high,
            num_training=n,
            mode=mode,
            update_attr=False,
        )
        mine = ours(min_lr=low, max_lr=high, num_training=n, mode=mode)
        assert list(mine.lrs) == peer.results["lr"]
        assert list(mine.losses) == peer.results["loss"]
        assert mine.suggestion == peer.suggestion()
        stopped.append(mine.stopped_early)
    assert stopped == [False, False, True, True]


def test_lightning_sweeps_the_same_lrs():
    pytest.importorskip("lightning")
    from lightning.pytorch.tuner.lr_finder import _ExponentialLR, _LinearLR

    for cls, mode in ((_ExponentialLR, "exponential"), (_LinearLR, "linear")):
        for low, high, n in ((1e-8, 1.0, 100), (3e-5, 0.7, 7), (0.01, 10.0, 2)):
            opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=low)
            opt.param_groups[0]["initial_lr"] = low  # as _LRFinder._exchange_scheduler does
            sched = cls(opt, high, n)
            seen = []
            for _ in range(n):
                seen.append(sched.lr[0])
                opt.step()
                sched.step()
            assert sweep(low, high, n, mode, "lightning") == seen


finite = st.floats(-1e6, 1e6, allow_nan=False)
losses = st.lists(st.one_of(finite, finite, finite, st.just(math.nan)), min_size=0, max_size=40)


@settings(max_examples=200, deadline=None)
@given(losses, st.sampled_from(["exponential", "linear"]), st.integers(0, 12), st.integers(1, 6))
def test_lightning_suggests_what_we_suggest(values, mode, skip_begin, skip_end):
    pytest.importorskip("lightning")
    from lightning.pytorch.tuner.lr_finder import _LRFinder

    lrs = sweep(1e-6, 1.0, max(len(values), 2), mode, "lightning")[: len(values)]
    finder = _LRFinder(mode, 1e-6, 1.0, len(values))
    finder.results = {"lr": lrs, "loss": values}
    index = suggest(lrs, values, skip_begin, skip_end, "lightning")
    assert finder.suggestion(skip_begin, skip_end) == (None if index is None else lrs[index])


# -- torch-lr-finder ------------------------------------------------------------------------


def test_torch_lr_finder_records_what_we_record(capsys):
    pytest.importorskip("torch_lr_finder")
    from torch_lr_finder import LRFinder

    beta = 0.95
    stopped = []
    for mode, low, high, n in RUNS:
        model = net()
        finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss())
        loader = torch.utils.data.DataLoader(data(), batch_size=8)
        step_mode = "exp" if mode == "exponential" else "linear"
        finder.range_test(
            loader,
            start_lr=low,
            end_lr=high,
            num_iter=n,
            step_mode=step_mode,
            smooth_f=1 - beta,
            diverge_th=5,
        )
        mine = ours(
            min_lr=low,
            max_lr=high,
            num_training=n,
            mode=mode,
            like="torch-lr-finder",
            beta=beta,
            early_stop_threshold=5,
            skip_end=5,
        )
        assert list(mine.lrs) == finder.history["lr"]
        assert list(mine.losses) == finder.history["loss"]
        stopped.append(mine.stopped_early)
        if len(mine.lrs) >= 10 + 5 + 2:
            assert mine.suggestion == _torch_lr_finder_suggestion(finder, 10, 5)
    capsys.readouterr()
    assert stopped == [False, False, True, True]


def test_like_torch_lr_finder_takes_its_own_defaults(capsys):
    """No smoothing, stopping or skipping given: torch-lr-finder's range_test and plot with
    their own defaults (smooth_f=0.05, diverge_th=5; skip_start=10, skip_end=5)."""
    pytest.importorskip("torch_lr_finder")
    from torch_lr_finder import LRFinder

    stopped = []
    for mode, low, high, n in RUNS:
        model = net()
        finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss())
        loader = torch.utils.data.DataLoader(data(), batch_size=8)
        step_mode = "exp" if mode == "exponential" else "linear"
        finder.range_test(loader, start_lr=low, end_lr=high, num_iter=n, step_mode=step_mode)
        mine = ours(min_lr=low, max_lr=high, num_training=n, mode=mode, like="torch-lr-finder")
        assert list(mine.lrs) == finder.history["lr"]
        assert list(mine.losses) == finder.history["loss"]
        assert (mine.skip_begin, mine.skip_end) == (10, 5)
        stopped.append(mine.stopped_early)
        if len(mine.lrs) >= 10 + 5 + 2:
            _, lr = finder.plot(ax=_axes(), suggest_lr=True)  # its default skips
            assert mine.suggestion == float(lr)
        else:
            assert mine.suggestion is None
    capsys.readouterr()
    assert stopped == [False, False, True, True]


def _axes() -> object:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    return Figure().subplots()  # given an axes, plot() draws there and shows nothing


def test_torch_lr_finder_sweeps_the_same_lrs():
    pytest.importorskip("torch_lr_finder")
    from torch_lr_finder.lr_finder import ExponentialLR, LinearLR

    for cls, mode in ((ExponentialLR, "exponential"), (LinearLR, "linear")):
        for low, high, n in ((1e-8, 1.0, 100), (3e-5, 0.7, 7), (0.01, 10.0, 2)):
            opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=low)
            sched = cls(opt, high, n)
            seen = []
            for _ in range(n):
                seen.append(sched.get_lr()[0])  # what range_test records
                opt.step()
                sched.step()
            assert sweep(low, high, n, mode, "torch-lr-finder") == seen


def _torch_lr_finder_suggestion(finder: object, skip_start: int, skip_end: int) -> float:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    ax = Figure().subplots()  # given an axes, plot() draws there and shows nothing
    _, lr = finder.plot(  # type: ignore[attr-defined]
        skip_start=skip_start, skip_end=skip_end, ax=ax, suggest_lr=True
    )
    return float(lr)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(finite, min_size=2, max_size=40),
    st.sampled_from(["exponential", "linear"]),
    st.integers(0, 12),
    st.integers(0, 6),
)
def test_torch_lr_finder_suggests_what_we_suggest(values, mode, skip_start, skip_end):
    pytest.importorskip("torch_lr_finder")
    from torch_lr_finder import LRFinder

    lrs = sweep(1e-6, 1.0, len(values), mode, "torch-lr-finder")
    model = nn.Linear(1, 1)
    finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss())
    finder.history = {"lr": lrs, "loss": list(values)}
    index = suggest(lrs, values, skip_start, skip_end, "torch-lr-finder")
    if len(values) < skip_start + skip_end + 2:
        assert index is None
        with pytest.raises(RuntimeError, match="to suggest"):
            _torch_lr_finder_suggestion(finder, skip_start, skip_end)
        return
    assert index is not None
    assert _torch_lr_finder_suggestion(finder, skip_start, skip_end) == lrs[index]
