"""The pytest plugin checks every component of a distribution from one setting, and
conformance_tests() does the same in one line of a test module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

GOOD = """
import schedkit
from schedkit.plugin import duration, factor, hookimpl
class Ramp(schedkit.BaseSchedule):
    '''Linear from 0 to 1 over ``total`` steps.'''

    name = "kitdemo_ramp"
    total: int = duration(positive=True, horizon=True)

    def __call__(self, step):
        return min(1.0, step / self.total)


@hookimpl
def schedkit_add_schedules(registry):
    registry.add(Ramp, examples=[{"total": 50}])
"""

IDLE = """
import attrs
import schedkit
from schedkit.plugin import ClipResult, hookimpl
class Idle(schedkit.BaseClipper, kw_only=True):
    '''Never clips.'''

    name = "kitdemo_idle"

    def clip(self, target, factor, process_group):
        return ClipResult()


@hookimpl
def schedkit_add_clippers(registry):
    registry.add(Idle, examples=[{}])
"""


def _project(tmp_path: Path, ini: str, tests: dict[str, str]) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    info = site / "kit_demo-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kit-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[schedkit]\nkitdemo_ramp = kitdemo_ramp\nkitdemo_idle = kitdemo_idle\n"
    )
    (site / "kitdemo_ramp.py").write_text(GOOD)
    (site / "kitdemo_idle.py").write_text(IDLE)
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(textwrap.dedent(ini))
    for name, src in tests.items():
        (project / name).write_text(textwrap.dedent(src))
    env = {**os.environ, "PYTHONPATH": str(site)}
    for k in ("SCHEDKIT_DISABLED_PLUGINS", "SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(k, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_one_setting_checks_every_component_of_the_distribution(tmp_path):
    r = _project(
        tmp_path,
        "[pytest]\nschedkit_distribution = kit-demo\n",
        {"test_own.py": "def test_own():\n    assert True\n"},
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "1 failed, 2 passed" in out
    assert "schedkit:clipper:kitdemo_idle" in out
    assert "kitdemo_idle: a gradient 10000 times the ordinary ones" in out
    assert "the clipper does not clip" in out


def test_one_line_in_a_test_module(tmp_path):
    r = _project(
        tmp_path,
        "[pytest]\n",
        {
            "test_kit.py": """
            from schedkit.testing import conformance_tests

            test_conformance = conformance_tests("kit-demo")
            """,
            "test_missing.py": """
            from schedkit.testing import conformance_tests

            test_conformance = conformance_tests("not-installed-dist")
            """,
        },
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "2 failed, 1 passed" in out
    assert "test_conformance[clipper:kitdemo_idle]" in out
    assert "not-installed-dist registers no component: is it installed" in out
