"""The converted examples are what the converter writes today, and they check and preview."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import schedkit
from schedkit.cli import main

DIR = Path(__file__).parents[3] / "examples" / "converted"
INDEX: list[dict[str, Any]] = json.loads((DIR / "index.json").read_text())


def test_every_installed_converter_has_an_example() -> None:
    from schedkit.conversion import sources

    assert {e["source"] for e in INDEX} == set(sources())


@pytest.mark.parametrize("entry", INDEX, ids=lambda e: e["source"])
def test_example_is_the_converters_output(entry: dict[str, Any]) -> None:
    conv = schedkit.convert(entry["source"], DIR / entry["file"], **entry["facts"])
    assert (DIR / entry["setup"]).read_text() == conv.toml, (
        f"regenerate {entry['setup']} (see examples/converted/README.md)"
    )


@pytest.mark.parametrize("entry", INDEX, ids=lambda e: e["source"])
def test_example_checks_and_previews(
    entry: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(DIR / entry["setup"])
    # a setup routing parameters by name previews on a model with those names
    model = ["--model", entry["model"]] if "model" in entry else []
    assert main(["check", path, *model]) == 0
    assert main(["preview", path, "--simulate", "3", *model]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_the_migrating_page_shows_every_example() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_convert", DIR.parents[1] / "docs" / "gen_convert.py"
    )
    assert spec is not None
    assert spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.page((DIR.parents[1] / "docs" / "migrating.md").read_text())
    assert gen.MARKER not in text
    for entry in INDEX:
        assert f"### {entry['source']}" in text
        assert (DIR / entry["setup"]).read_text().rstrip() in text
