"""TOML-declared setups: a whole optimisation recipe in one file, validated before anything
is built, built with one call.

.. code-block:: toml

    [run]
    total = "100ep"
    steps_per_epoch = 500

    [optimizer]
    type = "AdamW"
    base_lr = 1.5e-4         # lr = base_lr * batch_size / 256 (the MAE/Goyal rule)
    lr_scaling = "linear"
    weight_decay = 0.05

    [[rules]]
    type = "layer_decay"
    rate = 0.65

    [schedules.lr]
    type = "cosine"
    warmup = "5ep"           # total defaults to run.total

    [clip]
    type = "norm"
    max_norm = 1.0

A file can only name registered components and ``torch.optim`` optimizers: nothing is
imported or executed from it. Every problem is reported with its key path, all at once.

The package, by responsibility: :mod:`~schedkit.setup.reading` (the file and its TOML),
:mod:`~schedkit.setup.tables` (each table into components, with its own checks),
:mod:`~schedkit.setup.call_forms` (values resolved against the other tables),
:mod:`~schedkit.setup.optimizers` (torch's optimizer classes and their options),
:mod:`~schedkit.setup.validation` (the model-free checks of a whole setup, run once),
:mod:`~schedkit.setup.recipe` (:class:`Setup` and its build), :mod:`~schedkit.setup.built`
(:class:`Built`), :mod:`~schedkit.setup.loading` (:func:`load_setup`, :func:`loads_setup`).
"""

from __future__ import annotations

from typing import Any

from schedkit.setup.built import Built
from schedkit.setup.call_forms import TRANSFORMERS_KEYS
from schedkit.setup.loading import load_setup, loads_setup
from schedkit.setup.optimizers import optimizer_class, optimizer_defaults
from schedkit.setup.problems import LR_KEYS, RUN_KEYS, SCALINGS, TABLES, SetupError
from schedkit.setup.recipe import Setup
from schedkit.setup.tables import ScheduleEntry

# shown and pickled under the package's name, as before the split (tracebacks, reprs)
_public: Any
for _public in (Built, ScheduleEntry, Setup, SetupError, load_setup, loads_setup):
    _public.__module__ = __name__
for _public in (optimizer_class, optimizer_defaults):
    _public.__module__ = __name__
del _public

__all__ = [
    "LR_KEYS",
    "RUN_KEYS",
    "SCALINGS",
    "TABLES",
    "TRANSFORMERS_KEYS",
    "Built",
    "ScheduleEntry",
    "Setup",
    "SetupError",
    "load_setup",
    "loads_setup",
    "optimizer_class",
    "optimizer_defaults",
]
