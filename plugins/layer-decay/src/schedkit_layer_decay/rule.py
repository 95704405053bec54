"""The ``layer_decay`` rule."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import attrs
import torch

import schedkit
from schedkit import ParamInfo, RuleEffect, SpecError, UnplacedParameter
from schedkit.plugin import Column, Field, instance_of, optional, require_matches, steps
from schedkit_layer_decay import layouts


@functools.lru_cache(maxsize=1024)
def _scaled(scale: float) -> RuleEffect:
    """The effect "lr times ``scale``": one object per scale, shared by every build (effects
    are immutable; making them is a good part of a small build)."""
    return RuleEffect(multipliers={"lr": scale})


LAYOUTS = ("auto", "model", "vit", "timm", "hf", "stages", "resnet", "patterns")


def _pattern(p: Any) -> Any:
    """One ``[regex, depth]`` pair; ``[regex]`` or a depth of ``"auto"`` (TOML has no null)
    mean the regex's first group + 1."""
    if not isinstance(p, (list, tuple)):
        return p
    if len(p) == 1:
        return (p[0], None)
    if len(p) == 2 and p[1] == "auto":
        return (p[0], None)
    return tuple(p)


def _patterns(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_pattern(p) for p in value)
    return value


def _check_patterns(inst: Any, attribute: Field, value: Any) -> None:
    if not isinstance(value, tuple):
        raise SpecError(f"expected a list of [regex, depth] pairs, got {value!r}", attribute.name)
    for i, p in enumerate(value):
        ok = isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
        depth = p[1] if ok else None
        if not ok or not (
            depth is None or (isinstance(depth, int) and not isinstance(depth, bool))
        ):
            raise SpecError(
                f'expected [regex, depth], [regex] or [regex, "auto"] (the first group + 1), '
                f"got {list(p) if isinstance(p, tuple) else p!r}",
                f"{attribute.name}[{i}]",
            )
        if depth is not None and depth < 0:
            raise SpecError(
                f"a depth counts from 0 (the embeddings), got {depth}", f"{attribute.name}[{i}]"
            )


@attrs.frozen
class LayerDecay(schedkit.BaseRule):
    """Layer-wise lr decay (BEiT, MAE fine-tuning): deeper layers keep more of the lr.

    Each parameter's lr is multiplied by ``max(rate ** (num_layers - depth - 1), min_scale)``
    (mmpretrain's convention: the head, on top, keeps the full lr). The depth comes from the
    model's own ``get_layer_depth(name)`` when it has one (``layout="model"``, or ``auto``),
    else from a layout: ``vit`` (``cls_token``, ``pos_embed``, ``patch_embed`` and register
    tokens at 0, ``blocks.N``/``layers.N`` at N+1, the rest on top: the final ``norm`` keeps
    the full lr, as in MAE and BEiT), ``timm`` (timm's ``group_matcher()`` for its ViTs:
    the final ``norm`` with the last block, ``norm_pre`` with the stem, ``fc_norm`` and the
    head on top), ``stages`` (Swin,
    ConvNeXt: blocks counted across stages), ``hf`` (``encoder.layer.N``,
    ``model.layers.N``, ``transformer.h.N``; embeddings at 0), ``resnet`` (torchvision's
    ``layerN.M``), or ``patterns``: ``[regex, depth]`` pairs in order (``depth`` null: the
    regex's first group + 1), where ``rest`` says where unmatched parameters go (``error``,
    ``top``, ``bottom``); a regex that matches no parameter is an error naming the closest
    names, unless ``missing_ok = true``. ``num_layers`` overrides the count. TOML has no null: write
    ``[regex]`` or ``[regex, "auto"]`` for a depth taken from the regex's first group.
    ``schedkit groups`` and ``ParamGroups.explain`` say which layout ``auto`` chose and
    which parameters no block placed (the rest, on top or at the bottom).

    Example: ``{type = "layer_decay", rate = 0.65}``.
    """

    name = "layer_decay"

    rate: float = schedkit.factor(gt=0.0, le=1.0)
    min_scale: float = schedkit.factor(0.0, ge=0.0, le=1.0)
    layout: str = schedkit.choice("auto", *LAYOUTS[1:])
    patterns: tuple[tuple[str, int | None], ...] = schedkit.field(
        default=(), converter=_patterns, validator=_check_patterns
    )
    rest: str = schedkit.choice("error", "top", "bottom")
    num_layers: int | None = schedkit.field(default=None, validator=optional(steps(positive=True)))
    missing_ok: bool = schedkit.field(default=False, validator=instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if self.layout == "patterns" and not self.patterns:
            raise SpecError("layout 'patterns' needs patterns, got none", "patterns")

    def spec(self) -> dict[str, Any]:
        """As for every rule; a depth taken from the regex is written ``[regex]``."""
        out = super().spec()
        out["patterns"] = [[r] if d is None else [r, d] for r, d in self.patterns]
        return out

    def placement_notes(self, model: torch.nn.Module) -> list[str]:
        """How the parameters were placed: the layout ``auto`` chose, and the parameters that
        no block placed (put on top, or at the bottom)."""
        getter = getattr(model, "get_layer_depth", None)
        names = schedkit.parameter_names(model)
        if self.layout == "model" or (self.layout == "auto" and callable(getter)):
            return ["layer_decay: depths from the model's get_layer_depth(name)"]
        notes = []
        layout = self.layout
        if layout == "auto":
            layout = layouts.detect(names) or "?"
            notes.append(f"layer_decay: layout 'auto' chose {layout!r}")
        found, num, _ = self.depths(model)
        if layout == "patterns":
            matched = {n for n in names if any(re.search(r, n) for r, _ in self.patterns)}
            rest = [n for n in names if n not in matched]
            where = {"top": f"on top (depth {num - 1}, full lr)", "bottom": "at depth 0"}
            if rest and self.rest in where:
                notes.append(f"layer_decay: matched no pattern, {where[self.rest]}: {_few(rest)}")
            return notes
        top = [n for n in names if found.get(n) == num - 1]
        if top:
            notes.append(
                f"layer_decay: in no block and not an embedding, so on top (depth {num - 1}, "
                f"full lr): {_few(top)}"
            )
        return notes

    def depths(self, model: torch.nn.Module) -> tuple[dict[str, int], int, list[str]]:
        """Depth of every parameter of ``model`` (frozen ones too), num_layers, unplaced."""
        names = schedkit.parameter_names(model)
        layout = self.layout
        getter = getattr(model, "get_layer_depth", None)
        if layout == "model" or (layout == "auto" and callable(getter)):
            if not callable(getter):
                raise SpecError(f"{type(model).__name__} has no get_layer_depth(name)", "layout")
            found, num = layouts.from_model(getter, names)
            return found, self.num_layers or num, []
        if layout == "timm":
            found, num = layouts.timm_depths(names)
            return found, self.num_layers or num, []
        if layout == "patterns":
            if not self.missing_ok:
                require_matches(
                    [(r, f"patterns[{i}]") for i, (r, _) in enumerate(self.patterns)],
                    names,
                    "regex",
                    f"the parameters of {type(model).__name__}",
                )
            found, num, unplaced = layouts.from_patterns(self.patterns, names, self.rest)
            return found, self.num_layers or num, unplaced
        if layout == "auto":
            detected = layouts.detect(names)
            if detected is None:
                raise SpecError(
                    f"cannot tell the layers of {type(model).__name__} apart: give it a "
                    "get_layer_depth(name), or use layout 'patterns'",
                    "layout",
                )
            layout = detected
        found, num = layouts.depths(layout, names)
        return found, self.num_layers or num, []

    def _lazy(self, model: torch.nn.Module) -> layouts.BlockDepths | None:
        """For the single-index layouts (vit, hf): depths found per module, from the set of
        block indices found in one search over the module names."""
        if self.layout not in ("auto", "vit", "hf") or self.num_layers is not None:
            return None
        if self.layout == "auto" and callable(getattr(model, "get_layer_depth", None)):
            return None
        owners = schedkit.parameter_owners(model)
        text = layouts.owner_text(owners)
        layout = self.layout if self.layout != "auto" else layouts.detect(owners, text)
        if layout not in ("vit", "hf"):
            return None
        return layouts.BlockDepths(layout, owners, text)

    def group_name(
        self, model: torch.nn.Module, effect: RuleEffect | None, params: Sequence[ParamInfo]
    ) -> str | None:
        """The layer: the module the parameters of one depth share (``blocks.3``,
        ``encoder.layer.3``); else ``embed`` for depth 0, ``head`` for the top, ``layerN``
        (``layersN-M`` for depths clamped to one ``min_scale``)."""
        if effect is None or not params:
            return None
        shared = _shared_prefix([p.module_name for p in params])
        if shared:
            return shared
        lazy = self._lazy(model)
        if lazy is not None:
            num = lazy.num_layers
            ends = lazy.column([params[0], params[-1]])
            depths = [min(ends), max(ends)]
        else:
            found, num, _ = self.depths(model)
            seen = [found[p.name] for p in params if p.name in found]
            depths = [min(seen, default=0), max(seen, default=0)]
        lo, hi = depths
        if lo != hi:
            return f"layers{lo}-{hi}"
        if lo == 0:
            return "embed"
        if lo == num - 1:
            return "head"
        return f"layer{lo}"

    def _scale(self, num: int, depth: int) -> RuleEffect:
        """The effect for a depth among ``num`` layers (one object per scale, shared)."""
        return _scaled(max(self.rate ** (num - depth - 1), self.min_scale))

    def bind_all(self, model: torch.nn.Module) -> Column:
        lazy = self._lazy(model)
        if lazy is not None:
            table = [self._scale(lazy.num_layers, d) for d in range(lazy.num_layers)]  # 0..top

            def column_lazy(infos: Sequence[ParamInfo]) -> list[RuleEffect | None]:
                return list(map(table.__getitem__, lazy.column(infos)))

            return column_lazy
        found, num, unplaced = self.depths(model)
        missing = set(unplaced)
        effect_of_depth = {d: self._scale(num, d) for d in set(found.values())}

        def column(infos: Sequence[ParamInfo]) -> list[RuleEffect | None]:
            out: list[RuleEffect | None] = []
            for info in infos:
                if info.name in missing or info.name not in found:
                    raise UnplacedParameter(
                        "layer_decay: no pattern gives its depth (set rest = 'top' or 'bottom')"
                    )
                out.append(effect_of_depth[found[info.name]])
            return out

        return column


def _shared_prefix(modules: Sequence[str]) -> str:
    """The dotted module path every name in ``modules`` starts with (``""``: none)."""
    first = modules[0].split(".") if modules[0] else []
    n = len(first)
    for m in modules[1:]:
        parts = m.split(".") if m else []
        k = 0
        while k < min(n, len(parts)) and parts[k] == first[k]:
            k += 1
        n = k
        if n == 0:
            break
    return ".".join(first[:n])


def _few(names: Sequence[str], n: int = 8) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


@schedkit.hookimpl
def schedkit_add_rules(registry: schedkit.Registrar) -> None:
    registry.add(
        LayerDecay,
        examples=[
            {"rate": 0.75},
            {
                "rate": 0.5,
                "layout": "patterns",
                "patterns": [["_embed", 0], ["^blocks\\.(\\d+)\\."]],
                "rest": "top",
            },
        ],
    )
