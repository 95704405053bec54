"""The command under bad files and arguments: a clean message and exit code, no traceback."""

from __future__ import annotations

import pytest

from schedkit import cli
from schedkit.cli import main

EXAMPLE = "examples/quickstart.toml"


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[optimizer]\ntype = "SGD"\n\xff\xfe\n', "not UTF-8 text (byte 25: b'\\xff')"),
        (b"x = " + b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b"x = " + b"[" * 100 + b"]" * 100, "nested more than 32 levels deep"),
        (b"not toml at all", "TOML syntax error"),
    ],
)
def test_bad_files_name_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    code, _, err = _run(capsys, "check", str(path))
    assert code == 1
    assert err.startswith(f"{path}: 1 problem in the setup:")
    assert message in err


def test_a_byte_order_mark_is_read_and_any_file_name_works(tmp_path, capsys):
    path = tmp_path / "setup.cfg"
    path.write_bytes(b'\xef\xbb\xbf[optimizer]\ntype = "SGD"\nlr = 0.1\n')
    assert _run(capsys, "check", str(path))[0] == 0
    assert _run(capsys, "check", str(tmp_path))[0] == 1  # a folder


@pytest.mark.parametrize(
    "argv",
    [
        ["preview", EXAMPLE, "--simulate", "0"],
        ["preview", EXAMPLE, "--simulate", "-3"],
        ["preview", EXAMPLE, "--batch-size", "0"],
        ["plot", EXAMPLE, "--batch-size", "-8"],
        ["groups", EXAMPLE, "--steps-per-epoch", "0"],
    ],
)
def test_non_positive_numbers_are_refused(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "expected a whole number > 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("os:getcwd", "expected a factory returning a torch.nn.Module, it returned str"),
        ("os:sep", "not a callable returning a torch.nn.Module"),
        ("os:chdir", "calling it raised TypeError"),
        ("no_such_module_x:f", "No module named"),
    ],
)
def test_model_must_be_a_module_factory(capsys, model, message):
    code, _, err = _run(capsys, "groups", EXAMPLE, "--model", model)
    assert code == 1
    assert message in err


@pytest.mark.parametrize("json", [[], ["--json"]])
def test_explaining_an_unknown_parameter(capsys, json):
    code, _, err = _run(capsys, "groups", EXAMPLE, *json, "--explain", "nope")
    assert code == 1
    assert err.startswith("schedkit groups: ")
    assert "'nope'" in err


def test_plot_into_a_missing_folder(capsys, tmp_path):
    code, _, err = _run(capsys, "plot", EXAMPLE, "-o", str(tmp_path / "no" / "x.png"))
    assert code == 1
    assert "does not exist" in err


def test_ctrl_c_exits_130_with_one_line(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_check", interrupted)
    code, _, err = _run(capsys, "check", EXAMPLE)
    assert code == 130
    assert err == "schedkit check: interrupted\n"


_EVIL_TABLE = "w\\u001b]0;pwned\\u0007d"  # as the TOML file spells it


@pytest.mark.parametrize("command", ["check", "plot", "preview"])
@pytest.mark.parametrize("name", ["setup.toml", "x\x1b[31my.toml"])
def test_a_hostile_table_or_file_name_reaches_the_terminal_escaped(tmp_path, capsys, command, name):
    path = tmp_path / name
    path.write_text(
        f'[run]\ntotal = 10\n[optimizer]\ntype = "SGD"\nlr = 0.1\n'
        f'[schedules."{_EVIL_TABLE}"]\ntype = "cosine"\n'
    )
    code, out, err = _run(capsys, command, str(path))
    assert code == 1
    assert "\x1b" not in out + err
    assert "\x07" not in out + err
    assert "1 problem in the setup:" in err
    assert "schedules.w\\x1b]0;pwned\\x07d: expected a param-group key" in err
    if name != "setup.toml":
        assert "x\\x1b[31my.toml: 1 problem" in err


def test_a_hostile_file_name_is_escaped_when_ok_and_in_other_errors(tmp_path, capsys):
    path = tmp_path / "x\x1b[31my.toml"
    path.write_text('[optimizer]\ntype = "SGD"\nlr = 0.1\n')
    code, out, err = _run(capsys, "check", str(path))
    assert code == 0
    assert out == f"{tmp_path}/x\\x1b[31my.toml: ok\n"
    code, out, err = _run(capsys, "show", "x\x1b[2J\u202ey")
    assert code == 1
    assert "\x1b" not in err
    assert "\u202e" not in err
    assert err.count("\n") == 1
