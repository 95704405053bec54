"""Records, the classes components are declared with: construction, checks, equality,
freezing, copies, and that a first look-up stays off attrs (the start-up target)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from typing import ClassVar

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import schedkit
from schedkit.plugin import (
    NOTHING,
    FrozenInstanceError,
    Record,
    evolve,
    factor,
    field,
    fields,
    instance_of,
    optional,
)


class Point(Record):
    kind: ClassVar[str] = "point"
    x: float = factor()
    y: float = factor(0.0, ge=0.0)
    tags: tuple[str, ...] = field(factory=tuple, converter=tuple)
    _norm: float = field(init=False, eq=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_norm", abs(self.x) + self.y)


class Point3(Point):
    z: float = 1.0
    y: float = factor(5.0, ge=0.0)  # redeclared: moves behind the inherited fields


class Counter(Record, frozen=False, eq=False):
    count: int = field(default=0, validator=instance_of(int))
    label: str | None = field(default=None, validator=optional(instance_of(str)))


class Named(Record, kw_only=True):
    a: int = 1
    b: int = 2


def test_fields_are_the_annotations_in_order_without_classvars():
    assert [f.name for f in fields(Point)] == ["x", "y", "tags", "_norm"]
    assert [f.name for f in fields(Point3)] == ["x", "tags", "_norm", "z", "y"]
    assert fields(Point).y.default == 0.0
    assert fields(Point).x.default is NOTHING
    assert fields(Point).x.required
    assert not fields(Point).tags.required
    assert fields(Point)._norm.alias == "norm"
    assert not fields(Point)._norm.init
    assert Point.kind == "point"
    assert "x" not in Point.__dict__  # the field object is not left on the class


def test_construction_converts_validates_and_runs_post_init():
    p = Point(2, tags=["a"])
    assert (p.x, p.y, p.tags, p._norm) == (2.0, 0.0, ("a",), 2.0)
    assert isinstance(p.x, float)  # factor() converts ints
    assert Point(1.0, 3.0).y == 3.0
    q = Point3(1.0, ("t",), 7.0, 2.0)
    assert (q.x, q.tags, q.y, q.z, q._norm) == (1.0, ("t",), 2.0, 7.0, 3.0)
    assert Point3(1.0).y == 5.0


def test_bad_values_raise_spec_errors_naming_the_field():
    with pytest.raises(schedkit.SpecError) as e:
        Point(1.0, y=-1)
    assert e.value.path == "y"
    assert "expected a finite number >= 0, got -1.0" in str(e.value)
    with pytest.raises(schedkit.SpecError) as e:
        Counter(count="3")
    assert e.value.path == "count"
    assert "an instance of int" in str(e.value)
    with pytest.raises(schedkit.SpecError) as e:
        Counter(label=3)
    assert e.value.path == "label"
    assert Counter(label=None).label is None


def test_wrong_arguments_are_type_errors_like_a_python_function():
    with pytest.raises(TypeError, match=r"Point\(\) missing required arguments: 'x'"):
        Point()
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'w'"):
        Point(1.0, w=2)
    with pytest.raises(TypeError, match=r"takes 3 positional arguments but 4 were given"):
        Point(1.0, 2.0, (), 4)
    with pytest.raises(TypeError, match=r"multiple values for 'x'"):
        Point(1.0, x=2.0)
    with pytest.raises(TypeError, match=r"takes 0 positional arguments"):
        Named(1)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'norm'"):
        Point(1.0, norm=3.0)  # init=False fields are not arguments
    assert Named(b=5) == Named(a=1, b=5)


def test_frozen_records_refuse_changes_and_mutable_ones_take_them():
    p = Point(1.0)
    with pytest.raises(FrozenInstanceError, match="Point is frozen: cannot set 'x'"):
        p.x = 2.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y
    assert p.x == 1.0
    c = Counter()
    c.count += 1
    assert c.count == 1


def test_equality_and_hash_by_value_identity_when_eq_is_off():
    assert Point(1.0, 2.0) == Point(1, 2)
    assert hash(Point(1.0, 2.0)) == hash(Point(1, 2))
    assert Point(1.0) != Point(2.0)
    assert Point(1.0) != Point3(1.0)  # another class is never equal
    assert Point(1.0).__eq__(object()) is NotImplemented
    assert len({Point(1.0), Point(1.0), Point(2.0)}) == 2
    a, b = Counter(), Counter()
    assert a != b
    assert a == a
    assert hash(a) != hash(b)


def test_a_class_defined_eq_is_kept_by_subclasses():
    class ByX(Record):
        x: int = 0
        y: int = 0

        def __eq__(self, other: object) -> bool:
            return isinstance(other, ByX) and other.x == self.x

        __hash__ = Record.__hash__

    class Child(ByX):
        z: int = 0

    assert ByX(x=1, y=2) == ByX(x=1, y=3)
    assert Child(x=1, z=1) == Child(x=1, z=2)


def test_mutable_records_with_value_equality_are_unhashable():
    class Box(Record, frozen=False):
        v: int = 0

    assert Box(v=1) == Box(v=1)
    with pytest.raises(TypeError, match="unhashable"):
        hash(Box())


def test_repr_shows_the_repr_fields():
    assert repr(Point(1.0)) == "Point(x=1.0, y=0.0, tags=())"
    assert repr(Counter(count=2)) == "Counter(count=2, label=None)"


def test_evolve_builds_a_checked_copy():
    p = Point(1.0, 2.0, ("a",))
    q = evolve(p, y=4.0)
    assert (q.x, q.y, q.tags, q._norm) == (1.0, 4.0, ("a",), 5.0)
    assert p.y == 2.0
    with pytest.raises(schedkit.SpecError):
        evolve(p, y=-1.0)


def test_factories_give_each_instance_its_own_value():
    class Bag(Record):
        items: list[int] = field(factory=list)

    a, b = Bag(), Bag()
    a.items.append(1)
    assert b.items == []


@given(
    x=st.floats(allow_nan=False, allow_infinity=False),
    y=st.floats(min_value=0.0, allow_infinity=False),
    tags=st.lists(st.text(max_size=3), max_size=3),
)
def test_copies_and_pickles_are_equal_and_still_frozen(x: float, y: float, tags: list[str]):
    p = Point3(x, tags, 1.0, y)
    for other in (copy.copy(p), copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert other == p
        assert hash(other) == hash(p)
        assert other._norm == p._norm
        with pytest.raises(FrozenInstanceError):
            other.x = 0.0  # type: ignore[misc]
    assert evolve(p) == p


def test_a_component_declared_with_attrs_is_refused_with_the_way_to_declare_it():
    with pytest.raises(TypeError, match="declare it without an attrs decorator"):

        @attrs.frozen
        class Old(schedkit.BaseSchedule):
            name = "old"
            total: int = 10

            def __call__(self, step: float) -> float:
                return 1.0


def test_a_field_without_an_annotation_is_refused():
    with pytest.raises(TypeError, match="Bad.x is a field without an annotation"):

        class Bad(Record):
            x = field(default=1)


def test_a_field_takes_a_default_or_a_factory_not_both():
    with pytest.raises(TypeError, match="a default or a factory"):
        field(default=1, factory=list)


def test_every_first_party_component_is_a_record():
    from schedkit.registry import default_registry

    for info in default_registry().components():
        assert issubclass(info.cls, Record), info.name
        assert not hasattr(info.cls, "__attrs_attrs__"), info.name


def test_a_first_look_up_imports_neither_attrs_nor_the_setup_machinery():
    code = (
        "import sys, torch, schedkit\n"
        "opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)\n"
        "schedkit.get_scheduler('cosine', opt, warmup=10, total=100)\n"
        "print(sorted(m for m in ('attr', 'attrs', 'schedkit.setup', 'schedkit.clipping',"
        " 'schedkit.groups') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "[]"
