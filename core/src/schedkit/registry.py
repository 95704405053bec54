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
import functools
import os
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pluggy

from schedkit import hookspecs
from schedkit._numbers import show
from schedkit._registrar import (
    HOOKS,
    KINDS,
    SCHEDULER_PARAMETERS,
    SHARED_OPTIONS,
    TRANSFORMERS_ARGUMENTS,
    ComponentInfo,
    Kind,
    Registrar,
    checked,
    where,
)
from schedkit._sources import GROUP, Ownership, PluginKey, PluginSource, Switches, installed_sources
from schedkit._sources import key as _key
from schedkit._sources import prefixes as _prefixes
from schedkit._sources import shown as _dist
from schedkit._sources import truthy as _truthy
from schedkit.errors import ConflictError, PluginImportError, SpecError, UnknownNameError

__all__ = [
    "GROUP",
    "KINDS",
    "SCHEDULER_PARAMETERS",
    "SHARED_OPTIONS",
    "TRANSFORMERS_ARGUMENTS",
    "ComponentInfo",
    "Kind",
    "PluginProblem",
    "PluginSource",
    "Registrar",
    "Registry",
    "Switches",
    "default_registry",
    "installed_sources",
    "plugin_errors",
    "register",
    "registered",
    "set_default_registry",
]

#: What :func:`plugin_errors` reports.
PluginProblem = PluginImportError | ConflictError


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
        self._scan: Ownership | None = None
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

    def _analysed(self) -> Ownership:
        if self._scan is None:
            with self._lock:
                if self._scan is None:
                    active = [s for s in self.sources() if self._skip_reason(s) is None]
                    self._scan = Ownership(active)
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
        return self._switches.skip_reason(names, src.project)

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
                caller = getattr(self._pm.hook, HOOKS[kind])
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin:
                        check = functools.partial(self._check_add, src=src, key=key)
                        registrar = Registrar(check, kind, src, staged)
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
            self._register_plugin(plugin, PluginSource(pname, repr(plugin)), None)
            self._in_process.add(pname)

    def _check_add(
        self,
        kind: Kind,
        cls: Any,
        name: str | None,
        aliases: Iterable[str],
        examples: Iterable[Mapping[str, Any]],
        *,
        src: PluginSource,
        key: PluginKey | None,
    ) -> ComponentInfo:
        """Validate one registration; nothing is changed yet."""
        name, aliases, examples = checked(kind, src, cls, name, aliases, examples)
        scan = self._analysed()
        for n in (name, *aliases):
            owner = scan.owner(n)
            if owner is not None and _key(owner) != key:
                raise ConflictError(
                    f"{where(src)} registers the {kind} {n!r}, but that name belongs to the "
                    f"entry point {owner.name!r} of {_dist(owner)} ({owner.value}). "
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
        return ComponentInfo(name, kind, cls, plugin, src, aliases, examples)

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
            installed = {s.project or "" for s in self.sources()}
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
