"""What a clipper call clips: :class:`Target` (the parameters with a gradient, their
gradients, their names on demand), the refusal of sparse gradients, and ``exclude`` patterns.
Plugin authors import them from :mod:`schedkit.plugin`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from schedkit.errors import SchedkitError, SpecError
from schedkit.matching import any_glob


class SparseGradientError(SchedkitError, TypeError):
    """A clipper was given a sparse gradient, which no strategy clips; names the parameter."""


# -- targets ----------------------------------------------------------------------------


class Target:
    """The parameters a call clips (those with a gradient), and their names on demand.

    What :meth:`BaseClipper.clip` receives, whatever the caller passed (parameters,
    ``(name, parameter)`` pairs, a module or an optimizer). ``params``: the parameters that
    have a gradient, in order; ``grads``: their gradients (clip these in place);
    ``names``: a name for each (its own, or where it sits, such as
    ``param_groups[0]['params'][3]``); ``has_names``: whether real names were given
    (``exclude`` patterns need them). Names are only built when needed (an error message,
    ``exclude`` patterns), so the common call costs no more than collecting the gradients.
    """

    def __init__(self, target: Any, names: Mapping[int, str] | None = None) -> None:
        self._named = dict(names or {})
        self._pairs: list[tuple[str, torch.Tensor]] | None = None
        self._source: Any = None
        self.has_names = bool(self._named) or isinstance(target, torch.nn.Module)
        if isinstance(target, torch.optim.Optimizer):
            self._source = target
            items: list[Any] = [p for g in target.param_groups for p in g["params"]]
        elif isinstance(target, torch.nn.Module):
            self._pairs = list(target.named_parameters())
            items = [p for _, p in self._pairs]
        elif isinstance(target, torch.Tensor):
            items = [target]
        else:
            items = list(target)
            if items and isinstance(items[0], tuple):
                self._pairs = items
                items = [p for _, p in items]
                self.has_names = True
        # each gradient is read once (a parameter's .grad costs a call into torch)
        grads = [p.grad for p in items]
        self._grads: list[torch.Tensor] = [g for g in grads if g is not None]
        if len(self._grads) == len(items):
            self.params: list[torch.Tensor] = items
        else:
            kept = [i for i, g in enumerate(grads) if g is not None]
            self.params = [items[i] for i in kept]
            if self._pairs is not None:
                self._pairs = [self._pairs[i] for i in kept]

    def _reread(self) -> None:
        """Read the gradients again: a target given to a clipper call, perhaps made before
        this step's backward pass."""
        self._grads = [g for g in (p.grad for p in self.params) if g is not None]

    @property
    def grads(self) -> list[torch.Tensor]:
        """The gradients of :attr:`params`, in order, as they were when the target was made:
        clip them in place."""
        return self._grads

    @property
    def names(self) -> list[str]:
        """A name for each clipped parameter: its own, or where it sits."""
        if self._pairs is not None:
            return [n for n, _ in self._pairs]
        if self._source is not None:
            where = {
                id(p): f"param_groups[{gi}]['params'][{pi}]"
                for gi, g in enumerate(self._source.param_groups)
                for pi, p in enumerate(g["params"])
            }
            return [self._named.get(id(p), where[id(p)]) for p in self.params]
        return [self._named.get(id(p), f"parameters[{i}]") for i, p in enumerate(self.params)]


def _require_dense(name: str, target: Target) -> None:
    """Refuse sparse gradients (``nn.Embedding(sparse=True)``) before anything is changed."""
    strided = torch.strided
    if {g.layout for g in target.grads} <= {strided}:
        return
    for n, g in zip(target.names, target.grads, strict=True):
        if g.layout is not strided:
            raise SparseGradientError(
                f"{name}: the gradient of {n!r} is sparse ({g.layout}); clippers take dense "
                "gradients (build the module with sparse=False, or leave the parameter out of "
                "the clipped ones)"
            )


def name_matcher(patterns: Iterable[str]) -> Callable[[str], object]:
    """A predicate: does a parameter name match one of the glob ``patterns`` (truthy)?"""
    match = any_glob(patterns)
    return match if match is not None else (lambda name: False)


def check_exclude(name: str, exclude: Sequence[str], target: Target) -> None:
    """``exclude`` needs names: refuse a target that has none."""
    if exclude and not target.has_names:
        raise SpecError(
            f"{name}: exclude={list(exclude)} needs parameter names: pass the model, "
            "(name, parameter) pairs, or attach(optimizer, model=model)",
            "exclude",
        )
