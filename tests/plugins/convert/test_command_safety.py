"""``schedkit convert`` with the wrong ``--from``, with an output that is (or links to) an
input, and with file names, keys and values that hold line breaks, quotes, control
characters and lone surrogates: refused or escaped, never a silent default, a lost file,
an injected table, a raw terminal sequence or a traceback."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import _toml_out, conversion
from schedkit.cli import main

EXAMPLES = Path(__file__).parents[3] / "examples" / "converted"
SOURCES = ("deepspeed", "detectron2", "mmengine", "timm", "transformers")
DS = {"optimizer": {"type": "AdamW", "params": {"lr": 0.001}}, "gradient_clipping": 0.5}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


# -- the wrong --from ---------------------------------------------------------------------


def _examples() -> list[tuple[Path, str]]:
    index = json.loads((EXAMPLES / "index.json").read_text())
    out = [(EXAMPLES / e["file"], e["source"]) for e in index]
    out.append((EXAMPLES / "transformers-sft-recipe.yaml", "transformers"))
    return out


@pytest.mark.parametrize(("path", "right"), _examples(), ids=lambda v: getattr(v, "name", v))
def test_a_config_given_to_another_converter_is_refused(path: Path, right: str) -> None:
    for wrong in SOURCES:
        if wrong == right:
            continue
        with pytest.raises(schedkit.ConversionError) as info:
            schedkit.convert(wrong, path, steps_per_epoch=10, dataset_size=100, world_size=8)
        if path.suffix != ".py" and wrong != "mmengine":  # files these converters can read
            assert f"not a {wrong} config; it looks like a {right} config" in str(info.value)
        assert f"it looks like a {right} config: convert it with --from {right}" in str(info.value)


def test_timm_args_as_transformers_and_ds_config_as_timm(tmp_path, capsys) -> None:
    code, out, err = run(
        capsys, "convert", "--from", "transformers", str(EXAMPLES / "timm-deit-small.yaml")
    )
    assert (code, out) == (1, "")
    assert "none of the keys that set the optimizer or the schedule (learning_rate" in err
    assert "it looks like a timm config: convert it with --from timm" in err
    ds = write_json(tmp_path / "ds_config.json", DS)
    code, out, err = run(capsys, "convert", "--from", "timm", str(ds))
    assert (code, out) == (1, "")
    assert "not a timm config; it looks like a deepspeed config" in err


def test_a_file_no_converter_reads(tmp_path) -> None:
    path = write_json(tmp_path / "package.json", {"name": "x", "version": "1.0"})
    with pytest.raises(schedkit.ConversionError, match="no installed converter recognises it"):
        schedkit.convert("deepspeed", path)


# -- never lose a user's file ---------------------------------------------------------------


def test_the_output_is_never_the_input(tmp_path, capsys) -> None:
    ds = write_json(tmp_path / "ds.json", DS)
    before = ds.read_bytes()
    link = tmp_path / "link.toml"
    link.symlink_to(ds)
    hard = tmp_path / "hard.toml"
    os.link(ds, hard)
    for out in (ds, link, hard, tmp_path / "sub" / ".." / "ds.json"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        for force in ((), ("--force",)):
            code, _, err = run(
                capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(out), *force
            )
            assert code == 1
            assert "never writes over an input" in err
            assert ds.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ds.json",
        "hard.toml",
        "link.toml",
        "sub",
    ]


def test_an_mmengine_config_and_its_base_are_never_written_over(tmp_path, capsys) -> None:
    base = tmp_path / "base.py"
    base.write_text("optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\n")
    cfg = tmp_path / "cfg.py"
    cfg.write_text("_base_ = ['base.py']\ntrain_cfg = dict(by_epoch=False, max_iters=10)\n")
    for out in (cfg, base):
        before = out.read_bytes()
        code, _, err = run(
            capsys, "convert", "--from", "mmengine", str(cfg), "-o", str(out), "--force"
        )
        assert code == 1
        assert "never writes over an input" in err
        assert out.read_bytes() == before
    assert "base file" in err


def test_a_detectron2_base_file_is_never_written_over(tmp_path, capsys) -> None:
    base = tmp_path / "Base.yaml"
    base.write_text("SOLVER:\n  STEPS: (5,)\n  MAX_ITER: 10\n")
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: Base.yaml\nSOLVER:\n  BASE_LR: 0.1\n")
    link = tmp_path / "out.toml"
    link.symlink_to(base)
    code, _, err = run(
        capsys, "convert", "--from", "detectron2", str(child), "-o", str(link), "--force"
    )
    assert code == 1
    assert "is a base file being converted" in err
    assert base.read_text().startswith("SOLVER:")


def test_an_existing_output_needs_force(tmp_path, capsys) -> None:
    ds = write_json(tmp_path / "ds.json", DS)
    out = tmp_path / "setup.toml"
    out.write_text("mine\n")
    code, _, err = run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(out))
    assert code == 1
    assert "exists; give --force to replace it" in err
    assert out.read_text() == "mine\n"
    code, _, _ = run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(out), "--force")
    assert code == 0
    assert tomllib.loads(out.read_text())["optimizer"]["lr"] == 0.001
    # through a link: the file it points at is replaced, the link stays
    target = tmp_path / "real.toml"
    target.write_text("old\n")
    link = tmp_path / "via.toml"
    link.symlink_to(target)
    assert run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(link))[0] == 1
    assert (
        run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(link), "--force")[0] == 0
    )
    assert link.is_symlink()
    assert "[optimizer]" in target.read_text()


def test_a_new_output_gets_the_usual_permissions(tmp_path, capsys) -> None:
    ds = write_json(tmp_path / "ds.json", DS)
    out = tmp_path / "setup.toml"
    old = os.umask(0o022)
    try:
        assert run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(out))[0] == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_replaced_file_keeps_its_permissions(tmp_path, capsys) -> None:
    """The old code left a replaced 0600 file 0644: a private file became world-readable."""
    ds = write_json(tmp_path / "ds.json", DS)
    out = tmp_path / "setup.toml"
    out.write_text("private\n")
    out.chmod(0o600)
    old = os.umask(0o022)
    try:
        code, _, _ = run(
            capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(out), "--force"
        )
    finally:
        os.umask(old)
    assert code == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert tomllib.loads(out.read_text())["optimizer"]["lr"] == 0.001


def test_a_fifo_is_written_into_not_replaced(tmp_path, capsys) -> None:
    """The old code asked for --force, then renamed a regular file over the FIFO."""
    ds = write_json(tmp_path / "ds.json", DS)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, out, err = run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(fifo))
    reader.join(10)
    assert (code, out, err) == (0, "", "")
    assert tomllib.loads(got[0].decode())["optimizer"]["lr"] == 0.001
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.json", "pipe"]


def test_an_open_files_path_is_written_in_place(tmp_path) -> None:
    """``/proc/self/fd/N`` (what ``/dev/stdout`` links to) names a stream the caller holds:
    written into, without --force, even when it is a regular file (a shell's ``> file``)."""
    ds = write_json(tmp_path / "ds.json", DS)
    held = tmp_path / "held.toml"
    held.write_text("")
    with held.open("rb") as f:
        inode = os.fstat(f.fileno()).st_ino
        schedkit.convert("deepspeed", ds).write(f"/proc/self/fd/{f.fileno()}")
        assert os.stat(held).st_ino == inode  # the same file, not one renamed over it
    assert tomllib.loads(held.read_text())["optimizer"]["lr"] == 0.001
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.json", "held.toml"]


@pytest.mark.parametrize("where", ["-", "/dev/stdout"])
def test_dash_and_dev_stdout_print(where, tmp_path, capsys, monkeypatch) -> None:
    """``-o /dev/stdout`` said "exists; give --force"; ``-o -`` wrote a file named "-"."""
    monkeypatch.chdir(tmp_path)
    ds = write_json(tmp_path / "ds.json", DS)
    code, out, err = run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", where)
    assert (code, err) == (0, "")
    assert out == schedkit.convert("deepspeed", ds).toml
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.json"]


def test_a_directory_is_still_refused(tmp_path, capsys) -> None:
    ds = write_json(tmp_path / "ds.json", DS)
    (tmp_path / "d").mkdir()
    for force in ((), ("--force",)):
        code, _, err = run(
            capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(tmp_path / "d"), *force
        )
        assert code == 1
        assert "output: is a directory" in err
    assert list((tmp_path / "d").iterdir()) == []


def test_a_failed_run_leaves_nothing_behind(tmp_path, capsys, monkeypatch) -> None:
    ds = write_json(tmp_path / "ds.json", DS)
    out = tmp_path / "setup.toml"
    bad = write_json(tmp_path / "bad.json", {"optimizer": {"type": "Lamb"}})
    assert run(capsys, "convert", "--from", "deepspeed", str(bad), "-o", str(out))[0] == 1
    assert not out.exists()
    out.write_text("kept\n")

    def broken(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    code, _, err = run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(out), "--force")
    assert code == 1
    assert "cannot be written: No space left on device" in err
    assert out.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "ds.json", "setup.toml"]

    def interrupted(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    code, _, err = run(capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(out), "--force")
    assert code == 130
    assert out.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "ds.json", "setup.toml"]
    monkeypatch.undo()
    code, _, err = run(
        capsys, "convert", "--from", "deepspeed", str(ds), "-o", str(tmp_path / "no" / "x")
    )
    assert code == 1
    assert "cannot be written" in err


# -- never inject -------------------------------------------------------------------------


def _tables(text: str) -> dict[str, object]:
    return tomllib.loads(text)


@pytest.mark.parametrize(
    "name",
    [
        "x\n[clip]\nclip_value = 1e-9\n.json",
        "x\n[run]\ntotal = 3.json",
        "q\"'\\\r\x1b[2J\u202e.json",
    ],
)
def test_a_file_name_cannot_add_to_the_setup(tmp_path, name: str) -> None:
    plain = schedkit.convert("deepspeed", write_json(tmp_path / "plain.json", DS)).toml
    odd = schedkit.convert("deepspeed", write_json(tmp_path / name, DS)).toml
    assert _tables(odd) == _tables(plain)
    assert odd.count("\n") == plain.count("\n")
    assert all(c.isprintable() for line in odd.splitlines() for c in line)


_NAME = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))
    | st.sampled_from([chr(c) for c in range(0xDC80, 0xDD00)]),  # undecodable bytes
    min_size=1,
    max_size=30,
).filter(lambda s: len(os.fsencode(s + ".json")) < 250)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=_NAME)
def test_any_file_name_converts_to_the_same_tables(tmp_path_factory, name: str) -> None:
    d = tmp_path_factory.mktemp("n")
    plain = schedkit.convert("deepspeed", write_json(d / "plain.json", DS)).toml
    odd = schedkit.convert("deepspeed", write_json(d / (name + ".json"), DS)).toml
    assert _tables(odd) == _tables(plain)
    assert odd.encode("utf-8")  # writable: every character escaped or encodable


@given(
    name=st.text(),
    notes=st.lists(st.text(), max_size=3),
    source=st.text(min_size=1),
)
def test_the_header_is_one_comment_line_each(name: str, notes: list[str], source: str) -> None:
    body = "[run]\ntotal = 5\n"
    text = conversion.header(source, name, notes) + "\n" + body
    assert tomllib.loads(text) == {"run": {"total": 5}}
    assert text.count("\n") == 2 + len(notes) + body.count("\n")
    text.encode("utf-8")


@given(st.text())
def test_strings_are_written_escaped(s: str) -> None:
    if any("\ud800" <= c <= "\udfff" for c in s):
        with pytest.raises(TypeError, match="lone surrogate"):
            _toml_out.string(s)
        return
    written = _toml_out.string(s)
    assert all(c.isprintable() for c in written)
    assert tomllib.loads(f"x = {written}")["x"] == s
    key = _toml_out.key(s) if s else '""'
    assert tomllib.loads(f"{key} = 1") == {s: 1}


def test_keys_reach_the_terminal_escaped(tmp_path, capsys) -> None:
    evil = "\x1b]0;title\x07\x1b[2J\u202eyek"
    hf = write_json(tmp_path / "args.json", {"learning_rate": 0.1, "max_steps": 10, evil: 1})
    code, out, err = run(capsys, "convert", "--from", "transformers", str(hf), "-v")
    assert code == 0
    assert "\x1b" not in err + out
    assert "\u202e" not in err
    assert "\\x1b]0;title\\x07\\x1b[2J\\u202eyek" in err
    d2 = tmp_path / "config.yaml"
    d2.write_text(json.dumps({"SOLVER": {evil: 1}}))
    code, out, err = run(capsys, "convert", "--from", "detectron2", str(d2))
    assert code == 1
    assert "\x1b" not in err
    assert "SOLVER.\\x1b]0;title" in err


def test_lone_surrogates_end_in_a_message(tmp_path, capsys) -> None:
    ds = tmp_path / "ds.json"
    ds.write_text('{"optimizer": {"type": "SGD", "params": {"lr": 0.1}}, "\\ud800": 1}')
    code, out, _ = run(capsys, "convert", "--from", "deepspeed", str(ds), "-v")
    assert code == 0
    ds.write_text('{"optimizer": {"type": "\\udcff", "params": {"lr": 0.1}}}')
    code, out, err = run(capsys, "convert", "--from", "deepspeed", str(ds))
    assert code == 1
    assert "optimizer.type" in err
    name = os.fsdecode(b"\xff\xfe.json")
    odd = write_json(tmp_path / name, DS)
    code, out, err = run(capsys, "convert", "--from", "deepspeed", str(odd))
    assert code == 0
    assert "from \\udcff\\udcfe.json" in out
    code, out, err = run(
        capsys, "convert", "--from", "deepspeed", str(odd), "-o", str(odd) + ".toml"
    )
    assert code == 0
