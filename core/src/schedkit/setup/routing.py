"""Several optimizers in one setup: the ``[optimizers.NAME]`` tables, the ``params`` rule
that routes parameters to each, and the check that every trainable parameter goes to
exactly one optimizer.

.. code-block:: toml

    [optimizers.muon]             # 2-D weights inside the blocks
    type = "Muon"
    lr = 0.02
    params = {ndim = 2, name = "blocks.*"}

    [optimizers.adamw]            # no params: every parameter the others do not take
    type = "AdamW"
    lr = 3e-4
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from schedkit._numbers import show
from schedkit.errors import SpecError
from schedkit.matching import any_glob
from schedkit.setup.problems import unknown_key
from schedkit.values import ParamInfo

#: the keys of a ``params`` table, each a condition a parameter must meet (all of them)
SELECTOR_KEYS = ("name", "ndim", "module", "exclude")

#: how many parameter names a problem lists before it says how many more
_SHOWN = 5


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


@attrs.frozen
class Selector:
    """Which parameters an optimizer takes: every condition given must hold.

    :param name: glob patterns of the full parameter name (one of them matches).
    :param ndim: the parameter's number of dimensions (one of these).
    :param module: the class name of the module holding the parameter (or of a base class
        of it: ``"Linear"`` takes subclasses too).
    :param exclude: glob patterns of names left out even when the rest holds.
    """

    name: tuple[str, ...] = ()
    ndim: tuple[int, ...] = ()
    module: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def read(cls, value: Any, path: str, problems: list[SpecError]) -> Selector | None:
        """The ``params`` table at ``path``; its problems appended, None when it has any."""
        if not isinstance(value, Mapping) or not value:
            problems.append(
                SpecError(
                    'expected a table of conditions, e.g. {ndim = 2, name = "blocks.*"} '
                    f"(keys: {', '.join(SELECTOR_KEYS)}), got {show(value)}",
                    path,
                )
            )
            return None
        found: dict[str, tuple[Any, ...]] = {}
        before = len(problems)
        for key, v in value.items():
            where = f"{path}.{key}"
            if key not in SELECTOR_KEYS:
                problems.append(unknown_key(key, SELECTOR_KEYS, where))
            elif key == "ndim":
                dims = [v] if not isinstance(v, list) else v
                if not dims or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims
                ):
                    problems.append(
                        SpecError(
                            f"expected a whole number >= 0 or a list of them, got {show(v)}", where
                        )
                    )
                else:
                    found[key] = tuple(dims)
            else:
                names = _strings(v)
                if names is None:
                    problems.append(
                        SpecError(f"expected a string or a list of strings, got {show(v)}", where)
                    )
                else:
                    found[key] = names
        if len(problems) != before:
            return None
        return cls(**found)

    def spec(self) -> dict[str, Any]:
        """The table as written (lists for several values, one value alone)."""
        out: dict[str, Any] = {}
        for key in SELECTOR_KEYS:
            value = getattr(self, key)
            if value:
                out[key] = value[0] if len(value) == 1 else list(value)
        return out

    def bind(self) -> Callable[[ParamInfo], bool]:
        """The test of one parameter (patterns compiled once)."""
        name = any_glob(self.name)
        exclude = any_glob(self.exclude)
        ndim = frozenset(self.ndim)
        module = frozenset(self.module)

        def takes(info: ParamInfo) -> bool:
            if name is not None and not name(info.name):
                return False
            if exclude is not None and exclude(info.name):
                return False
            if ndim and info.param.ndim not in ndim:
                return False
            return not module or any(c.__name__ in module for c in type(info.module).__mro__)

        return takes


@attrs.frozen
class OptimizerTable:
    """One optimizer of a setup: its class and options, its learning rate and which
    parameters it takes (``params``; None: every parameter no other optimizer takes).

    :param name: the table's name (``optimizers.NAME``; ``optimizer`` for the single
        ``[optimizer]`` table).
    :param options: ``type`` and the class's options, defaults filled in, without the lr.
    :param lr: the learning rate as is.
    :param base_lr: the learning rate at ``base_batch_size``, scaled to the run's batch.
    :param lr_scaling: ``"linear"`` or ``"sqrt"`` with ``base_lr``.
    :param base_batch_size: the batch size ``base_lr`` was tuned for.
    :param params: the parameters this optimizer takes, or None for the rest.
    """

    name: str
    options: Mapping[str, Any] = attrs.field(converter=dict)
    lr: float | None = None
    base_lr: float | None = None
    lr_scaling: str | None = None
    base_batch_size: int = 256
    params: Selector | None = None

    @property
    def path(self) -> str:
        """The key path of the table in the file."""
        return "optimizer" if self.name == "optimizer" else f"optimizers.{self.name}"

    @property
    def lr_key(self) -> str:
        """The table's name of its learning rate (``base_lr`` when scaled)."""
        return "base_lr" if self.lr is None and self.base_lr is not None else "lr"

    def learning_rate(self, batch_size: int | None) -> float:
        """``lr``, or ``base_lr`` scaled to ``batch_size`` (linear or sqrt)."""
        if self.lr is not None:
            return self.lr
        if batch_size is None:
            raise SpecError(
                "lr scaling needs the effective batch size: build(model, batch_size=...) or "
                "[run] batch_size",
                f"{self.path}.base_lr",
            )
        assert self.base_lr is not None
        ratio = batch_size / self.base_batch_size
        return self.base_lr * (ratio if self.lr_scaling == "linear" else math.sqrt(ratio))

    def to_dict(self) -> dict[str, Any]:
        """The table as the file has it, defaults filled in."""
        out: dict[str, Any] = {"type": self.options["type"]}
        if self.lr is not None:
            out["lr"] = self.lr
        else:
            out.update(
                base_lr=self.base_lr,
                lr_scaling=self.lr_scaling,
                base_batch_size=self.base_batch_size,
            )
        out.update({k: v for k, v in self.options.items() if k != "type"})
        if self.params is not None:
            out["params"] = self.params.spec()
        return out


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def route(tables: Sequence[OptimizerTable], infos: Sequence[ParamInfo]) -> list[list[int]]:
    """The indices of ``infos`` each optimizer takes, in model order.

    :raises SpecError: every problem at once: a parameter two optimizers' ``params`` take
        (a double), one no optimizer takes (a stray, when every table has ``params``), a
        ``params`` that takes nothing.
    """
    rest = [i for i, t in enumerate(tables) if t.params is None]
    tests = [(i, t.params.bind()) for i, t in enumerate(tables) if t.params is not None]
    shares: list[list[int]] = [[] for _ in tables]
    doubles: dict[tuple[int, ...], list[str]] = {}
    taken: list[int]
    strays: list[str] = []
    for k, info in enumerate(infos):
        taken = [i for i, takes in tests if takes(info)]
        if len(taken) == 1:
            shares[taken[0]].append(k)
        elif not taken:
            if rest:
                shares[rest[0]].append(k)
            else:
                strays.append(info.name)
        else:
            doubles.setdefault(tuple(taken), []).append(info.name)
            shares[taken[0]].append(k)
    problems: list[SpecError] = []
    for both, names in doubles.items():
        others = " and ".join(tables[i].path for i in both[:-1])
        problems.append(
            SpecError(
                f"{len(names)} parameter(s) also taken by {others}: {_names(names)}; "
                "each parameter goes to exactly one optimizer (narrow a params table, "
                "e.g. with exclude)",
                f"{tables[both[-1]].path}.params",
            )
        )
    if strays:
        problems.append(
            SpecError(
                f"{len(strays)} trainable parameter(s) go to no optimizer: {_names(strays)} "
                "(give them to one, or leave one optimizer without params to take the rest)",
                "optimizers",
            )
        )
    for i, t in enumerate(tables):
        if t.params is not None and not shares[i] and not any(i in d for d in doubles):
            problems.append(
                SpecError("takes no trainable parameter of the model", f"{t.path}.params")
            )
        elif t.params is None and not shares[i]:
            problems.append(
                SpecError(
                    "the other optimizers take every trainable parameter: nothing is left for "
                    "this one (give it params, or remove it)",
                    t.path,
                )
            )
    if problems:
        raise SpecError(problems[0].message, problems[0].path, problems[1:])
    return shares
