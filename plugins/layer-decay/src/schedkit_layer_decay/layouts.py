"""Depth of each parameter for the common model layouts.

A layout numbers the blocks of a network from the input: the embeddings (and a stem) are
at depth 0, block ``k`` (counted across stages) at ``k + 1``, and everything after the last
block (final norm, head) on top, at ``blocks + 1``. ``num_layers`` is ``blocks + 2``, as in
mmpretrain, so that ``rate ** (num_layers - depth - 1)`` is 1 for the head. Depths come
from every parameter name, frozen ones included, so freezing a part never shifts them.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

from schedkit import ParamInfo, SpecError

#: Embeddings and stems, at depth 0; tokens added later (register tokens) included.
EMBEDDINGS = re.compile(
    r"(?:^|\.)(?:cls_token|pos_embed|patch_embed|reg_token|register_tokens|dist_token|"
    r"mask_token|absolute_pos_embed|embeddings|embed_tokens|embed_positions|wte|wpe|stem|"
    r"downsample_layers\.0)(?:\.|$)"
)
RESNET_STEM = re.compile(r"^(?:conv1|bn1)\.")

_BLOCK = {
    "vit": re.compile(r"(?:^|\.)(?:blocks|layers)\.(\d+)\."),
    "hf": re.compile(
        r"(?:^|\.)(?:encoder\.layers?|decoder\.layers?|model\.layers|transformer\.h)\.(\d+)\."
    ),
    "stages": re.compile(r"(?:^|\.)(?:layers|stages)\.(\d+)\.(?:blocks\.)?(\d+)\."),
    "resnet": re.compile(r"^layer(\d+)\.(\d+)\."),
}
_MULTILINE = {k: re.compile(v.pattern, re.MULTILINE) for k, v in _BLOCK.items()}
_STAGE = re.compile(r"(?:^|\.)(?:layers|stages|downsample_layers)\.(\d+)\.")
#: The order ``auto`` tries the layouts in: the most specific first.
AUTO_ORDER = ("stages", "resnet", "hf", "vit")

Depths = tuple[dict[str, int], int]


#: Substrings one of which a layout's names must contain (cheap checks before the regex).
_HINTS = {
    "stages": ("stages.", ".blocks.", "layers."),
    "resnet": ("layer1.", "layer2.", "layer3.", "layer4."),
    "hf": ("encoder.layer", "decoder.layer", "model.layers.", "transformer.h."),
    "vit": ("blocks.", "layers."),
}


def detect(names: Sequence[str], text: str | None = None) -> str | None:
    """The first layout whose block pattern appears among ``names`` (``text``: the names
    joined by newlines, or :func:`owner_text`, when the caller has it)."""
    text = "\n".join(names) if text is None else text
    for layout in AUTO_ORDER:
        for hint in _HINTS[layout]:
            if hint in text:
                if _MULTILINE[layout].search(text):
                    return layout
                break
    return None


def _key(layout: str, name: str) -> tuple[int, ...] | None:
    m = _BLOCK[layout].search(name)
    return tuple(int(g) for g in m.groups()) if m else None


#: For the single-index layouts: the words their block pattern may begin with.
_WORDS = {"vit": ("blocks", "layers")}


def _block_indices(layout: str, text: str) -> list[str]:
    r"""Every block index in ``text`` (names, one per line), as ``findall`` of the layout's
    pattern gives them. Where each occurrence of the layout's words starts a name or a
    component (the usual case, checked with three counts), a pattern that begins with the
    word finds them several times faster: it needs no ``(?:^|\.)`` tried at every
    position."""
    words = _WORDS.get(layout)
    if words is None:
        return _MULTILINE[layout].findall(text)
    out: list[str] = []
    for word in words:
        w = f"{word}."
        found = text.count(w)
        if not found:
            continue
        starts = text.count(f"\n{w}") + text.count(f".{w}") + text.startswith(w)
        if starts != found:
            return _MULTILINE[layout].findall(text)
        out += _WORD_BLOCK[word].findall(text)
    return out


_WORD_BLOCK = {w: re.compile(rf"{w}\.(\d+)\.") for ws in _WORDS.values() for w in ws}
_DOTTED = {layout: tuple(f"{w}." for w in ws) for layout, ws in _WORDS.items()}
#: One match per line: the block index a line begins with, or "".
_LINE_START = {
    layout: re.compile(rf"^(?:(?:{'|'.join(ws)})\.(\d+)\.)?.*", re.MULTILINE)
    for layout, ws in _WORDS.items()
}


def owner_text(owners: Sequence[str]) -> str:
    """Module names as the block patterns search them: each with a dot, one per line.

    A block index lies in the name of a module that holds parameters (a parameter's own
    name has no dot, and every block pattern ends with one), so these lines find the same
    layouts and blocks as the parameter names, in a shorter text."""
    return ".\n".join(owners) + "."


class BlockDepths:
    """Depths under a single-index layout (vit, hf), the block indices found with one search
    over the names of all modules holding parameters (so frozen blocks still count);
    ``num_layers`` as :func:`depths`."""

    def __init__(self, layout: str, owners: Sequence[str], text: str | None = None) -> None:
        text = owner_text(owners) if text is None else text
        # the index each line begins with, if any ("blocks.3.attn."): where every occurrence
        # of the layout's words begins a line, these are all the blocks; else one search
        line = _LINE_START.get(layout)
        starts = line.findall(text) if line is not None else []
        aligned = line is not None and len(starts) == len(owners)
        if aligned and sum(map(text.count, _DOTTED[layout])) == len(starts) - starts.count(""):
            indices = set(starts)
            indices.discard("")
        else:
            indices = set(_block_indices(layout, text))
        blocks = sorted({int(i) for i in indices})
        self._rank = {b: i + 1 for i, b in enumerate(blocks)}
        self._by_text = {str(b): r for b, r in self._rank.items()}
        self._top = len(blocks) + 1
        self.num_layers = self._top + 1
        self._block = _BLOCK[layout]
        # each module's block depth (None: outside the blocks), read from its line where
        # it begins with the word, else searched
        if aligned:
            self._of_owner = dict(zip(owners, map(self._by_text.get, starts), strict=True))
        else:
            self._of_owner = dict.fromkeys(owners)
        for owner in [o for o, d in self._of_owner.items() if d is None]:
            self._of_owner[owner] = self._search(f"{owner}.")

    def _search(self, prefix: str) -> int | None:
        m = self._block.search(prefix)
        return None if m is None else self._rank[int(m.group(1))]

    def depth(self, name: str) -> int:
        """The depth of the parameter ``name``."""
        found = self._search(name)
        return found if found is not None else self._outside(name)

    def column(self, infos: Sequence[ParamInfo]) -> list[int]:
        """The depth of each parameter, in order: its module's block depth (a look-up per
        parameter); parameters of modules outside the blocks are placed by their own names
        (a module may hold ``pos_embed`` at depth 0 and other parameters on top)."""
        found: list[int | None] = list(
            map(self._of_owner.get, map(_OWNER, infos), repeat(_UNKNOWN))
        )
        # outside the blocks: by the parameter's own name; a module this walk did not see
        # (infos from elsewhere): the whole name searched
        for i in [i for i, d in enumerate(found) if d is None or d is _UNKNOWN]:
            name = infos[i].name
            found[i] = self._outside(name) if found[i] is None else self.depth(name)
        return found  # type: ignore[return-value]  # no None is left

    def _outside(self, name: str) -> int:
        return 0 if EMBEDDINGS.search(name) else self._top


_UNKNOWN: Any = object()
_OWNER = operator.attrgetter("module_name")


def depths(layout: str, names: Sequence[str]) -> Depths:
    """Depth of every name under a built-in layout, and ``num_layers``."""
    keys = {n: _key(layout, n) for n in names}
    blocks = sorted({k for k in keys.values() if k is not None})
    rank = {k: i + 1 for i, k in enumerate(blocks)}
    top = len(blocks) + 1
    stem = RESNET_STEM if layout == "resnet" else EMBEDDINGS
    out: dict[str, int] = {}
    last_block_depth = 0
    for n in names:  # model order: a stage's own parameters go with the block before them
        k = keys[n]
        if k is not None:
            out[n] = last_block_depth = rank[k]
        elif stem.search(n):
            out[n] = 0
        elif layout in ("stages", "resnet") and (m := _STAGE.search(n)):
            stage = int(m.group(1))
            first = next((rank[b] for b in blocks if b[0] == stage), None)
            out[n] = last_block_depth if last_block_depth else (first or 0)
        else:
            out[n] = top
    return out, top + 1


def from_patterns(
    patterns: Sequence[tuple[str, int | None]], names: Sequence[str], rest: str
) -> tuple[dict[str, int], int, list[str]]:
    """Depths from ``[regex, depth]`` pairs, first match wins; ``depth`` None means the
    pattern's first group + 1 (a block index). Returns depths, num_layers and the names no
    pattern placed (handled by ``rest``)."""
    compiled: list[tuple[re.Pattern[str], int | None]] = []
    for pattern, depth in patterns:
        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise SpecError(f"{pattern!r} is not a regular expression: {e}", "patterns") from None
        if depth is None and rx.groups < 1:
            raise SpecError(
                f"{pattern!r} needs a group with the block index, or a depth", "patterns"
            )
        compiled.append((rx, depth))
    out: dict[str, int] = {}
    unplaced: list[str] = []
    for n in names:
        for rx, depth in compiled:
            m = rx.search(n)
            if m:
                out[n] = depth if depth is not None else int(m.group(1)) + 1
                break
        else:
            unplaced.append(n)
    deepest = max(out.values(), default=0)
    top = deepest + 1
    for n in unplaced:
        if rest == "top":
            out[n] = top
        elif rest == "bottom":
            out[n] = 0
    return out, top + 1, [] if rest != "error" else unplaced


def from_model(get_layer_depth: Callable[[str], object], names: Sequence[str]) -> Depths:
    """Depths from the model's own ``get_layer_depth(name)`` (an int, or mmpretrain's
    ``(layer_id, num_layers)``)."""
    out: dict[str, int] = {}
    num = 0
    for n in names:
        got = get_layer_depth(n)
        if isinstance(got, tuple):
            depth, layers = int(got[0]), int(got[1])
            num = max(num, layers)
        else:
            depth = int(got)  # type: ignore[call-overload]
        out[n] = depth
    if not num:
        num = max(out.values(), default=0) + 1
    return out, num


#: timm's ViT ``group_matcher()``: its stem (``norm_pre`` included) and the final ``norm``.
TIMM_STEM = re.compile(r"^(?:cls_token|reg_token|pos_embed|patch_embed|norm_pre)")
TIMM_FINAL_NORM = re.compile(r"^norm(?:\.|$)")


def timm_depths(names: Sequence[str]) -> Depths:
    """timm's numbering (the ``group_matcher()`` of its ViT, DeiT, BEiT, EVA): the stem at
    0 (``norm_pre`` with it), ``blocks.N`` at N+1, the final ``norm`` with the last block
    (timm's ``MATCH_PREV_GROUP``), the rest (``fc_norm``, ``head``) on top; ``num_layers``
    is the top + 1, so the top keeps the full lr."""
    keys = {n: _key("vit", n) for n in names}
    blocks = sorted({k for k in keys.values() if k is not None})
    rank = {k: i + 1 for i, k in enumerate(blocks)}
    last = len(blocks)
    out: dict[str, int] = {}
    rest = []
    for n in names:
        k = keys[n]
        if TIMM_STEM.search(n):
            out[n] = 0
        elif k is not None:
            out[n] = rank[k]
        elif TIMM_FINAL_NORM.search(n):
            out[n] = last
        else:
            rest.append(n)
    top = max(out.values(), default=0) + 1 if rest else max(out.values(), default=0)
    out.update(dict.fromkeys(rest, top))
    return out, top + 1
