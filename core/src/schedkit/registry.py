"""The one registry: components found through entry points, looked up lazily by name.

Entry points of the group ``schedkit`` name plugin modules. The scan of installed
distributions happens once per registry and is cached; a module is imported only when a
look-up needs it (a look-up of ``cosine`` first tries the plugin named ``cosine``, and of
``torch.StepLR`` the plugin named ``torch``), or when everything is listed.

Environment switches, read when a registry is created:

- ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load only first-party plugins and those registered
  with :func:`register`.
- ``SCHEDKIT_DISABLED_PLUGINS=a,b``: skip these plugins (entry-point or distribution names).
- ``SCHEDKIT_STRICT_PLUGINS=1``: a plugin that fails to import is fatal instead of reported.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs
import pluggy

from schedkit import hookspecs
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
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _canonical(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@attrs.frozen
class PluginSource:
    """One entry point of the group ``schedkit``, with the distribution that declares it."""

    name: str
    value: str
    distribution: str | None = None
    version: str | None = None
    load: Callable[[], Any] | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ComponentInfo:
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
    # a distribution's metadata parsed once, not twice per entry point (start-up time)
    meta: dict[Any, tuple[str | None, str | None]] = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        where = getattr(dist, "_path", None) or id(dist)
        if where not in meta:
            md = dist.metadata if dist is not None else None
            meta[where] = (md["Name"], md["Version"]) if md is not None else (None, None)
        dist_name, version = meta[where]
        key = (ep.name, ep.value, dist_name)
        if key in seen:
            continue
        seen.add(key)
        out.append(PluginSource(ep.name, ep.value, dist_name, version, ep.load))
    return out


class Registrar:
    """What a hook receives: ``registry.add(cls, aliases=..., examples=...)``."""

    def __init__(self, registry: Registry, kind: Kind, source: PluginSource) -> None:
        self._registry = registry
        self.kind: Kind = kind
        self._source = source

    def add(
        self,
        cls: type,
        *,
        name: str | None = None,
        aliases: Iterable[str] = (),
        examples: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Register ``cls`` under ``name`` (default: ``cls.name``) and its aliases.

        :param examples: parameter sets that build a valid instance (used by the
            conformance kit, ``schedkit show`` and the docs gallery).
        """
        self._registry._add(self.kind, self._source, cls, name, tuple(aliases), tuple(examples))


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
        self.autoload = not _truthy(env.get("SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD"))
        self.strict = _truthy(env.get("SCHEDKIT_STRICT_PLUGINS"))
        self.disabled = frozenset(
            s.strip() for s in env.get("SCHEDKIT_DISABLED_PLUGINS", "").split(",") if s.strip()
        )
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._components: dict[Kind, dict[str, ComponentInfo]] = {k: {} for k in KINDS}
        self._aliases: dict[Kind, dict[str, str]] = {k: {} for k in KINDS}
        self._loaded: set[str] = set()
        self._errors: dict[str, PluginImportError] = {}
        self._all_loaded = False

    # -- the scan ---------------------------------------------------------------------

    def sources(self) -> list[PluginSource]:
        """The entry points this registry may load (scanned once, then cached)."""
        if self._sources is None:
            self._sources = list(self._sources_fn())
        return self._sources

    def _skip_reason(self, src: PluginSource) -> str | None:
        dist = _canonical(src.distribution) if src.distribution else None
        if src.name in self.disabled or (dist and dist in {_canonical(d) for d in self.disabled}):
            return "disabled by SCHEDKIT_DISABLED_PLUGINS"
        if not self.autoload and dist not in FIRST_PARTY:
            return "not first-party, and SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD is set"
        return None

    def _load_source(self, src: PluginSource) -> None:
        if src.name in self._loaded or self._skip_reason(src) is not None:
            return
        same = [s for s in self.sources() if s.name == src.name and s != src]
        if same:
            names = ", ".join(
                sorted({f"{s.distribution or '?'} ({s.value})" for s in [src, *same]})
            )
            raise ConflictError(
                f"plugin name {src.name!r} is declared by several distributions: {names}"
            )
        self._loaded.add(src.name)
        try:
            if src.load is None:
                raise ImportError(f"entry point {src.name} = {src.value} cannot be loaded")
            module = src.load()
            self._register_plugin(module, src)
        except (ConflictError, SpecError):
            raise
        except Exception as exc:
            err = PluginImportError(src.name, src.distribution, traceback.format_exc())
            self._errors[src.name] = err
            if self.strict:
                raise err from exc

    def _register_plugin(self, plugin: object, src: PluginSource) -> None:
        self._pm.register(plugin, name=src.name)
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError:
            self._pm.unregister(plugin)
            raise
        # The typed facade: call only this plugin's implementations, each with its own
        # registrar, so every registration is attributed to its plugin and distribution.
        for kind in KINDS:
            caller = getattr(self._pm.hook, _HOOKS[kind])
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    registrar = Registrar(self, kind, src)
                    impl.function(**{arg: registrar for arg in impl.argnames})

    def _load_matching(self, name: str) -> None:
        wanted = {name, name.split(".", 1)[0]}
        for src in self.sources():
            if src.name in wanted:
                self._load_source(src)

    def load_all(self) -> None:
        """Import every plugin not yet loaded (what listing and a failed look-up need)."""
        if self._all_loaded:
            return
        for src in self.sources():
            self._load_source(src)
        self._all_loaded = True

    # -- registration -----------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a module or object that implements schedkit hooks (notebooks, tests)."""
        pname = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
        if pname in self._loaded:
            raise ConflictError(f"a plugin named {pname!r} is already registered")
        self._loaded.add(pname)
        self._register_plugin(plugin, PluginSource(pname, repr(plugin), None, None))

    def _add(
        self,
        kind: Kind,
        src: PluginSource,
        cls: type,
        name: str | None,
        aliases: tuple[str, ...],
        examples: tuple[Mapping[str, Any], ...],
    ) -> None:
        name = name or getattr(cls, "name", None)
        where = f"plugin {src.name!r}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise SpecError(f"{where}: {cls!r} needs a name made of identifiers, got {name!r}")
        if not (cls.__doc__ or "").strip():
            raise SpecError(f"{where}: {kind} {name!r} ({cls.__qualname__}) has no docstring")
        table = self._components[kind]
        for n in (name, *aliases):
            if not _NAME.match(n):
                raise SpecError(f"{where}: alias {n!r} of {name!r} is not a valid name")
            owner = table.get(n) or table.get(self._aliases[kind].get(n, ""))
            if owner is not None:
                raise ConflictError(
                    f"{kind} {n!r} is registered twice: by plugin {owner.plugin!r} "
                    f"(distribution {owner.distribution or 'none: registered in-process'}) and by "
                    f"plugin {src.name!r} (distribution "
                    f"{src.distribution or 'none: registered in-process'})"
                )
        table[name] = ComponentInfo(
            name, kind, cls, src.name, src.distribution, src.version, aliases, examples
        )
        for alias in aliases:
            self._aliases[kind][alias] = name

    # -- look-up ----------------------------------------------------------------------

    def _find(self, kind: Kind, name: str) -> ComponentInfo | None:
        table = self._components[kind]
        return table.get(name) or table.get(self._aliases[kind].get(name, ""))

    def get(self, kind: Kind, name: str) -> ComponentInfo:
        """The component of ``kind`` registered as ``name`` (or an alias of it)."""
        if not isinstance(name, str):
            raise SpecError(f"a {kind} name must be a string, got {name!r}")
        info = self._find(kind, name)
        if info is None:
            self._load_matching(name)
            info = self._find(kind, name)
        if info is None:
            self.load_all()
            info = self._find(kind, name)
        if info is not None:
            return info
        root = name.split(".", 1)[0]
        for pname in (name, root):
            if pname in self._errors:
                raise self._errors[pname]
        names = [*self._components[kind], *self._aliases[kind]]
        notes = []
        for src in self.sources():
            if src.name in (name, root) and (why := self._skip_reason(src)):
                notes.append(f"plugin {src.name!r} ({src.distribution}) is {why}")
        if self._errors:
            broken = ", ".join(repr(p) for p in sorted(self._errors))
            notes.append(f"plugins that failed to import and may provide it: {broken}")
        raise UnknownNameError(
            kind, name, difflib.get_close_matches(name, names, n=3, cutoff=0.7), "\n".join(notes)
        )

    def components(self, kind: Kind | None = None) -> list[ComponentInfo]:
        """Every registered component (of ``kind``), sorted by kind and name."""
        self.load_all()
        kinds = KINDS if kind is None else (kind,)
        return [self._components[k][n] for k in kinds for n in sorted(self._components[k])]

    def errors(self) -> list[PluginImportError]:
        """The plugins that failed to import so far (all of them after :meth:`load_all`)."""
        return [self._errors[n] for n in sorted(self._errors)]

    def skipped(self) -> list[tuple[PluginSource, str]]:
        """Plugins left out by the environment switches, with the reason."""
        out = []
        for src in self.sources():
            why = self._skip_reason(src)
            if why:
                out.append((src, why))
        return out


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry used by :func:`schedkit.get_schedule` and friends."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


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


def plugin_errors() -> list[PluginImportError]:
    """Plugins that failed to import (after loading all of them)."""
    reg = default_registry()
    reg.load_all()
    return reg.errors()
