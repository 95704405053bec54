"""The curves of a built setup, as ``plot`` and ``preview`` show them.

Every scheduled key (``lr``, ``weight_decay``, a one-cycle's ``momentum``...), every param
group the key's scheduler drives, sampled at a fixed number of steps with the milestones
(warmup end, decay start, a schedule's own milestones, the last step) always among them, so
the memory and time of a plot do not grow with the length of the run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from schedkit.hooks import hooks_of

#: Steps sampled over a run longer than this (milestones come on top).
POINTS = 2001


def sample_steps(total: int, marks: Iterable[int] = (), points: int = POINTS) -> list[int]:
    """Every step of a short run; for a long one ``points`` evenly spread steps, first and
    last included, plus ``marks`` (milestones), in order."""
    total = max(int(total), 0)
    if total + 1 <= points:
        return list(range(total + 1))
    steps = {(i * total) // (points - 1) for i in range(points)}
    steps.update(m for m in marks if 0 <= m <= total)
    return sorted(steps)


def _spec_marks(spec: Any, total: int) -> set[int]:
    """Steps a spec names itself: an int ``warmup``, lists of ``milestones``."""
    out: set[int] = set()
    if isinstance(spec, Mapping):
        for k, v in spec.items():
            if k in ("warmup", "decay_start") and isinstance(v, int) and not isinstance(v, bool):
                out.add(v)
            elif k == "milestones" and isinstance(v, (list, tuple)):
                out.update(m for m in v if isinstance(m, int) and not isinstance(m, bool))
            elif isinstance(v, (Mapping, list, tuple)):
                out |= _spec_marks(v, total)
    elif isinstance(spec, (list, tuple)):
        for v in spec:
            out |= _spec_marks(v, total)
    return {m for m in out if 0 < m < total}


def _decay_start(
    f: Callable[[int], float], steps: list[int], values: list[float], after: int
) -> int | None:
    """The last step of a flat stretch after ``after`` (the warmup end) before the curve
    falls: found on the samples, then to the exact step by bisection, so it holds for any
    family without evaluating every step."""
    for j in range(1, len(steps)):
        if steps[j - 1] < after:
            continue
        if values[j] < values[j - 1]:
            lo, hi, flat = steps[j - 1], steps[j], values[j - 1]
            while hi - lo > 1:  # f(lo) == flat, f(hi) < flat
                mid = (lo + hi) // 2
                if f(mid) < flat:
                    hi = mid
                else:
                    lo = mid
            return lo if lo > after else None
        if values[j] != values[j - 1]:
            return None  # rising or moving from the start: no flat stretch
    return None


def _group_functions(s: Any) -> list[Callable[[int], float]]:
    """Each scheduled group's value at a step: its own curve (aliases whose values are not
    base * factor) or base * schedule."""
    curves = s._curves
    if curves:
        return [functools.partial(_own, c) for c in curves]
    return [functools.partial(_scaled, s.schedule, b) for b in s.base_values]


def _own(curve: Callable[[float], float], step: int) -> float:
    return float(curve(step))


def _scaled(schedule: Callable[[float], float], base: float, step: int) -> float:
    return base * float(schedule(step))


def curves(built: Any, total: int, points: int = POINTS) -> dict[str, Any]:
    """Sampled values of every scheduled key for every group it drives.

    Returns ``{"steps": total, "keys": {key: {"spec", "steps", "groups": [{"group", "label",
    "base", "values"}], "milestones": {name: step}}}}``; ``group`` is the index among the
    optimizer's param groups, ``label`` what made it (rules and tags).
    """
    out: dict[str, Any] = {}
    for key, s, labels, position in _scheduled(built):
        spec = s.schedule.spec()
        warm = spec.get("warmup") if isinstance(spec.get("warmup"), int) else None
        marks = _spec_marks(spec, total)
        fns = _group_functions(s)
        first = fns[0]
        steps = sample_steps(total, marks, points)
        rough = [first(k) for k in steps]
        decay = _decay_start(first, steps, rough, warm or 0)
        milestones: dict[str, int] = {}
        if warm:
            milestones["warmup end"] = warm
        if decay is not None:
            milestones["decay start"] = decay
            steps = sample_steps(total, marks | {decay}, points)
        for m in sorted(marks - {warm, decay}):
            milestones[f"step {m}"] = m
        milestones["final"] = total
        groups = []
        for g, b, f in zip(s._groups, s.base_values, fns, strict=True):
            i = position.get(id(g), -1)
            groups.append(
                {
                    "group": i,
                    "label": labels[i] if 0 <= i < len(labels) else "",
                    "base": b,
                    "values": [f(k) for k in steps],
                }
            )
        out[key] = {"spec": spec, "steps": steps, "groups": groups, "milestones": milestones}
        for name, curve in hooks_of(s.schedule).companions().items():
            shown = name
            if name == "momentum" and all("momentum" not in g and "betas" in g for g in s._groups):
                shown = "betas[0]"
            if built.named:  # one per optimizer: under its name, as the scheduler's key
                shown = f"{key.split('.', 1)[0]}.{shown}"
            out[shown] = {
                "spec": {"driven by": key},
                "steps": steps,
                "groups": [
                    {
                        "group": -1,
                        "label": f"every group {key} drives",
                        "base": None,
                        "values": [float(curve(k)) for k in steps],
                    }
                ],
                "milestones": milestones,
            }
    return {"steps": total, "keys": out}


def _scheduled(built: Any) -> list[tuple[str, Any, list[str], dict[int, int]]]:
    """Every scheduler of a built setup under its key in ``built.schedulers`` (with several
    optimizers ``<optimizer>.<schedule>``), with its optimizer's group labels (prefixed by
    the optimizer's name when there are several) and each group's index there."""
    out = []
    for unit in built.units.values():
        labels = unit.groups.labels() if unit.groups is not None else []
        if built.named:
            labels = [f"{unit.name}: {label}" for label in labels]
        position = {id(g): i for i, g in enumerate(unit.optimizer.param_groups)}
        for name, s in unit.schedulers.items():
            key = f"{unit.name}.{name}" if built.named else name
            out.append((key, s, labels, position))
    return out
