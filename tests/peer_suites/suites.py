"""The peers' own test files, fetched from their pinned source distributions and run
unchanged against the aliases.

A :class:`Suite` names the peer's distribution and version, the test files inside its
sdist, the plugin module that replaces the peer's modules with the aliases
(:mod:`tests.peer_suites.shims`), and the tests left out, each with its reason:
``no_alias`` (what schedkit does not reproduce: not counted) and ``internals`` (tests of
the peer's private attributes or message texts: counted, not required). :func:`fetch`
gets the files through ``pip download`` into a cache outside git
(``$SCHEDKIT_PEER_SUITES_DIR``, else ``.peer_suites/`` at the repository's root, which git
ignores); :func:`run` runs them in a separate pytest process, so the shims never meet
the real peer that the other tests compare against.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class FetchError(RuntimeError):
    """The peer's sdist could not be had: the suite fails, it is never skipped."""


@dataclasses.dataclass(frozen=True)
class Suite:
    """One peer's test files and how they are run against the aliases."""

    #: the distribution on PyPI, and the version pinned (the one the aliases are held to)
    dist: str
    version: str
    #: paths inside the sdist (below its top folder), e.g. ``tests/test_scheduler.py``
    files: tuple[str, ...]
    #: the module ``pytest -p`` loads first: it installs the shims
    plugin: str
    #: node-id prefixes of tests of what has no alias, with the reason: not counted
    no_alias: Mapping[str, str]
    #: node-id prefixes of tests of the peer's internals, with the reason: counted, may fail
    internals: Mapping[str, str]
    #: the tests counted, and how many of them must pass
    counted: int
    bar: int

    @property
    def name(self) -> str:
        return f"{self.dist}-{self.version}"


@dataclasses.dataclass
class Outcome:
    """What a run gave: each test's node id and result (``passed``, ``failed``...)."""

    results: dict[str, str]
    output: str

    def counted(self, suite: Suite) -> dict[str, str]:
        return {k: v for k, v in self.results.items() if not _listed(k, suite.no_alias)}


def _listed(nodeid: str, prefixes: Mapping[str, str]) -> bool:
    return any(nodeid.startswith(p) for p in prefixes)


def cache_dir() -> Path:
    """Where fetched suites are kept: never inside git's view of the repository."""
    return Path(os.environ.get("SCHEDKIT_PEER_SUITES_DIR") or ROOT / ".peer_suites")


def fetch(suite: Suite, cache: Path | None = None) -> Path:
    """The folder holding the suite's files (their base names), fetched once from the
    pinned sdist with pip. Raises :class:`FetchError` with pip's output when it cannot."""
    target = (cache or cache_dir()) / suite.name
    names = [Path(f).name for f in suite.files]
    if len(set(names)) != len(names):
        raise ValueError(f"{suite.name}: the files' base names must differ: {suite.files}")
    if all((target / n).is_file() for n in names):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            f"{suite.dist}=={suite.version}",
            "-d",
            tmp,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        sdists = sorted(Path(tmp).glob("*.tar.gz"))
        if done.returncode != 0 or len(sdists) != 1:
            raise FetchError(
                f"{suite.name}: pip could not download the sdist ({' '.join(cmd)}):\n"
                f"{done.stdout}\n{done.stderr}"
            )
        staged = Path(tmp) / "files"
        staged.mkdir()
        _extract(sdists[0], suite, staged)
        if target.exists():  # some of the files were there
            _replace(staged, target)
        else:
            staged.rename(target)
    return target


def _extract(sdist: Path, suite: Suite, into: Path) -> None:
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        info = members.get("PKG-INFO")
        version = None
        if info is not None:
            handle = tar.extractfile(info)
            assert handle is not None
            found = re.search(r"^Version: (\S+)$", handle.read().decode(), flags=re.M)
            version = found.group(1) if found else None
        if version != suite.version:
            raise FetchError(f"{sdist.name}: version {version}, expected {suite.version}")
        for path in suite.files:
            member = members.get(path)
            if member is None:
                raise FetchError(f"{sdist.name} has no {path}")
            handle = tar.extractfile(member)
            assert handle is not None
            (into / Path(path).name).write_bytes(handle.read())


def _replace(staged: Path, target: Path) -> None:
    for f in staged.iterdir():
        f.replace(target / f.name)


def run(suite: Suite, folder: Path) -> Outcome:
    """Run the suite's files in ``folder`` in a fresh pytest process with the shims, the
    folder as its root and no configuration of this repository's."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        os.devnull,
        "--rootdir",
        str(folder),
        "-p",
        "no:cacheprovider",
        "-p",
        suite.plugin,
        "-q",
        "-rA",
        "--tb=short",
        *(Path(f).name for f in suite.files),
    ]
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    results = {}
    for line in done.stdout.splitlines():
        found = re.match(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)", line)
        if found:
            results[found.group(2)] = found.group(1).lower()
    if done.returncode not in (0, 1) or not results:
        raise RuntimeError(f"{suite.name}: pytest exited {done.returncode}:\n{output}")
    return Outcome(results, output)


_WSD = "timm's WSDLRScheduler (warmup-stable-decay) has no timm.* alias"
_FACTORY = "timm's create_scheduler_v2 factory has no alias (its args.yaml is `schedkit convert`'s)"

#: The peers' suites: what they are held to is in each one.
SUITES: dict[str, Suite] = {
    "timm": Suite(
        dist="timm",
        version="1.0.31",
        files=("tests/test_scheduler.py",),
        plugin="tests.peer_suites.timm_aliases",
        no_alias={
            "test_scheduler.py::TestSchedulerBasics::test_scheduler_init[WSDLRScheduler": _WSD,
            "test_scheduler.py::TestSchedulerBasics::test_scheduler_step[WSDLRScheduler": _WSD,
            "test_scheduler.py::TestWarmup::test_warmup_lr_increases[WSDLRScheduler": _WSD,
            "test_scheduler.py::TestWSDScheduler::": _WSD,
            "test_scheduler.py::TestMultipleParamGroups::test_factory_": _FACTORY,
        },
        internals={},
        counted=51,
        bar=50,
    ),
}
