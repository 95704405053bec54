"""Reading and validating a setup from a TOML file, TOML text or a dict."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from schedkit.errors import SpecError
from schedkit.schedule import Unresolved
from schedkit.setup.problems import LR_KEYS, TABLES, SetupError, unknown_key
from schedkit.setup.reading import parse_toml, read_path
from schedkit.setup.recipe import Setup
from schedkit.setup.routing import OptimizerTable
from schedkit.setup.run import Run
from schedkit.setup.tables import ScheduleEntry, TableReader
from schedkit.setup.validation import dry_run, waiting


def load_setup(source: str | os.PathLike[str] | Mapping[str, Any]) -> Setup:
    """Read and validate a setup from a TOML file, or from the same as a dict.

    A string is always a path, whatever its suffix (``setup.cfg`` too); TOML text is read
    by :func:`loads_setup`.

    :param source: the path of a TOML file (``str`` or ``os.PathLike``), or the setup as a
        dict of tables.
    :returns: the :class:`Setup`, ready to :meth:`Setup.build` over a model.
    :raises SetupError: every problem found, each with its key path; a file that cannot be
        read, is not UTF-8 or not TOML is one problem naming the file.
    """
    if isinstance(source, Mapping):
        return _load(dict(source), "<dict>")
    if not isinstance(source, (str, os.PathLike)):
        raise SetupError(
            [SpecError(f"expected a path or a dict, got {type(source).__name__}: {source!r:.80}")]
        )
    return _load(*read_path(source))


def loads_setup(text: str) -> Setup:
    """Read and validate a setup from TOML text (what :func:`load_setup` reads from a file).

    :param text: the setup as TOML text.
    :returns: the :class:`Setup`, ready to :meth:`Setup.build` over a model.
    :raises SetupError: every problem found, each with its key path.

    >>> setup = loads_setup('[optimizer]\\ntype = "SGD"\\nlr = 0.1\\n')  # doctest: +SKIP
    """
    if not isinstance(text, str):
        raise SetupError(
            [SpecError(f"expected TOML text (a str), got {type(text).__name__}: {text!r:.80}")]
        )
    return _load(parse_toml(text, "<text>"), "<text>")


def in_run_units(
    entries: tuple[ScheduleEntry, ...], run: Run, problems: list[SpecError]
) -> tuple[ScheduleEntry, ...]:
    """The schedules with their durations in tokens and samples in the run's clock unit
    (steps at the run's ``tokens_per_step``; tokens or samples on a clock)."""
    tokens, samples = run.rates()
    out = []
    for entry in entries:
        if isinstance(entry.schedule, Unresolved):
            try:
                entry = attrs.evolve(
                    entry,
                    schedule=entry.schedule.in_steps(
                        tokens_per_step=tokens, samples_per_step=samples
                    ),
                )
            except SpecError as e:
                problems.append(e.at(f"schedules.{entry.name}"))
        out.append(entry)
    return tuple(out)


def _load(data: dict[str, Any], where: str) -> Setup:
    """The validated setup from the data of a file, text or dict."""
    loader = TableReader(data)
    for k in data:
        if k not in TABLES:
            loader.problems.append(unknown_key(k, TABLES, k))
    run = loader.run()
    total, spe, batch = run.total, run.steps_per_epoch, run.batch_size
    tables: tuple[OptimizerTable, ...] = ()
    if "optimizers" in data:
        if "optimizer" in data:
            loader.problems.append(
                SpecError(
                    "give one [optimizer] table or [optimizers.NAME] tables, not both",
                    "optimizers",
                )
            )
        tables = loader.optimizers()
        optimizer: dict[str, Any] = {}
    else:
        optimizer = loader.optimizer()
    rules = loader.rules()
    names = tuple(t.name for t in tables) if tables else None
    entries = in_run_units(loader.schedules(total, names), run, loader.problems)
    clip = loader.clip()
    resume = loader.resume()
    lr_keys = {k: optimizer.pop(k) for k in LR_KEYS if k in optimizer}
    if run.follow_lr and "lr_scaling" not in lr_keys:
        loader.problems.append(
            SpecError(
                "the lr follows the batch by [optimizer] lr_scaling: give base_lr with lr_scaling",
                "run.batch_ramp.follow_lr",
            )
        )
    setup = Setup(
        optimizer,
        lr=lr_keys.get("lr"),
        base_lr=lr_keys.get("base_lr"),
        lr_scaling=lr_keys.get("lr_scaling"),
        base_batch_size=lr_keys.get("base_batch_size", 256),
        rules=rules,
        schedules=entries,
        clip=clip,
        total=total,
        steps_per_epoch=spe,
        batch_size=batch,
        run=run,
        resume=resume,
        optimizers=tables,
    )
    if any(p.path.startswith("optimizer") for p in loader.problems):
        found = dry_run(None, entries, total, spe, None)  # the schedules alone
    else:
        # the lr a build without arguments uses (base_lr scaled by [run] batch_size), so
        # that build finds this validation done; base_lr as is when the batch comes later
        lrs: list[float | None] = []
        for table in setup.tables():
            try:
                lrs.append(table.learning_rate(batch))
            except SpecError:
                lrs.append(table.base_lr)
        found = setup._model_free_problems(tuple(lrs), spe, None)
    problems = loader.problems + [p for p in found if not waiting(p)]
    if problems:
        raise SetupError(problems, where)
    return setup
