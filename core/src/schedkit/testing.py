"""The conformance kit: checks every registered schedule must pass, for plugin authors too.

>>> from schedkit.testing import check_schedule
>>> check_schedule({"type": "cosine", "total": 100, "warmup": 10})

``check_registered("schedule", "my_family")`` runs the checks on each of the examples the
family was registered with; a plugin's test suite can run it over its own names.
"""

from __future__ import annotations

import inspect
import io
import math
import random
from collections.abc import Mapping
from typing import Any

import torch

from schedkit.protocols import Schedule, StatefulSchedule
from schedkit.registry import ComponentInfo, Kind, default_registry
from schedkit.schedule import get_schedule, resolve
from schedkit.scheduler import Scheduler

_PLAIN = (int, float, str, bool, type(None), torch.Tensor)


def assert_plain(value: Any, path: str = "state") -> None:
    """Fail unless ``value`` holds only plain data (what ``weights_only=True`` loads)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            assert isinstance(k, str), f"{path}: key {k!r} is not a string"
            assert_plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_plain(v, f"{path}[{i}]")
    else:
        assert isinstance(value, _PLAIN), (
            f"{path}: {value!r} ({type(value).__name__}) is not plain data"
        )


def roundtrip(state: Mapping[str, Any]) -> Any:
    """``state`` through ``torch.save`` and ``torch.load(weights_only=True)``."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _optimizer(n_groups: int = 2) -> torch.optim.Optimizer:
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1 * (i + 1)}
        for i in range(n_groups)
    ]
    return torch.optim.SGD(groups, lr=0.1, momentum=0.9)


def check_schedule(
    schedule: Schedule | Mapping[str, Any],
    *,
    steps_per_epoch: int | None = 7,
    seed: int = 0,
    resumes: int = 5,
) -> None:
    """Run every conformance check on one schedule (or spec); raise AssertionError on failure.

    Checks: a docstring; a plain spec that rebuilds an equal schedule through the registry;
    finite, non-negative values, also at giant steps; ``values()`` equal to calls;
    plain scheduler state that loads with ``weights_only=True`` and resumes exactly at
    random steps.
    """
    built = get_schedule(schedule) if isinstance(schedule, Mapping) else schedule
    sched = resolve(built, steps_per_epoch=steps_per_epoch)
    spec = sched.spec()
    name = spec.get("type")
    _check_spec("schedule", sched, get_schedule)
    rebuilt = get_schedule(spec)
    assert rebuilt.spec() == spec, f"{name}: spec changes on a round trip"

    horizon = getattr(sched, "horizon", None) or 1000
    rng = random.Random(seed)
    probe = sorted(
        {0, 1, horizon - 1, horizon, horizon + 1, 10**6, 10**9, 10**12}
        | {rng.randrange(0, 2 * horizon + 2) for _ in range(64)}
    )
    for t in probe:
        v = sched(t)
        assert isinstance(v, float), f"{name}: value at step {t} is {type(v).__name__}, not float"
        assert math.isfinite(v), f"{name}: value at step {t} is {v}"
        assert v >= 0, f"{name}: value at step {t} is negative ({v})"
    values = getattr(sched, "values", None)
    if values is not None:
        got = values(probe).tolist()
        for t, v in zip(probe, got, strict=True):
            want = sched(t)
            assert math.isclose(v, want, rel_tol=1e-9, abs_tol=1e-12), (
                f"{name}: values() gives {v} at step {t}, the schedule {want}"
            )
    _check_resume(sched, rng, resumes, min(horizon + 5, 3000))


def _metric(step: int) -> float:
    """A deterministic, noisy, slowly improving metric for stateful schedules."""
    return float(1.0 / (1 + step) ** 0.1 + 0.05 * math.sin(step * 1.7))


def _advance(s: Scheduler, step: int, stateful: bool) -> None:
    if stateful:
        s.step(_metric(step))
    else:
        s.step()


def _check_resume(sched: Schedule, rng: random.Random, resumes: int, span: int) -> None:
    name = sched.spec().get("type")
    stateful = isinstance(sched, StatefulSchedule)
    opt = _optimizer()
    ref = Scheduler(opt, sched)
    trace = [[g["lr"] for g in opt.param_groups]]
    for k in range(span):
        _advance(ref, k + 1, stateful)
        trace.append([g["lr"] for g in opt.param_groups])
    for _ in range(resumes):
        at = rng.randrange(0, span)
        opt1 = _optimizer()
        s1 = Scheduler(opt1, sched)
        for k in range(at):
            _advance(s1, k + 1, stateful)
        state = s1.state_dict()
        assert_plain(state)
        loaded = roundtrip(state)
        opt2 = _optimizer()
        s2 = Scheduler(opt2, sched)
        s2.load_state_dict(loaded)
        got = [g["lr"] for g in opt2.param_groups]
        assert got == trace[at], f"{name}: resumed at step {at}, lr {got} != {trace[at]}"
        for k in range(at + 1, min(at + 50, span) + 1):
            _advance(s2, k, stateful)
            got = [g["lr"] for g in opt2.param_groups]
            assert got == trace[k], f"{name}: resumed at {at}, step {k}: lr {got} != {trace[k]}"


def check_registered(kind: Kind, name: str) -> ComponentInfo:
    """Run the conformance checks on each example a registered component was added with."""
    info = default_registry().get(kind, name)
    assert info.doc, f"{kind} {name!r} has no docstring"
    assert info.examples, f"{kind} {name!r} was registered without examples"
    if kind == "rule":
        for example in info.examples:
            check_rule({"type": info.name, **example})
    if kind == "clipper":
        for example in info.examples:
            check_clipper({"type": info.name, **example})
    if kind == "schedule":
        for example in info.examples:
            if getattr(info.cls, "in_process_only", False):
                check_in_process_schedule(get_schedule(info.name, **example))
            else:
                check_schedule({"type": info.name, **example})
    return info


def check_in_process_schedule(sched: Schedule) -> None:
    """Checks for a schedule that holds Python code (``lambda``): it steps a scheduler, and
    refuses clearly, with a :class:`schedkit.SpecError`, to be written as a spec or state."""
    from schedkit.errors import SpecError

    assert inspect.getdoc(type(sched)), "the schedule class has no docstring"
    try:
        sched.spec()
    except SpecError:
        pass
    else:
        raise AssertionError("an in-process schedule must refuse spec() with a SpecError")
    opt = _optimizer()
    s = Scheduler(opt, sched)
    for _ in range(5):
        s.step()
    assert all(math.isfinite(g["lr"]) for g in opt.param_groups)
    try:
        s.state_dict()
    except SpecError:
        return
    raise AssertionError("a scheduler holding an in-process schedule must refuse state_dict()")


def _check_spec(kind: str, built: Any, rebuild: Any) -> str:
    """A docstring; a plain spec that rebuilds an equal, equally hashed component and
    survives ``torch.save``/``torch.load(weights_only=True)``. Returns the name."""
    spec = built.spec()
    name = str(spec.get("type"))
    assert_plain(spec, "spec")
    assert inspect.getdoc(type(built)), f"{name}: the {kind} class has no docstring"
    rebuilt = rebuild(spec)
    assert rebuilt == built, f"{name}: spec does not rebuild an equal {kind}:\n{spec}\n{rebuilt!r}"
    assert hash(rebuilt) == hash(built), f"{name}: equal {kind}s hash differently"
    assert roundtrip(spec) == spec, f"{name}: spec does not survive torch.save/torch.load"
    return name


def check_rule(rule: Any, model: torch.nn.Module | None = None) -> None:
    """Conformance of a param-group rule: a docstring; a plain spec that rebuilds an equal
    rule; binding to a model and deciding for each of its parameters; groups that cover every
    trainable parameter exactly once."""
    from schedkit._example import tiny_vit
    from schedkit.components import get_rule
    from schedkit.groups import build_param_groups, trainable_parameters

    built = get_rule(rule) if isinstance(rule, Mapping) else rule
    name = _check_spec("rule", built, get_rule)
    model = model if model is not None else tiny_vit()
    groups = build_param_groups(model, [built], lr=1.0, weight_decay=0.1)
    placed = [id(p) for g in groups for p in g["params"]]
    expected = [id(i.param) for i in trainable_parameters(model)]
    assert sorted(placed) == sorted(expected), f"{name}: groups do not hold every parameter once"
    for g in groups:
        assert math.isfinite(g["lr"]), f"{name}: lr {g['lr']}"
        assert g["lr"] >= 0, f"{name}: negative lr {g['lr']}"
        assert g["weight_decay"] >= 0, f"{name}: negative weight decay {g['weight_decay']}"
    torch.optim.AdamW(groups)


def check_clipper(clipper: Any) -> None:
    """Conformance of a gradient clipper: a docstring; a plain spec that rebuilds an equal
    clipper; clipping a model's gradients in place to finite values, never growing them
    beyond what came in for norm-like strategies; plain state that loads back."""
    from schedkit.components import get_clipper

    built = get_clipper(clipper) if isinstance(clipper, Mapping) else clipper
    name = _check_spec("clipper", built, get_clipper)
    spec = built.spec()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    for _ in range(3):
        model.zero_grad()
        (model(torch.randn(32, 8)) * 100).pow(2).mean().backward()
        before = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
        result = built(model)
        after = [p.grad for p in model.parameters()]
        for b, a in zip(before, after, strict=True):
            assert a is not None, f"{name}: a finite gradient was dropped"
            assert torch.isfinite(a).all(), f"{name}: clipping made a gradient non-finite"
            assert a.abs().max() <= b.abs().max() * (1 + 1e-6), f"{name}: clipping grew a gradient"
        if result.total_norm is not None:
            assert result.total_norm.dim() == 0, f"{name}: total_norm is not a 0-dim tensor"
    state = built.state_dict()
    assert_plain(state)
    fresh = get_clipper(spec)
    fresh.load_state_dict(roundtrip(state))
    assert fresh.state_dict().keys() == state.keys()
