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
from collections.abc import Callable, Mapping
from typing import Any

import torch

from schedkit.errors import SpecError
from schedkit.hooks import family_hooks
from schedkit.protocols import Finite, Replays, Schedule, StatefulSchedule, TensorValued
from schedkit.registry import ComponentInfo, Kind, default_registry
from schedkit.schedule import get_schedule, resolve
from schedkit.scheduler import Scheduler
from schedkit.values import ClipResult

_PLAIN = (int, float, str, bool, type(None))

#: Steps far beyond any run, where closed forms overflow or lose precision.
GIANT_STEPS = (10**6, 10**9, 2**31, 10**12, 2**40, 2**53, 2**62)


def assert_plain(value: Any, path: str = "state") -> None:
    """Fail unless ``value`` holds only plain data (what ``weights_only=True`` loads).

    Exactly ``int``, ``float``, ``str``, ``bool``, ``None``, tensors, lists and dicts with
    string keys: a ``numpy.float64`` passes ``isinstance(x, float)`` but is not plain
    (``torch.load(weights_only=True)`` refuses it), so subclasses are refused too.
    """
    if isinstance(value, Mapping):
        for k, v in value.items():
            assert isinstance(k, str), f"{path}: key {k!r} is not a string"
            assert_plain(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_plain(v, f"{path}[{i}]")
    elif not (type(value) in _PLAIN or isinstance(value, torch.Tensor)):
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        hint = ""
        if type(value).__module__ == "numpy":
            hint = " (a numpy scalar: store float(x) or int(x), or a torch tensor)"
        raise AssertionError(
            f"{path}: {value!r} ({kind}) is not plain data{hint}; "
            "torch.load(weights_only=True) cannot load it"
        )


def roundtrip(state: Mapping[str, Any], what: str = "state") -> Any:
    """``state`` through ``torch.save`` and ``torch.load(weights_only=True)``.

    A state that torch refuses to load fails with an AssertionError saying so, not with
    torch's raw unpickling error.
    """
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    try:
        return torch.load(buf, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError (and others) here
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AssertionError(
            f"{what} does not load with torch.load(weights_only=True): {first}"
        ) from None


def same(a: Any, b: Any) -> bool:
    """Exact equality of plain data with tensors (same dtype, shape and values; NaN equal to
    NaN, as a resumed run must reproduce even a NaN)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(torch.equal(a, b) or torch.equal(a.nan_to_num(0.123), b.nan_to_num(0.123)))
        )
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


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
    a finite, non-negative float at *every* step from 0 to twice the horizon (1000 when it
    has none) and at giant steps up to ``2**62`` (a schedule declaring ``max_replay``, a
    recurrence replayed from the last value it computed, may refuse a giant step more than
    ``max_replay`` steps past the one before with a :class:`SpecError` at ``step``: the
    probes stop there, so a refusal costs at most ``max_replay`` updates); ``values()``
    equal to calls at all the steps answered; plain scheduler state that survives
    ``torch.save`` and ``torch.load(weights_only=True)``, loads into a scheduler on a fresh
    schedule built from the spec, and gives exactly the same values at the next steps, at
    random resume points.
    Each failure names the schedule, the step and the values.
    """
    built = get_schedule(schedule) if isinstance(schedule, Mapping) else schedule
    sched = resolve(built, steps_per_epoch=steps_per_epoch)
    spec = sched.spec()
    name = spec.get("type")
    _check_spec("schedule", sched, get_schedule)
    rebuilt = get_schedule(spec)
    assert rebuilt.spec() == spec, f"{name}: spec changes on a round trip"

    horizon = (sched.horizon if isinstance(sched, Finite) else None) or 1000
    # a curve replayed from the last value it computed (an alias of a recurrence without a
    # closed form) declares how far one call replays, ``max_replay``; it may refuse a step
    # farther than that from the one before, and is not probed past its refusal
    replay = sched.max_replay if isinstance(sched, Replays) else None
    steps = [*range(0, 2 * horizon + 101), *(g for g in GIANT_STEPS if g > 2 * horizon + 100)]
    for i, t in enumerate(steps):
        try:
            v = sched(t)
        except SpecError as e:
            if replay is None:
                raise
            gap = t - steps[i - 1] if i else t
            if gap <= replay or e.path != "step":
                raise AssertionError(
                    f"{name}: step {t} refused, {gap:,} steps past the one before (it declares "
                    f"max_replay = {replay:,}): {e}"
                ) from None
            steps = steps[:i]
            break
        assert isinstance(v, float), f"{name}: value at step {t} is {type(v).__name__}, not float"
        assert math.isfinite(v), f"{name}: non-finite value at step {t}: {v} (spec {spec})"
        assert v >= 0, f"{name}: value at step {t} is negative ({v})"
    if isinstance(sched, TensorValued):
        # values() computes in float64 (for plots): compared up to 10**12, where float64
        # still holds a step count exactly enough for periodic curves
        near = [t for t in steps if t <= 10**12]
        got = sched.values(near).tolist()
        for t, v in zip(near, got, strict=True):
            want = sched(t)
            assert math.isfinite(v), f"{name}: values() gives a non-finite value at step {t}: {v}"
            assert math.isclose(v, want, rel_tol=1e-9, abs_tol=1e-12), (
                f"{name}: values() gives {v} at step {t}, the schedule {want}"
            )
    rng = random.Random(seed)

    def fresh() -> Schedule:
        if not isinstance(sched, StatefulSchedule):
            return sched
        return resolve(get_schedule(spec), steps_per_epoch=steps_per_epoch)

    _check_resume(fresh, name, rng, resumes, min(horizon + 5, 3000))


def _metric(step: int) -> float:
    """A deterministic, noisy, slowly improving metric for stateful schedules."""
    return float(1.0 / (1 + step) ** 0.1 + 0.05 * math.sin(step * 1.7))


def _advance(s: Scheduler, step: int, stateful: bool) -> None:
    if stateful:
        s.step(metric=_metric(step))  # by name: timm's aliases take an epoch first
    else:
        s.step()


def _lrs(name: Any, opt: torch.optim.Optimizer, step: int, what: str) -> list[float]:
    lrs = [float(g["lr"]) for g in opt.param_groups]
    assert all(math.isfinite(v) for v in lrs), f"{name}: non-finite lr at step {step}{what}: {lrs}"
    return lrs


def _check_resume(
    make: Callable[[], Schedule], name: Any, rng: random.Random, resumes: int, span: int
) -> None:
    stateful = isinstance(make(), StatefulSchedule)
    opt = _optimizer()
    ref = Scheduler(opt, make())
    trace = [_lrs(name, opt, 0, "")]
    for k in range(span):
        _advance(ref, k + 1, stateful)
        trace.append(_lrs(name, opt, k + 1, ""))
    for _ in range(resumes):
        at = rng.randrange(0, span)
        opt1 = _optimizer()
        s1 = Scheduler(opt1, make())
        for k in range(at):
            _advance(s1, k + 1, stateful)
        state = s1.state_dict()
        assert_plain(state, "scheduler state")
        loaded = roundtrip(state, f"{name}: the scheduler state")
        opt2 = _optimizer()
        s2 = Scheduler(opt2, make())  # a fresh schedule: its state comes from the checkpoint
        s2.load_state_dict(loaded)
        got = _lrs(name, opt2, at, f" (resumed at {at})")
        assert got == trace[at], f"{name}: resumed at step {at}, lr {got} != {trace[at]}"
        for k in range(at + 1, min(at + 50, span) + 1):
            _advance(s2, k, stateful)
            got = _lrs(name, opt2, k, f" (resumed at {at})")
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
            if family_hooks(info.cls).in_process_only:
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


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def _set_grads(model: torch.nn.Module, step: int, scale: float) -> list[torch.Tensor]:
    """Deterministic gradients of the given elementwise ``scale`` (a fresh copy per call)."""
    gen = torch.Generator().manual_seed(1000 + step)
    out = []
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=gen) * scale
        out.append(p.grad.clone())
    return out


#: Gradient scales of the stateful round trip: varied, so a history matters.
_SCALES = (1e-2, 3e-2, 1e-3, 2e-2, 5e-3, 1e-1, 1e-2, 4e-2)


def _grads_of(model: torch.nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def _result(r: ClipResult) -> list[Any]:
    return [r.total_norm, r.clip_coef, r.skipped]


def check_clipper(clipper: Any) -> None:
    """Conformance of a gradient clipper; raise AssertionError naming what failed.

    Checks: a docstring; a plain spec that rebuilds an equal clipper; clipping a model's
    gradients in place to finite values, never growing them beyond what came in; after a
    few ordinary steps, an over-threshold gradient (a million times larger) is changed and
    an under-threshold one (a millionth) is left exactly as it was; plain state (exact
    types: no numpy scalars) that survives ``torch.save`` and
    ``torch.load(weights_only=True)``, loads into a fresh clipper built from the spec, and
    then clips the next steps exactly as the original does.
    """
    from schedkit.components import get_clipper

    built = get_clipper(clipper) if isinstance(clipper, Mapping) else clipper
    name = _check_spec("clipper", built, get_clipper)
    spec = built.spec()
    model = _model()
    for step in range(3):
        model.zero_grad()
        torch.manual_seed(step)
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
    _check_clips(name, lambda: get_clipper(spec))
    _check_state(name, built, lambda: get_clipper(spec))


def _check_clips(name: str, make: Callable[[], Any]) -> None:
    """An over-threshold gradient is clipped, an under-threshold one left alone."""
    for scale, must_change in ((1e4, True), (1e-8, False)):
        clipper, model = make(), _model()
        for step in range(8):  # ordinary steps first: a threshold learned from history
            _set_grads(model, step, 1e-2)
            clipper(model)
        given = _set_grads(model, 99, scale)
        clipper(model)
        got = _grads_of(model)
        changed = [
            n
            for (n, _), g, a in zip(model.named_parameters(), given, got, strict=True)
            if a is None or not torch.equal(g, a)
        ]
        if must_change:
            assert changed, (
                f"{name}: a gradient {scale:g} times the ordinary ones (global norm "
                f"{float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in given]))):.4g}"
                ") was not changed: the clipper does not clip"
            )
        else:
            assert not changed, (
                f"{name}: a gradient {scale:g} times the ordinary ones was changed (in "
                f"{', '.join(changed)}): an under-threshold gradient must be left as it is"
            )


def _check_state(name: str, built: Any, make: Callable[[], Any]) -> None:
    """Save mid-run, load into a fresh clipper, and compare the next steps exactly."""
    state = built.state_dict()
    assert_plain(state, f"{name}: state")
    fresh = make()
    fresh.load_state_dict(roundtrip(state, f"{name}: the state"))
    assert fresh.state_dict().keys() == state.keys(), f"{name}: the loaded state has other keys"

    original, model_a = make(), _model()
    for step, scale in enumerate(_SCALES[:5]):
        _set_grads(model_a, step, scale)
        original(model_a)
    saved = original.state_dict()
    assert_plain(saved, f"{name}: state")
    resumed, model_b = make(), _model()
    resumed.load_state_dict(roundtrip(saved, f"{name}: the state"))
    for step in range(5, 5 + 2 * len(_SCALES)):
        scale = _SCALES[step % len(_SCALES)] * (1 + step)
        _set_grads(model_a, step, scale)
        _set_grads(model_b, step, scale)
        ra, rb = original(model_a), resumed(model_b)
        ga, gb = _grads_of(model_a), _grads_of(model_b)
        assert same(ga, gb), (
            f"{name}: loaded from a state saved at step 5 into a fresh clipper, it clips step "
            f"{step} differently from the uninterrupted one (total norm "
            f"{_result(rb)[0]} vs {_result(ra)[0]}): its load_state_dict() does not restore "
            "everything its clipping depends on"
        )
        assert same(_result(ra), _result(rb)), (
            f"{name}: after loading a state, step {step} returns {rb} instead of {ra}"
        )
    assert same(original.state_dict(), resumed.state_dict()), (
        f"{name}: after loading a state and {2 * len(_SCALES)} more steps, the state differs "
        f"from the uninterrupted clipper's:\n{resumed.state_dict()}\n{original.state_dict()}"
    )


def components_of(distribution: str) -> list[ComponentInfo]:
    """Every component registered by the plugins of ``distribution`` (an installed
    distribution name such as ``schedkit-plateau-bump``), sorted by kind and name.

    Problems of that distribution's plugins (broken, in conflict) fail here, by name.
    """
    from schedkit._sources import canonical as _canonical

    want = _canonical(distribution)
    reg = default_registry()
    infos = [c for c in reg.components() if c.distribution and _canonical(c.distribution) == want]
    problems = [
        e
        for e in reg.errors()
        if any(d and _canonical(d) == want for d in getattr(e, "distributions", ()))
        or (e.distribution and _canonical(e.distribution) == want)
    ]
    assert not problems, f"{distribution}: " + "\n".join(str(e) for e in problems)
    assert infos, (
        f"{distribution} registers no component: is it installed (pip install -e .) and are "
        "its entry points in the group 'schedkit'?"
    )
    return infos


def check_distribution(distribution: str) -> list[ComponentInfo]:
    """Run :func:`check_registered` on every component of ``distribution``; return them."""
    infos = components_of(distribution)
    for info in infos:
        check_registered(info.kind, info.name)
    return infos


def conformance_tests(distribution: str) -> Any:
    """A pytest test function checking every component of ``distribution``, one test each.

    The one line a plugin's test suite needs::

        test_conformance = conformance_tests("schedkit-plateau-bump")

    (or, with the pytest plugin, ``schedkit_distribution = "..."`` in the pytest settings).
    """
    import pytest

    try:
        ids = [f"{c.kind}:{c.name}" for c in components_of(distribution)]
    except AssertionError as e:
        message = str(e)

        def broken() -> None:
            raise AssertionError(message)

        return broken

    @pytest.mark.parametrize("component", ids)
    def test_conformance(component: str) -> None:
        kind, _, name = component.partition(":")
        check_registered(kind, name)  # type: ignore[arg-type]

    return test_conformance
