"""Every reader of ``schedkit convert`` is bounded: hostile files (YAML alias bombs, deep
nesting, long base chains, mmengine arithmetic that explodes) give our ConversionError
naming the file and the key, within a time and memory bound, and the command prints it
without a traceback. A hypothesis property throws generated documents at every reader."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schedkit
from schedkit import SpecError
from schedkit.conversion import MAX_BYTES, MAX_DEPTH, MAX_FILES, MAX_TEXT, MAX_VALUES, bounded

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "converted"
FACTS = {"steps_per_epoch": 10, "dataset_size": 100, "world_size": 1}
#: seconds and bytes (Python allocations) any one conversion here may take
SECONDS = 10.0
PEAK = 64 * 2**20


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Each converter converts its example once first: the imports and the first setup
    check (which load the schedules' plugins) are not the reading the bounds time."""
    for entry in json.loads((EXAMPLES / "index.json").read_text()):
        schedkit.convert(entry["source"], EXAMPLES / entry["file"], **entry["facts"])


def laughs(levels: int = 9) -> str:
    """YAML anchors each holding nine aliases of the previous: 9**levels strings."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


BOMB = f"*a{8}"


def convert(source: str, path: Path) -> schedkit.ConversionError:
    """The error converting ``path`` (asserted), within the time and memory bound."""
    importlib.import_module(f"schedkit_convert.{source}")  # imports are not the reading
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(schedkit.ConversionError) as info:
            schedkit.convert(source, path, **FACTS)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < SECONDS
    assert peak < PEAK
    return info.value


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- YAML aliases ---------------------------------------------------------------------------

ALIASES = [
    ("timm", "args.yaml", f"sched: cosine\nlr: {BOMB}\n", "lr"),
    (
        "timm",
        "args.yaml",
        f"sched: multistep\nlr: 0.1\ndecay_milestones: {BOMB}\n",
        "decay_milestones",
    ),
    ("timm", "args.yaml", f"opt: adamw\nlr: 0.1\nopt_betas: {BOMB}\n", "opt_betas"),
    ("detectron2", "config.yaml", f"SOLVER:\n  BASE_LR: 0.1\n  STEPS: {BOMB}\n", "SOLVER.STEPS"),
    ("transformers", "recipe.yaml", f"learning_rate: {BOMB}\n", "learning_rate"),
    (
        "deepspeed",
        "ds_config.yaml",
        f"optimizer: {{type: Adam, params: {{lr: 0.1, betas: {BOMB}}}}}\n",
        "optimizer.params.betas",
    ),
]


#: run in a process of its own: the conversion, timed and its Python allocations traced
ISOLATED = """
import importlib, json, sys, time, tracemalloc
import schedkit
source, path = sys.argv[1:3]
importlib.import_module(f"schedkit_convert.{source}")
tracemalloc.start()
start = time.perf_counter()
try:
    schedkit.convert(source, path)
    error = None
except schedkit.ConversionError as e:
    error = str(e)
seconds = time.perf_counter() - start
print(json.dumps({"error": error, "seconds": seconds, "peak": tracemalloc.get_traced_memory()[1]}))
"""


def isolated(source: str, path: Path) -> str:
    """The error converting ``path`` in a process of its own (before the bounds, such
    files hung the converter for minutes), within the time and memory bound."""
    done = subprocess.run(
        [sys.executable, "-c", ISOLATED, source, str(path)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["seconds"] < SECONDS
    assert out["peak"] < PEAK
    assert out["error"] is not None
    return str(out["error"])


@pytest.mark.parametrize(("source", "name", "tail", "key"), ALIASES)
def test_yaml_alias_expansion_is_bounded(
    tmp_path: Path, source: str, name: str, tail: str, key: str
) -> None:
    path = write(tmp_path, name, laughs() + tail)
    msg = isolated(source, path)
    assert msg.startswith(f"{path}: 1 problem converting the file:")
    assert f"\n  {key}[" in msg
    assert f"{name}: more than {MAX_VALUES:,} values" in msg


@pytest.mark.parametrize("file", ["args.yaml", "config.py"])
def test_the_value_count_message_fits_yaml_and_python_configs(file: str) -> None:
    """It spoke of YAML aliases only, for an mmengine ``.py`` config too."""
    shared = [0] * 4_000
    with pytest.raises(SpecError) as caught:
        bounded({"a": shared, "b": [shared, shared]}, file)
    assert caught.value.path == "a"  # the third use of the shared list, counted last
    assert caught.value.message == (
        f"{file}: more than {MAX_VALUES:,} values (a shared value, such as a YAML alias or a "
        "name used twice, counts each time it is used)"
    )


def command(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedkit", *argv],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_the_command_prints_our_error_for_an_alias_bomb(tmp_path: Path) -> None:
    path = write(tmp_path, "args.yaml", laughs() + ALIASES[0][2])
    done = command("convert", "--from", "timm", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"schedkit convert: {path}: 1 problem converting the file:")
    assert "\n  lr[" in done.stderr


def test_a_self_referring_alias_and_merge(tmp_path: Path) -> None:
    path = write(tmp_path, "args.yaml", "lr: 0.1\nopt_betas: &b [0.9, *b]\n")
    msg = str(convert("timm", path))
    assert "opt_betas[1]: args.yaml: the value contains itself" in msg
    path = write(tmp_path, "args.yaml", "lr: 0.1\nx: &m {<<: *m}\n")
    assert "args.yaml, line 2: YAML error: a merge key (<<) merges a mapping into itself" in str(
        convert("timm", path)
    )


def test_aliases_within_the_bound_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "args.yaml",
        "betas: &b [0.9, 0.95]\nopt: adamw\nsched: cosine\nlr: 0.1\nopt_betas: *b\n",
    )
    assert "betas = [0.9, 0.95]" in schedkit.convert("timm", path, **FACTS).toml


# -- nesting, size, digits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "name", "text", "key"),
    [
        ("transformers", "args.json", '{"learning_rate": ' + "[" * 100_000, "learning_rate[0]"),
        ("transformers", "args.json", '{"a": 1, "b": ' + "[" * 500 + "]" * 500 + "}", "b[0]"),
        (
            "deepspeed",
            "ds.json",
            '{"optimizer": {"params": {"betas": ' + "[" * 5000 + "]" * 5000 + "}}}",
            "optimizer.params.betas[0][0]",
        ),
        ("timm", "args.yaml", "lr: 0.1\nsched: " + "[" * 5000 + "]" * 5000 + "\n", "sched[0]"),
        (
            "detectron2",
            "config.yaml",
            "SOLVER:\n"
            + "".join(f"{'  ' * (i + 1)}K{i}:\n" for i in range(200))
            + "   " * 201
            + "1\n",
            "SOLVER.K0.K1",
        ),
    ],
)
def test_deep_nesting_is_our_error(
    tmp_path: Path, source: str, name: str, text: str, key: str
) -> None:
    msg = str(convert(source, write(tmp_path, name, text)))
    assert f"nested deeper than {MAX_DEPTH}" in msg
    assert f"{name}" in msg
    assert f"\n  {key}" in msg


def test_a_json_string_inside_the_file_is_bounded_too(tmp_path: Path) -> None:
    text = '{"lr_scheduler_type": "cosine", "max_steps": 10, "lr_scheduler_kwargs": "%s"}'
    path = write(tmp_path, "args.json", text % ("[" * 10_000))
    msg = str(convert("transformers", path))
    assert "\n  lr_scheduler_kwargs[0][0]" in msg
    assert "]: the JSON string: lists and mappings nested deeper than 32" in msg


@pytest.mark.parametrize(
    ("source", "name", "text"),
    [
        ("timm", "args.yaml", "lr: " + "1" * 5000 + "\n"),
        ("timm", "args.yaml", "lr: 1" + ":1" * 50_000 + "\n"),  # YAML 1.1 base 60
        ("transformers", "args.json", '{"lr": ' + "1" * 5000 + "}"),
    ],
)
def test_long_integers_are_our_error(tmp_path: Path, source: str, name: str, text: str) -> None:
    msg = str(convert(source, write(tmp_path, name, text)))
    assert f"\n  lr: {name}: an integer of more than 1,000 digits" in msg


def test_a_file_larger_than_the_bound(tmp_path: Path) -> None:
    path = write(tmp_path, "args.yaml", "lr: 0.1\n" + "#" * MAX_BYTES + "\n")
    assert f"args.yaml: more than {MAX_BYTES:,} bytes" in str(convert("timm", path))


def test_the_bytes_bound_counts_the_base_files_too(tmp_path: Path) -> None:
    pad = "#" * (MAX_BYTES // 2 + 1) + "\n"
    write(tmp_path, "base.yaml", "SOLVER: {BASE_LR: 0.1}\n" + pad)
    path = write(tmp_path, "config.yaml", "_BASE_: base.yaml\n" + pad)
    msg = str(convert("detectron2", path))
    named = f"config.yaml: _BASE_: base file {str(tmp_path / 'base.yaml')!r}: "
    assert named + f"base.yaml: more than {MAX_BYTES:,} bytes to read (bases included)" in msg


def test_too_many_values_without_aliases(tmp_path: Path) -> None:
    path = write(tmp_path, "args.json", '{"x": [' + ", ".join(["1"] * MAX_VALUES) + "]}")
    assert f"\n  x: args.json: more than {MAX_VALUES:,} values" in str(
        convert("transformers", path)
    )


# -- base chains ------------------------------------------------------------------------------


def test_a_detectron2_base_chain_hundreds_of_files_deep(tmp_path: Path) -> None:
    for i in range(300):
        text = f"_BASE_: b{i + 1}.yaml\n" if i < 299 else "SOLVER: {BASE_LR: 0.1}\n"
        write(tmp_path, f"b{i}.yaml", text)
    msg = str(convert("detectron2", tmp_path / "b0.yaml"))
    named = f"b{MAX_FILES - 1}.yaml: _BASE_: base file {str(tmp_path / f'b{MAX_FILES}.yaml')!r}: "
    assert named + f"b{MAX_FILES}.yaml: more than {MAX_FILES} files to read" in msg


def test_an_mmengine_base_chain_hundreds_of_files_deep(tmp_path: Path) -> None:
    for i in range(300):
        write(tmp_path, f"b{i}.py", f"_base_ = 'b{i + 1}.py'\n" if i < 299 else "a = 1\n")
    msg = str(convert("mmengine", tmp_path / "b0.py"))
    assert f"\n  _base_: b{MAX_FILES}.py: more than {MAX_FILES} files to read" in msg


def test_a_detectron2_chain_within_the_bound_merges(tmp_path: Path) -> None:
    for i in range(10):
        text = f"_BASE_: b{i + 1}.yaml\nSOLVER: {{MAX_ITER: {100 + i}}}\n"
        write(tmp_path, f"b{i}.yaml", text if i < 9 else "SOLVER: {BASE_LR: 0.1, MAX_ITER: 5}\n")
    toml = schedkit.convert("detectron2", tmp_path / "b0.yaml").toml
    assert "lr = 0.1  # SOLVER.BASE_LR" in toml
    assert "total = 100  # SOLVER.MAX_ITER" in toml


# -- mmengine arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key", "what"),
    [
        ("x = 10 ** 999\ny = x * x\n", 2, "y", "an integer of more than 1,000 digits"),
        ("s = 'x' * 10**12\n", 1, "s", f"a string of more than {MAX_TEXT:,} characters"),
        ("s = 10**12 * 'x'\n", 1, "s", f"a string of more than {MAX_TEXT:,} characters"),
        ("m = [0] * 10**12\n", 1, "m", f"more than {MAX_VALUES:,} values"),
        ("m = [[0] * 1000] * 1000\n", 1, "m", f"more than {MAX_VALUES:,} values"),
        ("m = [0] * 6000\nn = m + m\n", 2, "n", f"more than {MAX_VALUES:,} values"),
        ("f = '%q' % 1\n", 1, "f", "cannot compute the expression (unsupported format"),
        ("f = '%(a)s' % 1\n", 1, "f", "cannot compute the expression (format requires"),
        ("f = '%999999999d' % 1\n", 1, "f", "a % format width or precision above 1,000"),
        ("f = '%*d' % (10**9, 1)\n", 1, "f", "or given by '*'"),
        ("n = " + "1" * 5000 + "\n", 1, "n", "an integer of more than 1,000 digits"),
        ("n = " + "1" * 2000 + "\n", 1, "n", "an integer of more than 1,000 digits"),
        ("d = {[1]: 2}\n", 1, "d", "a dict key is a string, a number or a tuple of them"),
        ("d = {(1, [2]): 2}\n", 1, "d", "a dict key is a string, a number or a tuple of them"),
        ("c = (-8) ** 0.5\n", 1, "c", "the result is not a real number"),
        ("c = 2j\n", 1, "c", "a complex value is not read"),
        ("b = b'x' * 10**12\n", 1, "b", "a bytes value is not read"),
        ("a = 1\nlr = " + "+".join(["1"] * 100_000) + "\n", 2, "lr", "cannot parse the"),
        ("lr = " + "-" * 100_000 + "1\n", 1, "lr", "cannot parse the expression"),
        ("lr = " + " + ".join(["1"] * 150) + "\n", 1, "lr", "more than 100 nested operations"),
        (
            "a = [1]\n" + "a = [a]\n" * 40,
            33,
            "a",
            f"lists and dicts nested deeper than {MAX_DEPTH}",
        ),
    ],
)
def test_mmengine_arithmetic_is_bounded(
    tmp_path: Path, text: str, line: int, key: str, what: str
) -> None:
    msg = str(convert("mmengine", write(tmp_path, "cfg.py", text)))
    assert f"\n  {key}: cfg.py, line {line}: " in msg
    assert what in msg


def test_the_command_prints_our_error_for_a_tower_of_powers(tmp_path: Path) -> None:
    """Before the bounds ``10 ** 10 ** 10`` hung."""
    path = write(tmp_path, "cfg.py", "lr = 10 ** 10 ** 10\n")
    done = command("convert", "--from", "mmengine", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "\n  lr: cfg.py, line 1: cannot compute the expression (an integer of more than" in (
        done.stderr
    )


def test_mmengine_keys_of_the_converted_tables_are_strings(tmp_path: Path) -> None:
    text = (
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),"
        " paramwise_cfg=dict(custom_keys={0: dict(lr_mult=0.1)}))\n"
        "param_scheduler = [{'type': 'LinearLR', 1: 2}]\n"
    )
    msg = str(convert("mmengine", write(tmp_path, "cfg.py", text)))
    assert "\n  optim_wrapper.paramwise_cfg.custom_keys: expected string keys, got the key 0" in msg
    assert "\n  param_scheduler[0]: expected string keys, got the key 1" in msg
    assert "2 problems" in msg


def test_real_arithmetic_still_reads(tmp_path: Path) -> None:
    text = (
        "lr = 5e-4 * 1024 / 512\nn = 2 ** 10\nm = [0.1] * 3 + [0.2]\ns = 'x' * 3\n"
        "f = 'run_%s_%03d_%.2f' % ('a', 7, 0.5)\nbig = 10 ** 300\nneg = 2 ** -3\n"
        "d = {1: 'a', (1, 2): 'b', 'k': dict(v=[n, m])}\n"
    )
    from schedkit_convert.mmengine import read_config

    cfg = read_config(write(tmp_path, "cfg.py", text))
    assert cfg["lr"] == 1e-3
    assert cfg["n"] == 1024
    assert cfg["m"] == [0.1, 0.1, 0.1, 0.2]
    assert cfg["s"] == "xxx"
    assert cfg["f"] == "run_a_007_0.50"
    assert cfg["big"] == 10**300
    assert cfg["neg"] == 0.125
    assert cfg["d"] == {1: "a", (1, 2): "b", "k": {"v": [1024, [0.1, 0.1, 0.1, 0.2]]}}


# -- generated documents at every reader ------------------------------------------------------


def _outcome(source: str, path: Path) -> None:
    """A conversion, or our error naming the file: nothing else, within the time bound."""
    importlib.import_module(f"schedkit_convert.{source}")  # imports are not the reading
    start = time.perf_counter()
    error: schedkit.ConversionError | None = None
    try:
        conversion = schedkit.convert(source, path, **FACTS)
    except schedkit.ConversionError as e:
        error = e
    assert time.perf_counter() - start < SECONDS
    if error is None:
        assert conversion.toml.startswith("# converted by")
    else:
        assert str(error).startswith(f"{path}: ")


SCALARS = st.sampled_from(
    [
        "0",
        "1",
        "-3",
        "0.1",
        "1e-3",
        "1.0e+400",
        ".nan",
        "true",
        "null",
        "'s'",
        "cosine",
        "[]",
        "{}",
        "5e-324",
        "1_000",
        "0x1F",
        "3:25",
        "2026-01-01",
    ]
)
KEYS = st.sampled_from(
    [
        "lr",
        "sched",
        "epochs",
        "opt_betas",
        "decay_milestones",
        "warmup_epochs",
        "clip_grad",
        "learning_rate",
        "max_steps",
        "lr_scheduler_type",
        "lr_scheduler_kwargs",
        "optimizer",
        "scheduler",
        "params",
        "type",
        "betas",
        "SOLVER",
        "BASE_LR",
        "STEPS",
        "MAX_ITER",
        "x",
    ]
)


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    """A YAML mapping: anchors built from scalars and earlier anchors (aliases nested up to
    nine times), then keys the converters read set to flow values using them."""
    n = draw(st.integers(0, 12))
    anchors: list[str] = []
    lines = []

    def flow(depth: int) -> str:
        kind = draw(st.integers(0, 3 if depth < 4 else 1))
        if kind == 1 and anchors:
            choice = f"*{draw(st.sampled_from(anchors))}"
        elif kind >= 2:
            choice = "[" + ", ".join(flow(depth + 1) for _ in range(draw(st.integers(0, 9)))) + "]"
        else:
            choice = draw(SCALARS)
        if draw(st.integers(0, 20)) == 0:
            k = draw(st.integers(1, 400))
            choice = "[" * k + choice + "]" * k
        return choice

    for i in range(n):
        lines.append(f"k{i}: &a{i} {flow(0)}")
        anchors.append(f"a{i}")
    for key in draw(st.lists(KEYS, max_size=6, unique=True)):
        if key in ("SOLVER", "optimizer", "scheduler") and draw(st.booleans()):
            inner = draw(st.lists(KEYS, max_size=4, unique=True))
            pairs = ", ".join(f"{k}: {flow(1)}" for k in inner)
            merge = (
                f"<<: *{draw(st.sampled_from(anchors))}, "
                if anchors and draw(st.booleans())
                else ""
            )
            lines.append(f"{key}: {{{merge}{pairs}}}")
        else:
            lines.append(f"{key}: {flow(0)}")
    return "\n".join(lines) + "\n"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=6) | st.dictionaries(KEYS, kids, max_size=6),
    max_leaves=40,
)


@st.composite
def json_documents(draw: st.DrawFn) -> str:
    doc = draw(st.dictionaries(KEYS, JSON, max_size=8))
    text = json.dumps(doc)
    if draw(st.integers(0, 10)) == 0:
        k = draw(st.integers(1, 3000))
        text = text[:-1] + (", " if doc else "") + '"deep": ' + "[" * k + "]" * k + "}"
    return text


NAMES = ("lr", "n", "s", "m", "x")
OPS = ("+", "-", "*", "/", "//", "%", "**")


@st.composite
def mmengine_files(draw: st.DrawFn) -> str:
    """Assignments of generated expressions, and the tables the converter reads built
    from them."""
    bound: list[str] = []

    def expr(depth: int) -> str:
        leaves = [
            st.integers(-(10**6), 10**6).map(str),
            st.sampled_from(
                [
                    "0.5",
                    "1e-3",
                    "10",
                    "1000",
                    "'x'",
                    "'%s'",
                    "'%q'",
                    "'%5d'",
                    "None",
                    "True",
                    "[0]",
                    "(1, 2)",
                    "'a' * 3",
                    "2 ** 60",
                ]
            ),
        ]
        if bound:
            leaves.append(st.sampled_from(bound))
        if depth >= 4:
            return draw(st.one_of(*leaves))
        kind = draw(st.integers(0, 5))
        if kind == 0:
            return f"({expr(depth + 1)} {draw(st.sampled_from(OPS))} {expr(depth + 1)})"
        if kind == 1:
            return "[" + ", ".join(expr(depth + 1) for _ in range(draw(st.integers(0, 3)))) + "]"
        if kind == 2:
            keys = draw(st.lists(st.sampled_from(["lr", "type", "end"]), max_size=3, unique=True))
            return "dict(" + ", ".join(f"{k}={expr(depth + 1)}" for k in keys) + ")"
        if kind == 3:
            return "{" + f"{expr(depth + 1)}: {expr(depth + 1)}" + "}"
        return draw(st.one_of(*leaves))

    lines = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from(NAMES))
        lines.append(f"{name} = {expr(0)}")
        bound.append(name)
    lines.append(
        f"optim_wrapper = dict(optimizer=dict(type='SGD', lr={expr(2)}, momentum={expr(2)}),"
        f" paramwise_cfg=dict(custom_keys={{{expr(3)}: dict(lr_mult={expr(3)})}}),"
        f" clip_grad={expr(2)})"
    )
    lines.append(
        f"param_scheduler = [dict(type='LinearLR', start_factor={expr(2)}, by_epoch=False,"
        f" begin=0, end={expr(2)})]"
    )
    lines.append(f"train_cfg = dict(by_epoch=False, max_iters={expr(2)})")
    return "\n".join(lines) + "\n"


FUZZ = settings(
    max_examples=25,
    deadline=None,  # the time bound is asserted per conversion (the first imports)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
READERS: dict[str, tuple[str, Callable[[], st.SearchStrategy[str]]]] = {
    "timm": ("args.yaml", yaml_documents),
    "detectron2": ("config.yaml", yaml_documents),
    "transformers": ("recipe.yaml", yaml_documents),
    "deepspeed": ("ds_config.yaml", yaml_documents),
}


@pytest.mark.parametrize("source", sorted(READERS))
@FUZZ
@given(data=st.data())
def test_generated_yaml_gives_a_setup_or_our_error(
    tmp_path: Path, source: str, data: st.DataObject
) -> None:
    name, documents = READERS[source]
    _outcome(source, write(tmp_path, name, data.draw(documents())))


@pytest.mark.parametrize(
    ("source", "name"), [("transformers", "args.json"), ("deepspeed", "ds.json")]
)
@FUZZ
@given(text=json_documents())
def test_generated_json_gives_a_setup_or_our_error(
    tmp_path: Path, source: str, name: str, text: str
) -> None:
    _outcome(source, write(tmp_path, name, text))


@FUZZ
@given(text=mmengine_files())
def test_generated_mmengine_expressions_give_a_setup_or_our_error(
    tmp_path: Path, text: str
) -> None:
    _outcome("mmengine", write(tmp_path, "cfg.py", text))
