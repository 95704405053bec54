"""Small float64 models for the conversion tests: the kinds of parameters each source's
param-group rules tell apart (norms by type and by name, biases, embeddings, tokens)."""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class TinyEncoder(nn.Module):
    """An encoder in transformers' style: embeddings, LayerNorm, blocks, a final RMS norm,
    a BatchNorm the Trainer keeps decaying, a classifier."""

    def __init__(self, dim: int = 8, depth: int = 2, vocab: int = 20) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(vocab, dim)
        self.emb_layernorm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(Block(dim) for _ in range(depth))
        self.final_norm = RMSNorm(dim)
        self.pooler_bn = nn.BatchNorm1d(dim)
        self.classifier = nn.Linear(dim, 3)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.emb_layernorm(self.embeddings(input_ids))
        for layer in self.layers:
            x = layer(x)
        return self.classifier(self.pooler_bn(self.final_norm(x).mean(1)))


class TinyViT(nn.Module):
    """A ViT in timm's/mmpretrain's layout: patch_embed, cls_token, pos_embed, blocks, norm,
    head; with timm's ``group_matcher`` and ``no_weight_decay`` and mmpretrain's
    ``get_layer_depth``."""

    def __init__(self, dim: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 4, 4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, dim))
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def group_matcher(self, coarse: bool = False) -> dict[str, object]:
        return {
            "stem": r"^cls_token|pos_embed|patch_embed",
            "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        }

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    def get_layer_depth(self, name: str) -> tuple[int, int]:
        num = len(self.blocks) + 2
        if name.startswith(("cls_token", "pos_embed", "patch_embed")):
            return 0, num
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1, num
        return num - 1, num


def float64(model: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for p in model.parameters():
        with torch.no_grad():
            p.copy_(torch.randn_like(p))
    return model.double()


class Gan(nn.Module):
    """A generator and a discriminator: the two top-level submodules mmagic's
    ``MultiOptimWrapperConstructor`` gives each its own optimizer."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 4))
        self.discriminator = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))


def gan() -> Gan:
    """The model ``schedkit preview --model tests.support.models:gan`` builds."""
    return Gan()
