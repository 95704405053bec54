"""The class system of components (schedules, rules, clippers): attrs classes.

A first-party component is an ``@attrs.frozen`` class, its fields declared with
``attrs.field`` or schedkit's helpers built on it (``schedkit.duration``, ``factor``...).
A component may also be declared without the decorator, its fields annotated class
attributes (the form the documentation showed for a while)::

    class Rex(schedkit.BaseSchedule):
        name = "rex"
        total: int = schedkit.duration()

Such a class is made an attrs class in place (``attrs.define(slots=False)``, frozen unless
it says ``frozen=False``) the first time it is built, registered or its fields are read:
never at class creation, so that an ``@attrs.frozen`` written above it still sees the
field declarations. :func:`finalize` does it; :class:`Component` is the base that calls it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**kwargs: Any) -> Any:
        return lambda cls: cls


from attrs import NOTHING, evolve
from attrs.exceptions import FrozenInstanceError

if TYPE_CHECKING:
    from typing import TypeAlias

    #: the attribute a validator receives (``attrs.Attribute``)
    Field: TypeAlias = attrs.Attribute[Any]
else:
    Field = attrs.Attribute

__all__ = [
    "NOTHING",
    "Component",
    "Field",
    "FrozenInstanceError",
    "Record",
    "evolve",
    "field",
    "fields",
    "finalize",
    "has",
]

C = TypeVar("C", bound=type)

_lock = threading.RLock()


def field(
    *,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    converter: Callable[[Any], Any] | None = None,
    validator: Any = None,
    init: bool = True,
    eq: bool = True,
    repr: bool = True,
    kw_only: bool = False,
    metadata: Mapping[str, Any] | None = None,
    alias: str | None = None,
) -> Any:
    """A field of a component: ``attrs.field`` with the arguments components use.

    :param default: the value when none is given (without it or ``factory``, required).
    :param factory: called for a fresh default per instance (a list, a dict).
    :param converter: applied to the value first, defaults included.
    :param validator: ``validator(instance, attribute, value)`` (or a list of them), run
        once every field is set; schedkit's raise :class:`SpecError` naming the field.
    :param init: False: not a constructor argument (a derived value, set in
        ``__attrs_post_init__`` with ``object.__setattr__``).
    :param eq: False: left out of equality and hashing.
    :param repr: False: left out of the repr.
    :param kw_only: the constructor takes it by keyword only.
    :param metadata: read by schedkit's helpers (durations, nested schedules).
    :param alias: its constructor name (default: the name without leading underscores).
    :returns: the declaration, typed ``Any`` so it fits any annotation.
    """
    return attrs.field(
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


#: class keywords (``class X(Base, frozen=False)``) an undecorated component may give
_OPTIONS = ("frozen", "eq", "kw_only")


def _is_attrs(cls: type) -> bool:
    return "__attrs_attrs__" in cls.__dict__


def _finalize_one(cls: type) -> None:
    options: dict[str, bool] = dict(getattr(cls, "__component_options__", {}))
    own = cls.__dict__
    own_setattr, own_getstate, own_eq = (
        "__setattr__" in own,
        "__getstate__" in own,
        "__eq__" in own,
    )
    post = own.get("__post_init__")
    if post is not None and "__attrs_post_init__" not in own:
        # the undecorated form's hook, called after the fields are set as attrs calls its own
        type.__setattr__(cls, "__attrs_post_init__", post)
    attrs.define(
        cls,
        slots=False,
        frozen=options.get("frozen", True),
        eq=options.get("eq", True),
        kw_only=options.get("kw_only", False),
        auto_detect=True,
    )
    if not options.get("frozen", True) and not own_setattr:
        # attrs keeps a frozen base's __setattr__; the class said it takes changes
        type.__setattr__(cls, "__setattr__", object.__setattr__)
        type.__setattr__(cls, "__delattr__", object.__delattr__)
    if not options.get("eq", True) and not own_eq:
        # by identity, not by the (value-compared) base's fields
        for name in ("__eq__", "__ne__", "__hash__"):
            type.__setattr__(cls, name, getattr(object, name))
    if not own_getstate:
        # the slotted bases' pickling would see their own fields only
        type.__setattr__(cls, "__getstate__", _getstate)
        type.__setattr__(cls, "__setstate__", _setstate)


def _getstate(self: Any) -> dict[str, Any]:
    state = dict(self.__dict__)
    for a in attrs.fields(type(self)):
        if a.name not in state and hasattr(self, a.name):
            state[a.name] = getattr(self, a.name)
    return state


def _setstate(self: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        object.__setattr__(self, name, value)


def finalize(cls: C) -> C:
    """Make the component class ``cls`` (and its undecorated bases) attrs classes, in place.

    A class attrs already processed (``@attrs.frozen`` on it) is returned as it is.
    """
    if _is_attrs(cls):
        return cls
    with _lock:
        for base in reversed(cls.__mro__):
            if (
                base is not object
                and issubclass(base, Component)
                and base not in _UNDECLARED
                and not _is_attrs(base)
            ):
                _finalize_one(base)
    return cls


def has(cls: Any) -> bool:
    """Whether ``cls`` is an attrs class or a component (made one when first used)."""
    return isinstance(cls, type) and (attrs.has(cls) or issubclass(cls, Component))


def fields(cls: type) -> Any:
    """``attrs.fields(cls)``, for an undecorated component too (finalized first)."""
    if isinstance(cls, type) and issubclass(cls, Component):
        finalize(cls)
    return attrs.fields(cls)


@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field, field))
class Component:
    """Base of components: ``BaseSchedule``, ``BaseRule``, ``BaseClipper``.

    An undecorated subclass becomes an attrs class the first time it is built; its class
    keywords ``frozen``, ``eq``, ``kw_only`` (inherited by its own subclasses) are the
    options it is made with. A decorated subclass (``@attrs.frozen``) is attrs' as usual.
    """

    __slots__ = ()
    __component_options__: ClassVar[dict[str, bool]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        given = {k: kwargs.pop(k) for k in _OPTIONS if k in kwargs}
        super().__init_subclass__(**kwargs)
        if given:
            cls.__component_options__ = {**cls.__component_options__, **given}
        # an undecorated base is complete by now (a decorator above it has run): made an
        # attrs class first, so an ``@attrs.frozen`` on this class collects its fields
        for base in cls.__mro__[1:]:
            if issubclass(base, Component) and base not in _UNDECLARED and not _is_attrs(base):
                finalize(base)

    if not TYPE_CHECKING:

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            # an undecorated subclass is made an attrs class before its first instance; the
            # __init__ attrs writes is then the one type.__call__ runs
            if "__attrs_attrs__" not in cls.__dict__:
                finalize(cls)
            return object.__new__(cls)


#: the bases themselves, never finalized: plain classes without fields, so that each
#: component decides its own equality and mutability (``@attrs.define(eq=False)``)
_UNDECLARED: set[type] = {Component}


def base_class(cls: C) -> C:
    """Mark ``cls`` as a base of components (``BaseSchedule``, ``BaseRule``): a plain class
    holding no fields, never made an attrs class itself."""
    _UNDECLARED.add(cls)
    return cls


class Record(Component):
    """Deprecated: the base class components had for a while. Declare a component as an
    ``@attrs.frozen`` subclass of ``BaseSchedule``, ``BaseRule`` or ``BaseClipper``; a plain
    value as an ``@attrs.frozen`` class. A subclass still works (made an attrs class)."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if Record in cls.__bases__ and not _is_attrs(cls):
            warnings.warn(
                "schedkit.Record is deprecated: declare the class with @attrs.frozen "
                "(a component as a subclass of BaseSchedule, BaseRule or BaseClipper)",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init_subclass__(**kwargs)


_UNDECLARED.add(Record)
