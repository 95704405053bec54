"""Names a module imports when they are first used (PEP 562), for ``schedkit`` and
``schedkit.plugin``: what a script does not touch stays off the start-up path."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(
    module: str,
    table: Mapping[str, str],
    namespace: dict[str, Any],
    public: list[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__``: ``name`` comes from the module
    ``table[name]`` on first use and is kept in ``namespace``; ``public`` is the module's
    ``__all__``."""

    def __getattr__(name: str) -> Any:
        where = table.get(name)
        if where is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
