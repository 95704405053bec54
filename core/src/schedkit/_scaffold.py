"""``schedkit new-plugin NAME``: write a ready plugin distribution.

What it writes installs with pip and passes its own tests as is: a ``pyproject.toml``
declaring the entry point, one schedule family written against :mod:`schedkit.plugin`, its
tests (the conformance kit over the whole distribution, plus its values), a README and a
``py.typed`` marker. Edit the formula, keep the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

from schedkit.errors import SchedkitError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "0.1.0"
description = "A schedkit plugin: the {name} schedule."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["schedkit-core>=0.1,<0.2"]

[project.optional-dependencies]
# pytest, hypothesis and the conformance kit's pytest plugin
test = ["schedkit-core[testing]>=0.1,<0.2"]

# One entry point per plugin module, in the group "schedkit". The entry point's name is the
# component's name: it owns that name (and "{name}.<anything>"), and a look-up of it imports
# only this module.
[project.entry-points.schedkit]
{name} = "{package}.schedule"

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]

[tool.pytest.ini_options]
filterwarnings = ["error"]
"""

SCHEDULE = '''\
"""The ``{name}`` schedule."""

from __future__ import annotations

import torch

from schedkit.plugin import BaseSchedule, Registrar, duration, factor, hookimpl


class {cls}(BaseSchedule):
    """Linear decay from 1 to ``end`` over ``total`` steps, then flat:
    ``f(t) = 1 - (1 - end) * min(t, total) / total``.

    Example: ``get_schedule("{name}", total=1000, end=0.1)``.
    """

    name = "{name}"

    #: the run's length: steps, or "5ep" / "10%" in a setup
    total: int = duration(positive=True, horizon=True)
    #: the final factor
    end: float = factor(0.0, ge=0.0, le=1.0)

    def __call__(self, step: float) -> float:
        progress = min(max(step, 0), self.total) / self.total
        return 1.0 - (1.0 - self.end) * progress

    def tensor_values(self, t: torch.Tensor) -> torch.Tensor:
        """The same curve on a float64 tensor of steps (fast plots)."""
        progress = t.clamp(0, self.total) / self.total
        return 1.0 - (1.0 - self.end) * progress


@hookimpl
def schedkit_add_schedules(registry: Registrar) -> None:
    registry.add({cls}, examples=[{{"total": 100}}, {{"total": 50, "end": 0.1, "warmup": 5}}])
'''

TEST = '''\
"""The plugin's tests: schedkit's conformance kit on every component, and the values."""

from __future__ import annotations

import pytest

import schedkit
from schedkit.testing import conformance_tests

# every schedule, rule and clipper this distribution registers, through the kit
test_conformance = conformance_tests("{dist}")


def test_values():
    s = schedkit.get_schedule("{name}", total=10, end=0.5)
    assert [s(t) for t in (0, 5, 10, 20)] == pytest.approx([1.0, 0.75, 0.5, 0.5])


def test_in_a_setup():
    import torch

    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = schedkit.get_scheduler("{name}", opt, total=4)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0])
'''

README = """\
# {dist}

A [schedkit](https://pypi.org/project/schedkit-core/) plugin: the `{name}` schedule.

```bash
pip install -e ".[test]"
pytest                          # the conformance kit on every component, and the values
schedkit show {name}
```

```python
import schedkit

sched = schedkit.get_scheduler("{name}", optimizer, total=10_000, end=0.1)
```

```toml
[schedules.lr]
type = "{name}"
end = 0.1
```

Add components by adding modules, each with its own entry point in `pyproject.toml`
(group `schedkit`); import schedkit only through `schedkit` and `schedkit.plugin`.
"""


def write_plugin(name: str, where: Path | str = ".") -> Path:
    """Write the distribution ``schedkit-NAME`` into ``where``; return its folder."""
    if not _NAME.match(name):
        raise SchedkitError(
            f"new-plugin: {name!r} is not a plugin name: lowercase letters, digits and "
            "underscores, starting with a letter (it becomes the schedule's name)"
        )
    dist = f"schedkit-{name.replace('_', '-')}"
    package = f"schedkit_{name}"
    root = Path(where) / dist
    if root.exists():
        raise SchedkitError(f"new-plugin: {root} exists already; choose another name or --dir")
    cls = "".join(part.capitalize() for part in name.split("_"))
    fields = {"name": name, "dist": dist, "package": package, "cls": cls}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{package}/__init__.py": f'"""The {dist} schedkit plugin."""\n',
        f"src/{package}/py.typed": "",
        f"src/{package}/schedule.py": SCHEDULE,
        f"tests/test_{name}.py": TEST,
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields) if template else "")
    return root
