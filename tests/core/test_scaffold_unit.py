"""`schedkit new-plugin NAME`: what it writes declares its entry point, and its schedule
registers and passes the conformance kit (the slow install-and-run test is in
tests/install/test_scaffold.py)."""

from __future__ import annotations

import importlib.util
import types

import pytest
import tomllib

import schedkit
from schedkit.cli import main
from schedkit.testing import check_registered


def test_new_plugin_writes_a_distribution_whose_schedule_conforms(tmp_path, fresh_registry, capsys):
    assert main(["new-plugin", "warm_decay", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "schedkit-warm-decay"
    assert f"wrote {root}" in capsys.readouterr().out
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "schedkit-warm-decay"
    assert meta["project"]["entry-points"]["schedkit"] == {
        "warm_decay": "schedkit_warm_decay.schedule"
    }
    assert meta["project"]["optional-dependencies"]["test"] == ["schedkit-core[testing]>=0.1,<0.2"]
    for rel in ("README.md", "src/schedkit_warm_decay/py.typed", "tests/test_warm_decay.py"):
        assert (root / rel).is_file(), rel
    assert (
        'conformance_tests("schedkit-warm-decay")'
        in (root / "tests/test_warm_decay.py").read_text()
    )

    spec = importlib.util.spec_from_file_location(
        "scaffolded_schedule", root / "src/schedkit_warm_decay/schedule.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh_registry().register(module, name="scaffolded")
    check_registered("schedule", "warm_decay")
    assert schedkit.get_schedule("warm_decay", total=10, end=0.5)(5) == pytest.approx(0.75)


def test_new_plugin_refuses_bad_names_and_existing_folders(tmp_path, capsys):
    assert main(["new-plugin", "Bad-Name", "--dir", str(tmp_path)]) == 1
    assert "'Bad-Name' is not a plugin name" in capsys.readouterr().err
    assert main(["new-plugin", "twice", "--dir", str(tmp_path)]) == 0
    assert main(["new-plugin", "twice", "--dir", str(tmp_path)]) == 1
    assert "exists already" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("cosine", "the entry point 'cosine' of schedkit-schedules"),
        ("warmup", "the entry point 'warmup' of schedkit-core"),
        ("timm", "the entry point 'timm' of schedkit-compat"),
    ],
)
def test_new_plugin_refuses_a_name_another_plugin_owns(name, owner, tmp_path, capsys):
    """The old code wrote schedkit-cosine, whose schedule the registry then refused."""
    assert main(["new-plugin", name, "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{name!r} is taken: {owner}" in err
    assert "choose another name" in err
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_a_name_registered_in_process(tmp_path, fresh_registry, capsys):
    class Flat(schedkit.Schedule):
        """A constant 1."""

        name = "flat_in_process"

        def __call__(self, step):
            return 1.0

        def spec(self):
            return {"type": "flat_in_process"}

    @schedkit.hookimpl
    def schedkit_add_schedules(registry):
        registry.add(Flat, aliases=["flat_alias"])

    fresh_registry().register(
        types.SimpleNamespace(schedkit_add_schedules=schedkit_add_schedules), name="flat"
    )
    for name in ("flat_in_process", "flat_alias"):
        assert main(["new-plugin", name, "--dir", str(tmp_path)]) == 1
        assert (
            f"{name!r} is taken: the schedule {name!r} of a plugin registered in-process "
            "(plugin 'flat') is registered" in capsys.readouterr().err
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad\n", "'bad\\n' is not a plugin name"),  # `$` matched before the final newline
        (
            "a" * 300,
            "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...",
        ),
    ],
)
def test_new_plugin_matches_the_whole_name(name, message, tmp_path, capsys):
    """The old code took "bad\\n" (and wrote a broken pyproject.toml) and raised OSError
    (file name too long) for a 300-character name."""
    assert main(["new-plugin", name, "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"schedkit new-plugin: {message}")
    assert "at most 64 characters" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def _file(tmp_path):
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "sub", f"{tmp_path / 'file'} is not a folder"


def _dangling_target(tmp_path):
    (tmp_path / "schedkit-ok").symlink_to(tmp_path / "nowhere")
    return tmp_path, f"{tmp_path / 'schedkit-ok'} exists already"


def _dangling_dir(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    return tmp_path / "link" / "sub", f"{tmp_path / 'link'} is a link to nothing"


def _proc(tmp_path):
    return "/proc/schedkit-test", "cannot write /proc/schedkit-test"


@pytest.mark.parametrize("target", [_file, _dangling_target, _dangling_dir, _proc])
def test_new_plugin_targets_it_cannot_write(target, tmp_path, capsys):
    """The old code gave a raw traceback (NotADirectoryError, FileExistsError, OSError)."""
    where, message = target(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["new-plugin", "ok", "--dir", str(where)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"schedkit new-plugin: {message}"), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
