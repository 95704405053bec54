"""The registry: entry-point discovery, lazy loading, conflicts, broken plugins, switches."""

from __future__ import annotations

import sys

import pytest

import schedkit
from schedkit.errors import ConflictError, PluginImportError, UnknownNameError

GOOD = """
import attrs
import schedkit

@attrs.frozen
class Half(schedkit.BaseSchedule):
    '''Always one half.'''
    name = "{name}"
    def __call__(self, step):
        return 0.5

@schedkit.hookimpl
def schedkit_add_schedules(registry):
    registry.add(Half, examples=[{}])
"""


def test_installed_third_party_distribution_is_discovered(fresh_registry):
    fresh_registry()
    infos = {c.name: c for c in schedkit.registered("schedule")}
    info = infos["fixture_step_down"]
    assert info.distribution == "schedkit-fixture-plugin"
    assert info.version == "1.2.3"
    assert info.plugin == "fixture_step_down"
    assert info.aliases == ("fixture_halving",)
    assert schedkit.get_schedule("fixture_halving", every=2)(5) == 0.25


def test_first_party_components_report_their_distribution(fresh_registry):
    fresh_registry()
    info = schedkit.default_registry().get("schedule", "cosine")
    assert (info.plugin, info.distribution) == ("cosine", "schedkit-schedules")
    assert schedkit.default_registry().get("schedule", "warmup").distribution == "schedkit-core"


def test_lookup_imports_only_the_plugin_it_needs(fresh_registry, make_dist):
    suffix = make_dist(
        "lazy-dist",
        {"lazy_a": "lazy_a{suffix}", "lazy_b": "lazy_b{suffix}"},
        {
            "lazy_a{suffix}": GOOD.replace("{name}", "lazy_a"),
            "lazy_b{suffix}": GOOD.replace("{name}", "lazy_b"),
        },
    )
    fresh_registry()
    assert schedkit.get_schedule("lazy_a")(3) == 0.5
    assert f"lazy_a{suffix}" in sys.modules
    assert f"lazy_b{suffix}" not in sys.modules
    # listing loads everything
    names = {c.name for c in schedkit.registered()}
    assert {"lazy_a", "lazy_b"} <= names
    assert f"lazy_b{suffix}" in sys.modules


def test_the_scan_is_cached(fresh_registry, monkeypatch):
    reg = fresh_registry()
    calls = []
    real = reg._sources_fn
    monkeypatch.setattr(reg, "_sources_fn", lambda: calls.append(1) or real())
    reg.get("schedule", "cosine")
    reg.get("schedule", "linear")
    reg.components()
    assert calls == [1]


def test_unknown_name_suggests_the_closest(fresh_registry):
    fresh_registry()
    with pytest.raises(
        UnknownNameError, match=r"unknown schedule 'cosin'; did you mean 'cosine'\?"
    ) as e:
        schedkit.get_schedule("cosin", total=10)
    assert e.value.suggestions[0] == "cosine"
    with pytest.raises(UnknownNameError, match="unknown rule 'nope'$"):
        schedkit.get_rule("nope")


def test_two_distributions_registering_one_name_is_an_error_naming_both(fresh_registry, make_dist):
    make_dist(
        "clash-one",
        {"clash_one": "clash_one{suffix}"},
        {"clash_one{suffix}": GOOD.replace("{name}", "cosine")},
    )
    fresh_registry()
    with pytest.raises(ConflictError) as e:
        schedkit.registered()
    msg = str(e.value)
    assert "schedule 'cosine' is registered twice" in msg
    assert "schedkit-schedules" in msg
    assert "clash-one" in msg


def test_two_distributions_declaring_one_plugin_name(fresh_registry, make_dist):
    make_dist(
        "dup-a", {"dup_plugin": "dup_a{suffix}"}, {"dup_a{suffix}": GOOD.replace("{name}", "dup_x")}
    )
    make_dist(
        "dup-b", {"dup_plugin": "dup_b{suffix}"}, {"dup_b{suffix}": GOOD.replace("{name}", "dup_y")}
    )
    fresh_registry()
    with pytest.raises(
        ConflictError,
        match=r"plugin name 'dup_plugin' is declared by several distributions: dup-a .*dup-b",
    ):
        schedkit.get_schedule("dup_plugin")


def test_broken_plugin_is_reported_and_the_rest_keeps_working(fresh_registry, make_dist):
    make_dist(
        "broken-dist",
        {"broken_thing": "broken{suffix}"},
        {"broken{suffix}": "raise RuntimeError('boom at import')\n"},
    )
    fresh_registry()
    assert schedkit.get_schedule("cosine", total=10)(0) == 1.0
    comps = schedkit.registered()
    assert "cosine" in {c.name for c in comps}
    errors = schedkit.plugin_errors()
    assert [e.plugin for e in errors] == ["broken_thing"]
    assert "RuntimeError: boom at import" in errors[0].traceback
    assert errors[0].distribution == "broken-dist"
    with pytest.raises(
        PluginImportError, match='Error importing plugin "broken_thing" \\(from broken-dist\\)'
    ) as e:
        schedkit.get_schedule("broken_thing")
    assert "boom at import" in str(e.value)
    with pytest.raises(
        UnknownNameError, match="plugins that failed to import and may provide it: 'broken_thing'"
    ):
        schedkit.get_schedule("something_else")


def test_strict_plugins_make_a_broken_plugin_fatal(fresh_registry, make_dist):
    make_dist(
        "broken-strict",
        {"broken_strict": "bs{suffix}"},
        {"bs{suffix}": "import not_a_module_anywhere\n"},
    )
    fresh_registry(SCHEDKIT_STRICT_PLUGINS="1")
    with pytest.raises(PluginImportError, match="No module named 'not_a_module_anywhere'"):
        schedkit.registered()


def test_a_misspelled_hook_is_a_broken_plugin(fresh_registry, make_dist):
    src = "import schedkit\n@schedkit.hookimpl\ndef schedkit_add_schedule(registry):\n    pass\n"
    make_dist("typo-dist", {"typo_plugin": "typo{suffix}"}, {"typo{suffix}": src})
    fresh_registry()
    with pytest.raises(PluginImportError, match="unknown hook 'schedkit_add_schedule'"):
        schedkit.get_schedule("typo_plugin")


def test_disable_autoload_keeps_only_first_party(fresh_registry):
    fresh_registry(SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD="1")
    names = {c.name for c in schedkit.registered()}
    assert "cosine" in names
    assert "fixture_step_down" not in names
    with pytest.raises(UnknownNameError, match="SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD"):
        schedkit.get_schedule("fixture_step_down", every=3)


def test_disabled_plugins_by_name_and_by_distribution(fresh_registry):
    fresh_registry(SCHEDKIT_DISABLED_PLUGINS="linear, schedkit-fixture-plugin")
    names = {c.name for c in schedkit.registered()}
    assert "linear" not in names
    assert "fixture_step_down" not in names
    assert "cosine" in names
    with pytest.raises(UnknownNameError, match="disabled by SCHEDKIT_DISABLED_PLUGINS"):
        schedkit.get_schedule("linear", total=3)


def test_register_in_process_works_with_autoload_disabled(fresh_registry):
    import types

    import attrs

    fresh_registry(SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD="1")

    @attrs.frozen
    class Quarter(schedkit.BaseSchedule):
        """Always a quarter."""

        name = "notebook_quarter"

        def __call__(self, step: float) -> float:
            return 0.25

    mod = types.SimpleNamespace()

    @schedkit.hookimpl
    def schedkit_add_schedules(registry):
        registry.add(Quarter, examples=[{}])

    mod.schedkit_add_schedules = schedkit_add_schedules
    schedkit.register(mod, name="notebook")
    assert schedkit.get_schedule("notebook_quarter")(7) == 0.25
    info = schedkit.default_registry().get("schedule", "notebook_quarter")
    assert (info.plugin, info.distribution) == ("notebook", None)
    with pytest.raises(ConflictError, match="already registered"):
        schedkit.register(mod, name="notebook")


def test_registration_needs_a_docstring_and_a_name(fresh_registry):
    import types

    class NoDoc:
        name = "nodoc"

    @schedkit.hookimpl
    def schedkit_add_schedules(registry):
        registry.add(NoDoc)

    reg = fresh_registry()
    with pytest.raises(schedkit.SpecError, match="schedule 'nodoc' \\(.*NoDoc\\) has no docstring"):
        reg.register(
            types.SimpleNamespace(schedkit_add_schedules=schedkit_add_schedules), name="p1"
        )


def test_specs_cannot_name_dotted_import_paths(fresh_registry):
    fresh_registry()
    with pytest.raises(UnknownNameError, match="unknown schedule 'os.system'"):
        schedkit.get_schedule({"type": "os.system"})
    assert "os.system" not in {c.name for c in schedkit.registered()}


def test_hook_implementations_may_take_fewer_arguments(fresh_registry):
    import types

    @schedkit.hookimpl
    def schedkit_add_rules():
        return None

    reg = fresh_registry()
    reg.register(types.SimpleNamespace(schedkit_add_rules=schedkit_add_rules), name="quiet")
    assert reg.errors() == []
