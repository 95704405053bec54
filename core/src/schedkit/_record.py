"""Records: the classes components are declared with (schedules, rules, clippers).

A subclass of :class:`Record` lists its fields as annotated class attributes, declared
with :func:`field` or the helpers built on it (``schedkit.factor``, ``duration``...): it
gets an ``__init__`` that converts and validates every field, ``__eq__``/``__hash__`` by
value, a ``__repr__``, and is frozen unless it says ``frozen=False``. The same behaviour
as an ``attrs.frozen`` class, with one difference that matters at start-up: nothing is
compiled per class. attrs generates and compiles methods for each class (about a
millisecond each, plus attrs' own import), which is most of what ``import schedkit`` and
a first ``get_scheduler`` cost; a record's methods are shared functions that read the
class's field table.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

__all__ = [
    "NOTHING",
    "Field",
    "Fields",
    "FrozenInstanceError",
    "Record",
    "evolve",
    "field",
    "fields",
    "has",
]


class _Nothing:
    """The absence of a default (a field without one is required)."""

    _instance: ClassVar[_Nothing | None] = None

    def __new__(cls) -> _Nothing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOTHING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NOTHING"


#: The default of a field that has none.
NOTHING: Any = _Nothing()


class FrozenInstanceError(AttributeError):
    """An attempt to change or delete a field of a frozen record."""


class Field:
    """One field of a record: its name, default, converter, validator and metadata.

    ``validator(instance, field, value)`` raises for a bad value (schedkit's validators
    raise :class:`schedkit.SpecError` naming ``field.name``); ``converter(value)`` runs
    first, on defaults too. ``init=False``: not a constructor argument (set it in
    ``__post_init__``). ``eq=False``/``repr=False``: left out of comparisons and the repr.
    ``alias``: the constructor's name for it (by default the name without its leading
    underscores).
    """

    __slots__ = (
        "alias",
        "converter",
        "default",
        "eq",
        "factory",
        "init",
        "kw_only",
        "metadata",
        "name",
        "repr",
        "type",
        "validator",
    )

    name: str
    alias: str
    default: Any
    factory: Callable[[], Any] | None
    converter: Callable[[Any], Any] | None
    validator: Validator | None
    init: bool
    eq: bool
    repr: bool
    kw_only: bool
    metadata: Mapping[str, Any]
    type: Any

    def __init__(
        self,
        *,
        default: Any = NOTHING,
        factory: Callable[[], Any] | None = None,
        converter: Callable[[Any], Any] | None = None,
        validator: Validator | Sequence[Validator] | None = None,
        init: bool = True,
        eq: bool = True,
        repr: bool = True,
        kw_only: bool = False,
        metadata: Mapping[str, Any] | None = None,
        alias: str | None = None,
        name: str = "",
        type: Any = None,
    ) -> None:
        if default is not NOTHING and factory is not None:
            raise TypeError("a field takes a default or a factory, not both")
        if isinstance(validator, (list, tuple)):
            validator = _all(tuple(validator))
        setattr_ = object.__setattr__
        setattr_(self, "name", name)
        setattr_(self, "alias", alias or name.lstrip("_"))
        setattr_(self, "default", default)
        setattr_(self, "factory", factory)
        setattr_(self, "converter", converter)
        setattr_(self, "validator", validator)
        setattr_(self, "init", init)
        setattr_(self, "eq", eq)
        setattr_(self, "repr", repr)
        setattr_(self, "kw_only", kw_only)
        setattr_(self, "metadata", dict(metadata or {}))
        setattr_(self, "type", type)

    @property
    def required(self) -> bool:
        """Whether the constructor needs it (no default and no factory)."""
        return self.default is NOTHING and self.factory is None

    def _named(self, name: str, annotation: Any) -> Field:
        return Field(
            default=self.default,
            factory=self.factory,
            converter=self.converter,
            validator=self.validator,
            init=self.init,
            eq=self.eq,
            repr=self.repr,
            kw_only=self.kw_only,
            metadata=self.metadata,
            alias=None if self.alias == self.name.lstrip("_") else self.alias,
            name=name,
            type=annotation,
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"a field is frozen: cannot set {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, init={self.init})"


#: ``validator(instance, field, value)``: raises for a bad value
Validator = Callable[[Any, Field, Any], None]


def _all(validators: tuple[Validator, ...]) -> Validator:
    def check(inst: Any, f: Field, value: Any) -> None:
        for v in validators:
            v(inst, f, value)

    return check


def field(
    *,
    default: Any = NOTHING,
    factory: Callable[[], Any] | None = None,
    converter: Callable[[Any], Any] | None = None,
    validator: Validator | Sequence[Validator] | None = None,
    init: bool = True,
    eq: bool = True,
    repr: bool = True,
    kw_only: bool = False,
    metadata: Mapping[str, Any] | None = None,
    alias: str | None = None,
) -> Any:
    """A field of a :class:`Record`, declared as the default of an annotated class attribute.

    :param default: the value when none is given (without it or ``factory``, required).
    :param factory: called for a fresh default per instance (a list, a dict).
    :param converter: applied to the value first, defaults included.
    :param validator: ``validator(instance, field, value)`` (or a list of them), run once
        every field is set; schedkit's raise :class:`SpecError` naming the field.
    :param init: False: not a constructor argument (a derived value, set in
        ``__post_init__`` with ``object.__setattr__``).
    :param eq: False: left out of equality and hashing.
    :param repr: False: left out of the repr.
    :param kw_only: the constructor takes it by keyword only.
    :param metadata: read by schedkit's helpers (durations, nested schedules).
    :param alias: its constructor name (default: the name without leading underscores).
    :returns: the declaration (a :class:`Field`), typed ``Any`` so it fits any annotation.
    """
    return Field(
        default=default,
        factory=factory,
        converter=converter,
        validator=validator,
        init=init,
        eq=eq,
        repr=repr,
        kw_only=kw_only,
        metadata=metadata,
        alias=alias,
    )


class Fields(tuple[Field, ...]):
    """A record's fields in order; also readable by name (``fields(C).total``)."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        # a field named like a tuple method (``count``, ``index``) is still the field
        if not name.startswith("__"):
            for f in tuple.__iter__(self):
                if f.name == name:
                    return f
        return super().__getattribute__(name)

    def __getattr__(self, name: str) -> Field:
        raise AttributeError(f"no field {name!r}")


def check_not_attrs(cls: type) -> None:
    """Refuse a component that attrs has processed: attrs and records would each generate
    an ``__init__`` from the same fields, and neither would check what the other declared."""
    if any("__attrs_attrs__" in vars(c) for c in cls.__mro__):
        raise TypeError(
            f"{cls.__qualname__} is a schedkit record: declare it without an attrs decorator "
            "(its fields with schedkit.field and the helpers)"
        )


def _own_annotations(cls: type) -> Mapping[str, Any]:
    """The annotations of ``cls``'s own body, in order (not evaluated)."""
    own = cls.__dict__.get("__annotations__")  # noqa: RUF063 (unevaluated, and cheap)
    if own is not None:
        return own  # type: ignore[no-any-return]
    if sys.version_info >= (3, 14):  # annotations evaluated lazily (PEP 649)
        import annotationlib

        return annotationlib.get_annotations(cls, format=annotationlib.Format.FORWARDREF)
    return {}


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):  # ClassVar[...], typing.ClassVar, typing_extensions...
        return annotation.split("[", 1)[0].strip().rsplit(".", 1)[-1] == "ClassVar"
    return getattr(annotation, "__origin__", None) is ClassVar or annotation is ClassVar


class Record:
    """Base class of a value declared by its fields: converted and validated when built,
    compared by value, frozen unless the class says ``frozen=False``.

    Class options (keywords of the class statement, inherited by subclasses unless they
    give their own): ``frozen`` (default True), ``eq`` (compare and hash by the fields; with
    False, by identity), ``kw_only`` (the constructor takes keywords only). A class that
    needs work after its fields are set defines ``__post_init__`` (and calls the base's,
    if the base has one); it sets derived fields with ``object.__setattr__``.
    """

    __record_fields__: ClassVar[Fields] = Fields()
    __record_init__: ClassVar[tuple[Field, ...]] = ()
    __record_checked__: ClassVar[tuple[Field, ...]] = ()
    __record_later__: ClassVar[tuple[Field, ...]] = ()
    __record_eq__: ClassVar[tuple[str, ...]] = ()
    __record_key__: ClassVar[Callable[[Any], tuple[Any, ...]]]
    __record_frozen__: ClassVar[bool] = True
    __record_eq_on__: ClassVar[bool] = True
    __record_kw_only__: ClassVar[bool] = False

    def __init_subclass__(
        cls,
        *,
        frozen: bool | None = None,
        eq: bool | None = None,
        kw_only: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        check_not_attrs(cls)
        # options not given are inherited, and so are the methods they made
        reconfigure = Record in cls.__bases__ or frozen is not None or eq is not None
        if frozen is None:
            frozen = cls.__record_frozen__
        if eq is None:
            eq = cls.__record_eq_on__
        if kw_only is None:
            kw_only = cls.__record_kw_only__
        inherited: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            for f in base.__dict__.get("__record_own__", ()):
                inherited.pop(f.name, None)
                inherited[f.name] = f
        mine: list[Field] = []
        for name, annotation in _own_annotations(cls).items():
            if _is_classvar(annotation) or name.startswith("__record"):
                continue
            value = own.get(name, NOTHING)
            if isinstance(value, Field):
                f = value._named(name, annotation)
                delattr(cls, name)
            else:
                f = Field(default=value, name=name, type=annotation)
            if kw_only and not f.kw_only and f.init:
                object.__setattr__(f, "kw_only", True)
            inherited.pop(name, None)
            mine.append(f)
        for name, value in list(own.items()):
            if isinstance(value, Field):
                raise TypeError(f"{cls.__qualname__}.{name} is a field without an annotation")
            if type(value).__module__.split(".", 1)[0] == "attr":
                raise TypeError(
                    f"{cls.__qualname__}.{name} is declared with attrs: a schedkit record "
                    "declares its fields with schedkit.field and the helpers"
                )
        every = Fields((*inherited.values(), *mine))
        cls.__record_own__ = tuple(mine)  # type: ignore[attr-defined]
        cls.__record_fields__ = every
        cls.__record_init__ = tuple(f for f in every if f.init)
        cls.__record_later__ = tuple(
            f for f in every if not f.init and (f.default is not NOTHING or f.factory)
        )
        cls.__record_checked__ = tuple(
            f for f in every if f.validator is not None and (f.init or f in cls.__record_later__)
        )
        cls.__record_eq__ = tuple(f.name for f in every if f.eq)
        cls.__record_key__ = _key_getter(cls.__record_eq__)
        cls.__match_args__ = tuple(  # type: ignore[attr-defined,misc]
            f.name for f in cls.__record_init__ if not f.kw_only
        )
        cls.__record_frozen__ = frozen
        cls.__record_eq_on__ = eq
        cls.__record_kw_only__ = kw_only
        if reconfigure:
            setattr_: Any = _frozen_setattr if frozen else object.__setattr__
            delattr_: Any = _frozen_delattr if frozen else object.__delattr__
            if "__setattr__" not in own:
                cls.__setattr__ = setattr_  # type: ignore[method-assign]
            if "__delattr__" not in own:
                cls.__delattr__ = delattr_  # type: ignore[method-assign]
            # eq=False: by identity, unless the class defines or inherits an __eq__ of its
            # own writing (not one a record generated)
            if not eq and "__eq__" not in own and cls.__eq__ is _eq:
                cls.__eq__ = object.__eq__  # type: ignore[method-assign]
                if "__hash__" not in own:
                    cls.__hash__ = object.__hash__  # type: ignore[method-assign]
            if eq and "__eq__" not in own:
                cls.__eq__ = _eq  # type: ignore[method-assign,assignment]
                if "__hash__" not in own or own["__hash__"] is None:
                    cls.__hash__ = _hash if frozen else None  # type: ignore[method-assign,assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        init = cls.__record_init__
        if args:
            positional = [f for f in init if not f.kw_only]
            if len(args) > len(positional):
                raise TypeError(
                    f"{cls.__name__}() takes {len(positional)} positional arguments but "
                    f"{len(args)} were given"
                )
            for f, value in zip(positional, args, strict=False):
                if f.alias in kwargs:
                    raise TypeError(f"{cls.__name__}() got multiple values for {f.alias!r}")
                kwargs[f.alias] = value
        # set through object.__setattr__, never through self.__dict__: touching __dict__
        # makes CPython give the instance a real dict, and every attribute read of the
        # training loop twice as slow
        set_ = object.__setattr__
        missing = []
        for f in init:
            if f.alias in kwargs:
                value = kwargs.pop(f.alias)
            elif f.default is not NOTHING:
                value = f.default
            elif f.factory is not None:
                value = f.factory()
            else:
                missing.append(f.alias)
                continue
            set_(self, f.name, value if f.converter is None else f.converter(value))
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise TypeError(f"{cls.__name__}() missing required arguments: {names}")
        if kwargs:
            raise TypeError(
                f"{cls.__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}"
            )
        for f in cls.__record_later__:
            value = f.factory() if f.factory is not None else f.default
            set_(self, f.name, value if f.converter is None else f.converter(value))
        for f in cls.__record_checked__:
            f.validator(self, f, getattr(self, f.name))  # type: ignore[misc]
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def __getstate__(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in type(self).__record_fields__
            if hasattr(self, f.name)
        }

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name, NOTHING)!r}"
            for f in type(self).__record_fields__
            if f.repr
        )
        return f"{type(self).__qualname__}({shown})"


R = TypeVar("R", bound=Record)


def _frozen_setattr(self: Record, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"{type(self).__name__} is frozen: cannot set {name!r}")


def _frozen_delattr(self: Record, name: str) -> None:
    raise FrozenInstanceError(f"{type(self).__name__} is frozen: cannot delete {name!r}")


def _key_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The eq fields' values of an instance as a tuple, in one C call."""
    if not names:
        return lambda inst: ()
    get = operator.attrgetter(*names)
    if len(names) == 1:
        return lambda inst: (get(inst),)
    return get


def _key(self: Record) -> tuple[Any, ...]:
    try:
        return type(self).__record_key__(self)
    except AttributeError:  # a field not set yet (a derived field, before __post_init__)
        return tuple(getattr(self, name, NOTHING) for name in type(self).__record_eq__)


def _eq(self: Record, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self: Record) -> int:
    # a frozen record's fields never change: its hash is worked out once (caches such as
    # functools.lru_cache hash a schedule on every call)
    h: int | None = getattr(self, _HASH, None)
    if h is None:
        h = hash((type(self).__qualname__, *_key(self)))
        object.__setattr__(self, _HASH, h)
    return h


#: where a frozen record keeps its hash (not a field: never compared, copied or shown)
_HASH = "_record_hash"


def fields(cls: type) -> Fields:
    """The fields of a record class, in constructor order."""
    if not has(cls):
        raise TypeError(f"{cls!r} is not a schedkit record class")
    return cls.__record_fields__  # type: ignore[attr-defined,no-any-return]


def has(cls: Any) -> bool:
    """Whether ``cls`` is a record class."""
    return isinstance(cls, type) and issubclass(cls, Record)


def evolve(inst: R, **changes: Any) -> R:
    """A copy of ``inst`` with ``changes`` (constructor names), built and checked anew."""
    cls = type(inst)
    for f in cls.__record_init__:
        if f.alias not in changes:
            changes[f.alias] = getattr(inst, f.name)
    return cls(**changes)
