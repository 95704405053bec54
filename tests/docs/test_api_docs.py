"""The API page's docstrings: one style (reST field lists), nothing left to leak as raw markup.

The site renders docstrings through mkdocstrings' sphinx parser plus the griffe extension in
``docs/api_docstrings.py`` (inline roles to code spans, doctests to code blocks, private
parameters hidden). These tests read the same docstrings and fail when one would show raw
markup on the site, or when a main entry point leaves a parameter undescribed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import schedkit
import schedkit.plugin
import schedkit.testing
from schedkit import hookspecs

ROOT = Path(__file__).resolve().parents[2]

ENTRY_POINTS = {
    "get_scheduler": schedkit.get_scheduler,
    "get_schedule": schedkit.get_schedule,
    "load_setup": schedkit.load_setup,
    "loads_setup": schedkit.loads_setup,
    "Setup.build": schedkit.Setup.build,
    "Built": schedkit.Built,
    "build_param_groups": schedkit.build_param_groups,
    "get_rule": schedkit.get_rule,
    "get_clipper": schedkit.get_clipper,
    "convert": schedkit.convert,
    "Setup": schedkit.Setup,
    "warmup": schedkit.warmup,
    "sequence": schedkit.sequence,
    "chain": schedkit.chain,
    "scale": schedkit.scale,
    "stretch": schedkit.stretch,
    "to_steps": schedkit.to_steps,
    "resolve": schedkit.resolve,
}


@pytest.fixture(scope="module")
def render() -> ModuleType:
    path = ROOT / "docs" / "api_docstrings.py"
    spec = importlib.util.spec_from_file_location("api_docstrings", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _own(module: ModuleType) -> list[str]:
    """A module's public functions and classes defined there (those without ``__all__``)."""
    return [
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
    ]


def _public_docstrings() -> dict[str, str]:
    """Every public object's docstring, and those of its public methods and properties."""
    out: dict[str, str] = {}
    modules: list[tuple[str, ModuleType, list[str]]] = [
        ("schedkit", schedkit, list(schedkit.__all__)),
        ("schedkit.plugin", schedkit.plugin, list(schedkit.plugin.__all__)),
        ("schedkit.testing", schedkit.testing, _own(schedkit.testing)),
        (
            "schedkit.hookspecs",
            hookspecs,
            [n for n in vars(hookspecs) if n.startswith("schedkit_")],
        ),
    ]
    for prefix, module, names in modules:
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj) and not obj.__module__.startswith("schedkit"):
                continue  # a third party's class re-exported (attrs.Attribute): its own docs
            out[f"{prefix}.{name}"] = inspect.getdoc(obj) or ""
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if member.startswith("_"):
                        continue
                    doc = getattr(value, "__doc__", None)
                    if isinstance(value, (property, staticmethod, classmethod)) or callable(value):
                        out[f"{prefix}.{name}.{member}"] = inspect.cleandoc(doc or "")
    return out


def test_the_renderer_turns_roles_into_code_and_doctests_into_blocks(render):
    text = (
        "A :class:`Scheduler` from :func:`~schedkit.get_schedule`, see :meth:`Built.step`.\n"
        "\n"
        ">>> sched = get_scheduler('cosine', opt, total=10)  # doctest: +SKIP\n"
        ">>> sched(\n"
        "...     3\n"
        "... )\n"
        "0.5\n"
        "\n"
        "After."
    )
    out = render.clean(text)
    assert out.splitlines()[0] == ("A `Scheduler` from `get_schedule()`, see `Built.step()`.")
    assert "```pycon\n>>> sched = get_scheduler('cosine', opt, total=10)\n>>> sched(\n" in out
    assert "... )\n0.5\n```\n\nAfter." in out
    assert "doctest" not in out
    assert render.leaks(text) == []
    assert render.leaks("see :ref:`somewhere`") == [":ref:`"]


def test_the_plain_pages_render_field_lists(render):
    doc = "Add schedules.\n:param registry: the registrar.\n:returns: nothing."
    assert render.markdown(doc) == (
        "Add schedules.\n\n- `registry`: the registrar.\n- Returns: nothing."
    )


def test_no_public_docstring_leaks_markup(render):
    docs = _public_docstrings()
    assert len(docs) > 60
    leaking = {name: render.leaks(doc) for name, doc in docs.items() if render.leaks(doc)}
    assert leaking == {}


def test_doctests_in_public_docstrings_become_blocks_without_directives(render):
    doc = inspect.getdoc(schedkit.get_scheduler) or ""
    assert "# doctest: +SKIP" in doc  # the source keeps what doctest needs
    out = render.clean(doc)
    assert "```pycon" in out
    assert "doctest" not in out
    assert not any(line.startswith(">>>") for line in out.split("```pycon", 1)[0].splitlines())


def _documented(doc: str) -> set[str]:
    return set(re.findall(r"^:param (\w+):", doc, flags=re.M))


def _parameters(obj: Any) -> set[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    return {
        name
        for name, p in inspect.signature(target).parameters.items()
        if name != "self" and not name.startswith("_")
    }


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_main_entry_point_describes_each_parameter(name):
    obj = ENTRY_POINTS[name]
    doc = inspect.getdoc(obj) or ""
    params = _parameters(obj)
    assert params, name
    assert _documented(doc) == params, name
    if not inspect.isclass(obj):
        assert re.search(r"^:returns:", doc, flags=re.M), name


def test_the_site_renders_parameter_tables_and_hides_private_parameters(render):
    griffe = pytest.importorskip("griffe")
    package = griffe.load(
        "schedkit",
        search_paths=[str(ROOT / "core" / "src")],
        extensions=griffe.load_extensions(render.RenderDocstrings),
        docstring_parser=griffe.Parser.sphinx,
    )
    for name, obj in ENTRY_POINTS.items():
        target = package[name]
        sections = target.docstring.parse(griffe.Parser.sphinx)
        kinds = {s.kind.value: s for s in sections}
        assert "parameters" in kinds, name
        described = {p.name for p in kinds["parameters"].value}
        assert described == _parameters(obj), name
        text = "\n".join(str(s.value) for s in sections if s.kind.value == "text")
        for raw in (":class:`", ":meth:`", "doctest:"):
            assert raw not in text, name
    assert [p.name for p in package["get_schedule"].parameters] == ["name_or_spec", "params"]


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(dotted)


def test_every_documented_parameter_exists():
    """The build does not warn about unknown parameters (``Scheduler`` documents what its
    ``**options`` takes), so this test does: a documented name is in the signature, or the
    callable takes keyword arguments."""
    wrong = {}
    for name, doc in _public_docstrings().items():
        documented = _documented(doc)
        if not documented:
            continue
        obj = _resolve(name)
        target = obj.__init__ if inspect.isclass(obj) else obj
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            continue
        takes_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if not takes_keywords and not documented <= set(params):
            wrong[name] = sorted(documented - set(params))
    assert wrong == {}


def test_the_api_page_documents_every_public_name():
    page = (ROOT / "docs" / "api.md").read_text()
    shown = set(re.findall(r"^::: schedkit\.(?:schedule\.)?(\w+)$", page, flags=re.M))
    public = set(schedkit.__all__) - {"__version__"}
    assert sorted(public - shown) == []


def test_the_text_after_the_field_list_is_cut_off(render):
    doc = (
        "Lead.\n\n:param a: one\n    more.\n\n:raises SpecError: bad.\n\n>>> f(1)\n2\n\nThen prose."
    )
    assert render.split_tail(doc) == (
        "Lead.",
        ":param a: one\n    more.\n\n:raises SpecError: bad.",
        ">>> f(1)\n2\n\nThen prose.",
    )
    assert render.split_tail("Lead.\n\n:param a: x") == ("Lead.", ":param a: x", "")
    assert render.split_tail("No fields; :class:`X` here.") == (
        "No fields; :class:`X` here.",
        "",
        "",
    )
    assert render.has_examples(">>> f(1)")
    assert not render.has_examples("Then prose.")


@pytest.fixture(scope="module")
def site_objects(render: ModuleType) -> Any:
    griffe = pytest.importorskip("griffe")
    return griffe.load(
        "schedkit",
        search_paths=[str(ROOT / "core" / "src")],
        extensions=griffe.load_extensions(render.RenderDocstrings),
        docstring_parser=griffe.Parser.sphinx,
    )


def test_examples_after_the_fields_render_below_the_tables_not_in_the_raises_table(
    site_objects,
):
    for name in ("get_scheduler", "get_schedule", "build_param_groups"):
        sections = site_objects[name].docstring.parsed
        kinds = [s.kind.value for s in sections]
        assert kinds[-1] == "examples", name
        raises = next(s for s in sections if s.kind.value == "raises")
        assert [">>>" in r.description or "pycon" in r.description for r in raises.value] == [
            False
        ] * len(raises.value), name
        (_, examples) = sections[-1].value[0]
        assert examples.startswith("```pycon\n>>> "), name
    # prose after the fields joins the description, not the last parameter
    sections = site_objects["Scheduler"].docstring.parsed
    last_epoch = [p for p in sections[1].value if p.name == "last_epoch"]
    assert "Each group's base value" not in last_epoch[0].description
    assert "Each group's base value is recorded once" in sections[0].value


@pytest.mark.parametrize("name", ["Setup", "Conversion", "ParamInfo"])
def test_attrs_classes_and_named_tuples_get_their_constructor_as_a_signature(site_objects, name):
    init = site_objects[name].all_members["__init__"]
    expected = list(inspect.signature(getattr(schedkit, name)).parameters)
    assert [p.name for p in init.parameters] == ["self", *expected]


@pytest.mark.parametrize("name", ["Warmup", "RuleEffect", "ClipResult", "Sequence"])
def test_components_get_their_fields_as_a_signature(site_objects, name):
    """attrs writes ``__init__`` at run time; the page shows the class's fields."""
    init = site_objects[name].all_members["__init__"]
    expected = [f.alias for f in schedkit.plugin.fields(getattr(schedkit, name)) if f.init]
    assert expected
    assert [p.name for p in init.parameters] == ["self", *expected]
    assert "args" not in [p.name for p in init.parameters]


def test_a_components_defaults_and_annotations_are_shown(site_objects):
    params = {p.name: p for p in site_objects["Warmup"].all_members["__init__"].parameters}
    assert params["schedule"].default is None
    assert str(params["start"].default) == "0.0"
    assert str(params["kind"].default) == "'linear'"
    assert str(params["steps"].annotation) == "int"
