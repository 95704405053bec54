"""``schedkit convert --from detectron2`` on configs written the way detectron2's model zoo
writes them: ``_BASE_`` chains of two and three files in nested folders, tuples spelled as
YAML strings (``STEPS: (60000, 80000)``) that yacs decodes as Python literals, ``SOLVER``
overrides in the child, ``REFERENCE_WORLD_SIZE`` scaling. The peer side loads the same
files with yacs itself (fvcore's ``CfgNode``, over detectron2's SOLVER defaults) and builds
detectron2's solver from the result (tests/plugins/convert/test_detectron2.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import schedkit
from tests.plugins.convert.test_detectron2 import assert_trains_alike, auto_scale_workers

config = pytest.importorskip("fvcore.common.config")

#: detectron2's SOLVER defaults, typed as its config/defaults.py types them (yacs checks a
#: file's values against these types)
SOLVER_DEFAULTS: dict[str, Any] = {
    "LR_SCHEDULER_NAME": "WarmupMultiStepLR",
    "MAX_ITER": 40000,
    "BASE_LR": 0.001,
    "BASE_LR_END": 0.0,
    "MOMENTUM": 0.9,
    "NESTEROV": False,
    "WEIGHT_DECAY": 0.0001,
    "WEIGHT_DECAY_NORM": 0.0,
    "GAMMA": 0.1,
    "STEPS": (30000,),
    "NUM_DECAYS": 3,
    "WARMUP_FACTOR": 1.0 / 1000,
    "WARMUP_ITERS": 1000,
    "WARMUP_METHOD": "linear",
    "RESCALE_INTERVAL": False,
    "CHECKPOINT_PERIOD": 5000,
    "IMS_PER_BATCH": 16,
    "REFERENCE_WORLD_SIZE": 0,
    "BIAS_LR_FACTOR": 1.0,
    "WEIGHT_DECAY_BIAS": None,
    "CLIP_GRADIENTS": {"ENABLED": False, "CLIP_TYPE": "value", "CLIP_VALUE": 1.0, "NORM_TYPE": 2.0},
    "AMP": {"ENABLED": False},
}

# the shared base of a family of detectors, with every iteration count divided by 1000
# so that a whole run is stepped
BASE = """\
MODEL:
  META_ARCHITECTURE: "GeneralizedRCNN"
  BACKBONE:
    NAME: "build_resnet_fpn_backbone"
  RESNETS:
    OUT_FEATURES: ["res2", "res3", "res4", "res5"]
  ANCHOR_GENERATOR:
    SIZES: [[32], [64], [128], [256], [512]]
    ASPECT_RATIOS: [[0.5, 1.0, 2.0]]
DATASETS:
  TRAIN: ("coco_2017_train",)
  TEST: ("coco_2017_val",)
SOLVER:
  IMS_PER_BATCH: 16
  BASE_LR: 0.02
  STEPS: (60, 80)
  MAX_ITER: 90
  WARMUP_ITERS: 10
INPUT:
  MIN_SIZE_TRAIN: (640, 672, 704, 736, 768, 800)
VERSION: 2
"""
# a detector of that family: a two-file chain, the child adding no SOLVER key
CHILD_1X = """\
_BASE_: "../Base-RCNN-FPN.yaml"
MODEL:
  WEIGHTS: "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
  MASK_ON: False
  RESNETS:
    DEPTH: 50
"""
# its longer schedule, overriding the SOLVER of the base
CHILD_3X = """\
_BASE_: "../Base-RCNN-FPN.yaml"
MODEL:
  WEIGHTS: "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
  RESNETS:
    DEPTH: 50
SOLVER:
  STEPS: (210, 250)
  MAX_ITER: 270
"""
# a three-file chain: the 3x schedule rewritten for 8 processes of 2 images each, with
# nesterov, clipping and biases of its own, in yacs' string spellings
GRANDCHILD = """\
_BASE_: "faster_rcnn_R_50_FPN_3x.yaml"
SOLVER:
  REFERENCE_WORLD_SIZE: 8
  IMS_PER_BATCH: 16
  BASE_LR: "0.01"
  NESTEROV: 'True'
  WEIGHT_DECAY: 5e-5
  BIAS_LR_FACTOR: 2.0
  WEIGHT_DECAY_BIAS: 0.0
  CLIP_GRADIENTS:
    ENABLED: "True"
    CLIP_TYPE: "norm"
    CLIP_VALUE: 5.0
"""


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    (tmp_path / "Base-RCNN-FPN.yaml").write_text(BASE)
    det = tmp_path / "COCO-Detection"
    det.mkdir()
    (det / "faster_rcnn_R_50_FPN_1x.yaml").write_text(CHILD_1X)
    (det / "faster_rcnn_R_50_FPN_3x.yaml").write_text(CHILD_3X)
    (det / "faster_rcnn_R_50_FPN_3x_8gpu.yaml").write_text(GRANDCHILD)
    return det


def yacs_solver(path: Path, world: int) -> Any:
    """The SOLVER node detectron2 trains with: the file merged by yacs over the defaults,
    then rescaled to ``world`` processes (DefaultTrainer.auto_scale_workers)."""
    cfg = config.CfgNode({"SOLVER": SOLVER_DEFAULTS}, new_allowed=True)
    cfg.SOLVER.set_new_allowed(False)  # detectron2 refuses SOLVER keys it does not know
    cfg.merge_from_file(str(path))
    return auto_scale_workers(cfg.SOLVER, world)


def test_two_file_chain_with_tuple_strings(zoo: Path) -> None:
    conv = schedkit.convert("detectron2", zoo / "faster_rcnn_R_50_FPN_1x.yaml")
    assert "steps = [60, 80]  # SOLVER.STEPS" in conv.toml
    assert "max_iter = 90  # SOLVER.MAX_ITER" in conv.toml
    assert "lr = 0.02  # SOLVER.BASE_LR" in conv.toml
    assert "DATASETS" in conv.ignored
    assert "INPUT" in conv.ignored


@pytest.mark.parametrize(
    ("name", "world"),
    [
        ("faster_rcnn_R_50_FPN_1x.yaml", None),
        ("faster_rcnn_R_50_FPN_3x.yaml", None),
        ("faster_rcnn_R_50_FPN_3x_8gpu.yaml", 8),  # the reference itself: nothing scaled
        ("faster_rcnn_R_50_FPN_3x_8gpu.yaml", 4),  # half: lr halved, iterations doubled
        ("faster_rcnn_R_50_FPN_3x_8gpu.yaml", 16),
    ],
)
def test_trains_as_detectron2_reads_it(zoo: Path, name: str, world: int | None) -> None:
    solver = yacs_solver(zoo / name, world or 1)
    assert_trains_alike(solver, zoo / name, world)


def test_three_file_chain_values(zoo: Path) -> None:
    conv = schedkit.convert("detectron2", zoo / "faster_rcnn_R_50_FPN_3x_8gpu.yaml", world_size=4)
    setup = conv.setup()
    assert "lr = 0.005  # SOLVER.BASE_LR scaled by world_size 4" in conv.toml
    assert setup.optimizer["nesterov"] is True
    assert setup.optimizer["weight_decay"] == 5e-5  # YAML reads 5e-5 as a string; yacs decodes
    assert "steps = [420, 500]  # SOLVER.STEPS scaled by world_size 4" in conv.toml
    assert "total = 540" in conv.toml
    assert setup.clip is not None
    assert setup.clip["clip_value"] == 5.0
    solver = yacs_solver(zoo / "faster_rcnn_R_50_FPN_3x_8gpu.yaml", 4)
    assert list(solver["STEPS"]) == [420, 500]  # the peer agrees


def write(tmp_path: Path, solver: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("SOLVER:\n" + "".join(f"  {line}\n" for line in solver.splitlines()))
    return path


@pytest.mark.parametrize(
    ("text", "key", "want"),
    [
        ("NESTEROV: 'False'", "nesterov", False),
        ("NESTEROV: 'True'", "nesterov", True),
        ("NESTEROV: false", "nesterov", False),
        ("RESCALE_INTERVAL: 'True'", "rescale_interval", True),
    ],
)
def test_booleans_yacs_decodes(tmp_path: Path, text: str, key: str, want: bool) -> None:
    setup = schedkit.convert("detectron2", write(tmp_path, text)).setup()
    specs = {**setup.optimizer, **setup.schedules[0].schedule.spec()}
    assert specs[key] is want


@pytest.mark.parametrize("flag", ["'False'", '"False"', "false", "'0 == 1'"])
def test_clipping_stays_off_when_yacs_reads_false(tmp_path: Path, flag: str) -> None:
    if flag == "'0 == 1'":  # not a literal: a string, which is not a boolean
        with pytest.raises(schedkit.ConversionError, match="CLIP_GRADIENTS.ENABLED: expected"):
            schedkit.convert("detectron2", write(tmp_path, f"CLIP_GRADIENTS:\n  ENABLED: {flag}"))
        return
    conv = schedkit.convert("detectron2", write(tmp_path, f"CLIP_GRADIENTS:\n  ENABLED: {flag}"))
    assert conv.setup().clip is None


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("NESTEROV: 'false'", "SOLVER.NESTEROV"),  # 'false' is no Python literal: a string
        ("NESTEROV: 'yes please'", "SOLVER.NESTEROV"),
        ("NESTEROV: 1", "SOLVER.NESTEROV"),
        ("RESCALE_INTERVAL: '[]'", "SOLVER.RESCALE_INTERVAL"),
        ("CLIP_GRADIENTS:\n  ENABLED: 'false'", "SOLVER.CLIP_GRADIENTS.ENABLED"),
    ],
)
def test_anything_else_where_a_boolean_belongs_is_an_error(
    tmp_path: Path, text: str, path: str
) -> None:
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("detectron2", write(tmp_path, text))
    assert [p.path for p in info.value.problems] == [path]
    assert "expected true or false" in str(info.value)


def test_numbers_and_tuples_in_strings(tmp_path: Path) -> None:
    conv = schedkit.convert(
        "detectron2", write(tmp_path, "BASE_LR: 1e-3\nMAX_ITER: '500'\nSTEPS: '(100, 200,)'")
    )
    assert "lr = 0.001  # SOLVER.BASE_LR" in conv.toml
    assert "steps = [100, 200]  # SOLVER.STEPS" in conv.toml
    assert "total = 500  # SOLVER.MAX_ITER" in conv.toml
    with pytest.raises(schedkit.ConversionError, match=r"SOLVER.STEPS: expected a list"):
        schedkit.convert("detectron2", write(tmp_path, "STEPS: '(100, oops)'"))
    with pytest.raises(schedkit.ConversionError, match=r"SOLVER.STEPS: yacs cannot decode"):
        schedkit.convert("detectron2", write(tmp_path, "STEPS: '{[]: 1}'"))


@pytest.mark.parametrize("text", ["SOLVER: 0", "SOLVER:", "SOLVER: [1, 2]", "SOLVER: 'x'"])
def test_a_solver_that_is_not_a_node_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text + "\n")
    with pytest.raises(schedkit.ConversionError, match=r"SOLVER: expected a node"):
        schedkit.convert("detectron2", path)


def test_reference_world_size_needs_a_divisible_batch(tmp_path: Path) -> None:
    path = write(tmp_path, "REFERENCE_WORLD_SIZE: 8\nIMS_PER_BATCH: 12")
    with pytest.raises(schedkit.ConversionError, match=r"REFERENCE_WORLD_SIZE: .*multiple"):
        schedkit.convert("detectron2", path, world_size=4)
    assert schedkit.convert("detectron2", path, world_size=8).setup()  # not rescaled: fine


def test_base_files_anywhere_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "solver.yaml").write_text("SOLVER:\n  BASE_LR: 0.5\n  STEPS: (10,)\n")
    (shared / "more.yaml").write_text("SOLVER:\n  GAMMA: 0.5\n")
    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    for base in (
        "../../shared/solver.yaml",
        str(shared / "solver.yaml"),
        "~/solver.yaml",
    ):
        monkeypatch.setenv("HOME", str(shared))
        path = run / "config.yaml"
        path.write_text(f"_BASE_: {base}\nSOLVER:\n  MAX_ITER: 100\n")
        conv = schedkit.convert("detectron2", path)
        assert "lr = 0.5  # SOLVER.BASE_LR" in conv.toml, base
        assert str((shared / "solver.yaml").resolve()) in conv.inputs
    # a list of bases, merged in order (fvcore's)
    path.write_text("_BASE_: [../../shared/solver.yaml, ../../shared/more.yaml]\n")
    assert "gamma = 0.5  # SOLVER.GAMMA" in schedkit.convert("detectron2", path).toml


@pytest.mark.parametrize(
    "content",
    [
        "SECRET-TOKEN-1234 not: yaml: here\n",  # a YAML syntax error
        "- SECRET-TOKEN-1234\n",  # YAML, not a mapping
        "SECRET-TOKEN-1234\n",
    ],
)
def test_a_bad_base_file_is_named_and_never_shown(tmp_path: Path, content: str) -> None:
    secret = tmp_path / "elsewhere" / "notes.txt"
    secret.parent.mkdir()
    secret.write_text(content)
    path = tmp_path / "config.yaml"
    path.write_text(f"_BASE_: {secret}\nSOLVER:\n  BASE_LR: 0.1\n")
    with pytest.raises(schedkit.ConversionError) as info:
        schedkit.convert("detectron2", path)
    message = str(info.value)
    assert "SECRET" not in message
    assert f"{path}: _BASE_: base file '{secret}'" in message
