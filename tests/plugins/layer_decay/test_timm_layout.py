"""``layer_decay`` with ``layout = "timm"`` numbers a ViT as timm's ``group_matcher()``
does (final norm with the last block), against timm's ``param_groups_layer_decay``; the
default ``vit`` layout keeps the final norm on top (MAE, BEiT)."""

from __future__ import annotations

import pytest
import torch

import schedkit
from tests.support.timm_peer import timm


class ViT(torch.nn.Module):
    """The parameter names of timm's VisionTransformer (with norm_pre, fc_norm, a head)."""

    def __init__(self, depth: int = 3, dim: int = 4, head: bool = True) -> None:
        super().__init__()
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, 5, dim))
        self.patch_embed = torch.nn.Module()
        self.patch_embed.proj = torch.nn.Linear(6, dim)
        self.norm_pre = torch.nn.LayerNorm(dim)
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, dim))
            for _ in range(depth)
        )
        self.norm = torch.nn.LayerNorm(dim)
        if head:
            self.fc_norm = torch.nn.LayerNorm(dim)
            self.head = torch.nn.Linear(dim, 2)

    def group_matcher(self, coarse: bool = False) -> dict[str, object]:
        # timm's VisionTransformer.group_matcher
        return {
            "stem": r"^cls_token|reg_token|pos_embed|patch_embed|norm_pre",
            "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        }


def _lrs(model: torch.nn.Module, groups: list[dict[str, object]], lr: float) -> dict[str, float]:
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for g in groups:
        for p in g["params"]:  # type: ignore[attr-defined]
            out[names[id(p)]] = g["lr"] if "lr_scale" not in g else lr * g["lr_scale"]  # type: ignore[operator]
    return out


@pytest.mark.parametrize("head", [True, False])
@pytest.mark.parametrize("depth", [1, 3, 12])
@pytest.mark.parametrize("rate", [0.65, 0.9])
def test_timm_layout_is_timms_group_matcher(depth, head, rate):
    model = ViT(depth, head=head)
    theirs = timm().param_groups.param_groups_layer_decay(
        model, weight_decay=0.0, layer_decay=rate, weight_decay_exclude_1d=False
    )
    rule = {"type": "layer_decay", "rate": rate, "layout": "timm"}
    ours = schedkit.build_param_groups(model, [rule], lr=0.01)
    want, got = _lrs(model, theirs, 0.01), _lrs(model, ours, 0.01)
    assert got.keys() == want.keys()
    for n in want:
        assert got[n] == pytest.approx(want[n], rel=1e-15), n


def test_the_default_layout_keeps_the_final_norm_on_top():
    model = ViT(3)
    vit = _lrs(
        model,
        schedkit.build_param_groups(model, [{"type": "layer_decay", "rate": 0.5}], lr=1.0),
        1.0,
    )
    tm = _lrs(
        model,
        schedkit.build_param_groups(
            model, [{"type": "layer_decay", "rate": 0.5, "layout": "timm"}], lr=1.0
        ),
        1.0,
    )
    assert vit["norm.weight"] == 1.0
    assert tm["norm.weight"] == tm["blocks.2.1.weight"] == 0.5
    assert vit["norm_pre.weight"] == 1.0  # not an embedding under the vit layout
    assert tm["norm_pre.weight"] == tm["cls_token"] == 0.5**4
