"""Start-up: ``import schedkit`` and a first ``get_scheduler`` load only what they need."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
import torch
before = set(sys.modules)
import schedkit
after_import = sorted(set(sys.modules) - before)
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
schedkit.get_scheduler("cosine", opt, warmup=10, total=100)
after_first = sorted(set(sys.modules) - before)
print(json.dumps([after_import, after_first]))
"""


def test_import_and_first_lookup_load_no_setup_clipping_or_rules():
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    after_import, after_first = json.loads(out)
    assert "schedkit.registry" not in after_import
    assert "pluggy" not in after_import
    for module in (
        "schedkit.setup",
        "schedkit.clipping",
        "schedkit.groups",
        "tomllib",
        # the values of rules and clippers
        "schedkit.values",
        # the metadata of every installed distribution is not parsed (entry_points.py)
        "email.parser",
    ):
        assert module not in after_first, module
    plugins = {m.split(".")[0] for m in after_first if m.startswith("schedkit_")}
    assert plugins == {"schedkit_schedules"}


def test_lazy_names_are_the_public_api():
    import schedkit

    for name in schedkit.__all__:
        assert getattr(schedkit, name) is not None, name
    assert callable(schedkit.schedule)  # the function, not the module of the same name
    assert "get_scheduler" in dir(schedkit)
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        schedkit.nope  # noqa: B018
