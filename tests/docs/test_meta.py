"""Meta-tests: every hook and every registered component is documented and tested."""

from __future__ import annotations

import inspect
from pathlib import Path

import schedkit
from schedkit import hookspecs

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def _test_text() -> str:
    return "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))


def test_every_hookspec_documents_its_contract():
    specs = [f for n, f in vars(hookspecs).items() if n.startswith("schedkit_") and callable(f)]
    assert len(specs) == 3
    for f in specs:
        doc = inspect.getdoc(f) or ""
        assert ":param registry:" in doc, f.__name__
        assert ":returns:" in doc, f.__name__


def test_every_hookspec_is_exercised_by_a_test():
    text = _test_text()
    for name in ("schedkit_add_schedules", "schedkit_add_rules", "schedkit_add_clippers"):
        assert name in text, f"no test implements {name}"


def test_every_registered_component_has_docs_examples_and_a_test():
    text = _test_text()
    for c in schedkit.registered():
        assert c.doc.strip(), f"{c.kind} {c.name} has no docstring"
        assert c.examples, f"{c.kind} {c.name} has no examples"
        assert f'"{c.name}"' in text, f"{c.kind} {c.name} is not named in any test"


def test_public_api_is_exactly_all():
    public = {n for n in dir(schedkit) if not n.startswith("_")}
    modules = {n for n in public if inspect.ismodule(getattr(schedkit, n))}
    assert public - modules == set(schedkit.__all__) - {"__version__"}


def test_every_test_folder_runs_in_exactly_one_tox_env():
    """Tests are named after what runs them: each folder holding tests belongs to one env
    of tox.ini, so a new folder cannot be left out of CI nor run twice."""
    import configparser

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    runs: dict[str, list[str]] = {}
    for section in tox.sections():
        for word in tox[section].get("commands", "").split():
            if word.startswith("tests/"):
                runs.setdefault(word.rstrip("/"), []).append(section)
    folders = sorted({p.parent.relative_to(ROOT).as_posix() for p in TESTS.rglob("test_*.py")})
    folders = [f for f in folders if not f.startswith("tests/fixtures")]
    assert len(folders) > 10
    for folder in folders:
        envs = [e for path, es in runs.items() if (folder + "/").startswith(path + "/") for e in es]
        assert len(envs) == 1, f"{folder} runs in {envs or 'no tox env'}"
