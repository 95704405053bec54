"""Compare a drop-in alias's parameters with its original's: names, defaults, positional order.

An alias exposes its parameters as the constructor arguments of its registered class (the
record's init fields, under their aliases); it takes positionals in the order of its
non-keyword-only fields: the class called as the peer's users call the original, without the
optimizer (``StepLR(30)`` for torch's ``StepLR(opt, 30)``). An original is read from the installed peer with
:func:`from_signature`, or written down as facts with :class:`Param` where the peer cannot be
installed (Cerebras) or its names are configuration keys (detectron2's ``SOLVER``).

Used by ``tests/plugins/compat/test_signatures.py`` (torch, transformers, timm,
detectron2, Cerebras, mmpretrain, the transformers Trainer) and by
``tests/convert/test_signatures.py`` (mmengine, DeepSpeed).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import attrs

from schedkit.plugin import NOTHING, fields


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: the default of a parameter that has none
REQUIRED: Any = _Required()

#: what a torch-style constructor takes besides the schedule's own parameters
SCHEDULER_ARGS = ("self", "optimizer", "last_epoch")


@dataclass(frozen=True)
class Param:
    """One parameter: its name, its default (:data:`REQUIRED`: none), and whether it may be
    given by position."""

    name: str
    default: Any = REQUIRED
    positional: bool = True


def from_signature(
    fn: Callable[..., Any], skip: Iterable[str] = SCHEDULER_ARGS
) -> tuple[Param, ...]:
    """The parameters of an installed original, without ``skip`` and ``*args``/``**kwargs``."""
    out = []
    left_out = set(skip)
    for p in inspect.signature(fn).parameters.values():
        if p.name in left_out or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = REQUIRED if p.default is p.empty else p.default
        positional = p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        out.append(Param(p.name, default, positional))
    return tuple(out)


def facts(*params: Param | str, keyword_only: bool = False) -> tuple[Param, ...]:
    """An original written down: ``"name"`` alone is a required positional parameter."""
    out = []
    for p in params:
        if isinstance(p, str):
            p = Param(p)
        out.append(Param(p.name, p.default, p.positional and not keyword_only))
    return tuple(out)


def of_alias(cls: type, skip: Iterable[str] = ()) -> tuple[Param, ...]:
    """The constructor parameters of an alias's registered class."""
    left_out = set(skip)
    out = []
    for f in fields(cls):
        if not f.init or f.alias in left_out:
            continue
        if isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
            default = f.default.factory()
        elif f.default is not NOTHING:
            default = f.default
        else:
            default = REQUIRED
        out.append(Param(f.alias, default, not f.kw_only))
    return tuple(out)


def _plain(value: Any) -> Any:
    """Defaults compared as data: a list and a tuple of the same items are the same."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    return value


def _same(a: Any, b: Any) -> bool:
    if a is REQUIRED or b is REQUIRED:
        return a is b
    a, b = _plain(a), _plain(b)
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        # 1 and 1.0 are the same default; True and 1 are not
        return isinstance(a, bool) == isinstance(b, bool) and a == b
    return type(a) is type(b) and a == b


def divergences(
    alias: Sequence[Param], original: Sequence[Param], *, deliberate: Iterable[str] = ()
) -> list[str]:
    """Every way ``alias`` differs from ``original``, one sentence each (empty: none).

    ``deliberate`` names the parameters whose difference is deliberate (listed with its
    reason by the caller); they are left out of every comparison, positions included.
    """
    skip = set(deliberate)
    mine = {p.name: p for p in alias if p.name not in skip}
    theirs = {p.name: p for p in original if p.name not in skip}
    out = []
    for name in theirs.keys() - mine.keys():
        out.append(f"missing parameter {name!r}")
    for name in mine.keys() - theirs.keys():
        out.append(f"extra parameter {name!r}")
    for name in mine.keys() & theirs.keys():
        if not _same(mine[name].default, theirs[name].default):
            out.append(
                f"{name!r} defaults to {mine[name].default!r}, "
                f"the original to {theirs[name].default!r}"
            )
    wanted = [p.name for p in original if p.positional and p.name in theirs]
    given = [p.name for p in alias if p.positional and p.name in mine]
    if given[: len(wanted)] != wanted:
        out.append(f"positional order {given} where the original takes {wanted}")
    return sorted(out)
