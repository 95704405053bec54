"""``schedkit new-plugin NAME``: write a ready plugin distribution.

What it writes installs with pip and passes its own tests as is: a ``pyproject.toml``
declaring the entry point, one schedule family written against :mod:`schedkit.plugin`, its
tests (the conformance kit over the whole distribution, plus its values), a README and a
``py.typed`` marker. Edit the formula, keep the rest.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from schedkit.errors import SchedkitError

#: a plugin name; matched whole (``fullmatch``: ``$`` would let a final newline through)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
#: the longest name: the folder, package and test file names built from it stay far below
#: the 255 bytes file systems allow
MAX_NAME = 64

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
dependencies = ["schedkit-core>=0.1,<0.2", "attrs>=23.1"]

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

import attrs
import torch

from schedkit.plugin import BaseSchedule, Registrar, duration, factor, hookimpl


@attrs.frozen
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
    """Write the distribution ``schedkit-NAME`` into ``where``; return its folder.

    Everything is checked before anything is written, and a write that fails (a folder
    that cannot be made, a full disk) removes what was written: the folder is there
    whole, or not at all. Problems are :class:`SchedkitError` naming the path.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise SchedkitError(
            f"{shown} is not a plugin name: lowercase letters, digits and "
            f"underscores, starting with a letter, at most {MAX_NAME} characters (it becomes "
            "the schedule's name)"
        )
    taken = _taken(name)
    if taken:
        raise SchedkitError(
            f"{name!r} is taken: {taken}. A name belongs to the plugin that declares it and "
            "no plugin can register another's (nor a name in its namespace, "
            f"{name!r}.<anything>); choose another name"
        )
    dist = f"schedkit-{name.replace('_', '-')}"
    package = f"schedkit_{name}"
    root = Path(where) / dist
    _check_target(Path(where), root)
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
    made_parent = not Path(where).exists()
    try:
        for rel, template in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(**fields) if template else "")
    except OSError as e:
        shutil.rmtree(Path(where) if made_parent else root, ignore_errors=True)
        raise SchedkitError(f"cannot write {e.filename or root}: {_reason(e)}") from None
    return root


def _taken(name: str) -> str | None:
    """Who has ``name`` already, if anyone, in the default registry: an installed entry
    point named ``name`` or in its namespace (``name.x``), which the new plugin's entry
    point would clash with, or a registered component or alias of that name."""
    from schedkit.registry import default_registry

    def inside(n: str) -> bool:
        return n == name or n.startswith(name + ".")

    registry = default_registry()
    for src in registry.sources():
        if inside(src.name):
            return (
                f"the entry point {src.name!r} of {src.distribution or 'an unnamed distribution'}"
                f" ({src.value}) declares it"
            )
    for c in registry.components():
        for n in (c.name, *c.aliases):
            if inside(n):
                owner = c.distribution or "a plugin registered in-process"
                return f"the {c.kind} {n!r} of {owner} (plugin {c.plugin!r}) is registered"
    return None


def _check_target(where: Path, root: Path) -> None:
    """Refuse a target that is there already (a dangling link included) or a ``--dir``
    that is not a folder, before anything is written."""
    if root.exists() or root.is_symlink():
        raise SchedkitError(f"{root} exists already; choose another name or --dir")
    for parent in (where, *where.parents):
        if parent.is_symlink() and not parent.exists():
            raise SchedkitError(f"{parent} is a link to nothing")
        if parent.exists():
            if not parent.is_dir():
                raise SchedkitError(f"{parent} is not a folder")
            break


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__
