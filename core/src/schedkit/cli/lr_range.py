"""``schedkit find-lr setup.toml --model module:factory --data module:loader``: the lr range
test from the command line; :func:`run` takes the parsed values and returns the text to
print, so the command is a few lines of argument parsing around it."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from typing import Any

import torch
from torch.nn import functional

from schedkit.errors import SchedkitError, SpecError
from schedkit.lr_finder import DEFAULT, LRFinderResult, find_lr

#: find_lr's parameters as the command's options: its errors name the option
OPTIONS = {
    "num_training": "--steps",
    "min_lr": "--min-lr",
    "max_lr": "--max-lr",
    "mode": "--mode",
    "like": "--like",
    "beta": "--beta",
    "early_stop_threshold": "--early-stop",
    "batch_size": "--batch-size",
    "loss_fn": "--loss",
    "batches": "--data",
    "model": "--model",
}


def run(setup: str, model: str, data: str, *, plot: str | None = None, **options: Any) -> str:
    """What ``schedkit find-lr`` prints: the sweep, the suggestion, and the TOML line (or,
    without a suggestion, why not and the ``--steps`` that gives one).

    :param setup: the setup file.
    :param model: ``module:factory``, a callable returning the ``torch.nn.Module``.
    :param data: ``module:loader``, an iterable of batches or a callable returning one.
    :param plot: a PNG to draw the loss against the lr in.
    :param options: the keyword options of :func:`sweep` (``loss``, ``min_lr``, ``like``...).
    :raises SpecError: an option that does not name what it should, or any error of
        :func:`schedkit.find_lr`, or of the user's code during the sweep: the key path is
        the option's name.
    """
    return report(sweep(setup, model, data, **options), setup, model, plot)


def sweep(
    setup: str,
    model: str,
    data: str,
    *,
    loss: str | None = None,
    batch_size: int | None = None,
    min_lr: float = 1e-8,
    max_lr: float = 1.0,
    num_training: int = 100,
    mode: str = "exponential",
    like: str = "lightning",
    beta: float | None = None,
    early_stop: float | None = None,
) -> LRFinderResult:
    """The sweep :func:`run` reports.

    :param loss: ``module:function``, ``function(model, batch)`` returning the loss;
        :func:`default_loss` without one.
    :param beta: the smoothing; ``like``'s default without it.
    :param early_stop: the divergence threshold; ``like``'s default without it.
    """
    factory = _load(model, "--model")
    net = _call(factory, model, "--model")
    if not isinstance(net, torch.nn.Module):
        raise SpecError(f"{model} returned {type(net).__name__}, not a torch.nn.Module", "--model")
    loader = _load(data, "--data")
    if callable(loader) and not isinstance(loader, Iterable):
        loader = _call(loader, data, "--data")
    if isinstance(loader, Iterable):
        loader = _guarded(loader, data)
    if loss is None:
        loss_fn = _guarded_loss(default_loss, model, "--model")
    else:
        user_loss = _load(loss, "--loss")
        if not callable(user_loss):
            raise SpecError(f"{loss} is not callable", "--loss")
        loss_fn = _guarded_loss(user_loss, loss, "--loss")
    try:
        return find_lr(
            setup,
            net,
            loss_fn,
            loader,
            min_lr=min_lr,
            max_lr=max_lr,
            num_training=num_training,
            mode=mode,
            like=like,
            batch_size=batch_size,
            beta=beta,
            early_stop_threshold=DEFAULT if early_stop is None else early_stop,
        )
    except SpecError as e:
        raise _as_option(e) from None
    except SchedkitError:
        raise
    except Exception as e:  # the user's backward or the optimizer's step: reported
        message = f"a training step of {model} raised {type(e).__name__}: {e}"
        raise SpecError(message, "--model") from None


def _as_option(e: SpecError) -> SpecError:
    """``e`` with find_lr's parameter names as the command's options."""
    head, _, rest = e.path.partition(".")
    if head not in OPTIONS:
        return e
    message = e.message
    for name, option in OPTIONS.items():
        message = message.replace(f"{name} (", f"{option} (")
    return SpecError(message, OPTIONS[head] + (f".{rest}" if rest else ""))


def _guarded_loss(fn: Callable[..., Any], ref: str, option: str) -> Callable[..., Any]:
    def loss_fn(net: torch.nn.Module, batch: Any) -> Any:
        try:
            return fn(net, batch)
        except SchedkitError:
            raise
        except Exception as e:  # the user's code: reported, not a traceback
            raise SpecError(f"{ref} raised {type(e).__name__}: {e}", option) from None

    return loss_fn


def _guarded(loader: Iterable[Any], ref: str) -> Iterable[Any]:
    """``loader`` whose failures while iterating name ``--data``; an iterator stays one, a
    sized iterable sized, so the sweep cycles it and sizes epochs the same."""

    def batches(source: Iterable[Any]) -> Iterator[Any]:
        it = iter(source)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except SchedkitError:
                raise
            except Exception as e:  # the user's code: reported, not a traceback
                message = f"iterating {ref} raised {type(e).__name__}: {e}"
                raise SpecError(message, "--data") from None
            yield batch

    if isinstance(loader, Iterator):
        return batches(loader)
    if isinstance(loader, Sized):
        return _SizedBatches(loader, batches)
    return _Batches(loader, batches)


class _Batches:
    def __init__(self, loader: Iterable[Any], batches: Callable[..., Iterator[Any]]) -> None:
        self.loader, self.batches = loader, batches

    def __iter__(self) -> Iterator[Any]:
        return self.batches(self.loader)


class _SizedBatches(_Batches):
    def __len__(self) -> int:
        assert isinstance(self.loader, Sized)
        return len(self.loader)


def report(result: LRFinderResult, setup: str, model: str, plot: str | None = None) -> str:
    """The command's text for ``result``; draws the plot when asked."""
    n = len(result.lrs)
    lines = [
        f"lr range test of {setup} on {model}: {n} steps, peak lr {result.lrs[0]:.1e} to "
        f"{result.lrs[-1]:.1e} ({result.mode})"
    ]
    if result.stopped_early:
        lines.append(f"  stopped at step {n}: the smoothed loss diverged")
    if result.index is None or result.suggestion is None:
        lines.append(f"  no suggestion: {_why_none(result)}")
        line = None
    else:
        line = result.toml_line()
        lines.append(
            f"  steepest descent at step {result.index + 1}: peak lr {result.suggestion:.1e}, "
            f"smoothed loss {result.losses[result.index]:.4g}"
        )
    if plot is not None:
        try:
            result.plot(plot)
        except ImportError:
            message = "needs matplotlib: pip install 'schedkit-core[plot]'"
            raise SpecError(message, "--plot") from None
        lines.append(f"  plot: {plot}")
    if line is not None:
        lines += ["", "[optimizer]", line]
    return "\n".join(lines) + "\n"


def _why_none(result: LRFinderResult) -> str:
    """Why ``result`` has no suggestion, in the command's options."""
    kept = f"the first {result.skip_begin} and last {result.skip_end} steps are left out"
    if result.stopped_early:
        return (
            f"the loss diverged at step {len(result.lrs)} and {kept}: run with a smaller --max-lr"
        )
    return f"{kept}, so it needs --steps {result.least_steps} or more"


def default_loss(model: torch.nn.Module, batch: Any) -> Any:
    """The loss of a batch without ``--loss``: for ``(inputs, targets)``, the cross-entropy
    of ``model(inputs)`` with integer targets, else their mean squared error; for a
    mapping, the ``loss`` the model returns for ``model(**batch)`` (transformers' models,
    labels in the batch); else ``model(batch)`` itself. Tensors go to the model's device."""
    device = next((p.device for p in model.parameters()), None)
    if device is not None:
        batch = _to(batch, device)
    if isinstance(batch, Mapping):
        out = model(**batch)
        return out["loss"] if isinstance(out, Mapping) else getattr(out, "loss", out)
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        out = model(batch[0])
        target = batch[1]
        if isinstance(target, torch.Tensor) and not target.is_floating_point():
            return functional.cross_entropy(out, target)
        return functional.mse_loss(out, target)
    return model(batch)


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return [_to(v, device) for v in batch]
    return batch


def _load(ref: str, option: str) -> Any:
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise SpecError(f"expected module:name, got {ref!r}", option)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as python -m does: modules of the current directory
    try:
        value = importlib.import_module(module)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as e:
        raise SpecError(f"{ref}: {e}", option) from None
    return value


def _call(factory: Any, ref: str, option: str) -> Any:
    if not callable(factory):
        raise SpecError(f"{ref} is not callable", option)
    try:
        return factory()
    except Exception as e:  # the user's code: reported, not a traceback
        raise SpecError(f"calling {ref} raised {type(e).__name__}: {e}", option) from None
