"""The plugins an environment declares: the entry points of a group, the switches that
leave some out, and who owns which name.

Entry points come from ``importlib.metadata``. A distribution's name and version are read
from its metadata only when a listing or a message shows them: a start-up look-up reads
each ``entry_points.txt`` and no ``METADATA``, and tells distributions apart by the name
importlib itself keys them by (that of their metadata folder).
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import attrs

from schedkit._first_party import DISTRIBUTIONS
from schedkit.errors import ConflictError

#: the entry-point group of component plugins
GROUP = "schedkit"


def canonical(dist: str) -> str:
    """A distribution's name as pip compares them (PEP 503: ``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def truthy(value: str | None) -> bool:
    """Whether an environment switch is on."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@attrs.frozen(slots=False)  # a __dict__ for the cached metadata, whatever attrs' version
class PluginSource:
    """One entry point, with the distribution that declares it.

    ``project`` is the distribution's canonical name, known without reading its metadata;
    :attr:`distribution` and :attr:`version` read the metadata on first use.
    """

    name: str
    value: str
    project: str | None = None
    load: Callable[[], Any] | None = attrs.field(default=None, eq=False, repr=False)
    dist: importlib.metadata.Distribution | None = attrs.field(default=None, eq=False, repr=False)

    @functools.cached_property
    def _metadata(self) -> tuple[str | None, str | None]:
        if self.dist is None:
            return self.project, None
        md: Any = self.dist.metadata
        if md is None:  # a metadata folder without METADATA (Python 3.12 and later)
            return self.project, None
        return md["Name"] or self.project, md["Version"]

    @property
    def distribution(self) -> str | None:
        """The distribution's name as its metadata spells it (None: registered in-process)."""
        return self._metadata[0]

    @property
    def version(self) -> str | None:
        """The distribution's version (None when unknown)."""
        return self._metadata[1]


def _project(dist: importlib.metadata.Distribution | None) -> str | None:
    if dist is None:
        return None
    # importlib keys distributions by the name of their metadata folder (no METADATA read);
    # a distribution of another finder may lack it, and then its metadata names it
    name = getattr(dist, "_normalized_name", None) or dist.metadata["Name"]
    return canonical(name) if name else None


def entry_points(group: str) -> list[PluginSource]:
    """Every entry point of ``group`` of the installed distributions, in importlib's order,
    each once."""
    seen: set[tuple[str, str, str | None]] = set()
    out: list[PluginSource] = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        project = _project(dist)
        key = (ep.name, ep.value, project)
        if key not in seen:
            seen.add(key)
            out.append(PluginSource(ep.name, ep.value, project, ep.load, dist))
    return out


def installed_sources() -> list[PluginSource]:
    """Every entry point of the group ``schedkit`` in the installed distributions."""
    return entry_points(GROUP)


class Switches:
    """The plugin switches of an environment, read once: ``SCHEDKIT_DISABLED_PLUGINS``
    (entry-point or distribution names) and ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD`` (first
    party only). The registry and the converters (:mod:`schedkit.conversion`) obey them."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.autoload = not truthy(env.get("SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD"))
        self.disabled = frozenset(
            s.strip() for s in env.get("SCHEDKIT_DISABLED_PLUGINS", "").split(",") if s.strip()
        )
        self._disabled_dists = frozenset(canonical(d) for d in self.disabled)

    def skip_reason(
        self,
        names: Iterable[str],
        project: str | None,
        first_party: Collection[str] = DISTRIBUTIONS,
    ) -> str | None:
        """Why the entry points ``names`` of the distribution ``project`` (canonical) are
        not loaded, if they are not."""
        if self.disabled.intersection(names) or (project and project in self._disabled_dists):
            return "disabled by SCHEDKIT_DISABLED_PLUGINS"
        if not self.autoload and project not in first_party:
            return "not first-party, and SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD is set"
        return None


#: A plugin's identity: its distribution (canonical name) and the module it names.
PluginKey = tuple[str, str]


def key(src: PluginSource) -> PluginKey:
    """The plugin an entry point belongs to."""
    return (src.project or "", src.value)


def shown(src: PluginSource) -> str:
    """The distribution of an entry point, for a message."""
    return src.distribution or "an unnamed distribution"


def prefixes(name: str) -> list[str]:
    """``a.b.c`` -> ``["a.b.c", "a.b", "a"]``: the entry-point names that could own it."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


class Ownership:
    """What the entry points declare, worked out once: plugins, owners and conflicts."""

    def __init__(self, active: list[PluginSource]) -> None:
        self.primary: dict[PluginKey, PluginSource] = {}
        self.declared: dict[str, dict[PluginKey, PluginSource]] = {}
        for src in active:
            self.primary.setdefault(key(src), src)
            self.declared.setdefault(src.name, {})[key(src)] = src
        self.conflicts: dict[PluginKey, ConflictError] = {}
        self.problems: list[ConflictError] = []
        for name, owners in self.declared.items():
            if len(owners) > 1:
                self._conflict(
                    list(owners.values()),
                    f"the plugin name {name!r} is declared by several distributions",
                )
            for outer in prefixes(name)[1:]:
                for inner in owners.values():
                    for src in self.declared.get(outer, {}).values():
                        if (src.project or "") != (inner.project or ""):
                            self._conflict(
                                [src, inner],
                                f"the plugin name {inner.name!r} lies in the namespace of the "
                                f"plugin {outer!r} of another distribution",
                            )

    def _conflict(self, parties: list[PluginSource], what: str) -> None:
        listed = ", ".join(f"{shown(s)} ({s.name} = {s.value})" for s in parties)
        dists = sorted({shown(s) for s in parties})
        err = ConflictError(
            f"{what}: {listed}. Neither is loaded: schedkit never lets one plugin shadow "
            "another. Uninstall one, or disable one with SCHEDKIT_DISABLED_PLUGINS="
            + " or SCHEDKIT_DISABLED_PLUGINS=".join(dists),
            plugins=[s.name for s in parties],
            distributions=[s.distribution for s in parties],
        )
        self.problems.append(err)
        for s in parties:
            self.conflicts.setdefault(key(s), err)

    def owner(self, name: str) -> PluginSource | None:
        """The entry point that owns ``name`` (the longest declared prefix), if any."""
        for prefix in prefixes(name):
            owners = self.declared.get(prefix)
            if owners:
                return next(iter(owners.values()))
        return None
