"""``schedkit find-lr setup.toml --model module:factory --data module:loader``: the lr range
test from the command line; :func:`run` takes the parsed values and returns the text to
print, so the command is a few lines of argument parsing around it."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.nn import functional

from schedkit.errors import SpecError
from schedkit.lr_finder import LRFinderResult, find_lr


def run(
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
    plot: str | None = None,
) -> str:
    """What ``schedkit find-lr`` prints: the sweep, the suggestion, and the TOML line.

    :param setup: the setup file.
    :param model: ``module:factory``, a callable returning the ``torch.nn.Module``.
    :param data: ``module:loader``, an iterable of batches or a callable returning one.
    :param loss: ``module:function``, ``function(model, batch)`` returning the loss;
        :func:`default_loss` without one.
    :param plot: a PNG to draw the loss against the lr in.
    :raises SpecError: an option that does not name what it should (the option's name is the
        key path), or any error of :func:`schedkit.find_lr`.
    """
    factory = _load(model, "--model")
    net = _call(factory, model, "--model")
    if not isinstance(net, torch.nn.Module):
        raise SpecError(f"{model} returned {type(net).__name__}, not a torch.nn.Module", "--model")
    loader = _load(data, "--data")
    if callable(loader) and not isinstance(loader, Iterable):
        loader = _call(loader, data, "--data")
    loss_fn = default_loss if loss is None else _load(loss, "--loss")
    result = find_lr(
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
    )
    return report(result, setup, model, plot)


def report(result: LRFinderResult, setup: str, model: str, plot: str | None = None) -> str:
    """The command's text for ``result``; draws the plot when asked."""
    n = len(result.lrs)
    lines = [
        f"lr range test of {setup} on {model}: {n} steps, peak lr {result.lrs[0]:.1e} to "
        f"{result.lrs[-1]:.1e} ({result.mode})"
    ]
    if result.stopped_early:
        lines.append(f"  stopped at step {n}: the smoothed loss diverged")
    line = result.toml_line()
    assert result.index is not None
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
    lines += ["", "[optimizer]", line]
    return "\n".join(lines) + "\n"


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
