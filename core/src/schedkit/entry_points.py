"""The entry points of one group, found without parsing every installed distribution.

``importlib.metadata.entry_points(group=...)`` reads and parses the ``entry_points.txt``
of every distribution on ``sys.path``: with a hundred packages installed beside torch,
that costs about as much as the rest of schedkit's start-up. This module lists the same
distributions in the same order (``sys.path`` order, then each folder's listing; the
first distribution of a normalized name shadows the later ones), reads each
``entry_points.txt`` and hands only those that declare the group to
``importlib.metadata`` for parsing, so the entry points are the very same objects.
Anything it does not mirror (a zip or an egg on ``sys.path``, a metadata finder other
than the standard one) falls back to ``importlib.metadata`` as a whole.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

#: an entry point, and the name and version of the distribution declaring it (a plain
#: tuple: a named tuple's class costs more to create than this whole scan saves per dist)
Found = tuple[importlib.metadata.EntryPoint, "str | None", "str | None"]

_SUFFIXES = (".dist-info", ".egg-info")


def find(group: str) -> list[Found]:
    """Every entry point of ``group`` of the installed distributions, in the order
    ``importlib.metadata.entry_points(group=group)`` gives them."""
    folders = _folders()
    if folders is None:
        return _slow(group)
    header = f"[{group}]".encode()
    seen: set[str] = set()
    out: list[Found] = []
    for info in _infos(folders):
        name = _normalize(os.path.basename(info).lower().rpartition(".")[0].partition("-")[0])
        if name in seen:
            continue
        seen.add(name)
        try:
            with open(os.path.join(info, "entry_points.txt"), "rb") as f:
                text = f.read()
        except OSError:
            continue
        if header not in text:
            continue
        dist = importlib.metadata.PathDistribution(Path(info))
        dist_name, version = _name_version(info)
        out.extend((ep, dist_name, version) for ep in dist.entry_points.select(group=group))
    return out


def _folders() -> list[str] | None:
    """The folders of ``sys.path``, or None when it holds what only importlib reads."""
    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and finder is not importlib.machinery.PathFinder:
            return None
    folders: list[str] = []
    for entry in sys.path:
        root = entry or "."
        if os.path.basename(root).lower().endswith(".egg"):
            return None
        if os.path.isdir(root):
            folders.append(root)
        elif os.path.exists(root):
            return None  # a zip: importlib.metadata reads its members
    return folders


def _infos(folders: list[str]) -> Iterator[str]:
    """Each folder's metadata directories, grouped by normalized name as importlib's
    lookup groups them."""
    for root in folders:
        try:
            children = os.listdir(root)
        except OSError:
            continue
        grouped: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith(_SUFFIXES):
                key = _normalize(low.rpartition(".")[0].partition("-")[0])
                grouped.setdefault(key, []).append(os.path.join(root, child))
        for paths in grouped.values():
            yield from paths


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _name_version(info: str) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the metadata's header, without the email parser."""
    name = version = None
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info, file), encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        break
                    key, sep, value = line.partition(":")
                    if not sep or line[0] in " \t":
                        continue
                    if key == "Name":
                        name = value.strip()
                    elif key == "Version":
                        version = value.strip()
        except (OSError, UnicodeDecodeError):
            continue
        return name, version
    return None, None


def _slow(group: str) -> list[Found]:
    out: list[Found] = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        md = dist.metadata if dist is not None else None
        if md is None:
            out.append((ep, None, None))
        else:
            out.append((ep, md["Name"], md["Version"]))
    return out
