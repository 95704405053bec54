"""The one registry: components found through entry points, looked up lazily by name.

Entry points of the group ``schedkit`` name plugin modules. The scan of installed
distributions happens once per registry and is cached; a module is imported only when a
look-up needs it (a look-up of ``cosine`` imports the plugin declared as ``cosine``, and of
``torch.StepLR`` the plugin declared as ``torch``), or when everything is listed.

**Who owns a name.** A component name belongs to the entry point that declares it: the
entry point ``cosine`` owns the name ``cosine``, the entry point ``torch`` owns ``torch`` and
every ``torch.<anything>``. Entry points of one distribution that name the same module are
one plugin owning all of those names. Only the owner may register an owned name, for every
kind. A name no entry point declares (an in-process registration, an undeclared alias) is
*free*; a look-up of a free name loads every plugin first, so its answer never depends on
the order plugins were imported in. Conflicts:

- two distributions declaring the same entry-point name, or one inside the other's
  namespace (``torch`` and ``torch.Foo``): neither loads, and look-ups of the name raise a
  :class:`~schedkit.ConflictError` naming both distributions;
- a plugin registering a name owned by another entry point: that plugin is rejected whole
  (nothing it registered stays), the owner keeps its name, the error names both;
- two plugins registering the same free name: the name answers to neither (a
  ``ConflictError`` naming both); everything else of both plugins keeps working.

Disabling either party (``SCHEDKIT_DISABLED_PLUGINS=<distribution>``, or
``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD=1`` for a third party) resolves a conflict. A plugin whose
hooks fail (an import error, ``registry.add(42)``) is rejected whole as well. Every problem
is reported by :func:`plugin_errors` and ``schedkit list`` beside everything that works.

Loading is thread-safe: look-ups from many threads during the first import of a plugin all
wait for it and all find its components.

Environment switches, read when a registry is created:

- ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load only first-party plugins and those registered
  with :func:`register`.
- ``SCHEDKIT_DISABLED_PLUGINS=a,b``: skip these plugins (entry-point or distribution names).
- ``SCHEDKIT_STRICT_PLUGINS=1``: a plugin that fails to import is fatal instead of reported.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
import traceback
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Literal

import pluggy

from schedkit import entry_points, hookspecs
from schedkit._numbers import show
from schedkit._record import Record, check_not_attrs
from schedkit.errors import ConflictError, PluginImportError, SpecError, UnknownNameError

Kind = Literal["schedule", "rule", "clipper"]
KINDS: tuple[Kind, ...] = ("schedule", "rule", "clipper")
_HOOKS: dict[Kind, str] = {
    "schedule": "schedkit_add_schedules",
    "rule": "schedkit_add_rules",
    "clipper": "schedkit_add_clippers",
}
GROUP = "schedkit"
#: Distributions whose plugins load even with SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD=1.
FIRST_PARTY = frozenset(
    {
        "schedkit-core",
        "schedkit-schedules",
        "schedkit-layer-decay",
        "schedkit-param-rules",
        "schedkit-clipping",
        "schedkit-compat",
    }
)
#: a component name, matched whole (``fullmatch``: ``$`` lets a final newline through)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

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


def _scheduler_collisions(cls: type) -> list[str]:
    """The parameters of the schedule family ``cls`` that are the scheduler's own."""
    from schedkit.hooks import family_hooks
    from schedkit.schedule import _fields_of

    allowed = set(SHARED_OPTIONS)
    if family_hooks(cls).from_transformers is None:
        allowed |= TRANSFORMERS_ARGUMENTS
    return sorted(set(_fields_of(cls)) & (SCHEDULER_PARAMETERS - allowed))


def _canonical(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class PluginSource:
    """One entry point of the group ``schedkit``, with the distribution that declares it.

    A plain immutable record (a generated class costs a few hundred microseconds to create,
    and this one is created on every start-up).
    """

    __slots__ = ("distribution", "load", "name", "value", "version")

    name: str
    value: str
    distribution: str | None
    version: str | None
    load: Callable[[], Any] | None

    def __init__(
        self,
        name: str,
        value: str,
        distribution: str | None = None,
        version: str | None = None,
        load: Callable[[], Any] | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "value", value)
        set_(self, "distribution", distribution)
        set_(self, "version", version)
        set_(self, "load", load)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PluginSource is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PluginSource is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle rebuild it through __init__ (slots and a refusing
        # __setattr__ leave them no other way)
        return (PluginSource, (self.name, self.value, self.distribution, self.version, self.load))

    def _key(self) -> tuple[str, str, str | None, str | None]:
        return (self.name, self.value, self.distribution, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PluginSource):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"PluginSource(name={self.name!r}, value={self.value!r}, "
            f"distribution={self.distribution!r}, version={self.version!r})"
        )


class ComponentInfo(Record):
    """A registered component: what ``schedkit list`` shows."""

    name: str
    kind: Kind
    cls: type
    plugin: str
    distribution: str | None
    version: str | None
    aliases: tuple[str, ...] = ()
    examples: tuple[Mapping[str, Any], ...] = ()

    @property
    def doc(self) -> str:
        """The component's docstring, dedented."""
        import inspect

        return inspect.getdoc(self.cls) or ""


def installed_sources() -> list[PluginSource]:
    """Every entry point of the group ``schedkit`` in the installed distributions."""
    seen: set[tuple[str, str, str | None]] = set()
    out: list[PluginSource] = []
    for ep, dist_name, version in entry_points.find(GROUP):
        key = (ep.name, ep.value, dist_name)
        if key in seen:
            continue
        seen.add(key)
        out.append(PluginSource(ep.name, ep.value, dist_name, version, ep.load))
    return out


class Registrar:
    """What a hook receives: ``registry.add(cls, name=..., aliases=..., examples=...)``.

    Registrations are collected and checked while the hook runs, then committed together
    when every hook of the plugin has returned: a plugin whose hook raises, or adds a
    malformed component, registers nothing.
    """

    def __init__(
        self,
        registry: Registry,
        kind: Kind,
        source: PluginSource,
        staged: list[ComponentInfo] | None = None,
        key: PluginKey | None = None,
    ) -> None:
        self._registry = registry
        self.kind: Kind = kind
        self._source = source
        self._staged: list[ComponentInfo] = [] if staged is None else staged
        self._key = key

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
        info = self._registry._check_add(
            self.kind, self._source, self._key, cls, name, aliases, examples
        )
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


#: A plugin's identity: its distribution (canonical name) and the module it names.
PluginKey = tuple[str, str]
#: What :func:`plugin_errors` reports.
PluginProblem = PluginImportError | ConflictError


def _key(src: PluginSource) -> PluginKey:
    return (_canonical(src.distribution or ""), src.value)


def _dist(src: PluginSource) -> str:
    return src.distribution or "an unnamed distribution"


def _prefixes(name: str) -> list[str]:
    """``a.b.c`` -> ``["a.b.c", "a.b", "a"]``: the entry-point names that could own it."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


class _Scan:
    """What the entry points declare, worked out once: plugins, owners and conflicts."""

    def __init__(self, active: list[PluginSource]) -> None:
        self.primary: dict[PluginKey, PluginSource] = {}
        self.declared: dict[str, dict[PluginKey, PluginSource]] = {}
        for src in active:
            self.primary.setdefault(_key(src), src)
            self.declared.setdefault(src.name, {})[_key(src)] = src
        self.conflicts: dict[PluginKey, ConflictError] = {}
        self.problems: list[ConflictError] = []
        for name, owners in self.declared.items():
            if len(owners) > 1:
                self._conflict(
                    list(owners.values()),
                    f"the plugin name {name!r} is declared by several distributions",
                )
            for outer in _prefixes(name)[1:]:
                for inner in owners.values():
                    for src in self.declared.get(outer, {}).values():
                        if _canonical(src.distribution or "") != _canonical(
                            inner.distribution or ""
                        ):
                            self._conflict(
                                [src, inner],
                                f"the plugin name {inner.name!r} lies in the namespace of the "
                                f"plugin {outer!r} of another distribution",
                            )

    def _conflict(self, parties: list[PluginSource], what: str) -> None:
        listed = ", ".join(f"{_dist(s)} ({s.name} = {s.value})" for s in parties)
        dists = sorted({_dist(s) for s in parties})
        err = ConflictError(
            f"{what}: {listed}. Neither is loaded: schedkit never lets one plugin shadow "
            "another. Uninstall one, or disable one with SCHEDKIT_DISABLED_PLUGINS="
            + " or SCHEDKIT_DISABLED_PLUGINS=".join(dists),
            plugins=[s.name for s in parties],
            distributions=[s.distribution for s in parties],
        )
        self.problems.append(err)
        for s in parties:
            self.conflicts.setdefault(_key(s), err)

    def owner(self, name: str) -> PluginSource | None:
        """The entry point that owns ``name`` (the longest declared prefix), if any."""
        for prefix in _prefixes(name):
            owners = self.declared.get(prefix)
            if owners:
                return next(iter(owners.values()))
        return None


class Switches:
    """The plugin switches of an environment, read once: ``SCHEDKIT_DISABLED_PLUGINS``
    (entry-point or distribution names) and ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD`` (first
    party only). The registry and the converters (:mod:`schedkit.conversion`) obey them."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.autoload = not _truthy(env.get("SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD"))
        self.disabled = frozenset(
            s.strip() for s in env.get("SCHEDKIT_DISABLED_PLUGINS", "").split(",") if s.strip()
        )
        self._disabled_dists = frozenset(_canonical(d) for d in self.disabled)

    def skip_reason(
        self, names: Iterable[str], distribution: str | None, first_party: Collection[str]
    ) -> str | None:
        """Why the entry points ``names`` of ``distribution`` are not loaded, if they are not."""
        dist = _canonical(distribution) if distribution else None
        if self.disabled.intersection(names) or (dist and dist in self._disabled_dists):
            return "disabled by SCHEDKIT_DISABLED_PLUGINS"
        if not self.autoload and dist not in first_party:
            return "not first-party, and SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD is set"
        return None


class Registry:
    """Components of every kind, from entry points and explicit registration."""

    def __init__(
        self,
        sources: Callable[[], Iterable[PluginSource]] = installed_sources,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self._sources_fn = sources
        self._sources: list[PluginSource] | None = None
        self._scan: _Scan | None = None
        self._names: dict[PluginKey, set[str]] | None = None
        self._switches = Switches(env)
        self.autoload = self._switches.autoload
        self.strict = _truthy(env.get("SCHEDKIT_STRICT_PLUGINS"))
        self.disabled = self._switches.disabled
        # One lock around loading and registering; re-entrant, so a plugin whose import or
        # hook looks something up in this thread does not deadlock.
        self._lock = threading.RLock()
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._components: dict[Kind, dict[str, ComponentInfo]] = {k: {} for k in KINDS}
        #: every name (component names and aliases) a look-up answers to
        self._index: dict[Kind, dict[str, ComponentInfo]] = {k: {} for k in KINDS}
        self._conflicted: dict[Kind, dict[str, ConflictError]] = {k: {} for k in KINDS}
        self._loaded: set[PluginKey] = set()
        self._in_process: set[str] = set()
        self._errors: dict[str, PluginProblem] = {}
        self._all_loaded = False

    # -- the scan ---------------------------------------------------------------------

    def sources(self) -> list[PluginSource]:
        """The entry points this registry may load (scanned once, then cached)."""
        if self._sources is None:
            with self._lock:
                if self._sources is None:
                    self._sources = list(self._sources_fn())
        return self._sources

    def _analysed(self) -> _Scan:
        if self._scan is None:
            with self._lock:
                if self._scan is None:
                    active = [s for s in self.sources() if self._skip_reason(s) is None]
                    self._scan = _Scan(active)
        return self._scan

    def _names_by_plugin(self) -> dict[PluginKey, set[str]]:
        """Every entry-point name of each plugin, worked out once (one pass, not one per
        entry point: start-up time)."""
        if self._names is None:
            names: dict[PluginKey, set[str]] = {}
            for s in self.sources():
                names.setdefault(_key(s), set()).add(s.name)
            self._names = names
        return self._names

    def _skip_reason(self, src: PluginSource) -> str | None:
        # a module is one plugin: disabling any of its entry-point names disables it
        names = self._names_by_plugin().get(_key(src), set()) | {src.name}
        return self._switches.skip_reason(names, src.distribution, FIRST_PARTY)

    def _load_plugin(self, key: PluginKey, strict: bool) -> None:
        """Import one plugin and commit what its hooks register (under the lock)."""
        scan = self._analysed()
        if key in self._loaded or key in scan.conflicts or key not in scan.primary:
            return
        src = scan.primary[key]
        self._loaded.add(key)
        try:
            if src.load is None:
                raise ImportError(f"entry point {src.name} = {src.value} cannot be loaded")
            module = src.load()
            self._register_plugin(module, src, key)
        except Exception as exc:
            err: PluginProblem
            if isinstance(exc, ConflictError):
                err = exc
            else:
                err = PluginImportError(src.name, src.distribution, traceback.format_exc())
            self._errors[src.name] = err
            if strict:
                raise err from exc

    def _register_plugin(self, plugin: object, src: PluginSource, key: PluginKey | None) -> None:
        self._pm.register(plugin, name=src.name)
        try:
            self._pm.check_pending()
            # The typed facade: call only this plugin's implementations, each with its own
            # registrar, so every registration is attributed to its plugin and distribution.
            staged: list[ComponentInfo] = []
            for kind in KINDS:
                caller = getattr(self._pm.hook, _HOOKS[kind])
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin:
                        registrar = Registrar(self, kind, src, staged, key)
                        impl.function(**{arg: registrar for arg in impl.argnames})
            self._commit(staged)
        except BaseException:
            self._pm.unregister(plugin)
            raise

    def load_all(self) -> None:
        """Import every plugin not yet loaded (what listing and a failed look-up need).

        Problems are recorded for :meth:`errors`; with ``SCHEDKIT_STRICT_PLUGINS=1`` the
        first one raises.
        """
        self._load_every(self.strict)

    def _load_every(self, strict: bool) -> None:
        with self._lock:
            if not self._all_loaded:
                for key in list(self._analysed().primary):
                    self._load_plugin(key, strict)
                self._all_loaded = True
            if strict:
                problems = self.errors()
                if problems:
                    raise problems[0]

    # -- registration -----------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a module or object that implements schedkit hooks (notebooks, tests).

        Unlike an installed plugin, a problem raises at once (``ConflictError`` for a name
        already taken or owned by an entry point, ``SpecError`` for a malformed component),
        and nothing of the plugin is registered.
        """
        pname = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
        with self._lock:
            if pname in self._in_process or any(s.name == pname for s in self.sources()):
                raise ConflictError(
                    f"a plugin named {pname!r} is already registered", plugins=[pname]
                )
            self._register_plugin(plugin, PluginSource(pname, repr(plugin), None, None), None)
            self._in_process.add(pname)

    def _check_add(
        self,
        kind: Kind,
        src: PluginSource,
        key: PluginKey | None,
        cls: Any,
        name: str | None,
        aliases: Iterable[str],
        examples: Iterable[Mapping[str, Any]],
    ) -> ComponentInfo:
        """Validate one registration; nothing is changed yet."""
        where = f"plugin {src.name!r} ({src.distribution or 'registered in-process'})"
        if not isinstance(cls, type):
            raise SpecError(
                f"{where}: registry.add expects a class, got {cls!r} ({type(cls).__name__})"
            )
        name = name or getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SpecError(f"{where}: {cls!r} needs a name made of identifiers, got {name!r}")
        if not (cls.__doc__ or "").strip():
            raise SpecError(f"{where}: {kind} {name!r} ({cls.__qualname__}) has no docstring")
        try:
            check_not_attrs(cls)
        except TypeError as e:
            raise SpecError(f"{where}: {kind} {name!r}: {e}") from None
        if kind == "schedule":
            reserved = _scheduler_collisions(cls)
            if reserved:
                raise SpecError(
                    f"{where}: schedule {name!r} has parameters named as the scheduler's own "
                    f"({', '.join(reserved)}): get_scheduler(name, optimizer, ...) could never "
                    "hand them to it; rename them"
                )
        if isinstance(aliases, str):
            raise SpecError(f"{where}: aliases of {name!r} must be a list, got {aliases!r}")
        aliases = tuple(aliases)
        examples = tuple(examples)
        for ex in examples:
            if not isinstance(ex, Mapping):
                raise SpecError(f"{where}: an example of {name!r} is not a mapping: {ex!r}")
        scan = self._analysed()
        for n in (name, *aliases):
            if not isinstance(n, str) or not _NAME.fullmatch(n):
                raise SpecError(f"{where}: alias {n!r} of {name!r} is not a valid name")
            owner = scan.owner(n)
            if owner is not None and _key(owner) != key:
                raise ConflictError(
                    f"{where} registers the {kind} {n!r}, but that name belongs to the entry "
                    f"point {owner.name!r} of {_dist(owner)} ({owner.value}). "
                    f"Plugin {src.name!r} is not loaded: a plugin registers only the names "
                    "of its own entry points (or names no entry point declares).",
                    plugins=[src.name, owner.name],
                    distributions=[src.distribution, owner.distribution],
                )
            taken = self._index[kind].get(n)
            if key is None and (taken is not None or n in self._conflicted[kind]):
                raise ConflictError(
                    f"{kind} {n!r} is registered twice: by plugin "
                    f"{taken.plugin if taken else '?'!r} (distribution "
                    f"{(taken.distribution if taken else None) or 'none: registered in-process'})"
                    f" and by plugin {src.name!r} (registered in-process)",
                    plugins=[taken.plugin if taken else "?", src.name],
                    distributions=[taken.distribution if taken else None, None],
                )
        # attributed to the entry point that declares its name (a module behind several
        # entry points registers each component under its own one)
        owner = scan.owner(name)
        plugin = owner.name if owner is not None else src.name
        return ComponentInfo(
            name, kind, cls, plugin, src.distribution, src.version, aliases, examples
        )

    def _commit(self, staged: list[ComponentInfo]) -> None:
        """Add a plugin's checked registrations; a free name taken twice answers to neither."""
        for info in staged:
            self._components[info.kind][info.name] = info
            index = self._index[info.kind]
            for n in (info.name, *info.aliases):
                clash = self._conflicted[info.kind].get(n)
                other = index.get(n)
                if clash is None and other is None:
                    index[n] = info
                    continue
                parties = [p for p in (other,) if p is not None] + [info]
                if clash is not None:
                    plugins = [*clash.plugins, info.plugin]
                    dists = [*clash.distributions, info.distribution]
                else:
                    plugins = [p.plugin for p in parties]
                    dists = [p.distribution for p in parties]
                named = " and ".join(
                    f"plugin {p!r} ({d or 'registered in-process'})"
                    for p, d in zip(plugins, dists, strict=True)
                )
                off = sorted({d for d in dists if d})
                err = ConflictError(
                    f"{info.kind} {n!r} is registered by {named}, and no entry point declares "
                    "it: it answers to neither. "
                    + (
                        "Disable one with SCHEDKIT_DISABLED_PLUGINS="
                        + " or SCHEDKIT_DISABLED_PLUGINS=".join(off)
                        if off
                        else "Register it once."
                    ),
                    plugins=plugins,
                    distributions=dists,
                )
                self._conflicted[info.kind][n] = err
                index.pop(n, None)

    # -- look-up ----------------------------------------------------------------------

    def _find(self, kind: Kind, name: str) -> ComponentInfo | None:
        return self._index[kind].get(name)

    def get(self, kind: Kind, name: str) -> ComponentInfo:
        """The component of ``kind`` registered as ``name`` (or an alias of it)."""
        if not isinstance(name, str):
            raise SpecError(f"a {kind} name must be a string, got {show(name)}")
        scan = self._analysed()
        owner = scan.owner(name)
        info = self._find(kind, name)
        # a declared name can only come from its owner; a free one needs every plugin loaded
        if info is not None and (owner is not None or self._all_loaded):
            return info
        with self._lock:
            if owner is not None:
                conflict = scan.conflicts.get(_key(owner))
                if conflict is not None:
                    raise conflict
                self._load_plugin(_key(owner), self.strict)
                info = self._find(kind, name)
                if info is not None:
                    return info
                err = self._errors.get(scan.primary[_key(owner)].name)
                if err is not None:
                    raise err
            self._load_every(strict=False)
            clash = self._conflicted[kind].get(name)
            if clash is not None:
                raise clash
            info = self._find(kind, name)
            if info is not None:
                return info
            raise self._unknown(kind, name)

    def _unknown(self, kind: Kind, name: str) -> UnknownNameError:
        scan = self._analysed()
        names = [*self._index[kind], *self._conflicted[kind]]
        # names in conflict still count as known: a typo of one gets its did-you-mean
        names += [n for n, owners in scan.declared.items() if owners.keys() & scan.conflicts]
        notes = []
        for src in self.sources():
            if src.name in _prefixes(name):
                why = self._skip_reason(src)
                if why:
                    notes.append(f"plugin {src.name!r} ({src.distribution}) is {why}")
        if not notes:
            installed = {_canonical(s.distribution or "") for s in self.sources()}
            hint = _first_party_hint(name, installed)
            if hint:
                notes.append(hint)
        if self._errors:
            broken = ", ".join(repr(p) for p in sorted(self._errors))
            notes.append(f"plugins that failed to load and may provide it: {broken}")
        return UnknownNameError(
            kind, name, difflib.get_close_matches(name, names, n=3, cutoff=0.7), "\n".join(notes)
        )

    def components(self, kind: Kind | None = None) -> list[ComponentInfo]:
        """Every working component (of ``kind``), sorted by kind and name.

        Components whose name is in conflict are left out (see :meth:`errors`).
        """
        self.load_all()
        kinds = KINDS if kind is None else (kind,)
        with self._lock:
            return [
                self._components[k][n]
                for k in kinds
                for n in sorted(self._components[k])
                if n not in self._conflicted[k]
            ]

    def errors(self) -> list[PluginProblem]:
        """Every problem found so far, never raised: plugins that failed to load or were
        rejected, and name conflicts (all of them after :meth:`load_all`)."""
        with self._lock:
            out: list[PluginProblem] = [self._errors[n] for n in sorted(self._errors)]
            out += self._analysed().problems
            for k in KINDS:
                out += [self._conflicted[k][n] for n in sorted(self._conflicted[k])]
        unique: list[PluginProblem] = []
        for e in out:
            if not any(e is u for u in unique):
                unique.append(e)
        return unique

    def skipped(self) -> list[tuple[PluginSource, str]]:
        """Plugins left out by the environment switches, with the reason."""
        out = []
        for src in self.sources():
            why = self._skip_reason(src)
            if why:
                out.append((src, why))
        return out


def _first_party_hint(name: str, installed: set[str]) -> str | None:
    """``pip install schedkit-schedules`` when ``name`` is a first-party plugin's and its
    distribution is not installed."""
    from schedkit._first_party import PROVIDERS

    for prefix in _prefixes(name):
        dist = PROVIDERS.get(prefix)
        if dist is not None and dist not in installed:
            return f"{name!r} comes with {dist}, which is not installed: pip install {dist}"
    return None


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry used by :func:`schedkit.get_schedule` and friends."""
    global _default
    reg = _default
    if reg is None:
        with _default_lock:
            if _default is None:
                _default = Registry()
            reg = _default
    return reg


def set_default_registry(registry: Registry | None) -> Registry | None:
    """Replace the process-wide registry (``None``: a new one on next use); return the old."""
    global _default
    old, _default = _default, registry
    return old


def register(plugin: object, name: str | None = None) -> None:
    """Register a module or object implementing schedkit hooks in the default registry."""
    default_registry().register(plugin, name)


def registered(kind: Kind | None = None) -> list[ComponentInfo]:
    """Every registered component with its kind, plugin, distribution and version."""
    return default_registry().components(kind)


def plugin_errors() -> list[PluginProblem]:
    """Every plugin problem, after loading all plugins; returned, never raised.

    :class:`~schedkit.PluginImportError` for a plugin that failed to import or was rejected
    (a malformed registration), :class:`~schedkit.ConflictError` for a name two plugins
    claim. Each names the plugin(s) and distribution(s).
    """
    reg = default_registry()
    reg._load_every(strict=False)
    return reg.errors()
