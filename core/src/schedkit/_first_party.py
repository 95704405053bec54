"""The first-party distributions, in one place: which plugin names each declares, and
which distribution holds the converters.

They load even with ``SCHEDKIT_DISABLE_PLUGIN_AUTOLOAD=1`` (the registry and the
converters); and with only ``schedkit-core`` installed, ``unknown schedule 'cosine'`` can
say ``pip install schedkit-schedules``. A test keeps this table equal to the entry points
declared in ``core/pyproject.toml`` and ``plugins/*/pyproject.toml``, and to the
distributions the ``schedkit`` meta-distribution installs.
"""

from __future__ import annotations

#: first-party distribution -> the entry points of the group ``schedkit`` it declares
PLUGINS: dict[str, tuple[str, ...]] = {
    "schedkit-core": ("compose", "warmup", "sequence", "chain", "scale", "stretch"),
    "schedkit-schedules": (
        "constant",
        "linear",
        "polynomial",
        "exponential",
        "step",
        "multistep",
        "piecewise",
        "inverse_time",
        "inverse_sqrt",
        "tanh",
        "cosine",
        "cosine_restarts",
        "cyclic",
        "one_cycle",
        "wsd",
        "wsds",
        "plateau",
        "range_test",
        "noise",
        "lambda",
        "transformers",
        "constant_with_warmup",
        "reduce_lr_on_plateau",
        "warmup_stable_decay",
        "wsd_s",
        "cosine_with_restarts",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
    ),
    "schedkit-layer-decay": ("layer_decay",),
    "schedkit-param-rules": ("no_weight_decay", "overrides", "bias", "mup"),
    "schedkit-clipping": ("norm", "value", "param_norm", "agc", "adaptive", "zclip"),
    "schedkit-compat": (
        "torch",
        "cerebras",
        "detectron2",
        "timm",
        "mmpretrain",
        "hf_trainer",
        "deepspeed",
        "mmengine",
        "olmo",
        "pytorch_optimizer",
        "megatron",
        "composer",
    ),
}

#: the distribution of the first-party converters (the group ``schedkit.converters``)
CONVERTERS = "schedkit-convert"

#: every first-party distribution (canonical names)
DISTRIBUTIONS = frozenset({*PLUGINS, CONVERTERS})

#: plugin name -> the first-party distribution that declares it
PROVIDERS: dict[str, str] = {name: dist for dist, names in PLUGINS.items() for name in names}
