"""Converters follow the registry's plugin switches."""

from __future__ import annotations

import pytest

import schedkit
from schedkit import conversion
from schedkit._sources import PluginSource
from schedkit.conversion import GROUP, converters, sources

FIRST = {"deepspeed", "detectron2", "mmengine", "timm", "transformers"}


@pytest.fixture
def stranger(monkeypatch):
    """A third party's converter beside the first-party ones."""
    real = conversion.entry_points

    def find(group: str):
        found = list(real(group))
        if group == GROUP:
            found.append(PluginSource("fairseq", "their_pkg:convert", "their-converters"))
        return found

    monkeypatch.setattr(conversion, "entry_points", find)


def test_by_default_every_installed_converter(stranger, monkeypatch):
    monkeypatch.delenv("SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("SCHEDKIT_DISABLED_PLUGINS", raising=False)
    assert set(sources()) == FIRST | {"fairseq"}


def test_autoload_off_keeps_only_the_first_party_converters(stranger, monkeypatch):
    monkeypatch.setenv("SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert set(sources()) == FIRST
    assert set(converters()) == FIRST


def test_disabled_by_source_or_distribution(stranger, monkeypatch, tmp_path):
    monkeypatch.setenv("SCHEDKIT_DISABLED_PLUGINS", "transformers, their_converters")
    assert set(sources()) == FIRST - {"transformers"}
    src = tmp_path / "args.json"
    src.write_text('{"learning_rate": 1e-4, "max_steps": 10}')
    with pytest.raises(
        schedkit.ConversionError, match="'transformers' is installed but switched off"
    ):
        schedkit.convert("transformers", src)
    monkeypatch.setenv("SCHEDKIT_DISABLED_PLUGINS", "schedkit-convert")
    assert sources() == ["fairseq"]
