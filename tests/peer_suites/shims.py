"""Module shims: a peer's modules whose classes build schedkit's aliases.

A suite's plugin module (loaded with ``pytest -p``) calls :func:`install` before the
upstream test file is imported, so ``from timm.scheduler import CosineLRScheduler`` gives
a class whose construction returns ``schedkit.get_scheduler("timm.cosine", ...)``. Names
without an alias give a stand-in that fails loudly when used, so a test of something
schedkit does not reproduce can never pass by accident.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Mapping
from typing import Any

import schedkit
from schedkit.plugin import fields


def no_alias(name: str) -> type:
    """A stand-in for a peer's name that schedkit has no alias for: a class (so a test's
    ids can name it) whose construction, or call, raises."""

    def new(_cls: type, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{name} has no schedkit alias")

    return type(name.rsplit(".", 1)[-1], (), {"__new__": new, "__module__": name.rsplit(".", 1)[0]})


def scheduler_alias(schedule: str, peer_name: str) -> type:
    """A stand-in for a peer's scheduler class: ``Cls(optimizer, *args, **kwargs)`` is
    ``schedkit.get_scheduler(schedule, optimizer, **kwargs)``, the positional arguments
    bound to the schedule's parameters in their order (the peer's, which a test of the
    aliases holds)."""
    cls = schedkit.default_registry().get("schedule", schedule).cls
    names = [f.alias for f in fields(cls) if f.init]

    def new(_cls: type, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) > len(names):
            raise TypeError(f"{peer_name}() takes {len(names)} arguments after the optimizer")
        for name, value in zip(names, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{peer_name}() got multiple values for {name!r}")
            kwargs[name] = value
        return schedkit.get_scheduler(schedule, optimizer, **kwargs)

    return type(peer_name, (), {"__new__": new, "__doc__": f"schedkit's {schedule!r}"})


def install(modules: Mapping[str, Mapping[str, Any]]) -> None:
    """Put ``modules`` (module name -> its names) in ``sys.modules`` in place of the peer's,
    with every parent package; a name a module does not list is a :func:`no_alias` stand-in, and so
    is every name of a submodule not listed (``timm.scheduler.scheduler``): nothing of the
    installed peer is imported."""
    roots = {name.split(".", 1)[0] for name in modules}
    for finder in sys.meta_path:
        if isinstance(finder, _Finder):
            finder.roots |= roots
            break
    else:
        sys.meta_path.insert(0, _Finder(roots))
    for name in sorted(modules, key=lambda n: n.count(".")):
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            module = sys.modules.get(prefix)
            if module is None or not getattr(module, "__schedkit_shim__", False):
                module = _Shim(prefix)
                sys.modules[prefix] = module
                if i > 1:
                    setattr(sys.modules[".".join(parts[: i - 1])], parts[i - 1], module)
        vars(sys.modules[name]).update(modules[name])


class _Shim(types.ModuleType):
    __schedkit_shim__ = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = no_alias(f"{self.__name__}.{attr}")
        setattr(self, attr, value)
        return value


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Any other module under a shimmed package is a shim too (its names are
    :func:`no_alias` stand-ins), never the installed peer's."""

    def __init__(self, roots: set[str]) -> None:
        self.roots = roots

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name.split(".", 1)[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        return _Shim(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        pass
