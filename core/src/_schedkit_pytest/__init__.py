"""A pytest plugin (entry point ``pytest11``): the conformance kit over a whole distribution.

A plugin distribution sets, in its pytest settings (``pyproject.toml``)::

    [tool.pytest.ini_options]
    schedkit_distribution = "schedkit-plateau-bump"

and ``pytest`` then runs :func:`schedkit.testing.check_registered` on every schedule, rule
and clipper the distribution registers, one test item each (``schedkit:schedule:sawtooth``),
beside the suite's own tests. Without the setting the plugin does nothing. It lives outside
the ``schedkit`` package on purpose: pytest loads it in every run of an environment that has
schedkit-core, and importing ``schedkit`` would import torch each time.
"""

from __future__ import annotations

from typing import Any

import pytest

INI = "schedkit_distribution"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI, "check every schedkit component of this distribution (conformance kit)")


class ConformanceItem(pytest.Item):
    """One component of the distribution through :func:`schedkit.testing.check_registered`."""

    def __init__(self, *, kind: str, component: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.kind = kind
        self.component = component

    def runtest(self) -> None:
        from schedkit.testing import check_registered

        check_registered(self.kind, self.component)  # type: ignore[arg-type]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, AssertionError):
            return f"schedkit conformance of {self.kind} {self.component!r}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"schedkit conformance: {self.kind} {self.component}"


class DistributionItem(pytest.Item):
    """Fails with the reason when the distribution cannot be checked at all."""

    def __init__(self, *, message: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.message = message

    def runtest(self) -> None:
        raise AssertionError(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return self.message

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, "schedkit conformance"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    distribution = str(config.getini(INI) or "").strip()
    if not distribution:
        return
    from schedkit.testing import components_of

    try:
        infos = components_of(distribution)
    except AssertionError as e:
        items.append(
            DistributionItem.from_parent(session, name=f"schedkit:{distribution}", message=str(e))
        )
        return
    for info in infos:
        items.append(
            ConformanceItem.from_parent(
                session,
                name=f"schedkit:{info.kind}:{info.name}",
                kind=info.kind,
                component=info.name,
            )
        )
