"""`schedkit new-plugin NAME` writes a distribution that installs into a fresh virtual
environment (schedkit-core from this checkout, nothing shared with the test environment)
and passes its own tests as is.

Slow (a fresh environment with torch): about a minute or two with a warm pip cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schedkit.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.platform == "win32", reason="the venv layout below is POSIX")
def test_the_generated_plugin_installs_and_passes_its_tests(tmp_path):
    assert main(["new-plugin", "half_life", "--dir", str(tmp_path)]) == 0
    plugin = tmp_path / "schedkit-half-life"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for k in ("PYTHONPATH", "SCHEDKIT_DISABLED_PLUGINS", "SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(k, None)
    pip = [py, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    subprocess.run([*pip, "-e", str(ROOT / "core")], check=True, timeout=1200, env=env)
    subprocess.run([*pip, "-e", f"{plugin}[test]"], check=True, timeout=1200, env=env)
    r = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=plugin,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed" in r.stdout  # the conformance test of its one schedule, and its two
    listed = subprocess.run(
        [str(venv / "bin" / "schedkit"), "list", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert '"name": "half_life"' in listed.stdout
    assert "schedkit-half-life" in listed.stdout
