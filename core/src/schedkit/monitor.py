"""What a built setup does while it trains, as a flat ``{name: value}`` mapping per step.

:class:`Monitor` watches a :class:`~schedkit.Built`'s optimizer through torch's step hooks
(``register_step_pre_hook``, ``register_step_post_hook``), so it counts the updates that
really happen whoever calls ``optimizer.step()``: :meth:`Built.step`, Lightning, the
transformers Trainer, Accelerate. On every ``every``-th update it records, just before
the optimizer steps, the values that update uses: every scheduled hyperparameter of every
named group, the clipper's outcome and, when asked, each parameter's gradient norm. The
other updates cost two Python calls and a comparison.

The keys follow Lightning's ``LearningRateMonitor``: ``lr-AdamW/head/no_decay`` (the
optimizer's class, ``-1``, ``-2``... for a second and third optimizer of one class, then
the group's name), ``lr-AdamW/head/no_decay-momentum`` (``betas[0]`` or ``momentum``),
``...-weight_decay``, ``...-<key>`` for any other scheduled key; the gradients as
Lightning's ``grad_norm`` names them: ``grad_2.0_norm_total`` (the clipper's pre-clip
global norm) and ``grad_2.0_norm/<parameter>``; ``clip/clipped`` and ``clip/skipped`` (1.0
or 0.0).

The adapters: :meth:`Monitor.lightning` (a Lightning callback giving the values to the
Trainer's loggers),
:meth:`Monitor.transformers` (a ``TrainerCallback`` adding the values in ``on_log``),
:meth:`Monitor.write` (TensorBoard's ``SummaryWriter`` or anything with ``add_scalar``) and
:meth:`Monitor.log` (``logging`` or ``print``). Lightning and transformers are imported
when their adapter is made, never by ``import schedkit``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import torch

from schedkit._scheduling.groups import parse_key
from schedkit.errors import SpecError
from schedkit.hooks import hooks_of

#: Lightning's suffixes for the hyperparameters its ``LearningRateMonitor`` logs besides lr
_SUFFIX = {"momentum": "momentum", "betas[0]": "momentum", "weight_decay": "weight_decay"}


def optimizers_of(built: Any) -> list[torch.optim.Optimizer]:
    """The optimizers a built setup holds, in order (the one place that knows): every one of
    ``built.optimizers`` (one for a single ``[optimizer]``)."""
    return list(built.optimizers.values())


def optimizer_prefixes(optimizers: list[torch.optim.Optimizer]) -> list[str]:
    """Each optimizer's key prefix, as Lightning's ``LearningRateMonitor`` makes it:
    ``lr-<class>``, then ``lr-<class>-1``, ``lr-<class>-2``... for more of one class."""
    seen: defaultdict[type, int] = defaultdict(int)
    out = []
    for opt in optimizers:
        seen[type(opt)] += 1
        count = seen[type(opt)]
        base = f"lr-{type(opt).__name__}"
        out.append(f"{base}-{count - 1}" if count > 1 else base)
    return out


def group_keys(prefix: str, groups: list[dict[str, Any]]) -> list[str]:
    """Each group's key under ``prefix`` (Lightning's ``_add_suffix``): ``/<name>``, or
    ``/pg<i>`` for an unnamed group among several; nothing for a lone unnamed group."""
    if len(groups) == 1:
        name = groups[0].get("name")
        return [f"{prefix}/{name}" if name else prefix]
    return [f"{prefix}/{g.get('name', f'pg{i + 1}')}" for i, g in enumerate(groups)]


def _scheduled_keys(built: Any, opt: torch.optim.Optimizer) -> list[str]:
    """``lr`` and every other key a scheduler of ``built`` drives on ``opt`` (one-cycle's
    momentum too), in the schedulers' order."""
    keys = ["lr"]
    for s in built.schedulers.values():
        if s.optimizer is not opt:
            continue
        found = [s.key]
        for name in hooks_of(s.schedule).companions():
            groups = opt.param_groups
            momentum_in_betas = all("momentum" not in g and "betas" in g for g in groups)
            found.append("betas[0]" if name == "momentum" and momentum_in_betas else name)
        keys += [k for k in found if k not in keys]
    return keys


def _clip_outcome(result: Any) -> dict[str, Any]:
    """What one clipping call did, as the monitor reports it (tensors, no host sync)."""
    out: dict[str, Any] = {"clip/skipped": float(bool(result.skipped))}
    clipped = result.clipped
    out["clip/clipped"] = clipped.float() if isinstance(clipped, torch.Tensor) else 0.0
    return out


def _number(value: Any) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


class Monitor:
    """The values a built setup trains with, per step, as a flat ``{name: value}`` mapping.

    :param built: the :class:`~schedkit.Built` setup to watch.
    :param every: record every ``every``-th update (1: every update).
    :param grad_norms: also each parameter's gradient norm (Composer's
        ``OptimizerMonitor``), of the gradients the optimizer steps with (after clipping).
    :param start: the number of updates already done (a resume); by default the step of
        the setup's first scheduler.

    >>> monitor = schedkit.Monitor(built, every=100)  # doctest: +SKIP
    >>> built.step()  # doctest: +SKIP
    >>> monitor.values()  # doctest: +SKIP
    {'lr-AdamW/embed/no_decay': 2.3e-04, ..., 'grad_2.0_norm_total': 0.81, 'clip/clipped': 0.0, ...}
    """

    def __init__(
        self, built: Any, *, every: int = 1, grad_norms: bool = False, start: int | None = None
    ) -> None:
        from schedkit.setup.built import Built  # the setup imports the monitor lazily too

        if not isinstance(built, Built):
            raise SpecError(
                f"expected a built setup (Setup.build()), got {type(built).__name__}", "built"
            )
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise SpecError(f"expected a whole number >= 1, got {every!r}", "every")
        if not isinstance(grad_norms, bool):
            raise SpecError(f"expected True or False, got {grad_norms!r}", "grad_norms")
        if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
            raise SpecError(f"expected a whole number, got {start!r}", "start")
        self.built = built
        self.every = every
        self.grad_norms = bool(grad_norms)
        if start is None:
            first = next(iter(built.schedulers.values()), None)
            start = first.last_epoch if first is not None else 0
        #: updates done so far
        self.step: int = start
        self._last: dict[str, Any] | None = None
        self._last_step = -1
        clip_norm = built.clipper.spec().get("norm_type", 2.0) if built.clipper else 2.0
        self._norm_type = float(clip_norm)
        self._handles: list[Any] = []
        self._plan = [self._plan_for(built, opt, p) for opt, p in self._optimizers()]
        self._named = self._named_parameters()
        for opt, _ in self._optimizers():
            self._handles.append(opt.register_step_pre_hook(self._before))
            self._handles.append(opt.register_step_post_hook(self._after))

    def _optimizers(self) -> Iterator[tuple[torch.optim.Optimizer, str]]:
        opts = optimizers_of(self.built)
        return zip(opts, optimizer_prefixes(opts), strict=True)

    @staticmethod
    def _plan_for(
        built: Any, opt: torch.optim.Optimizer, prefix: str
    ) -> tuple[torch.optim.Optimizer, list[tuple[str, int, str, int | None]]]:
        """(key, group index, field, index) for every value to read from ``opt``: by the
        group's place, since ``load_state_dict`` (a resume, Accelerate's ``prepare``)
        replaces the group dicts."""
        plan = []
        keys = _scheduled_keys(built, opt)
        named = group_keys(prefix, opt.param_groups)
        for i, (group, name) in enumerate(zip(opt.param_groups, named, strict=True)):
            for key in keys:
                field, index = parse_key(key)
                if field not in group:
                    continue
                suffix = "" if key == "lr" else f"-{_SUFFIX.get(key, key)}"
                plan.append((name + suffix, i, field, index))
        return opt, plan

    def _named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        groups = self.built.groups
        named: list[tuple[str, torch.Tensor]] = (
            list(groups.named_parameters()) if groups is not None else []
        )
        known = {id(p) for _, p in named}
        for opt, _ in self._optimizers():
            for gi, g in enumerate(opt.param_groups):
                for pi, p in enumerate(g["params"]):
                    if id(p) not in known:
                        known.add(id(p))
                        named.append((f"{g.get('name', f'pg{gi + 1}')}.{pi}", p))
        return named

    # -- the hooks ----------------------------------------------------------------------

    def _before(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if (self.step + 1) % self.every or self._last_step == self.step + 1:
            return  # not due, or another optimizer of the setup recorded this update
        self._last = self.read(clip=True)
        if self.grad_norms:
            self._last.update(self._grad_norms())
        self._last_step = self.step + 1

    def _after(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if opt is optimizers_of(self.built)[0]:
            self.step += 1

    def _grad_norms(self) -> dict[str, Any]:
        named = [(n, p.grad) for n, p in self._named if p.grad is not None]
        if not named:
            return {}
        norms = torch._foreach_norm([g for _, g in named], self._norm_type)
        tag = f"grad_{self._norm_type}_norm/"
        return {tag + n: v.detach() for (n, _), v in zip(named, norms, strict=True)}

    # -- reading ------------------------------------------------------------------------

    def read(self, *, clip: bool = True) -> dict[str, Any]:
        """The values now, unconverted (tensors stay on their device): the hyperparameters
        the next update will use and, with ``clip``, the last clipping call's outcome."""
        out: dict[str, Any] = {}
        for opt, plan in self._plan:
            groups = opt.param_groups
            for key, i, field, index in plan:
                group = groups[i]
                value = group[field] if index is None else group[field][index]
                out[key] = value.detach().clone() if isinstance(value, torch.Tensor) else value
        result = self.built.last_clip if clip else None
        if result is not None:
            if result.total_norm is not None:
                out[f"grad_{self._norm_type}_norm_total"] = result.total_norm.detach()
            out.update(_clip_outcome(result))
        return out

    def due(self) -> bool:
        """Whether the last update was a recorded one (``step`` a multiple of ``every``)."""
        return self._last_step == self.step and self._last is not None

    def values(self) -> dict[str, float]:
        """The values of the last recorded update as floats (one host sync for tensors);
        before any, the hyperparameters the first update will use."""
        raw = self._last if self._last is not None else self.read(clip=False)
        return {k: _number(v) for k, v in raw.items()}

    def keys(self) -> list[str]:
        """The names :meth:`values` gives (per-parameter norms only once recorded)."""
        return list(self.values())

    def close(self) -> None:
        """Stop watching the optimizer (remove the step hooks)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # -- adapters -----------------------------------------------------------------------

    def write(self, writer: Any, *, force: bool = False) -> bool:
        """After a recorded update, ``writer.add_scalar(name, value, step)`` for every value:
        TensorBoard's ``SummaryWriter`` (``torch.utils.tensorboard`` or tensorboardX).
        Returns whether it wrote; ``force`` writes the last values even when not due."""
        if not (force or self.due()):
            return False
        for key, value in self.values().items():
            writer.add_scalar(key, value, self.step)
        return True

    def log(
        self,
        logger: logging.Logger | Callable[[str], Any] | None = None,
        *,
        level: int = logging.INFO,
        force: bool = False,
    ) -> bool:
        """After a recorded update, one line ``step N: name=value ...``: to ``logger``
        (a :class:`logging.Logger`, at ``level``), to a function taking the line, or
        printed. Returns whether it logged."""
        if not (force or self.due()):
            return False
        line = f"step {self.step}: " + " ".join(f"{k}={v:.6g}" for k, v in self.values().items())
        if logger is None:
            print(line)
        elif isinstance(logger, logging.Logger):
            logger.log(level, line)
        else:
            logger(line)
        return True

    def lightning(self) -> Any:
        """A Lightning callback that gives the values to the Trainer's loggers after every
        recorded update (imports ``lightning``)."""
        from schedkit._integrations.lightning import callback

        return callback(self)

    def transformers(self) -> Any:
        """A transformers ``TrainerCallback`` that adds the values to the logs of every
        ``on_log`` (imports ``transformers``)."""
        from schedkit._integrations.transformers import callback

        return callback(self)

    def __repr__(self) -> str:
        return f"Monitor(every={self.every}, grad_norms={self.grad_norms}, step={self.step})"
