"""The conformance kit rejects each broken fixture plugin in tests/fixtures/kit_holes, with a
message that names the component, the step and the values."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from schedkit.testing import check_registered

HOLES = Path(__file__).resolve().parents[1] / "fixtures" / "kit_holes"

CASES = [
    (
        "nan_past_horizon",
        "schedule",
        "hole_nan_past_horizon",
        r"hole_nan_past_horizon: non-finite value at step 157: nan",
    ),
    (
        "nan_between_probes",
        "schedule",
        "hole_nan_at_one_step",
        r"hole_nan_at_one_step: non-finite value at step 41: nan",
    ),
    (
        "nan_at_giant_step",
        "schedule",
        "hole_overflowing",
        r"hole_overflowing: non-finite value at step \d+: nan",
    ),
    (
        "early_refusal",
        "schedule",
        "hole_early_refusal",
        r"hole_early_refusal: step 1000000 refused, 997,900 steps past the one before \(it "
        r"declares max_replay = 2,000,000\): step: step 1,000,000 is too far",
    ),
    (
        "forgetful_plateau",
        "schedule",
        "hole_forgetful_plateau",
        r"hole_forgetful_plateau: resumed at( step)? \d+.*lr \[.*\] != \[",
    ),
    (
        "forgetful_clipper",
        "clipper",
        "hole_forgetful_clipper",
        r"hole_forgetful_clipper: loaded from a state saved at step 5 into a fresh clipper, "
        r"it clips step \d+ differently",
    ),
    (
        "idle_clipper",
        "clipper",
        "hole_idle_clipper",
        r"hole_idle_clipper: a gradient 10000 times the ordinary ones \(global norm .*\) was "
        r"not changed: the clipper does not clip",
    ),
    (
        "eager_clipper",
        "clipper",
        "hole_eager_clipper",
        r"hole_eager_clipper: a gradient 1e-08 times the ordinary ones was changed \(in 0.weight",
    ),
    (
        "numpy_state_clipper",
        "clipper",
        "hole_numpy_state_clipper",
        r"hole_numpy_state_clipper: state.peak: .* \(numpy.float64\) is not plain data \(a numpy "
        r"scalar: store float\(x\)",
    ),
]


def _module(stem: str) -> object:
    spec = importlib.util.spec_from_file_location(f"kit_hole_{stem}", HOLES / f"{stem}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("stem", "kind", "name", "message"), CASES, ids=[c[0] for c in CASES])
def test_the_kit_rejects_each_broken_plugin(fresh_registry, stem, kind, name, message):
    reg = fresh_registry()
    reg.register(_module(stem), name=f"kit_hole_{stem}")
    with pytest.raises(AssertionError, match=message):
        check_registered(kind, name)


def test_every_fixture_has_a_case():
    assert sorted(p.stem for p in HOLES.glob("*.py")) == sorted(c[0] for c in CASES)
