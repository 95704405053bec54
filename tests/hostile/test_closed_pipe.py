"""Output into a pipe whose reader has gone (``schedkit groups x.toml | head``): the
command stops quietly, as command-line tools do, with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

EXAMPLE = "examples/vit-finetune.toml"


def _run_into_closed_pipe(*argv: str) -> subprocess.CompletedProcess[bytes]:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write fails
    try:
        return subprocess.run(
            [sys.executable, "-m", "schedkit", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "argv",
    [
        ["plot", "--json", EXAMPLE],
        ["groups", EXAMPLE],
        ["show", "cosine"],
    ],
)
def test_a_closed_pipe_ends_the_command_quietly(argv):
    done = _run_into_closed_pipe(*argv)
    assert done.stderr.decode() == ""
    assert done.returncode == 141  # 128 + SIGPIPE, what a tool the signal ends gives its shell
