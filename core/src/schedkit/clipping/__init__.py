"""What every gradient clipper shares, by responsibility:

- :mod:`schedkit.clipping.tensors`: the foreach norms and scalings per device and dtype
  (the same formulas and grouping as ``torch.nn.utils``, so results agree with torch's
  functions to the last bit), FSDP2 and pipeline norms, the ``norm_type`` field;
- :mod:`schedkit.clipping.target`: :class:`Target`, what a call clips, the refusal of
  sparse gradients and ``exclude`` patterns;
- :mod:`schedkit.clipping.base`: :class:`BaseClipper`, the call, the non-finite policy,
  AMP checks, scheduled thresholds, state and attaching to an optimizer.

A strategy subclasses :class:`BaseClipper` and implements
``clip(target, factor, process_group)`` returning a :class:`~schedkit.ClipResult`. Plugin
authors import all of this from :mod:`schedkit.plugin`.
"""

from __future__ import annotations

from schedkit.clipping.base import NONFINITE, BaseClipper
from schedkit.clipping.base import _unscale as _unscale  # setups unscale as clippers do
from schedkit.clipping.target import SparseGradientError, Target, check_exclude, name_matcher
from schedkit.clipping.tensors import (
    by_device_and_dtype,
    check_norm_type,
    materialise,
    norm_type,
    norms,
    reduce_norm,
    scale_,
    total_norm,
)

__all__ = [
    "NONFINITE",
    "BaseClipper",
    "SparseGradientError",
    "Target",
    "by_device_and_dtype",
    "check_exclude",
    "check_norm_type",
    "materialise",
    "name_matcher",
    "norm_type",
    "norms",
    "reduce_norm",
    "scale_",
    "total_norm",
]
