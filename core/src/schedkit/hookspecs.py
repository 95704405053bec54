"""The hooks a schedkit plugin implements, one per kind of component.

A plugin is a module named by an entry point in the group ``schedkit``. It implements any
of these hooks with ``@schedkit.hookimpl``; each receives a *registrar* to add classes to.
The names it registers must belong to its own entry points (the entry point ``cosine`` owns
``cosine``, ``torch`` owns ``torch.*``) or be declared by none; what a plugin registers is
committed only when all its hooks have returned without error.
Like every pluggy hook, an implementation may accept fewer arguments than the spec names,
so the specs can grow new arguments without breaking plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from schedkit._registrar import Registrar

PROJECT = "schedkit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Mark a plugin function as an implementation of a schedkit hook (``@hookimpl``)."""


@hookspec
def schedkit_add_schedules(registry: Registrar) -> None:
    """Register schedule families.

    Call ``registry.add(cls, aliases=(...), examples=[{...}])`` once per family. ``cls`` is a
    :class:`schedkit.BaseSchedule` subclass (or any class whose instances satisfy
    :class:`schedkit.Schedule`) with a unique ``name`` class attribute and a docstring.
    ``examples`` are parameter sets the conformance kit and the gallery build it with. A
    name owned by another plugin's entry point rejects the whole plugin (a
    :class:`schedkit.ConflictError` naming both distributions).

    :param registry: the registrar for schedules of the calling plugin.
    :returns: nothing; what the plugin adds is what it registered.
    """


@hookspec
def schedkit_add_rules(registry: Registrar) -> None:
    """Register param-group rules.

    Call ``registry.add(cls, aliases=(...), examples=[{...}])`` once per rule; instances of
    ``cls`` satisfy :class:`schedkit.ParamRule`.

    :param registry: the registrar for rules of the calling plugin.
    :returns: nothing.
    """


@hookspec
def schedkit_add_clippers(registry: Registrar) -> None:
    """Register gradient clippers.

    Call ``registry.add(cls, aliases=(...), examples=[{...}])`` once per strategy; instances
    of ``cls`` satisfy :class:`schedkit.Clipper`.

    :param registry: the registrar for clippers of the calling plugin.
    :returns: nothing.
    """
