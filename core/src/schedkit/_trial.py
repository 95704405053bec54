"""The plumbing of a trial run on a setup (the lr finder's): the setup built over the model,
batches cycled, losses checked, and everything put back exactly as it was afterwards."""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Any

import torch

from schedkit._numbers import show
from schedkit.errors import SpecError
from schedkit.setup import Built, Setup, load_setup


@contextlib.contextmanager
def restored(model: torch.nn.Module, built: Built | None) -> Iterator[None]:
    """Put back, whatever happens inside: every parameter and buffer (the same tensors, with
    the same values), the gradients, the training flags, the random number generators, and
    the built setup's optimizer (its groups and state, in place) and clipper."""
    tensors = [
        (m, n, t, t.detach().clone())
        for m in model.modules()
        for n, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]
    ]
    grads = [(p, _copy(p.grad)) for p in model.parameters()]
    flags = [(m, m.training) for m in model.modules()]
    opt = None if built is None else built.optimizer
    groups = [] if opt is None else [_copied(g, skip="params") for g in opt.param_groups]
    state = {} if opt is None else {p: _copied(s) for p, s in opt.state.items()}
    clip = None if built is None or built.clipper is None else _copy(built.clipper.state_dict())
    last_clip = None if built is None else built.last_clip
    cuda = sorted({t.device.index or 0 for *_, t, _ in tensors if t.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            with torch.no_grad():
                for m, n, t, saved in tensors:
                    if getattr(m, n, None) is not t:
                        setattr(m, n, t)
                    t.copy_(saved)
                for param, grad in grads:
                    param.grad = grad
                for m, training in flags:
                    m.training = training
                if opt is not None and built is not None:
                    for group, saved_group in zip(opt.param_groups, groups, strict=False):
                        _put_back(group, saved_group, keep="params")
                    for key in [key for key in opt.state if key not in state]:
                        del opt.state[key]
                    for key, saved_state in state.items():
                        _put_back(opt.state[key], saved_state)
                    if clip is not None:
                        built.clipper.load_state_dict(clip)
                    built.last_clip = last_clip


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


def _copied(table: dict[Any, Any], skip: str = "") -> dict[Any, Any]:
    return {k: _copy(v) for k, v in table.items() if k != skip}


def _put_back(table: dict[Any, Any], saved: dict[Any, Any], keep: str = "") -> None:
    """``table`` as ``saved`` (which lacks ``keep``): tensors of the same kind written into
    in place, so whoever holds them sees the old values."""
    for k in [k for k in table if k != keep and k not in saved]:
        del table[k]
    for k, v in saved.items():
        old = table.get(k)
        if isinstance(old, torch.Tensor) and isinstance(v, torch.Tensor) and _alike(old, v):
            old.copy_(v)
        else:
            table[k] = v


def _alike(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device


def cycle(batches: Iterable[Any]) -> Iterator[Any]:
    """``batches`` again and again: an iterable is iterated anew (a loader reshuffles), an
    iterator's batches are kept and cycled."""
    if not isinstance(batches, Iterable):
        raise SpecError(f"expected an iterable of batches, got {show(batches)}", "batches")

    def gen() -> Iterator[Any]:
        source: Iterable[Any] = batches
        if isinstance(batches, Iterator):
            kept = []
            for batch in batches:
                kept.append(batch)
                yield batch
            source = kept
        while True:
            empty = True
            for batch in source:
                empty = False
                yield batch
            if empty:
                raise SpecError("no batches: expected at least one", "batches")

    return gen()


def built_setup(
    setup: Any,
    model: Any,
    batches: Iterable[Any],
    num_training: int,
    batch_size: int | None,
    steps_per_epoch: int | None,
    total_steps: int | None,
) -> tuple[Built, str, float, float]:
    """The setup built over ``model``, the key its lr is spelled with, that key's value per
    unit of peak lr, and the peak lr."""
    if not isinstance(model, torch.nn.Module):
        raise SpecError(f"expected a torch.nn.Module, got {show(model)}", "model")
    if isinstance(setup, (str, os.PathLike, Mapping)):
        setup = load_setup(setup)
    if isinstance(setup, Built):
        built = setup
        mine = {id(p) for p in model.parameters()}
        if any(id(p) not in mine for g in built.optimizer.param_groups for p in g["params"]):
            raise SpecError("the built setup trains parameters that are not the model's", "setup")
    elif isinstance(setup, Setup):
        if steps_per_epoch is None and setup.steps_per_epoch is None:
            steps_per_epoch = (len(batches) or None) if isinstance(batches, Sized) else None
        if total_steps is None and setup.total is None:
            total_steps = num_training  # the schedules do not run: any length builds them
        built = setup.build(
            model, steps_per_epoch=steps_per_epoch, total_steps=total_steps, batch_size=batch_size
        )
    else:
        raise SpecError(f"expected a Setup, a setup file or a Built, got {show(setup)}", "setup")
    table = built.resolved["optimizer"]
    peak = float(table["lr"])
    if not peak > 0:
        raise SpecError(f"the setup's lr is {show(peak)}: expected a positive one", "optimizer.lr")
    if table.get("base_lr") is not None:
        return built, "base_lr", float(table["base_lr"]) / peak, peak
    return built, "lr", 1.0, peak


def set_lr(group: dict[str, Any], lr: float) -> None:
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def loss_value(loss: Any, step: int) -> float:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        raise SpecError(f"expected a scalar float tensor, got {show(loss)}", "loss_fn")
    value = float(loss.detach())
    if step == 0 and not math.isfinite(value):
        raise SpecError(f"the first step's loss is {value}: expected a finite one", "loss_fn")
    if not loss.requires_grad:
        raise SpecError("the loss has no gradient: computed under torch.no_grad()?", "loss_fn")
    return value
