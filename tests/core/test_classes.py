"""Components are attrs classes, declared either way the docs have shown: ``@attrs.frozen``
on a subclass of a base class, or the undecorated form (annotated fields with schedkit's
helpers, no decorator), which is made an attrs class when first built or registered."""

from __future__ import annotations

import copy
import json
import pickle
import types
import warnings
from typing import Any

import attrs
import pytest
import torch

import schedkit
from schedkit import cli
from schedkit.plugin import (
    BaseClipper,
    ClipResult,
    FrozenInstanceError,
    Target,
    evolve,
    factor,
    fields,
    hookimpl,
    instance_of,
    scale_,
)
from schedkit.testing import check_registered


@attrs.frozen
class Decorated(schedkit.BaseSchedule):
    """A ramp down to ``end`` over ``total`` steps (declared with the decorator)."""

    name = "decorated_ramp"

    total: int = schedkit.duration(positive=True)
    end: float = schedkit.factor(0.0, ge=0.0)
    _span: float = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_span", 1.0 - self.end)

    def __call__(self, step: float) -> float:
        return 1.0 - self._span * min(step, self.total) / self.total


class Undecorated(schedkit.BaseSchedule):
    """A ramp down to ``end`` over ``total`` steps (declared without the decorator)."""

    name = "undecorated_ramp"

    total: int = schedkit.duration(positive=True)
    end: float = schedkit.factor(0.0, ge=0.0)
    _span: float = schedkit.field(init=False, eq=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_span", 1.0 - self.end)

    def __call__(self, step: float) -> float:
        return 1.0 - self._span * min(step, self.total) / self.total


class UndecoratedClipper(BaseClipper):
    """Clips the global norm to ``max_norm`` (declared without the decorator)."""

    name = "undecorated_scaler"

    max_norm: float = factor(1.0, gt=0.0)

    def __post_init__(self) -> None:
        super().__post_init__()

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        total = self.global_norm(target, 2.0, process_group)
        coef = torch.clamp(self.max_norm * factor / (total + 1e-6), max=1.0)
        scale_(target.grads, coef)
        return ClipResult(total_norm=total, clip_coef=coef)


@attrs.frozen(kw_only=True)
class DecoratedClipper(BaseClipper):
    """Clips the global norm to ``max_norm`` (declared with the decorator)."""

    name = "decorated_scaler"

    max_norm: float = factor(1.0, gt=0.0)

    def clip(self, target: Target, factor: float, process_group: Any) -> ClipResult:
        total = self.global_norm(target, 2.0, process_group)
        coef = torch.clamp(self.max_norm * factor / (total + 1e-6), max=1.0)
        scale_(target.grads, coef)
        return ClipResult(total_norm=total, clip_coef=coef)


@attrs.frozen
class DecoratedRule(schedkit.BaseRule):
    """Gives every parameter the weight decay ``wd`` (declared with the decorator)."""

    name = "decorated_wd"

    wd: float = factor(0.0, ge=0.0)

    def bind(self, model: torch.nn.Module) -> Any:
        return lambda p: schedkit.RuleEffect(values={"weight_decay": self.wd})


class UndecoratedRule(schedkit.BaseRule):
    """Gives every parameter the weight decay ``wd`` (declared without the decorator)."""

    name = "undecorated_wd"

    wd: float = factor(0.0, ge=0.0)

    def bind(self, model: torch.nn.Module) -> Any:
        return lambda p: schedkit.RuleEffect(values={"weight_decay": self.wd})


BOTH = [Decorated, Undecorated]


@pytest.mark.parametrize("cls", BOTH)
def test_construction_conversion_and_post_init(cls: type) -> None:
    s = cls(100, end=0)
    assert (s.total, s.end) == (100, 0.0)
    assert isinstance(s.end, float)
    assert s(50) == pytest.approx(0.5)
    assert attrs.has(cls)
    assert [f.name for f in fields(cls)] == ["total", "end", "_span"]


@pytest.mark.parametrize("cls", BOTH)
def test_bad_values_are_spec_errors_naming_the_field(cls: type) -> None:
    with pytest.raises(schedkit.SpecError) as e:
        cls(total=100, end=-1)
    assert e.value.path == "end"
    with pytest.raises(schedkit.SpecError) as e:
        cls(total=0)
    assert e.value.path == "total"
    with pytest.raises(TypeError):
        cls(totl=10)


@pytest.mark.parametrize("cls", BOTH)
def test_frozen_equal_by_value_hashable_and_shown(cls: type) -> None:
    a, b = cls(total=10, end=0.5), cls(total=10, end=0.5)
    assert a == b
    assert hash(a) == hash(b)
    assert a != cls(total=11, end=0.5)
    assert repr(a) == f"{cls.__name__}(total=10, end=0.5)"
    with pytest.raises(FrozenInstanceError):
        a.total = 3  # type: ignore[misc]
    assert evolve(a, end=0.25) == cls(total=10, end=0.25)
    assert copy.deepcopy(a) == a
    assert pickle.loads(pickle.dumps(a)) == a


def _plugin(*classes: type) -> types.ModuleType:
    module = types.ModuleType("declared_both_ways")

    @hookimpl
    def schedkit_add_schedules(registry: schedkit.Registrar) -> None:
        for cls in classes:
            if issubclass(cls, schedkit.BaseSchedule):
                registry.add(cls, examples=[{"total": 20}, {"total": 30, "end": 0.1}])

    @hookimpl
    def schedkit_add_clippers(registry: schedkit.Registrar) -> None:
        for cls in classes:
            if issubclass(cls, BaseClipper):
                registry.add(cls, examples=[{}, {"max_norm": 0.5}])

    @hookimpl
    def schedkit_add_rules(registry: schedkit.Registrar) -> None:
        for cls in classes:
            if issubclass(cls, schedkit.BaseRule):
                registry.add(cls, examples=[{}, {"wd": 0.1}])

    module.schedkit_add_schedules = schedkit_add_schedules  # type: ignore[attr-defined]
    module.schedkit_add_clippers = schedkit_add_clippers  # type: ignore[attr-defined]
    module.schedkit_add_rules = schedkit_add_rules  # type: ignore[attr-defined]
    return module


EVERY = [Decorated, Undecorated, DecoratedClipper, UndecoratedClipper]
EVERY += [DecoratedRule, UndecoratedRule]


def test_both_forms_register_pass_the_kit_and_list(fresh_registry, capsys) -> None:
    reg = fresh_registry()
    reg.register(_plugin(*EVERY), name="declared_both_ways")
    kinds = {BaseClipper: "clipper", schedkit.BaseRule: "rule", schedkit.BaseSchedule: "schedule"}
    for cls in EVERY:
        kind = next(k for base, k in kinds.items() if issubclass(cls, base))
        info = check_registered(kind, cls.name)  # type: ignore[arg-type]
        assert info.cls is cls
    built = schedkit.get_schedule({"type": "undecorated_ramp", "total": 10, "end": 0.5})
    assert built.spec() == {"type": "undecorated_ramp", "total": 10, "end": 0.5}
    assert schedkit.get_clipper({"type": "undecorated_scaler", "max_norm": 0.5}).spec() == {
        "type": "undecorated_scaler",
        "max_norm": 0.5,
        "nonfinite": "ignore",
        "schedule": None,
    }
    assert cli.main(["list", "--json"]) == 0
    listed = {c["name"] for c in json.loads(capsys.readouterr().out)["components"]}
    assert {cls.name for cls in EVERY} <= listed  # type: ignore[attr-defined]
    assert cli.main(["show", "undecorated_ramp", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    own = shown["parameters"][:2]
    assert [(p["name"], p["required"]) for p in own] == [("total", True), ("end", False)]


def test_an_undecorated_subclass_of_a_decorated_family_takes_both_fields() -> None:
    class Longer(Decorated):
        """Decorated's ramp with a floor of its own."""

        floor: float = schedkit.factor(0.0, ge=0.0)

    s = Longer(total=10, end=0.5, floor=0.25)
    assert [f.name for f in fields(Longer)] == ["total", "end", "_span", "floor"]
    assert s.spec() == {"type": "decorated_ramp", "total": 10, "end": 0.5, "floor": 0.25}
    with pytest.raises(schedkit.SpecError, match="floor"):
        Longer(total=10, floor=-1)


def test_class_keywords_choose_the_options_of_an_undecorated_component() -> None:
    class Counter(schedkit.BaseSchedule, frozen=False, eq=False):
        """Counts its calls."""

        calls: int = schedkit.field(default=0, validator=instance_of(int))

        def __call__(self, step: float) -> float:
            self.calls += 1
            return 1.0

    a, b = Counter(), Counter()
    a(0)
    assert a.calls == 1
    assert a != b  # by identity
    with pytest.raises(schedkit.SpecError, match="calls"):
        Counter(calls="x")


def test_record_is_a_deprecated_alias_that_still_works() -> None:
    with pytest.warns(DeprecationWarning, match="Record is deprecated"):

        class Point(schedkit.Record):  # type: ignore[misc,name-defined]
            x: float = factor()

    assert Point(x=1) == Point(x=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @attrs.frozen
        class Plain:
            x: float = factor()

        assert Plain(1).x == 1.0


def test_every_first_party_component_is_declared_with_attrs() -> None:
    for info in schedkit.registered():
        assert "__attrs_attrs__" in vars(info.cls), info.name


def test_a_mutable_family_compared_by_identity_is_its_own():
    @attrs.define(eq=False)
    class Mut(schedkit.BaseSchedule):
        """A mutable family, compared by identity."""

        name = "mut_identity"
        total: int = schedkit.duration(positive=True, horizon=True)
        best: float = attrs.field(default=0.0, init=False)

        def __call__(self, step: float) -> float:
            return 1.0

    a, b = Mut(total=3), Mut(total=99)
    assert a != b
    assert a == a
    assert hash(a) != hash(b)
    a.best = 1.0
    assert a.best == 1.0


def test_a_decorated_subclass_of_an_undecorated_family_keeps_its_fields():
    class Base(schedkit.BaseSchedule):
        """An undecorated family."""

        name = "undecorated_base"
        total: int = schedkit.duration(positive=True)

        def __call__(self, step: float) -> float:
            return 1.0

    @attrs.frozen
    class Child(Base):
        """A decorated family built on it."""

        name = "decorated_child"
        k: float = schedkit.factor(1.0, gt=0.0)

    assert [f.name for f in attrs.fields(Child)] == ["total", "k"]
    assert Child(total=5).spec() == {"type": "decorated_child", "total": 5, "k": 1.0}
    with pytest.raises(schedkit.SpecError) as e:
        Child(total=0)
    assert e.value.path == "total"
