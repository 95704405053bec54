"""The generated reference: a page for every registered component, with its formula."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import schedkit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_pages", ROOT / "docs" / "gen_pages.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_component_gets_a_page_and_every_family_a_picture(gen, monkeypatch):
    monkeypatch.setattr(gen, "plot_png", lambda info: b"\x89PNG fake")
    files: dict[str, str | bytes] = {}
    gen.generate(files.__setitem__)
    for info in schedkit.registered():
        folder = gen.KIND_DIRS[info.kind]
        page = files[f"reference/{folder}/{info.name}.md"]
        assert isinstance(page, str)
        assert info.doc.splitlines()[0] in page
        assert "## Parameters" in page
        if info.kind == "schedule":
            assert f"reference/{folder}/{info.name}.png" in files
            assert f"![{info.name}]({info.name}.png)" in page
            assert f"]({folder}/{info.name}.png)" in files["reference/gallery.md"]
    cosine = files["reference/schedules/cosine.md"]
    assert "cos(2*pi*cycles*p)" in cosine  # the formula
    assert "| `total` | `duration` | required |" in cosine
    hooks = files["reference/hooks.md"]
    for name in ("schedkit_add_schedules", "schedkit_add_rules", "schedkit_add_clippers"):
        assert f"## `{name}(registry: Registrar) -> None`" in hooks


def test_docs_pages_in_the_nav_exist():
    import re

    nav = (ROOT / "mkdocs.yml").read_text()
    for page in re.findall(r":\s*([\w/-]+\.md)\s*$|^\s*-\s*([\w/-]+\.md)\s*$", nav, flags=re.M):
        name = page[0] or page[1]
        if not name.startswith("reference/") and name != "examples.md":  # generated
            assert (ROOT / "docs" / name).exists(), name


def test_the_migrating_pages_setup_snippets_build():
    import re

    import tomllib

    text = (ROOT / "docs" / "migrating.md").read_text()
    built = []
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        table = tomllib.loads(block)
        if "optimizer" in table:  # a whole setup: its values resolve against its optimizer
            setup = schedkit.loads_setup(block)
            built += [e.schedule.spec()["type"] for e in setup.schedules]
            built += [r.spec()["type"] for r in setup.rules]
            built += [setup.clip["type"]] if setup.clip else []
            continue
        for spec in table.get("schedules", {}).values():
            built.append(schedkit.get_schedule(spec).spec()["type"])
        for spec in table.get("rules", []):
            built.append(schedkit.get_rule(spec).spec()["type"])
        if "clip" in table:
            built.append(schedkit.get_clipper(table["clip"]).spec()["type"])
    for name in (
        "cerebras.SequentialLR",
        "detectron2.WarmupMultiStepLR",
        "detectron2.default",
        "detectron2.norm",
        "mmpretrain.layer_decay",
        "torch.CosineAnnealingLR",
        "megatron.OptimizerParamScheduler",
        "composer.CosineAnnealingWithWarmupScheduler",
    ):
        assert name in built


def _figures(gen, monkeypatch, make):
    """The matplotlib figures ``make`` draws (read before they become PNG bytes)."""
    figures = []
    monkeypatch.setattr(gen, "_png", lambda fig: figures.append(fig) or b"\x89PNG")
    make()
    return figures


def test_the_composition_page_draws_each_warmup_mode(gen, monkeypatch):
    (fig,) = _figures(gen, monkeypatch, gen.warmup_modes_png)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "shift",
        "overlay",
        "replace",
        "bridge",
    ]
    curves = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()[:4]}
    # the composition page's table, sampled at steps 20 and 30
    assert round(curves["shift"][30], 4) == 1.0
    assert round(curves["overlay"][20], 4) == 0.6365
    assert round(curves["replace"][30], 4) == 0.8042
    assert round(curves["bridge"][20], 4) == 0.5695
    assert "](img/warmup-modes.png)" in (ROOT / "docs" / "composition.md").read_text()


def test_the_migrating_page_draws_timm_against_its_native_mapping(gen, monkeypatch):
    (fig,) = _figures(gen, monkeypatch, gen.migrating_timm_png)
    (ax,) = fig.axes
    original, native, shift = (list(line.get_ydata()) for line in ax.get_lines())
    assert len(original) == len(native) == 201
    assert max(abs(a - b) for a, b in zip(original, native, strict=True)) < 1e-12
    assert abs(shift[100] - native[100]) > 1e-5  # the default warmup is not timm's
    import math

    # timm's formula: the cosine on the run's clock from update 20 on
    expected = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 20 / 200))
    assert abs(original[0] - 1e-6) < 1e-15
    assert abs(original[20] - expected) < 1e-12
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3
    assert "timm" in labels[0]
    assert "](img/migrating-timm.png)" in (ROOT / "docs" / "migrating.md").read_text()


def test_the_performance_chart_reads_the_pages_numbers(gen, monkeypatch):
    (fig,) = _figures(gen, monkeypatch, gen.performance_png)
    step, clip, start = fig.axes
    heights = sorted(round(p.get_height(), 2) for p in step.patches)
    assert 0.51 in heights
    assert 633.0 in heights
    assert 1175.0 in heights
    assert len(step.patches) == 12  # 3 group counts x 4 candidates
    widths = sorted(round(p.get_width(), 2) for p in clip.patches)
    assert widths == sorted([0.92, 1.09, 0.99, 0.95, 0.08, 0.55, 0.23, 0.22])
    assert [t.get_text() for t in step.get_legend().get_texts()] == [
        "schedkit",
        "torch",
        "transformers",
        "floor",
    ]
    # start-up: schedkit's and each peer's share of torch's instructions, against the 3% bar
    widths = sorted(round(p.get_width(), 4) for p in start.patches)
    assert widths == sorted([1.74, 41.2, 18.2, 0.11])
    assert [line.get_xdata()[0] for line in start.get_lines()] == [3.0]
    labels = [" ".join(t.get_text().split()) for t in start.get_yticklabels()]
    assert labels == ["schedkit", "transformers", "timm", "fvcore"]
    for label in labels:
        assert "round" not in label
    assert "](img/performance.png)" in (ROOT / "docs" / "performance.md").read_text()


def test_the_new_pictures_are_real_pngs(gen):
    import io

    from matplotlib.image import imread

    for make in (gen.warmup_modes_png, gen.migrating_timm_png, gen.performance_png):
        image = imread(io.BytesIO(make()))
        height, width = image.shape[:2]
        assert width >= 1000, make.__name__
        assert height >= 450, make.__name__


def _bash_blocks(text: str) -> list[str]:
    import re

    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_the_home_pages_first_command_works_from_a_checkout():
    """schedkit is not on the package index: the first command installs the checkout."""
    first = _bash_blocks((ROOT / "docs" / "index.md").read_text())[0]
    assert "pip install schedkit" not in first
    assert "pip install -c constraints.txt -r requirements.txt" in first
    assert "schedkit preview examples/vit-finetune.toml" in first
    assert (ROOT / "examples" / "vit-finetune.toml").is_file()


def test_the_main_job_installs_what_schedkit_plot_needs():
    """The README's main job installs requirements.txt; ``schedkit plot -o x.png`` needs
    the core's ``plot`` extra (matplotlib), so requirements.txt asks for it; ``Setup.to_toml``
    needs tomlkit, a dependency of the core itself."""
    import re

    import tomllib

    readme = (ROOT / "README.md").read_text()
    main_job = _bash_blocks(readme.split("## The two commands", 1)[1])[0]
    assert "-c constraints.txt -r requirements.txt" in main_job
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    core = [line for line in lines if re.match(r"-e \./core\b", line)]
    assert core == ["-e ./core[plot]"]
    extras = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("matplotlib") for d in extras["optional-dependencies"]["plot"])
    assert any(d.startswith("tomlkit") for d in extras["dependencies"])
    assert "torch==" in (ROOT / "constraints.txt").read_text()


def test_summaries_do_not_stop_at_abbreviations(gen):
    doc = "The product of schedules (e.g. a decay times a bump), i.e. a chain. More.\n\nBody."
    assert gen.summary(doc) == (
        "The product of schedules (e.g. a decay times a bump), i.e. a chain."
    )
    assert gen.summary("One line\nover two. Second.") == "One line over two."
    chain = next(i for i in schedkit.registered("schedule") if i.name == "chain")
    assert gen.summary(chain.doc).endswith("(e.g. a decay times a periodic bump).")


def test_every_parameter_table_has_a_description_column_and_the_warmup_is_described(gen):
    cosine = next(i for i in schedkit.registered("schedule") if i.name == "cosine")
    page = gen.component_page(cosine, None)
    assert "| parameter | type | default | description |" in page
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[4].strip()
        for line in page.splitlines()
        if line.startswith("| `")
    }
    for name in ("warmup", "warmup_start", "warmup_kind", "warmup_mode"):
        assert "](../../composition.md#warmup)" in rows[name], name
    assert "`bridge`" in rows["warmup_mode"]
    assert "`exponential`" in rows["warmup_kind"]
    assert "``end``" in rows["end"]  # from the docstring's own prose
    assert gen.parameter_description("x", "Uses ``x`` (never below ``y``; more).") == (
        "see the description above"
    )
    assert gen.parameter_description("nope", "Nothing here.") == ""


def _text_boxes(fig):
    """Window boxes of a figure's labels, titles and legends, and the figure's own box."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = {}
    for i, ax in enumerate(fig.axes):
        for name, art in (("xlabel", ax.xaxis.label), ("ylabel", ax.yaxis.label)):
            if art.get_text():
                boxes[f"axes {i} {name}"] = art.get_window_extent(renderer)
        if ax.get_title(loc="left") or ax.get_title():
            title = ax._left_title if ax.get_title(loc="left") else ax.title
            boxes[f"axes {i} title"] = title.get_window_extent(renderer)
        if ax.get_legend() is not None:
            boxes[f"axes {i} legend"] = ax.get_legend().get_window_extent(renderer)
    for j, legend in enumerate(fig.legends):
        boxes[f"legend {j}"] = legend.get_window_extent(renderer)
    for name in ("_suptitle", "_supylabel", "_supxlabel"):
        art = getattr(fig, name, None)
        if art is not None and art.get_text():
            boxes[name] = art.get_window_extent(renderer)
    return boxes, fig.bbox


@pytest.mark.parametrize("name", ["cosine", "warmup", "plateau", "torch.OneCycleLR", "wsd"])
def test_family_pictures_keep_labels_inside_and_apart(gen, name):
    """The family pages' and the gallery's pictures: no label runs off the figure (a long
    y label on a short panel did) and no label sits on a legend (the x label did)."""
    import itertools

    pytest.importorskip("matplotlib")
    info = next(i for i in schedkit.registered("schedule") if i.name == name)
    boxes, whole = _text_boxes(gen.plot_figure(info))
    assert any("label" in k for k in boxes)
    outside = [
        k
        for k, b in boxes.items()
        if b.x0 < whole.x0 - 1 or b.y0 < whole.y0 - 1 or b.x1 > whole.x1 + 1 or b.y1 > whole.y1 + 1
    ]
    assert outside == []
    overlapping = [
        (a, b) for (a, x), (b, y) in itertools.combinations(boxes.items(), 2) if x.overlaps(y)
    ]
    assert overlapping == []


def test_the_migrating_pages_table_of_contents_has_no_duplicates():
    """The page as built (the converted examples put in): each heading once."""
    import re
    from collections import Counter

    spec = importlib.util.spec_from_file_location("gen_convert", ROOT / "docs" / "gen_convert.py")
    assert spec is not None
    assert spec.loader is not None
    gen_convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_convert)
    text = gen_convert.page((ROOT / "docs" / "migrating.md").read_text())
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    headings = re.findall(r"^#{2,6} (.+)$", prose, flags=re.M)
    assert len(headings) > 10
    assert [h for h, n in Counter(h.replace("`", "") for h in headings).items() if n > 1] == []
    assert "timm: timm-deit-small.yaml" in [h.replace("`", "") for h in headings]


def test_plugins_page_lists_every_extension_point(gen):
    """docs/plugins.md's table of hooks is rendered from the code: every hook a schedule
    family may declare on ``ScheduleHooks`` or ``BaseSchedule``, every hook of ``BaseRule``
    and ``BaseClipper`` and every protocol of an optional behaviour is in it, with its
    contract."""
    from schedkit import hooks, protocols
    from schedkit.plugin import BaseClipper, BaseRule, BaseSchedule

    def public(cls: type) -> set[str]:
        return {n for n in vars(cls) if not n.startswith("_")}

    declared = public(hooks.ScheduleHooks) - {"spec"}
    assert declared == set(hooks.SCHEDULE_HOOKS)
    # ``name`` is required, not a hook; ``accepts_warmup`` is ScheduleHooks' own
    own = public(BaseSchedule) - {"name", "accepts_warmup"}
    assert own == set(hooks.BASE_SCHEDULE_HOOKS)
    assert public(BaseRule) - {"name"} == set(hooks.RULE_HOOKS)
    # the rest of BaseClipper is what the base class gives every strategy (its fields,
    # the state it keeps, attach, global_norm, finite, drop), not what a strategy overrides
    given = {"name", "nonfinite", "schedule", "state", "global_norm", "finite", "attach", "drop"}
    given |= {"last_result", "skipped_steps", "state_dict", "load_state_dict", "check_state"}
    assert public(BaseClipper) - given == set(hooks.CLIPPER_HOOKS)
    page = gen.plugins_page()
    for where, names in (
        ("schedule", (*hooks.SCHEDULE_HOOKS, *hooks.BASE_SCHEDULE_HOOKS)),
        ("rule", hooks.RULE_HOOKS),
        ("clipper", hooks.CLIPPER_HOOKS),
    ):
        for name in names:
            assert f"| {where} | `{name}" in page
    for where, proto in protocols.OPTIONAL_BEHAVIOURS:
        assert f"| {where} | `{proto.__name__}` (protocol)" in page
    for _where, hook, contract in gen.extension_points():
        assert contract, f"{hook} has no contract"


def test_plugins_page_holds_the_rendered_table(gen):
    """The table committed in docs/plugins.md is the one the code renders (run
    ``python docs/gen_pages.py --hooks`` after changing a hook)."""
    committed = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert gen.EXTENSION_POINTS_MARK in committed
    assert gen.EXTENSION_POINTS_END in committed
    assert committed == gen.plugins_page(), "run: python docs/gen_pages.py --hooks"


def test_the_mup_picture_shows_what_the_rules_page_says(gen, monkeypatch):
    """With one lr for every layer the best lr moves as the MLP widens; with the mup rule
    it stays the base model's, and the widest model is the best there."""
    import io

    from matplotlib.image import imread

    runs = {mu: gen.mup_runs(mu) for mu in (False, True)}

    def best(losses):
        return min(range(len(losses)), key=losses.__getitem__)

    plain = {w: best(v) for w, v in runs[False].items()}
    mup = {w: best(v) for w, v in runs[True].items()}
    assert len(set(plain.values())) > 1, plain
    assert len(set(mup.values())) == 1, mup
    at = mup[gen.MUP_WIDTHS[0]]
    assert runs[True][gen.MUP_WIDTHS[-1]][at] < runs[True][gen.MUP_WIDTHS[0]][at]
    monkeypatch.setattr(gen, "mup_runs", runs.__getitem__)
    image = imread(io.BytesIO(gen.mup_transfer_png()))
    assert image.shape[1] >= 1000
    assert "](img/mup-transfer.png)" in (ROOT / "docs" / "rules.md").read_text()
