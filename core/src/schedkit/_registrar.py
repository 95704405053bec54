"""What a plugin's hooks register: the registrar they receive, the checks of one
registration that need no registry, and the :class:`ComponentInfo` it becomes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from schedkit._sources import PluginSource
from schedkit.errors import ConflictError, SpecError

Kind = Literal["schedule", "rule", "clipper"]
KINDS: tuple[Kind, ...] = ("schedule", "rule", "clipper")
#: the hook (:mod:`schedkit.hookspecs`) that registers each kind
HOOKS: dict[Kind, str] = {
    "schedule": "schedkit_add_schedules",
    "rule": "schedkit_add_rules",
    "clipper": "schedkit_add_clippers",
}
#: a component name, matched whole (``fullmatch``: ``$`` lets a final newline through)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

#: The keyword parameters of the scheduler itself (``Scheduler``, ``get_scheduler``). A
#: schedule family never takes one of these as a parameter of its own (a registration that
#: does is refused), except those below.
SCHEDULER_PARAMETERS = frozenset(
    {
        "optimizer",
        "name",
        "key",
        "tags",
        "steps_per_epoch",
        "total_steps",
        "follow_optimizer",
        "last_epoch",
        "num_warmup_steps",
        "num_training_steps",
        "scheduler_specific_kwargs",
    }
)
#: Options the scheduler hands to a family that takes them too: the same meaning for both
#: (the run's length, mmengine's epoch length).
SHARED_OPTIONS = frozenset({"steps_per_epoch", "total_steps"})
#: transformers' call-form arguments: a family's own parameters only when it does not
#: answer transformers' call form (no ``from_transformers``), so a call means one thing.
TRANSFORMERS_ARGUMENTS = frozenset({"num_warmup_steps", "num_training_steps"})


@attrs.frozen
class ComponentInfo:
    """A registered component: what ``schedkit list`` shows."""

    name: str
    kind: Kind
    cls: type
    plugin: str
    source: PluginSource = attrs.field(repr=False)
    aliases: tuple[str, ...] = ()
    examples: tuple[Mapping[str, Any], ...] = ()

    @property
    def distribution(self) -> str | None:
        """The distribution that registered it (None: registered in-process)."""
        return self.source.distribution

    @property
    def version(self) -> str | None:
        """That distribution's version."""
        return self.source.version

    @property
    def doc(self) -> str:
        """The component's docstring, dedented."""
        import inspect

        return inspect.getdoc(self.cls) or ""


#: checks one registration against the registry: ``(kind, cls, name, aliases, examples)``
Check = Callable[[Kind, Any, str | None, Iterable[str], Iterable[Mapping[str, Any]]], ComponentInfo]


class Registrar:
    """What a hook receives: ``registry.add(cls, name=..., aliases=..., examples=...)``.

    Registrations are collected and checked while the hook runs, then committed together
    when every hook of the plugin has returned: a plugin whose hook raises, or adds a
    malformed component, registers nothing.
    """

    def __init__(
        self, check: Check, kind: Kind, source: PluginSource, staged: list[ComponentInfo]
    ) -> None:
        self._check = check
        self.kind: Kind = kind
        self._source = source
        self._staged = staged

    def add(
        self,
        cls: type,
        *,
        name: str | None = None,
        aliases: Iterable[str] = (),
        examples: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Register ``cls`` under ``name`` (default: ``cls.name``) and its aliases.

        :param name: the registered name; it must belong to this plugin's entry point (the
            entry point's own name, or a name under it: ``torch.StepLR`` for ``torch``), or
            be declared by no entry point at all.
        :param examples: parameter sets that build a valid instance (used by the
            conformance kit, ``schedkit show`` and the docs gallery).
        :raises SpecError: a malformed registration (not a class, a bad name, no
            docstring); the whole plugin is rejected.
        :raises ConflictError: a name owned by another plugin, or added twice.
        """
        info = self._check(self.kind, cls, name, aliases, examples)
        for other in self._staged:
            if other.kind == self.kind and {other.name, *other.aliases} & {
                info.name,
                *info.aliases,
            }:
                raise ConflictError(
                    f"plugin {self._source.name!r} registers the {self.kind} "
                    f"{info.name!r} (or one of its aliases) twice",
                    plugins=[self._source.name],
                    distributions=[self._source.distribution],
                )
        self._staged.append(info)


def where(src: PluginSource) -> str:
    """The plugin behind a registration, for a message."""
    return f"plugin {src.name!r} ({src.distribution or 'registered in-process'})"


def checked(
    kind: Kind,
    src: PluginSource,
    cls: Any,
    name: str | None,
    aliases: Iterable[str],
    examples: Iterable[Mapping[str, Any]],
) -> tuple[str, tuple[str, ...], tuple[Mapping[str, Any], ...]]:
    """One registration's name, aliases and examples, checked for what needs no registry:
    a documented class with a valid name, and a schedule free of the scheduler's own
    parameters."""
    if not isinstance(cls, type):
        raise SpecError(
            f"{where(src)}: registry.add expects a class, got {cls!r} ({type(cls).__name__})"
        )
    name = name or getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SpecError(f"{where(src)}: {cls!r} needs a name made of identifiers, got {name!r}")
    if not (cls.__doc__ or "").strip():
        raise SpecError(f"{where(src)}: {kind} {name!r} ({cls.__qualname__}) has no docstring")
    _check_class(src, kind, name, cls)
    if kind == "schedule":
        reserved = _scheduler_collisions(cls)
        if reserved:
            raise SpecError(
                f"{where(src)}: schedule {name!r} has parameters named as the scheduler's own "
                f"({', '.join(reserved)}): get_scheduler(name, optimizer, ...) could never "
                "hand them to it; rename them"
            )
    if isinstance(aliases, str):
        raise SpecError(f"{where(src)}: aliases of {name!r} must be a list, got {aliases!r}")
    aliases = tuple(aliases)
    examples = tuple(examples)
    for ex in examples:
        if not isinstance(ex, Mapping):
            raise SpecError(f"{where(src)}: an example of {name!r} is not a mapping: {ex!r}")
    for n in (name, *aliases):
        if not isinstance(n, str) or not NAME.fullmatch(n):
            raise SpecError(f"{where(src)}: alias {n!r} of {name!r} is not a valid name")
    return name, aliases, examples


def _check_class(src: PluginSource, kind: Kind, name: str, cls: type) -> None:
    """How the component's class is declared: an undecorated component (a subclass of a
    schedkit base class without ``@attrs.frozen``) is made an attrs class here."""
    from schedkit._classes import finalize

    try:
        finalize(cls)
    except Exception as e:
        raise SpecError(f"{where(src)}: {kind} {name!r}: {e}") from None


def _init_names(cls: type) -> set[str]:
    """The keyword names the constructor of a component class takes."""
    if attrs.has(cls):
        return {a.alias or a.name for a in attrs.fields(cls) if a.init}
    return set()


def _scheduler_collisions(cls: type) -> list[str]:
    """The parameters of the schedule family ``cls`` that are the scheduler's own."""
    from schedkit.hooks import family_hooks

    allowed = set(SHARED_OPTIONS)
    if family_hooks(cls).from_transformers is None:
        allowed |= TRANSFORMERS_ARGUMENTS
    return sorted(_init_names(cls) & (SCHEDULER_PARAMETERS - allowed))
