"""Comparing a saved run with a new plan (``schedkit replan``, the docs' figure): the setups'
differences, each scheduled key's values at the resumed step, whether a replanned load takes
the state, and both curves on one figure. Needs matplotlib for the figure only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schedkit._numbers import show
from schedkit.errors import SchedkitError, StateError
from schedkit.protocols import Finite, Schedule, TensorValued

#: points of each drawn curve (and the resumed step itself)
POINTS = 600


def read_state(path: str) -> Mapping[str, Any]:
    """The state saved at ``path`` (``torch.save``), read with ``weights_only=True``."""
    import pickle

    import torch

    if not Path(path).is_file():
        raise SchedkitError(f"{path}: no such file")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SchedkitError(f"{path}: not a state torch.load reads ({first})") from None
    if not isinstance(state, Mapping) or state.get("format") not in (
        "schedkit.built",
        "schedkit.scheduler",
    ):
        found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
        raise SchedkitError(
            f"{path}: expected the state of a schedkit setup (Built.state_dict()) or of a "
            f"scheduler (Scheduler.state_dict()), got {show(found)}"
        )
    return state


def scheduler_states(state: Mapping[str, Any], built: Any) -> dict[str, Any]:
    """The state's scheduler states by the setup's key: a setup's own, or one scheduler's
    state matched to the setup's schedule of the same hyperparameter."""
    if state.get("format") == "schedkit.built":
        saved = state.get("schedulers")
        if not isinstance(saved, Mapping):
            raise SchedkitError("the state has no schedulers (expected a dict of them)")
        return dict(saved)
    key = state.get("key")
    names = [k for k, s in built.schedulers.items() if s.key == key]
    if not names:
        raise SchedkitError(
            f"the state schedules {show(key)}; the setup schedules "
            f"{sorted(s.key for s in built.schedulers.values())}"
        )
    return {names[0]: state}


def compare(
    state: Mapping[str, Any],
    built: Any,
    *,
    rtol: float | None = None,
    allow_jump: bool | None = None,
) -> dict[str, Any]:
    """What replanning ``built`` (the new setup, built) from ``state`` gives, as data."""
    from schedkit._diff import spec_diff

    policy = built.resolved.get("resume") or {}
    tol = float(policy.get("rtol", 1e-6) if rtol is None else rtol)
    jump_ok = bool(policy.get("allow_jump", False) if allow_jump is None else allow_jump)
    saved = scheduler_states(state, built)
    old_setup = state.get("setup") if state.get("format") == "schedkit.built" else None
    if old_setup is not None:
        diff = spec_diff(old_setup, built.resolved)
    else:
        only = next(iter(saved))
        diff = [
            f"schedules.{only}.{line}"
            for line in spec_diff(state.get("schedule"), built.schedulers[only].schedule.spec())
        ]
    keys: dict[str, Any] = {}
    problems: list[str] = []
    missing = sorted(set(built.schedulers) - set(saved))
    extra = sorted(set(saved) - set(built.schedulers))
    if missing or extra:
        problems.append(
            f"the state has schedulers {sorted(saved)}, the new setup {sorted(built.schedulers)}"
        )
    for name, sched in built.schedulers.items():
        if name not in saved:
            continue
        entry: dict[str, Any] = {"key": sched.key}
        try:
            plan = sched.check_replan(saved[name], rtol=tol, allow_jump=True)
        except StateError as e:
            entry["error"] = str(e.at(f"schedulers.{name}"))
            problems.append(entry["error"])
            keys[name] = entry
            continue
        entry.update(
            step=plan.step,
            old=None if plan.old is None else list(plan.old),
            new=list(plan.new),
            groups=list(plan.groups),
            jumps=list(plan.jumps),
            continues=plan.accepted,
            carried=list(plan.carried),
            jump_lines=plan.describe(sched.key),
            old_spec=saved[name].get("schedule"),
            new_spec=plan.schedule.spec(),
            # what the new plan decided at the resume (a decay_start of "resume")
            decided=[
                line.replace(" in the state, ", " -> ").replace(" here", "")
                for line in spec_diff(sched.schedule.spec(), plan.schedule.spec())
            ],
        )
        entry["_plan"] = plan
        entry["_old_bases"] = saved[name].get("base_values")
        entry["_new_bases"] = list(sched.base_values)
        if not plan.accepted and not jump_ok:
            problems.append(
                f"schedulers.{name}: the new plan jumps at step {plan.step} (rtol={tol:g})"
            )
        keys[name] = entry
    return {
        "diff": diff,
        "replan": bool(policy.get("replan", False)),
        "rtol": tol,
        "allow_jump": jump_ok,
        "keys": keys,
        "accepted": not problems,
        "problems": problems,
    }


def _values(schedule: Schedule, steps: list[float]) -> list[float]:
    if isinstance(schedule, TensorValued):
        return [float(v) for v in schedule.values(steps)]
    return [float(schedule(s)) for s in steps]


def _horizon(schedule: Any) -> int:
    h = schedule.horizon if isinstance(schedule, Finite) else None
    return int(h) if isinstance(h, int) else 0


def curves(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The old plan's and the new plan's curve of one key (its first group), from step 0
    past both horizons; the old one is None when its schedule cannot be rebuilt here."""
    from schedkit.schedule import get_schedule

    plan = entry["_plan"]
    try:
        old: Any = get_schedule(entry["old_spec"])
    except (SchedkitError, TypeError, ValueError):
        old = None
    end = max(_horizon(plan.schedule), _horizon(old), math.ceil(plan.step * 1.25), 10)
    steps = sorted({round(end * i / POINTS) for i in range(POINTS + 1)} | {plan.step})
    old_base = (entry.get("_old_bases") or [1.0])[0]
    new_base = (entry.get("_new_bases") or [1.0])[0]
    out: dict[str, Any] = {"steps": steps, "step": plan.step, "old": None, "key": "lr"}
    if "key" in entry:
        out["key"] = entry["key"]
    if old is not None:
        try:
            out["old"] = [old_base * v for v in _values(old, steps)]
        except (SchedkitError, ArithmeticError, ValueError, TypeError):
            out["old"] = None
    out["new"] = [new_base * v for v in _values(plan.schedule, steps)]
    return out


def figure(
    plans: Mapping[str, Mapping[str, Any]], *, title: str | None = None, log: bool = False
) -> Any:
    """A matplotlib ``Figure``: for each key, the old plan's curve, the new plan's, and the
    resumed step (``plans``: key -> :func:`curves`)."""
    from matplotlib.figure import Figure

    n = max(len(plans), 1)
    fig = Figure(figsize=(9, 1.2 + 2.6 * n), dpi=150, layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, (key, c) in zip(axes, plans.items(), strict=False):
        step = c["step"]
        if c["old"] is not None:
            ax.plot(c["steps"], c["old"], color="0.6", lw=1.4, ls="--", label="old plan", gid="old")
            past = [(s, v) for s, v in zip(c["steps"], c["old"], strict=True) if s <= step]
            ax.plot(*zip(*past, strict=True), color="C0", lw=1.8, label="run so far", gid="past")
        after = [(s, v) for s, v in zip(c["steps"], c["new"], strict=True) if s >= step]
        ax.plot(*zip(*after, strict=True), color="C1", lw=1.8, label="new plan", gid="new")
        ax.axvline(step, color="0.35", ls=":", lw=1.0, gid="resume")
        ax.annotate(
            f"resume (step {step})",
            (step, 0.5),
            xycoords=("data", "axes fraction"),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
            color="0.3",
        )
        if log:
            ax.set_yscale("log")
        if c.get("title"):
            ax.set_title(c["title"], fontsize=9)
        ax.set_ylabel(f"{c.get('key', key)} (first group)")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left", frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
