"""Depth of each parameter for the common model layouts.

A layout numbers the blocks of a network from the input: the embeddings (and a stem) are
at depth 0, block ``k`` (counted across stages) at ``k + 1``, and everything after the last
block (final norm, head) on top, at ``blocks + 1``. ``num_layers`` is ``blocks + 2``, as in
mmpretrain, so that ``rate ** (num_layers - depth - 1)`` is 1 for the head. Depths come
from every parameter name, frozen ones included, so freezing a part never shifts them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from schedkit import SpecError

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


def detect(names: Sequence[str]) -> str | None:
    """The first layout whose block pattern appears among ``names``."""
    text = "\n".join(names)
    for layout in AUTO_ORDER:
        if any(h in text for h in _HINTS[layout]) and _MULTILINE[layout].search(text):
            return layout
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


def lazy_depth(layout: str, names: Sequence[str]) -> tuple[Callable[[str], int], int]:
    """For a single-index layout: a depth function and ``num_layers``, the block indices
    found with one search over all names (so frozen blocks still count)."""
    text = "\n".join(names)
    blocks = sorted({int(i) for i in set(_block_indices(layout, text))})
    rank = {b: i + 1 for i, b in enumerate(blocks)}
    by_text = {str(b): r for b, r in rank.items()}
    top = len(blocks) + 1
    block = _BLOCK[layout]
    heads = tuple(f"{w}." for w in _WORDS.get(layout, ()))

    def depth(name: str) -> int:
        if heads and name.startswith(heads):  # "blocks.3.attn...": the index without a regex
            start = name.index(".") + 1
            end = name.find(".", start)
            found = by_text.get(name[start:end]) if end > 0 else None
            if found is not None:
                return found
        m = block.search(name)
        if m is not None:
            return rank[int(m.group(1))]
        return 0 if EMBEDDINGS.search(name) else top

    return depth, top + 1


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
