"""Shared fixtures: fresh registries and throwaway plugin distributions on sys.path."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import schedkit
from schedkit.registry import set_default_registry

_counter = itertools.count()


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., schedkit.Registry]]:
    """Make a new default registry (optionally with env switches); restore the old one after."""
    old = set_default_registry(None)

    def make(**env: str) -> schedkit.Registry:
        for k in (
            "SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD",
            "SCHEDKIT_DISABLED_PLUGINS",
            "SCHEDKIT_STRICT_PLUGINS",
        ):
            monkeypatch.delenv(k, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        reg = schedkit.Registry()
        set_default_registry(reg)
        return reg

    yield make
    set_default_registry(old)


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Install a tiny distribution (dist-info + modules) on sys.path; return a unique suffix.

    Module sources may use ``{suffix}`` to stay unique across tests.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(
        dist: str, entry_points: dict[str, str], modules: dict[str, str], version: str = "0.0.1"
    ) -> str:
        suffix = f"_{next(_counter)}"
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        eps = "".join(f"{k} = {v.format(suffix=suffix)}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text("[schedkit]\n" + eps)
        for name, src in modules.items():
            (site / f"{name.format(suffix=suffix)}.py").write_text(textwrap.dedent(src))
        return suffix

    return make
