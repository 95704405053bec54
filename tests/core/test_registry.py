"""The registry: entry-point discovery, lazy loading, conflicts, broken plugins, switches."""

from __future__ import annotations

import json
import sys

import pytest

import schedkit
from schedkit.errors import ConflictError, PluginImportError, UnknownNameError

GOOD = """
import schedkit
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


HIJACK = GOOD.replace("return 0.5", "return 1234.0")


def _real_cosine() -> bool:
    return schedkit.get_schedule("cosine", total=10)(0) == 1.0


def test_a_plugin_registering_a_name_it_does_not_own_is_rejected(fresh_registry, make_dist):
    """Entry point ``mycosine``, class named ``cosine``: the built-in keeps its name."""
    make_dist(
        "hijack-dist",
        {"mycosine": "hijack{suffix}"},
        {"hijack{suffix}": HIJACK.replace("{name}", "cosine")},
    )
    for first in ("list", "lookup"):
        fresh_registry()
        if first == "list":
            names = {c.name for c in schedkit.registered()}  # loads the hijacker first
            assert "cosine" in names
        assert _real_cosine()
        assert schedkit.default_registry().get("schedule", "cosine").distribution == (
            "schedkit-schedules"
        )
        errors = schedkit.plugin_errors()
        assert len(errors) == 1
        assert isinstance(errors[0], ConflictError)
        msg = str(errors[0])
        assert "plugin 'mycosine' (hijack-dist) registers the schedule 'cosine'" in msg
        assert "belongs to the entry point 'cosine' of schedkit-schedules" in msg
        assert errors[0].distributions == ("hijack-dist", "schedkit-schedules")
        with pytest.raises(ConflictError, match="belongs to the entry point 'cosine'"):
            schedkit.get_schedule("mycosine")
        assert _real_cosine()


def test_two_distributions_declaring_one_name_disable_both_until_one_is_disabled(
    fresh_registry, make_dist
):
    make_dist(
        "evil-dist",
        {"cosine": "evil{suffix}"},
        {"evil{suffix}": HIJACK.replace("{name}", "cosine")},
    )
    fresh_registry()
    with pytest.raises(ConflictError) as e:
        schedkit.get_schedule("cosine", total=10)
    msg = str(e.value)
    assert "the plugin name 'cosine' is declared by several distributions" in msg
    assert "schedkit-schedules (cosine = schedkit_schedules.cosine)" in msg
    assert "evil-dist (cosine = evil_" in msg
    assert "SCHEDKIT_DISABLED_PLUGINS=evil-dist" in msg
    # everything else works, and other look-ups say what is wrong with them
    assert schedkit.get_schedule("linear", total=10)(0) == 1.0
    with pytest.raises(UnknownNameError, match=r"unknown schedule 'cosin'; did you mean 'cosine'"):
        schedkit.get_schedule("cosin")
    with pytest.raises(UnknownNameError, match=r"^unknown schedule 'nope'"):
        schedkit.get_schedule("nope")
    names = {c.name for c in schedkit.registered()}  # listing does not raise
    assert "linear" in names
    assert "cosine" not in names
    assert [type(err) for err in schedkit.plugin_errors()] == [ConflictError]
    assert set(schedkit.plugin_errors()[0].distributions) == {"evil-dist", "schedkit-schedules"}

    # the ways out: disable either distribution, or the third party with autoload off
    fresh_registry(SCHEDKIT_DISABLED_PLUGINS="evil-dist")
    assert _real_cosine()
    assert schedkit.plugin_errors() == []
    fresh_registry(SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD="1")
    assert _real_cosine()
    fresh_registry(SCHEDKIT_DISABLED_PLUGINS="schedkit-schedules")
    assert schedkit.get_schedule("cosine")(0) == 1234.0
    assert schedkit.default_registry().get("schedule", "cosine").distribution == "evil-dist"


def test_a_name_inside_another_distributions_namespace_is_a_conflict(fresh_registry, make_dist):
    make_dist(
        "nested-dist",
        {"torch.StepLR": "nested{suffix}"},
        {"nested{suffix}": HIJACK.replace("{name}", "torch.StepLR")},
    )
    fresh_registry()
    with pytest.raises(ConflictError, match="lies in the namespace of the plugin 'torch'"):
        schedkit.get_schedule("torch.StepLR", step_size=2)
    fresh_registry(SCHEDKIT_DISABLED_PLUGINS="nested-dist")
    assert schedkit.get_schedule("torch.StepLR", step_size=2)(0) == 1.0


def test_a_free_name_registered_by_two_plugins_answers_to_neither(fresh_registry, make_dist):
    two = GOOD + "\nregistry_extra = None\n"
    for dist, own in (("free-a", "free_a"), ("free-b", "free_b")):
        make_dist(
            dist,
            {own: f"{own}{{suffix}}"},
            {
                f"{own}{{suffix}}": two.replace("{name}", own).replace(
                    "registry.add(Half, examples=[{}])",
                    "registry.add(Half, aliases=['shared_free_name'], examples=[{}])",
                )
            },
        )
    fresh_registry()
    assert schedkit.get_schedule("free_a")(0) == 0.5
    with pytest.raises(ConflictError, match="schedule 'shared_free_name' is registered by") as e:
        schedkit.get_schedule("shared_free_name")
    assert set(e.value.distributions) == {"free-a", "free-b"}
    assert schedkit.get_schedule("free_b")(0) == 0.5
    fresh_registry(SCHEDKIT_DISABLED_PLUGINS="free-b")
    assert schedkit.default_registry().get("schedule", "shared_free_name").plugin == "free_a"


def test_a_plugin_with_a_malformed_registration_is_rejected_whole(fresh_registry, make_dist):
    src = GOOD.replace(
        "registry.add(Half, examples=[{}])", "registry.add(Half)\n    registry.add(42)"
    )
    make_dist(
        "half-dist",
        {"half_good": "half{suffix}"},
        {"half{suffix}": src.replace("{name}", "half_good")},
    )
    fresh_registry()
    with pytest.raises(PluginImportError, match=r"plugin \"half_good\" \(from half-dist\)") as e:
        schedkit.get_schedule("half_good")
    assert "registry.add expects a class, got 42 (int)" in str(e.value)
    assert "half_good" not in {c.name for c in schedkit.registered()}
    errors = schedkit.plugin_errors()
    assert [(err.plugin, err.distribution) for err in errors] == [("half_good", "half-dist")]
    with pytest.raises(
        UnknownNameError, match=r"unknown schedule 'cosin'; did you mean 'cosine'\?"
    ):
        schedkit.get_schedule("cosin")
    assert _real_cosine()


def test_two_distributions_declaring_one_plugin_name(fresh_registry, make_dist):
    make_dist(
        "dup-a",
        {"dup_plugin": "dup_a{suffix}"},
        {"dup_a{suffix}": GOOD.replace("{name}", "dup_plugin")},
    )
    make_dist(
        "dup-b",
        {"dup_plugin": "dup_b{suffix}"},
        {"dup_b{suffix}": GOOD.replace("{name}", "dup_plugin")},
    )
    fresh_registry()
    with pytest.raises(
        ConflictError,
        match=r"plugin name 'dup_plugin' is declared by several distributions: dup-a .*dup-b",
    ):
        schedkit.get_schedule("dup_plugin")


def test_plugin_errors_never_raise_even_when_strict(fresh_registry, make_dist):
    make_dist(
        "evil-strict", {"cosine": "evs{suffix}"}, {"evs{suffix}": GOOD.replace("{name}", "cosine")}
    )
    fresh_registry(SCHEDKIT_STRICT_PLUGINS="1")
    assert [type(e) for e in schedkit.plugin_errors()] == [ConflictError]
    with pytest.raises(ConflictError):
        schedkit.registered()


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
        UnknownNameError, match="plugins that failed to load and may provide it: 'broken_thing'"
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

    fresh_registry(SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD="1")

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


def test_schedkit_list_shows_problems_beside_what_works(fresh_registry, make_dist, capsys):
    from schedkit.cli import main

    make_dist(
        "evil-list", {"cosine": "evl{suffix}"}, {"evl{suffix}": GOOD.replace("{name}", "cosine")}
    )
    make_dist(
        "broken-list",
        {"broken_listed": "brl{suffix}"},
        {"brl{suffix}": "raise RuntimeError('boom in list')\n"},
    )
    fresh_registry()
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "linear" in out
    assert "fixture_step_down" in out
    assert "conflicts (these names answer to no plugin):" in out
    assert "the plugin name 'cosine' is declared by several distributions" in out
    assert "broken_listed (broken-list): RuntimeError: boom in list" in out
    assert "boom in list" in err
    assert main(["list", "--strict"]) == 1
    capsys.readouterr()
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "linear" in {c["name"] for c in data["components"]}
    assert [b["plugin"] for b in data["broken"]] == ["broken_listed"]
    assert set(data["conflicts"][0]["distributions"]) == {"evil-list", "schedkit-schedules"}


def test_a_first_party_name_without_its_distribution_says_what_to_install():
    from schedkit.registry import Registry, installed_sources

    only_core = Registry(
        sources=lambda: [s for s in installed_sources() if s.distribution == "schedkit-core"],
        env={},
    )
    with pytest.raises(UnknownNameError) as e:
        only_core.get("schedule", "cosine")
    assert str(e.value).startswith("unknown schedule 'cosine'")
    assert "'cosine' comes with schedkit-schedules, which is not installed" in str(e.value)
    assert "pip install schedkit-schedules" in str(e.value)
    with pytest.raises(UnknownNameError, match="pip install schedkit-compat"):
        only_core.get("schedule", "torch.StepLR")
    with pytest.raises(UnknownNameError, match="pip install schedkit-clipping"):
        only_core.get("clipper", "norm")
    assert only_core.get("schedule", "warmup").distribution == "schedkit-core"


def test_the_first_party_table_matches_the_declared_entry_points():
    from pathlib import Path

    import tomllib

    from schedkit._first_party import CONVERTERS, DISTRIBUTIONS, PROVIDERS

    root = Path(__file__).resolve().parents[2]
    declared = {}
    converters = set()
    for pyproject in [root / "core" / "pyproject.toml", *root.glob("plugins/*/pyproject.toml")]:
        data = tomllib.loads(pyproject.read_text())
        dist = data["project"]["name"]
        eps = data["project"].get("entry-points", {})
        for name in eps.get("schedkit", {}):
            declared[name] = dist
        if eps.get("schedkit.converters"):
            converters.add(dist)
    assert declared == PROVIDERS
    assert converters == {CONVERTERS}
    # the meta-distribution installs every first-party distribution, and only those
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {d.partition("=")[0] for d in meta} == DISTRIBUTIONS
