"""The entry points the registry and the converters see are ``importlib.metadata``'s, with
each distribution's name and version read only when asked for."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from schedkit import _sources


def _slow(group: str) -> list[tuple[str, str, str, str | None, str | None]]:
    out = []
    for ep in importlib.metadata.entry_points(group=group):
        md = ep.dist.metadata if ep.dist is not None else None
        name = md["Name"] if md is not None else None
        version = md["Version"] if md is not None else None
        out.append((ep.name, ep.value, ep.group, name, version))
    return out


def _fast(group: str) -> list[tuple[str, str, str, str | None, str | None]]:
    return [
        (s.name, s.value, group, s.distribution, s.version) for s in _sources.entry_points(group)
    ]


@pytest.mark.parametrize(
    "group", ["schedkit", "schedkit.converters", "console_scripts", "pytest11", "nothing.here"]
)
def test_the_installed_environment_as_importlib_sees_it(group):
    assert _fast(group) == _slow(group)


def _dist(root: Path, folder: str, name: str, version: str, eps: str) -> None:
    info = root / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nbody: no\n"
    )
    if eps:
        (info / "entry_points.txt").write_text(eps)


def test_shadowing_order_and_legacy_metadata(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    # the same distribution in two folders: the first on sys.path wins, as in importlib
    _dist(first, "Shadow_Pkg-2.0.dist-info", "Shadow_Pkg", "2.0", "[grp]\nx = new:x\n")
    _dist(second, "shadow.pkg-1.0.dist-info", "shadow.pkg", "1.0", "[grp]\nx = old:x\n")
    _dist(
        second,
        "other-0.1.dist-info",
        "Other",
        "0.1",
        "stray = line:before\n[grp]\n# a comment\n\n  y =  m:y [extra]  \n[other]\nz = m:z\n",
    )
    _dist(second, "plain-1.dist-info", "plain", "1", "")  # no entry_points.txt
    legacy = second / "legacy.egg-info"
    legacy.mkdir()
    (legacy / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: legacy\nVersion: 3\n\n")
    (legacy / "entry_points.txt").write_text("[grp]\nw = l:w\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing")])
    fast = _fast("grp")
    assert fast == _slow("grp")
    assert ("x", "new:x", "grp", "Shadow_Pkg", "2.0") in fast
    assert {e[0] for e in fast} == {"x", "y", "w"}


def test_a_zip_on_sys_path_falls_back_to_importlib(tmp_path, monkeypatch):
    archive = tmp_path / "dists.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\nVersion: 1.0\n\n")
        z.writestr("zipped-1.0.dist-info/entry_points.txt", "[grp]\nq = z:q\n")
    monkeypatch.setattr(sys, "path", [str(archive)])
    assert _fast("grp") == _slow("grp") == [("q", "z:q", "grp", "zipped", "1.0")]


def test_a_metadata_finder_of_its_own_falls_back_to_importlib(tmp_path, monkeypatch):
    class Finder:
        @staticmethod
        def find_distributions(context=None):
            return iter([importlib.metadata.PathDistribution(tmp_path / "own-1.dist-info")])

    _dist(tmp_path, "own-1.dist-info", "own", "1", "[grp]\no = own:o\n")
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder])
    monkeypatch.setattr(sys, "path", [])
    assert _fast("grp") == [("o", "own:o", "grp", "own", "1")]


def test_the_metadata_header_as_the_email_parser_reads_it(tmp_path, monkeypatch):
    root = tmp_path / "site"
    odd = root / "odd-1.0.dist-info"
    odd.mkdir(parents=True)
    # keys in any case, the first of a repeated key; the body is not read
    (odd / "METADATA").write_text(
        "metadata-version: 2.1\nname: Odd\nNAME: Other\nversion: 1.0\n\nName: body\n"
    )
    (odd / "entry_points.txt").write_text("[grp]\na = odd:a\n")
    empty = root / "empty-2.0.dist-info"
    empty.mkdir()
    (empty / "METADATA").write_text("")  # importlib goes on to PKG-INFO
    (empty / "PKG-INFO").write_text("Name: Empty\nVersion: 2.0\n\n")
    (empty / "entry_points.txt").write_text("[grp]\nb = empty:b\n")
    monkeypatch.setattr(sys, "path", [str(root)])
    fast = sorted(_fast("grp"))
    assert fast == sorted(_slow("grp"))
    assert ("a", "odd:a", "grp", "Odd", "1.0") in fast


def test_a_look_up_reads_no_distribution_metadata(tmp_path, monkeypatch):
    """Start-up reads the ``entry_points.txt`` files and no ``METADATA``: names and
    versions are read when a listing or a message needs them."""
    _dist(tmp_path, "lazy_dist-1.0.dist-info", "Lazy.Dist", "1.0", "[grp]\nl = lazy:l\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    read: list[str] = []
    real = importlib.metadata.PathDistribution.read_text

    def read_text(self, filename):
        read.append(filename)
        return real(self, filename)

    monkeypatch.setattr(importlib.metadata.PathDistribution, "read_text", read_text)
    (src,) = _sources.entry_points("grp")
    assert (src.name, src.value, src.project) == ("l", "lazy:l", "lazy-dist")
    assert "METADATA" not in read
    assert (src.distribution, src.version) == ("Lazy.Dist", "1.0")
    assert "METADATA" in read
