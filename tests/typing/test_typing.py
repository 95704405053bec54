"""``mypy --strict`` sees a component's constructor: a misspelled field is an error."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

from mypy import api

import schedkit
import schedkit_schedules

SNIPPET = """
from schedkit_schedules.cosine import Cosine

good = Cosine(total=10, end=0.1)
bad = Cosine(totl=10)
"""


def test_mypy_strict_refuses_a_misspelled_field_and_accepts_a_correct_one(tmp_path: Path):
    roots = [Path(m.__file__).parents[1] for m in (schedkit, schedkit_schedules)]
    (tmp_path / "snippet.py").write_text(textwrap.dedent(SNIPPET))
    # torch is left unread (minutes of stubs); schedkit's own modules are checked by the
    # project's mypy run, here only read for their classes
    (tmp_path / "mypy.ini").write_text(
        textwrap.dedent(
            f"""
            [mypy]
            strict = True
            mypy_path = {os.pathsep.join(str(r) for r in roots)}
            [mypy-torch,torch.*]
            follow_imports = skip
            [mypy-schedkit.*,schedkit_schedules.*]
            ignore_errors = True
            """
        )
    )
    limit = sys.getrecursionlimit()
    try:
        out, err, status = api.run(
            [
                "--config-file",
                str(tmp_path / "mypy.ini"),
                "--cache-dir",
                str(tmp_path / "cache"),
                str(tmp_path / "snippet.py"),
            ]
        )
    finally:
        # mypy raises the interpreter's recursion limit for itself (2**14): the tests run
        # after it in this process keep the default, which the converters' bounds rely on
        sys.setrecursionlimit(limit)
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    assert len(errors) == 1, out
    assert 'Unexpected keyword argument "totl" for "Cosine"' in errors[0], out
    assert "snippet.py:5:" in errors[0], out
