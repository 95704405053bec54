"""One optimizer and one scheduler standing for all of a built setup's: for trainers that
take one of each.

The transformers Trainer takes ``optimizers=(optimizer, scheduler)``; Lightning's automatic
optimization takes one optimizer (several need manual optimization, where Lightning no
longer counts steps through its own wrappers). :meth:`Built.combined` gives both a pair
that steps every optimizer and every scheduler of the setup:

.. code-block:: python

    built = schedkit.load_setup("muon.toml").build(model)
    trainer = transformers.Trainer(model=model, args=args, optimizers=built.combined())

The optimizer's ``step()`` clips with the setup's ``[clip]`` (one global norm over every
parameter) and steps each optimizer in the setup's order; ``zero_grad()`` clears them all;
``param_groups`` lists every optimizer's groups (the same dicts, so a trainer reading or
logging ``lr`` sees the real values); ``state_dict()`` holds each optimizer's state by name
and ``load_state_dict`` loads all of them or none. The scheduler is a
``torch.optim.lr_scheduler.LRScheduler`` (Lightning and the Trainer check that): its
``step()`` steps every scheduler, ``get_last_lr()`` gives the lr of every group of
``param_groups``, its state holds every scheduler's.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from schedkit.errors import StateError
from schedkit.setup.optimizer_state import check_optimizer_state
from schedkit.state_checks import StateReader


class _State(MutableMapping[Any, Any]):
    """Every optimizer's per-parameter state as one mapping (``optimizer.state``): a write
    goes to the optimizer holding the parameter (a trainer moving state to a device)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self._optimizers = optimizers

    def _owner(self, key: Any) -> torch.optim.Optimizer:
        for opt in self._optimizers:
            if key in opt.state:
                return opt
        for opt in self._optimizers:
            if any(key is p for g in opt.param_groups for p in g["params"]):
                return opt
        raise KeyError(key)

    def __getitem__(self, key: Any) -> Any:
        return self._owner(key).state[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._owner(key).state[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._owner(key).state[key]

    def __iter__(self) -> Iterator[Any]:
        for opt in self._optimizers:
            yield from opt.state

    def __len__(self) -> int:
        return sum(len(opt.state) for opt in self._optimizers)


class CombinedOptimizer(torch.optim.Optimizer):
    """Every optimizer of a built setup as one (see the module's text); made by
    :meth:`Built.combined`.

    :param built: the built setup whose optimizers it steps.
    """

    def __init__(self, built: Any) -> None:  # no super().__init__: it owns no groups
        self._built = built
        self._names = list(built.optimizers)
        self._optimizers = list(built.optimizers.values())
        self.defaults = dict(self._optimizers[0].defaults)
        # the hook tables torch's Optimizer methods read (no hooks of its own are run)
        for table in (
            "_optimizer_step_pre_hooks",
            "_optimizer_step_post_hooks",
            "_optimizer_state_dict_pre_hooks",
            "_optimizer_state_dict_post_hooks",
            "_optimizer_load_state_dict_pre_hooks",
            "_optimizer_load_state_dict_post_hooks",
        ):
            setattr(self, table, collections.OrderedDict())

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """Every optimizer's param groups, in the setup's order (the same dicts)."""
        return [g for opt in self._optimizers for g in opt.param_groups]

    @property
    def state(self) -> MutableMapping[Any, Any]:  # type: ignore[override]
        """Every optimizer's per-parameter state."""
        return _State(self._optimizers)

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers it stands for, by name."""
        return dict(zip(self._names, self._optimizers, strict=True))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={type(o).__name__}" for n, o in self.optimizers.items())
        return f"CombinedOptimizer({inner})"

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """Run ``closure`` (with gradients on) when given, clip with the setup's clipper
        (one global norm), step every optimizer unless the clipper skips the step (counted
        in :attr:`Built.skipped_steps`; the combined scheduler then steps as
        :attr:`Built.on_skip` says); returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        built = self._built
        built._last_skipped = built._clip()
        if built._last_skipped:
            built.skipped_steps += 1
        else:
            built._step_optimizers()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every optimizer's gradients."""
        for opt in self._optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Refused: add the group to one of :attr:`optimizers` instead."""
        raise TypeError(
            "a combined optimizer takes no new group: add it to one of its optimizers "
            f"({', '.join(self._names)})"
        )

    def state_dict(self) -> dict[str, Any]:
        """Each optimizer's state by its name."""
        return {
            "format": "schedkit.combined_optimizer",
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load every optimizer's state, or none when any does not fit (:class:`StateError`
        with the key path)."""
        reader = StateReader(state_dict, what="combined optimizer state")
        saved = reader.mapping("optimizers").state
        if set(saved) != set(self._names):
            raise StateError(
                f"the state has optimizers {sorted(saved)}, this one {sorted(self._names)}",
                "optimizers",
            )
        for name, opt in self.optimizers.items():
            check_optimizer_state(opt, saved[name], f"optimizers.{name}")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(saved[name])


class CombinedScheduler(LRScheduler):
    """Every scheduler of a built setup as one ``LRScheduler`` (see the module's text);
    made by :meth:`Built.combined`.

    :param built: the built setup whose schedulers it steps.
    :param optimizer: the :class:`CombinedOptimizer` it is attached to.
    """

    def __init__(self, built: Any, optimizer: CombinedOptimizer) -> None:  # no super()
        self._built = built
        self.optimizer = optimizer

    @property
    def last_epoch(self) -> int:
        """The steps taken (the first scheduler's; they step together)."""
        return next((s.last_epoch for s in self._built.schedulers.values()), 0)

    @last_epoch.setter
    def last_epoch(self, value: int) -> None:
        raise AttributeError("the combined scheduler's step is its schedulers'")

    @property
    def base_lrs(self) -> list[float]:  # type: ignore[override]
        """Each group's base lr, in :attr:`CombinedOptimizer.param_groups` order."""
        return [g.get("initial_lr", g["lr"]) for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float | torch.Tensor]:
        """Each group's current lr, in :attr:`CombinedOptimizer.param_groups` order."""
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def get_lr(self) -> list[float | torch.Tensor]:
        return self.get_last_lr()

    def step(self, metric: Any = None) -> None:
        """Step every scheduler (the metric to those that observe one); after a step the
        clipper skipped, only when :attr:`Built.on_skip` is ``"advance"``."""
        built = self._built
        built._check_metric(metric)
        if not built._last_skipped or built.on_skip == "advance":
            built._step_schedulers(metric)

    def state_dict(self) -> dict[str, Any]:
        """Every scheduler's state, keyed as :attr:`Built.schedulers`."""
        return {
            "format": "schedkit.combined_scheduler",
            "schedulers": {k: s.state_dict() for k, s in self._built.schedulers.items()},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load every scheduler's state, or none when any does not fit."""
        reader = StateReader(state_dict, what="combined scheduler state")
        saved = reader.mapping("schedulers").state
        mine = self._built.schedulers
        if set(saved) != set(mine):
            raise StateError(
                f"the state has schedulers {sorted(saved)}, this setup {sorted(mine)}",
                "schedulers",
            )
        for k, s in mine.items():
            try:
                s.check_state(saved[k])
            except StateError as e:
                raise e.at(f"schedulers.{k}") from None
        for k, s in mine.items():
            s.load_state_dict(saved[k])
