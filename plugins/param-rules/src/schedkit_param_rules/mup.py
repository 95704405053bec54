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


FIXED = "fixed"


def _dims(value: Any) -> Any:
    if isinstance(value, (list, tuple)):  # mup's base-shape files write a fixed one as null
        return tuple(FIXED if d is None else d for d in value)
    return value


def _shapes(value: Any) -> Any:
    if isinstance(value, torch.nn.Module):  # the base model itself: its shapes
        value = base_shapes(value)
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
            if d == FIXED:
                continue
            if isinstance(d, bool) or not isinstance(d, int) or not 0 < d < 2**63:
                raise SpecError(
                    "expected a positive integer (a dimension of the base model, below 2**63) "
                    f"or {FIXED!r}, got {show(d)}",
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
    names (or globs on them, the first that matches decides) to lists of dimensions; from
    Python, the base model itself (its shapes are kept, not the model). A dimension that
    differs from the model's is a *width* dimension, with width multiplier ``model dim /
    base dim``; one equal to it is fixed (as ``set_base_shapes`` decides with a base
    model), and so is one written ``"fixed"``. With ``fixed_if_equal`` false every number
    is a width dimension, even one equal to the model's (multiplier 1). That is how ``mup``
    reads its base-shape files, whose ``null`` is ``"fixed"`` here (None from Python, so a
    file's table can be given as it is), and what ``Mup.from_model(base, delta)`` gives.
    The same setup serves every width: the multipliers come from the model it is built on,
    and on the base model itself they are all 1.

    ``scaling`` is the kind of optimizer the groups are for: ``adam`` (default) or ``sgd``.

    - ``adam`` (Adam, AdamW and other optimizers normalizing the gradient entrywise:
      RMSprop, Adagrad): a matrix-like parameter (two width dimensions: hidden weights) gets
      ``lr / m`` and ``weight_decay * m``, ``m`` the multiplier of its last width dimension
      (the fan-in of a ``Linear`` weight); vector-like ones (one width dimension: biases,
      norms, embeddings, the output layer) and fixed ones keep theirs;
    - ``sgd`` (SGD and its momentum forms): a vector-like parameter gets ``lr * m`` and
      ``weight_decay / m``; a matrix-like one ``lr / r`` and ``weight_decay * r``, ``r``
      the ratio of the multipliers of its dimensions 1 (fan-in) and 0 (fan-out).

    With ``decoupled_wd`` true the weight decay is left unscaled, for optimizers whose decay
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

    base_shapes: tuple[tuple[str, tuple[int | str, ...]], ...] = schedkit.field(
        converter=_shapes, validator=_check_shapes
    )
    scaling: str = schedkit.choice("adam", *SCALINGS[1:])
    decoupled_wd: bool = schedkit.field(default=False, validator=instance_of(bool))
    fixed_if_equal: bool = schedkit.field(default=True, validator=instance_of(bool))

    @classmethod
    def from_model(
        cls, base: torch.nn.Module, delta: torch.nn.Module | None = None, **options: Any
    ) -> Mup:
        """The rule whose base model is ``base``, as ``mup.set_base_shapes(model, base,
        delta=delta)`` reads it.

        :param base: the base model: the same architecture at the width the
            hyperparameters were tuned at.
        :param delta: a model differing from ``base`` in its width dimensions only: they
            are then the width dimensions at every width (``fixed_if_equal`` false), the
            others fixed. Without it, a dimension is a width where it differs from the
            model's.
        :param options: ``scaling``, ``decoupled_wd``.
        """
        shapes: dict[str, list[Any]] = base_shapes(base)
        if delta is None:
            return cls(base_shapes=_shapes(shapes), **options)
        other = base_shapes(delta)
        if other.keys() != shapes.keys() or any(len(other[k]) != len(v) for k, v in shapes.items()):
            raise SpecError("the delta model's parameters differ from the base model's", "delta")
        for name, dims in shapes.items():
            shapes[name] = [FIXED if b == d else b for b, d in zip(dims, other[name], strict=True)]
        return cls(base_shapes=_shapes(shapes), fixed_if_equal=False, **options)

    def spec(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "base_shapes": {k: list(dims) for k, dims in self.base_shapes},
            "scaling": self.scaling,
            "decoupled_wd": self.decoupled_wd,
            "fixed_if_equal": self.fixed_if_equal,
        }

    def multipliers(self, model: torch.nn.Module) -> dict[str, tuple[float, ...]]:
        """Each trainable parameter's width multiplier per dimension (``model dim / base
        dim``; exactly 1 for a fixed dimension), by name.

        :raises SpecError: a base shape matching no parameter, a trainable parameter
            without a base shape, a base shape with another number of dimensions than its
            parameter, or more than two width dimensions: every problem, each at its key
            path (``base_shapes.<name>``).
        """
        return {name: m for name, (m, _) in self._multipliers(model).items()}

    def _multipliers(
        self, model: torch.nn.Module
    ) -> dict[str, tuple[tuple[float, ...], tuple[int, ...]]]:
        """Each trainable parameter's multipliers and the indices of its width dimensions."""
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
        out: dict[str, tuple[tuple[float, ...], tuple[int, ...]]] = {}
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
            pairs = list(zip(base, shape, strict=True))
            same = self.fixed_if_equal
            width = [b != FIXED and not (same and b == d) for b, d in pairs]
            mults = tuple(d / int(b) if w else 1 for w, (b, d) in zip(width, pairs, strict=True))
            widths = sum(width)
            if any(w and d == 0 for w, (_, d) in zip(width, pairs, strict=True)):
                problems.append(
                    SpecError(
                        f"{name} has shape {list(shape)}: a width dimension of size 0 has no "
                        "multiplier",
                        where,
                    )
                )
                continue
            if widths > 2:
                problems.append(
                    SpecError(
                        f"{name} has shape {list(shape)} against the base shape {list(base)}: "
                        f"{widths} width dimensions, and μP scales at most 2",
                        where,
                    )
                )
                continue
            out[name] = (mults, tuple(i for i, w in enumerate(width) if w))
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

    def effect(self, mults: Sequence[float], width: Sequence[int]) -> RuleEffect | None:
        """The change for a parameter with these width multipliers per dimension and these
        width dimensions (see the class docstring); None when it keeps its values."""
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
        effect_of = {name: self.effect(mults, width) for name, (mults, width) in found.items()}

        def column(infos: Sequence[ParamInfo]) -> list[RuleEffect | None]:
            return [effect_of[info.name] for info in infos]

        return column


#: schedkit's example ViT (``schedkit preview``'s model, 32 wide) at half its width: the
#: base shapes of the registered examples, which the conformance suite builds on it
_HALF_VIT = {
    "cls_token": [1, 1, 16],
    "pos_embed": [1, 17, 16],
    "patch_embed.weight": [16, 3, 4, 4],
    "blocks.*.attn.in_proj_weight": [48, 16],
    "blocks.*.attn.in_proj_bias": [48],
    "blocks.*.attn.out_proj.weight": [16, 16],
    "blocks.*.mlp.0.weight": [32, 16],
    "blocks.*.mlp.0.bias": [32],
    "blocks.*.mlp.2.weight": [16, 32],
    "head.weight": [10, 16],
    "head.bias": [10],
    "*": [16],
}


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        Mup,
        examples=[
            {"base_shapes": _HALF_VIT},
            {"base_shapes": _HALF_VIT, "scaling": "sgd", "decoupled_wd": True},
        ],
    )
