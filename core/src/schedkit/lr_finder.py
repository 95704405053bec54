"""The learning-rate range test (Smith, 2015, "Cyclical Learning Rates for Training Neural
Networks", section 3.3) on a setup: train a few steps while the peak lr sweeps from
``min_lr`` to ``max_lr``, record the smoothed loss, suggest the lr of its steepest descent,
then put the model back as it was.

Every group's lr is the sweep's lr times the group's share of the setup's peak, so layer
decay and per-rule factors hold while the peak sweeps; the setup's optimizer arguments, its
other hyperparameters (as built) and its clipper apply as in training. ``like`` picks whose
conventions the sweep follows: Lightning's ``Tuner.lr_find`` or torch-lr-finder's
``LRFinder.range_test``; with the same losses, each gives that library's lrs, smoothed
losses, stopping step and suggestion.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import numpy as np
import torch

from schedkit._numbers import as_real, show
from schedkit._trial import built_setup, cycle, loss_value, restored, set_lr
from schedkit.errors import SpecError
from schedkit.setup import Built, Setup

MODES = ("exponential", "linear")
LIKE = ("lightning", "torch-lr-finder")

#: each library's own smoothing, stopping and skipping: what ``None`` stands for in
#: :func:`find_lr` (torch-lr-finder's ``smooth_f=0.05`` is ``beta=0.95``)
DEFAULTS: dict[str, dict[str, float]] = {
    "lightning": {"beta": 0.98, "early_stop_threshold": 4.0, "skip_begin": 10, "skip_end": 1},
    "torch-lr-finder": {
        "beta": 0.95,
        "early_stop_threshold": 5.0,
        "skip_begin": 10,
        "skip_end": 5,
    },
}


class _Default:
    """The type of :data:`DEFAULT`."""

    def __repr__(self) -> str:
        return "DEFAULT"


#: ``early_stop_threshold``'s default: the chosen library's (``None`` there never stops)
DEFAULT = _Default()


@attrs.frozen
class LRFinderResult:
    """What :func:`find_lr` recorded: one entry per step, in order.

    :param lrs: the peak lr of each step (each group's lr is this times its share).
    :param losses: the smoothed losses, on which the suggestion is made.
    :param raw_losses: the losses as ``loss_fn`` returned them.
    :param suggestion: the peak lr at the steepest descent of ``losses``, or ``None`` when
        too few steps remain after the skipped ones.
    :param index: the step of the suggestion, or ``None``.
    :param mode: ``"exponential"`` or ``"linear"``: how the lr grew.
    :param stopped_early: whether the loss diverged before the last step.
    :param key: the ``[optimizer]`` key the setup spells its lr with: ``lr`` or ``base_lr``.
    :param per_peak: that key's value per unit of peak lr (``base_lr / lr``; 1 for ``lr``).
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    raw_losses: tuple[float, ...]
    suggestion: float | None
    index: int | None
    mode: str = "exponential"
    stopped_early: bool = False
    key: str = "lr"
    per_peak: float = 1.0
    skip_begin: int = 10
    skip_end: int = 1

    @property
    def least_steps(self) -> int:
        """The least ``num_training`` that leaves two steps to suggest from once
        ``skip_begin`` and ``skip_end`` are left out (if the loss does not diverge first)."""
        return self.skip_begin + self.skip_end + 2

    def toml_line(self) -> str:
        """The suggestion as a line of the setup's ``[optimizer]`` table: ``lr = 3.2e-04``
        (``base_lr = ...`` for a setup that scales a base lr with the batch size).

        :raises SpecError: when there is no suggestion.
        """
        if self.suggestion is None:
            raise SpecError(f"no suggestion: {self.why_none()}", "suggestion")
        return f"{self.key} = {self.suggestion * self.per_peak:.1e}"

    def why_none(self) -> str:
        """Why there is no suggestion, and what gives one, in :func:`find_lr`'s terms."""
        n = len(self.lrs)
        kept = f"skip_begin={self.skip_begin} and skip_end={self.skip_end}"
        if self.stopped_early:
            return (
                f"the loss diverged at step {n}, and {kept} leave fewer than 2 steps: "
                "make max_lr smaller, or skip_begin / skip_end smaller"
            )
        return (
            f"{n} steps with {kept} leave fewer than 2 steps: make num_training "
            f"{self.least_steps} or more, or skip_begin / skip_end smaller"
        )

    def plot(self, path: str | os.PathLike[str] | None = None, *, ax: Any = None) -> Any:
        """The smoothed loss against the lr, the suggestion marked: a matplotlib ``Figure``
        (the ``plot`` extra), written to ``path`` as a PNG when one is given.

        :param path: where to write the PNG, or ``None``.
        :param ax: the matplotlib ``Axes`` to draw in; a new figure's without one.
        """
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(7, 4.2), dpi=150, layout="constrained").subplots()
        fig = ax.figure
        ax.plot(self.lrs, self.losses, color="C0", lw=1.5, label="smoothed loss")
        if self.index is not None and self.suggestion is not None:
            line = self.toml_line()
            if self.key != "lr":
                line = f"lr = {self.suggestion:.1e}, {line}"
            ax.plot(
                [self.suggestion],
                [self.losses[self.index]],
                "o",
                color="red",
                markersize=8,
                label=f"steepest descent: {line}",
            )
        if self.mode == "exponential":
            ax.set_xscale("log")
        if self.stopped_early and len(self.losses) > 2:  # the diverging step leaves the frame
            low, high = min(self.losses), max(self.losses[:-1])
            ax.set_ylim(top=high + 0.1 * (high - low or abs(high) or 1.0))
        ax.set_xlabel("peak learning rate")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
        if path is not None:
            fig.savefig(os.fspath(path), format="png")
        return fig


def sweep(min_lr: float, max_lr: float, num_training: int, mode: str, like: str) -> list[float]:
    """The lr of each step. Lightning's first step uses ``min_lr`` and step ``k >= 1`` the
    point ``(k + 1) / num_training`` of the way (so the last step reaches ``max_lr``);
    torch-lr-finder's step ``k`` the point ``k / (num_training - 1)``. Exponential mode
    interpolates the logarithm, linear the lr."""
    return [_lr_at(k, min_lr, max_lr, num_training, mode, like) for k in range(num_training)]


def _lr_at(k: int, low: float, high: float, n: int, mode: str, like: str) -> float:
    if like == "lightning" and k == 0:
        return low
    r = (k + 1) / n if like == "lightning" else k / (n - 1)
    return low * (high / low) ** r if mode == "exponential" else low + r * (high - low)


def suggest(
    lrs: Iterable[float], losses: Iterable[float], skip_begin: int, skip_end: int, like: str
) -> int | None:
    """The step of the steepest descent of ``losses`` once the first ``skip_begin`` and the
    last ``skip_end`` steps are left out, or ``None`` with fewer than two steps left.
    Lightning: the least gradient against the lr (``torch.gradient`` with the lrs as
    coordinates, in torch's default dtype), non-finite losses dropped. torch-lr-finder:
    the least gradient against the step number (``numpy.gradient``), no loss dropped
    (a non-finite gradient, which it would pick, is never picked here)."""
    lrs, losses = list(lrs), list(losses)
    keep = list(range(skip_begin, len(losses) - skip_end))
    if like == "lightning":
        finite = torch.isfinite(torch.tensor([losses[i] for i in keep]))
        keep = [i for i, f in zip(keep, finite.tolist(), strict=True) if f]
    if len(keep) < 2:
        return None
    if like == "lightning":
        y, x = torch.tensor([losses[i] for i in keep]), torch.tensor([lrs[i] for i in keep])
        return keep[int(torch.gradient(y, spacing=[x])[0].argmin())]
    with np.errstate(invalid="ignore"):  # inf - inf: a NaN gradient, never picked
        grad = np.gradient(np.array([losses[i] for i in keep], dtype=np.float64))
    if not np.isfinite(grad).any():
        return None
    return keep[int(np.where(np.isfinite(grad), grad, np.inf).argmin())]


def find_lr(
    setup: Setup | Built | str | os.PathLike[str] | Mapping[str, Any],
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    batches: Iterable[Any],
    *,
    min_lr: float = 1e-8,
    max_lr: float = 1.0,
    num_training: int = 100,
    mode: str = "exponential",
    early_stop_threshold: float | _Default | None = DEFAULT,
    beta: float | None = None,
    skip_begin: int | None = None,
    skip_end: int | None = None,
    like: str = "lightning",
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    total_steps: int | None = None,
) -> LRFinderResult:
    """The lr range test of ``setup`` on ``model``; the model, its buffers, gradients and
    training flags, the random number generators and (given a :class:`Built`) the optimizer
    and clipper are restored afterwards, bit for bit (the schedulers are never stepped).

    ``beta``, ``early_stop_threshold``, ``skip_begin`` and ``skip_end`` not given take the
    defaults of the library ``like`` names (:data:`DEFAULTS`): Lightning's ``lr_find``
    ``beta=0.98, early_stop_threshold=4.0, skip_begin=10, skip_end=1``; torch-lr-finder's
    ``beta=0.95, early_stop_threshold=5.0, skip_begin=10, skip_end=5`` (its ``smooth_f`` is
    ``1 - beta``).

    :param setup: a :class:`Setup`, a setup file or dict (as :func:`load_setup` reads), or
        a :class:`Built` over ``model``.
    :param model: the model; it trains in training mode for up to ``num_training`` steps.
    :param loss_fn: ``loss_fn(model, batch)``: the batch's loss, a scalar tensor.
    :param batches: the training batches; iterated again (or cycled) when they run out.
    :param min_lr: the peak lr of the first step.
    :param max_lr: the peak lr the last step reaches.
    :param num_training: the number of steps.
    :param mode: ``"exponential"`` (log-spaced lrs) or ``"linear"``.
    :param early_stop_threshold: stop when the smoothed loss exceeds this times the best
        so far; ``None`` never stops early; the chosen library's without it. A non-finite
        loss always stops.
    :param beta: the smoothing: an exponential moving average keeping ``beta`` of the past;
        ``None``: the chosen library's.
    :param skip_begin: steps left out at the beginning when suggesting; ``None``: the chosen
        library's.
    :param skip_end: steps left out at the end when suggesting; ``None``: the chosen
        library's.
    :param like: whose conventions: ``"lightning"`` or ``"torch-lr-finder"``.
    :param batch_size: as in :meth:`Setup.build`, for an lr scaled with the batch size.
    :param steps_per_epoch: as in :meth:`Setup.build`; defaults to ``len(batches)`` for a
        setup that needs it.
    :param total_steps: as in :meth:`Setup.build`; defaults to ``num_training`` for a setup
        without a run length (the sweep replaces its schedules).
    :returns: the :class:`LRFinderResult`.
    :raises SpecError: a bad argument, named; no batches; a first loss that is not a finite
        scalar.

    >>> result = schedkit.find_lr("train.toml", model, loss_fn, loader)  # doctest: +SKIP
    >>> print(result.toml_line())  # doctest: +SKIP
    lr = 3.2e-04
    """
    if like not in LIKE:
        raise SpecError(f"expected one of {', '.join(LIKE)}, got {show(like)}", "like")
    own = DEFAULTS[like]
    if isinstance(early_stop_threshold, _Default):
        early_stop_threshold = own["early_stop_threshold"]
    # torch-lr-finder's own smooth_f, 0.05, is not 1 - 0.95 to the last bit
    smooth_f = 0.05 if beta is None and like == "torch-lr-finder" else None
    beta = own["beta"] if beta is None else beta
    skip_begin = int(own["skip_begin"]) if skip_begin is None else skip_begin
    skip_end = int(own["skip_end"]) if skip_end is None else skip_end
    _check(min_lr, max_lr, num_training, mode, early_stop_threshold, beta, skip_begin, skip_end)
    if not callable(loss_fn):
        raise SpecError(f"expected loss_fn(model, batch), got {show(loss_fn)}", "loss_fn")
    stream = cycle(batches)
    built, key, per_peak, peak = built_setup(
        setup, model, batches, num_training, batch_size, steps_per_epoch, total_steps
    )
    groups = built.optimizer.param_groups
    shares = [float(g.get("initial_lr", g["lr"])) / peak for g in groups]
    lrs: list[float] = []
    raw: list[float] = []
    smooth: list[float] = []
    stopped = False
    thr = early_stop_threshold
    with restored(model, built if isinstance(setup, Built) else None):
        model.train()
        built.optimizer.zero_grad(set_to_none=True)
        avg, best = 0.0, 0.0
        for k in range(num_training):
            lrs.append(_lr_at(k, min_lr, max_lr, num_training, mode, like))
            for g, share in zip(groups, shares, strict=True):
                set_lr(g, lrs[-1] * share)
            loss: Any = loss_fn(model, next(stream))
            value = loss_value(loss, k)
            if math.isfinite(value):
                loss.backward()
                if built.clipper is not None:
                    built.clipper(model)
                built.optimizer.step()
                built.optimizer.zero_grad(set_to_none=True)
            raw.append(value)
            if like == "lightning":
                avg = beta * avg + (1 - beta) * value
                s = avg / (1 - beta ** (k + 2))  # Lightning counts steps from 1 here
                diverged = k > 0 and thr is not None and s > thr * best
                best = s if k == 0 or s < best else best
            else:
                f = 1 - beta if smooth_f is None else smooth_f
                s = value if k == 0 else f * value + (1 - f) * smooth[-1]
                best = s if k == 0 or s < best else best
                diverged = thr is not None and s > thr * best
            smooth.append(s)
            if diverged or not math.isfinite(s):
                stopped = k < num_training - 1
                break
    index = suggest(lrs, smooth, skip_begin, skip_end, like)
    return LRFinderResult(
        tuple(lrs),
        tuple(smooth),
        tuple(raw),
        None if index is None else lrs[index],
        index,
        mode,
        stopped,
        key,
        per_peak,
        skip_begin,
        skip_end,
    )


def _check(
    min_lr: Any,
    max_lr: Any,
    num_training: Any,
    mode: Any,
    threshold: Any,
    beta: Any,
    skip_begin: Any,
    skip_end: Any,
) -> None:
    for name, value in (("min_lr", min_lr), ("max_lr", max_lr)):
        v = as_real(value)
        if v is None or not 0 < v < math.inf:
            raise SpecError(f"expected a positive finite number, got {show(value)}", name)
    if not min_lr < max_lr:
        raise SpecError(f"expected more than min_lr ({show(min_lr)}), got {show(max_lr)}", "max_lr")
    for name, value, low in (("num_training", num_training, 2), ("skip_begin", skip_begin, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SpecError(f"expected an int of at least {low}, got {show(value)}", name)
    if isinstance(skip_end, bool) or not isinstance(skip_end, int) or skip_end < 0:
        raise SpecError(f"expected an int of at least 0, got {show(skip_end)}", "skip_end")
    if mode not in MODES:
        raise SpecError(f"expected one of {', '.join(MODES)}, got {show(mode)}", "mode")
    t = as_real(threshold)
    if threshold is not None and (t is None or math.isnan(t) or t <= 0):
        raise SpecError(
            f"expected a positive number or None (never stop), got {show(threshold)}",
            "early_stop_threshold",
        )
    b = as_real(beta)
    if b is None or not 0 <= b < 1:
        raise SpecError(f"expected a number in [0, 1), got {show(beta)}", "beta")
