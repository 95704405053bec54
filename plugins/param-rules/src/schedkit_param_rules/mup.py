"""The ``mup`` rule: μP's per-layer lr (and weight decay) by width, against a base model."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect, SpecError
from schedkit.plugin import Column, Field, closest_names, instance_of, matcher, show

SCALINGS = ("adam", "sgd")


class _Divide(float):
    """A multiplier that divides: ``x * _Divide(d)`` is ``x / d`` to the last bit, which
    ``x * (1 / d)`` is not always (μP's optimizers divide). Its value, shown in tables and
    explanations, is ``1 / d``."""

    __slots__ = ("divisor",)
    divisor: float

    def __new__(cls, divisor: float) -> _Divide:
        out = super().__new__(cls, 1.0 / divisor)
        out.divisor = divisor
        return out

    def __rmul__(self, other: Any) -> Any:
        return other / self.divisor

    __mul__ = __rmul__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Divide, (self.divisor,))


@functools.lru_cache(maxsize=1024)
def _effect(lr: tuple[str, float], weight_decay: tuple[str, float] | None) -> RuleEffect:
    """The effect for an lr change and a weight-decay change, each ``("mul" | "div", x)``:
    one object per distinct change, shared (the builder merges by identity)."""

    def factor(how: str, x: float) -> float:
        return x if how == "mul" else _Divide(x)

    mults = {"lr": factor(*lr)}
    if weight_decay is not None:
        mults["weight_decay"] = factor(*weight_decay)
    return RuleEffect(multipliers=mults)


def _dims(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _shapes(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((str(k), _dims(v)) for k, v in value.items())
    return value


def _check_shapes(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple) or not value:
        raise SpecError(
            "expected a table of parameter names (or globs) to the base model's shapes, "
            f"got {'an empty table' if value == () else show(value)}",
            attribute.name,
        )
    for key, dims in value:
        where = f"{attribute.name}.{key}"
        if not isinstance(dims, tuple):
            raise SpecError(
                f"expected a shape, a list of positive integers, got {show(dims)}", where
            )
        for i, d in enumerate(dims):
            if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
                raise SpecError(
                    f"expected a positive integer (a dimension of the base model), got {show(d)}",
                    f"{where}[{i}]",
                )


def base_shapes(model: torch.nn.Module) -> dict[str, list[int]]:
    """The shape of every parameter of ``model`` by name (frozen ones too): the
    ``base_shapes`` of a ``mup`` rule whose base model is ``model``.

    >>> base_shapes(torch.nn.Linear(4, 2))
    {'weight': [2, 4], 'bias': [2]}
    """
    return {name: list(p.shape) for name, p in model.named_parameters()}


@attrs.frozen
class Mup(schedkit.BaseRule):
    """μP (the Maximal Update Parametrization, Yang et al., 2021, "Tensor Programs V"): each
    parameter's lr and weight decay scaled by how much wider the model is than a base model,
    so the hyperparameters tuned on the small base model transfer to the wide one. The
    groups equal those of ``mup``'s ``MuAdam``, ``MuAdamW`` and ``MuSGD`` on the same model
    after ``mup.set_base_shapes(model, base)``.

    ``base_shapes`` gives the base model's shape of every trainable parameter: parameter
    names (or globs on them, the first that matches decides) to lists of dimensions, such
    as ``mup_base_shapes(base_model)`` makes them. A dimension that differs from the
    model's is a *width* dimension, with width multiplier ``model dim / base dim``; one
    equal to it is fixed (as ``set_base_shapes`` decides with a base model). The same
    setup serves every width: the multipliers come from the model it is built on, and on
    the base model itself they are all 1.

    ``scaling`` says which kind of optimizer the groups are for:

    - ``adam`` (Adam, AdamW and other optimizers normalizing the gradient entrywise:
      RMSprop, Adagrad): a matrix-like parameter (two width dimensions: hidden weights) gets
      ``lr / m`` and ``weight_decay * m``, ``m`` the multiplier of its last width dimension
      (the fan-in of a ``Linear`` weight); vector-like ones (one width dimension: biases,
      norms, embeddings, the output layer) and fixed ones keep theirs;
    - ``sgd`` (SGD and its momentum forms): a vector-like parameter gets ``lr * m`` and
      ``weight_decay / m``; a matrix-like one ``lr / r`` and ``weight_decay * r``, ``r``
      the ratio of the multipliers of its dimensions 1 (fan-in) and 0 (fan-out).

    ``decoupled_wd = true`` leaves the weight decay unscaled, for optimizers whose decay
    does not go through the lr. Torch's ``AdamW`` multiplies its decay by the lr, so with
    the default the decay per step, ``lr * weight_decay``, stays the base model's at every
    width, as with ``MuAdamW``. More than two width dimensions on one parameter is an error,
    as in ``mup``.

    The rule scales the values earlier rules left (as ``MuAdam`` scales the groups it is
    given): put it last, after ``no_weight_decay`` (zero stays zero) and ``overrides``. It
    sets the optimizer side only; the model still needs μP's initialization and output
    multiplier (``mup``'s ``MuReadout`` or one's own).

    Example: ``{type = "mup", base_shapes = {"fc1.weight" = [64, 16], "fc1.bias" = [64],
    "fc2.weight" = [10, 64], "fc2.bias" = [10]}}``.
    """

    name = "mup"

    base_shapes: tuple[tuple[str, tuple[int, ...]], ...] = schedkit.field(
        converter=_shapes, validator=_check_shapes
    )
    scaling: str = schedkit.choice("adam", *SCALINGS[1:])
    decoupled_wd: bool = schedkit.field(default=False, validator=instance_of(bool))

    @classmethod
    def from_model(cls, base: torch.nn.Module, **options: Any) -> Mup:
        """The rule whose base model is ``base`` (its every parameter's shape).

        :param base: the base model: the same architecture at the width the
            hyperparameters were tuned at.
        :param options: ``scaling``, ``decoupled_wd``.
        """
        return cls(base_shapes=_shapes(base_shapes(base)), **options)

    def spec(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "base_shapes": {k: list(dims) for k, dims in self.base_shapes},
            "scaling": self.scaling,
            "decoupled_wd": self.decoupled_wd,
        }

    def multipliers(self, model: torch.nn.Module) -> dict[str, tuple[float, ...]]:
        """Each trainable parameter's width multiplier per dimension (``model dim / base
        dim``; exactly 1 for a fixed dimension), by name.

        :raises SpecError: a base shape matching no parameter, a trainable parameter
            without a base shape, a base shape with another number of dimensions than its
            parameter, or more than two width dimensions: every problem, each at its key
            path (``base_shapes.<name>``).
        """
        return {name: m for name, (_, m) in self._multipliers(model).items()}

    def _multipliers(self, model: torch.nn.Module) -> dict[str, tuple[str, tuple[float, ...]]]:
        table = dict(self.base_shapes)
        names = schedkit.parameter_names(model)
        problems: list[SpecError] = []
        matchers = [(pattern, matcher("glob", pattern)) for pattern in table]
        for pattern, match in matchers:
            if any(map(match, names)):
                continue
            close = closest_names(pattern, names)
            hint = f"; closest: {', '.join(map(repr, close))}" if close else ""
            problems.append(
                SpecError(
                    f"{pattern!r} matches none of the parameters of {type(model).__name__}{hint} "
                    "(base shapes name the parameters of the same architecture at its base width)",
                    f"base_shapes.{pattern}",
                )
            )
        missing: list[str] = []
        out: dict[str, tuple[str, tuple[float, ...]]] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            key = next((pattern for pattern, match in matchers if match(name)), None)
            if key is None:
                missing.append(name)
                continue
            base, shape = table[key], tuple(param.shape)
            where = f"base_shapes.{key}"
            if len(base) != len(shape):
                problems.append(
                    SpecError(
                        f"{name} has shape {list(shape)}, {len(shape)} dimension(s); its base "
                        f"shape {list(base)} has {len(base)}",
                        where,
                    )
                )
                continue
            mults = tuple(1 if b == d else d / b for b, d in zip(base, shape, strict=True))
            widths = sum(1 for b, d in zip(base, shape, strict=True) if b != d)
            if widths > 2:
                problems.append(
                    SpecError(
                        f"{name} has shape {list(shape)} against the base shape {list(base)}: "
                        f"{widths} width dimensions, and μP scales at most 2",
                        where,
                    )
                )
                continue
            out[name] = (key, mults)
        if missing:
            shown = ", ".join(missing[:8])
            if len(missing) > 8:
                shown += f" and {len(missing) - 8} more"
            problems.append(
                SpecError(
                    f"no base shape for {len(missing)} trainable parameter(s) of "
                    f"{type(model).__name__}: {shown} (give the base model's shape of each)",
                    "base_shapes",
                )
            )
        if problems:
            raise SpecError(problems[0].message, problems[0].path, problems[1:])
        return out

    def effect(self, mults: Sequence[float]) -> RuleEffect | None:
        """The change for a parameter with these width multipliers per dimension (see the
        class docstring); None when it keeps its values."""
        width = [i for i, m in enumerate(mults) if m != 1]
        decay = not self.decoupled_wd
        if self.scaling == "adam":
            if len(width) != 2:
                return None
            m = mults[width[-1]]
            return _effect(("div", m), ("mul", m) if decay else None)
        if len(width) == 1:
            m = mults[width[0]]
            return _effect(("mul", m), ("div", m) if decay else None)
        if len(width) == 2:
            ratio = mults[1] / mults[0]
            return _effect(("div", ratio), ("mul", ratio) if decay else None)
        return None

    def bind_all(self, model: torch.nn.Module) -> Column:
        found = self._multipliers(model)
        effect_of = {name: self.effect(mults) for name, (_, mults) in found.items()}

        def column(infos: Sequence[ParamInfo]) -> list[RuleEffect | None]:
            return [effect_of[info.name] for info in infos]

        return column


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        Mup,
        examples=[
            {"base_shapes": {"*.weight": [64, 64], "*.bias": [64]}},
            {"base_shapes": {"*": [64, 64]}, "scaling": "sgd", "decoupled_wd": True},
        ],
    )
