"""The tensor building blocks clippers share: foreach norms and scalings per device and
dtype (torch's own grouping and formulas, so results agree with ``torch.nn.utils`` to the last
bit), FSDP2's DTensor norms, norms combined over pipeline ranks, and the ``norm_type`` field.
Plugin authors import them from :mod:`schedkit.plugin`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import torch

from schedkit._numbers import as_real, show
from schedkit.errors import SpecError

_group: Any
try:  # torch's grouping for foreach kernels (C++), the one its clipping functions use
    from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype as _group
except ImportError:  # pragma: no cover - a torch without it groups in Python
    _group = None

#: the tensor types foreach kernels take as they are (a DTensor or other subclass does not)
_PLAIN = frozenset({torch.Tensor, torch.nn.Parameter})
#: the devices with foreach kernels
_FOREACH_DEVICES = ("cpu", "cuda")

# -- tensors ----------------------------------------------------------------------------


def by_device_and_dtype(tensors: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
    """``tensors`` grouped so each group can go to one foreach kernel (torch's own grouping,
    the one ``clip_grad_norm_`` uses, so norms are summed in torch's order)."""
    if not tensors:
        return []
    if _group is None:
        groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for t in tensors:
            groups.setdefault((t.device, t.dtype), []).append(t)
        return list(groups.values())
    out: list[list[torch.Tensor]] = [ts for [ts], _ in _group([list(tensors)]).values()]
    return out


def _plain(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether every tensor is a plain tensor (no DTensor or other subclass): one pass of
    ``type()``, as torch's ``_has_foreach_support`` makes."""
    return {type(t) for t in tensors} <= _PLAIN


def _foreach_ok(group: Sequence[torch.Tensor], plain: bool) -> bool:
    return group[0].device.type in _FOREACH_DEVICES and (plain or _plain(group))


def norms(tensors: Sequence[torch.Tensor], norm_type: float) -> list[torch.Tensor]:
    """The norm of each tensor (0-dim tensors), foreach where the device supports it; in the
    order of :func:`by_device_and_dtype`'s groups (one group: the order given)."""
    return _norms(tensors, norm_type, _plain(tensors))


def _norms(tensors: Sequence[torch.Tensor], norm_type: float, plain: bool) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for group in by_device_and_dtype(tensors):
        if _foreach_ok(group, plain):
            out.extend(torch._foreach_norm(group, norm_type))
        else:
            out.extend(torch.linalg.vector_norm(g, norm_type) for g in group)
    return out


def total_norm(tensors: Sequence[torch.Tensor], norm_type: float) -> torch.Tensor:
    """The norm of all ``tensors`` as one vector: ``torch.nn.utils.get_total_norm``'s formula."""
    if not tensors:
        return torch.tensor(0.0)
    plain = _plain(tensors)
    # FSDP2: torch's own function handles DTensors
    if not plain and any(_is_dtensor(t) for t in tensors):
        return torch.nn.utils.get_total_norm(tensors, norm_type)
    first = tensors[0].device
    each = _norms(tensors, norm_type, plain)
    out: torch.Tensor = torch.linalg.vector_norm(
        torch.stack([n.to(first) for n in each]), norm_type
    )
    return out


#: float types whose range a norm of finite values can overflow (fp16 tops out at 65504)
_NARROW = (torch.float16,)


def _wide_norm(
    grads: Sequence[torch.Tensor], norm_type: float, process_group: Any, narrow: torch.Tensor
) -> torch.Tensor:
    """The norm in float32 when the narrow one overflowed although every gradient is finite.

    An overflowing norm is not a non-finite gradient: the non-finite policy must not see it.
    Costs one host sync, and only for float16 gradients; whenever nothing overflows the
    norm is ``clip_grad_norm_``'s, in the gradients' dtype.
    """
    if not all(bool(torch.isfinite(g).all()) for g in grads):
        return narrow
    wide = materialise(total_norm([g.float() for g in grads], norm_type))
    if process_group is not None:
        wide = reduce_norm(wide, norm_type, process_group)
    return wide


def scale_(tensors: Sequence[torch.Tensor], coef: torch.Tensor) -> None:
    """Multiply every tensor in place by ``coef`` (a 0-dim tensor), foreach per device."""
    for group in by_device_and_dtype(tensors):
        c = coef.to(group[0].device)
        if group[0].device.type in _FOREACH_DEVICES:
            torch._foreach_mul_(group, c)
        else:
            for g in group:
                g.mul_(c)


def _is_dtensor(t: torch.Tensor) -> bool:
    return type(t).__name__ == "DTensor"


def materialise(t: torch.Tensor) -> torch.Tensor:
    """A DTensor norm (FSDP2) as the full value on every rank; a plain tensor as it is."""
    if type(t) in _PLAIN:
        return t
    full = getattr(t, "full_tensor", None)
    return full() if callable(full) else t


def reduce_norm(local: torch.Tensor, norm_type: float, group: Any) -> torch.Tensor:
    """Combine per-rank norms over ``group`` (pipeline stages holding different parameters)."""
    import torch.distributed as dist

    if math.isinf(norm_type):
        out = local.clone()
        dist.all_reduce(out, op=dist.ReduceOp.MAX, group=group)
        return out
    powered = local.double() ** norm_type
    dist.all_reduce(powered, op=dist.ReduceOp.SUM, group=group)
    return (powered ** (1.0 / norm_type)).to(local.dtype)


def norm_type(value: Any) -> Any:
    """``"inf"`` (TOML has no infinity literal) as ``math.inf``; ints as floats."""
    if isinstance(value, str) and value.lower() in ("inf", "infinity"):
        return math.inf
    if isinstance(value, int) and not isinstance(value, bool):
        real = as_real(value)  # an int no float holds is left for the check to refuse
        return value if real is None else real
    return value


def check_norm_type(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A p-norm order: a number > 0, or infinity."""
    if (
        isinstance(value, bool)
        or not isinstance(value, float)
        or not value > 0
        or math.isnan(value)
    ):
        raise SpecError(f"expected a norm type > 0 or 'inf', got {show(value)}", attribute.name)
