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
import typing_extensions
import typing_extensions as te
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
    in_,
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


def test_a_first_look_up_imports_no_setup_machinery():
    # the registry's records of plugins and components are attrs classes (issue 25)
    code = (
        "import sys, torch, schedkit\n"
        "opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)\n"
        "schedkit.get_scheduler('cosine', opt, warmup=10, total=100)\n"
        "print(sorted(m for m in ('schedkit.setup', 'schedkit.clipping',"
        " 'schedkit.groups') if m in sys.modules))\n"
        # the aliases whose modules also define their library's rules and clippers
        "for name in ('timm.cosine', 'mmengine.StepLR', 'detectron2.WarmupMultiStepLR'):\n"
        "    schedkit.default_registry().get('schedule', name)\n"
        "print(sorted(m for m in ('schedkit.setup',) if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.split() == ["[]", "[]"]


def test_eq_false_compares_by_identity_even_under_a_value_compared_base():
    class Mine(schedkit.BaseSchedule, frozen=False, eq=False):
        """A mutable schedule."""

        name = "mine"
        level: float = factor(1.0)

        def __call__(self, step: float) -> float:
            return self.level

    a = Mine()
    seen = {a}
    a.level = 0.5
    assert a in seen  # the hash does not follow the mutation
    assert Mine() != Mine()
    assert a == a


def test_an_attrs_processed_component_is_refused_when_registered():
    @attrs.define(slots=False, frozen=True)
    class Legacy(schedkit.BaseSchedule):
        """Declared the old way."""

        name = "legacy"
        y: int = 1

        def __call__(self, step: float) -> float:
            return 1.0

    registry = schedkit.Registry(sources=list)

    class Plugin:
        @schedkit.hookimpl
        def schedkit_add_schedules(self, registry: schedkit.Registrar) -> None:
            registry.add(Legacy)

    with pytest.raises(schedkit.SpecError, match="declare it without an attrs decorator"):
        registry.register(Plugin(), "legacy-plugin")
    assert registry.components("schedule") == []


def test_an_attrs_field_in_a_record_is_refused():
    with pytest.raises(TypeError, match=r"Half.low is declared with attrs"):

        class Half(Record):
            low: float = attrs.field(default=0.1)


def test_in_refuses_unhashable_values_with_a_spec_error():
    class Mode(Record):
        mode: str = field(default="a", validator=in_({"a", "b"}))

    with pytest.raises(schedkit.SpecError) as e:
        Mode(mode=["a"])  # type: ignore[arg-type]
    assert e.value.path == "mode"


def test_validators_of_derived_fields_run():
    def positive(inst: object, f: object, value: int) -> None:
        if value <= 0:
            raise schedkit.SpecError("expected > 0", "z")

    class Derived(Record):
        z: int = field(init=False, default=0, validator=positive)

    with pytest.raises(schedkit.SpecError, match="expected > 0"):
        Derived()


def test_fields_named_like_tuple_methods_are_still_fields_and_fields_copy():
    class Counts(Record):
        count: int = 0
        index: int = 1

    assert fields(Counts).count.name == "count"
    assert fields(Counts).index.default == 1
    assert tuple.count(fields(Counts), fields(Counts)[0]) == 1
    f = fields(Point).y  # its validator is a closure: copied, not picklable (as with attrs)
    other = copy.deepcopy(f)
    assert (other.name, other.default, other.alias, other.init) == ("y", 0.0, "y", True)
    plain = pickle.loads(pickle.dumps(fields(Counts).index))
    assert (plain.name, plain.default, plain.required) == ("index", 1, False)


def test_classvars_of_any_spelling_are_not_fields():
    class Spelled(Record):
        a: typing_extensions.ClassVar[int] = 1
        b: te.ClassVar[int] = 2
        c: int = 3

    assert [f.name for f in fields(Spelled)] == ["c"]


def test_hash_is_cached_and_equal_for_equal_records_and_match_args_follow_init():
    p = Point(1.0, 2.0)
    assert hash(p) == hash(p) == hash(Point(1.0, 2.0))
    assert "_record_hash" not in p.__getstate__()
    assert Point.__match_args__ == ("x", "y", "tags")
    assert Named.__match_args__ == ()
    match p:
        case Point(x, y):
            assert (x, y) == (1.0, 2.0)
