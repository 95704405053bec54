"""The entry points of one group, found without parsing every installed distribution.

``importlib.metadata.entry_points(group=...)`` reads and parses the ``entry_points.txt``
of every distribution on ``sys.path``: with a hundred packages installed beside torch,
that costs about as much as the rest of schedkit's start-up. This module lists the same
distributions in the same order (``sys.path`` order, then each folder's listing; the
first distribution of a normalized name shadows the later ones), reads each
``entry_points.txt`` and parses only those that declare the group, as importlib parses
them, into ``importlib.metadata.EntryPoint`` objects equal to importlib's (without
``ep.dist``: the distribution's name and version come beside each). Anything it does not
mirror (Python before 3.11, whose importlib tells distributions apart by another key; a
zip or an egg on ``sys.path``; a metadata finder other than the standard one) falls back
to ``importlib.metadata`` as a whole.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import re
import sys
from collections.abc import Iterator

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
    for key, info in _infos(folders):
        if key in seen:
            continue
        seen.add(key)
        text = _read(os.path.join(info, "entry_points.txt"))
        if text is None or header not in text:
            continue
        dist_name, version = _name_version(info)
        out.extend((ep, dist_name, version) for ep in _parse(text.decode(), group))
    return out


def _read(path: str) -> bytes | None:
    """A small file's bytes, or None when it is missing (without the cost of ``open``'s
    buffered file object, which a hundred distributions add up)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _parse(text: str, group: str) -> list[importlib.metadata.EntryPoint]:
    """The entry points of ``group`` in an ``entry_points.txt``, read as importlib reads
    it (stripped lines, ``#`` comments, ``[section]`` headers, ``name = value``)."""
    out = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, sep, value = line.partition("=")
            if sep:
                out.append(importlib.metadata.EntryPoint(name.strip(), value.strip(), group))
    return out


def _folders() -> list[str] | None:
    """The folders of ``sys.path``, or None when it holds what only importlib reads."""
    if sys.version_info < (3, 11):
        return None
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


def _infos(folders: list[str]) -> Iterator[tuple[str, str]]:
    """Each folder's metadata directories with their normalized names, grouped by name as
    importlib's lookup groups them."""
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
        for key, paths in grouped.items():
            for path in paths:
                yield key, path


def _normalize(name: str) -> str:
    """importlib's normalized name (runs of ``-_.`` as one ``_``) of a lower-case name."""
    if "-" in name or "." in name or "__" in name:
        return re.sub(r"[-_.]+", "_", name)
    return name


def _name_version(info: str) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the metadata's header, without the email parser: the
    first of each, keys in any case, as the parser reads them (an empty or unreadable
    ``METADATA`` gives way to ``PKG-INFO``)."""
    for file in ("METADATA", "PKG-INFO"):
        data = _read(os.path.join(info, file))
        if not data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        found: dict[str, str] = {}
        for line in text.splitlines():
            if not line.strip():
                break
            key, sep, value = line.partition(":")
            if not sep or line[0] in " \t":
                continue
            found.setdefault(key.strip().lower(), value.strip())
        return found.get("name"), found.get("version")
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
