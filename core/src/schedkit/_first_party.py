"""Which first-party distribution provides which plugin name.

With only ``schedkit-core`` installed, ``unknown schedule 'cosine'`` can then say
``pip install schedkit-schedules``. A test keeps this table equal to the entry points
declared in ``plugins/*/pyproject.toml``.
"""

from __future__ import annotations

_BY_DISTRIBUTION: dict[str, tuple[str, ...]] = {
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
        "plateau",
        "range_test",
        "noise",
        "lambda",
        "transformers",
        "constant_with_warmup",
        "reduce_lr_on_plateau",
        "warmup_stable_decay",
        "cosine_with_restarts",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
    ),
    "schedkit-layer-decay": ("layer_decay",),
    "schedkit-param-rules": ("no_weight_decay", "overrides", "bias"),
    "schedkit-clipping": ("norm", "value", "param_norm", "agc", "adaptive"),
    "schedkit-compat": (
        "torch",
        "cerebras",
        "detectron2",
        "timm",
        "mmpretrain",
        "hf_trainer",
        "deepspeed",
        "mmengine",
    ),
}

#: plugin name -> the first-party distribution that declares it
PROVIDERS: dict[str, str] = {
    name: dist for dist, names in _BY_DISTRIBUTION.items() for name in names
}
