"""The small model ``schedkit preview`` builds setups against when no ``--model`` is given.

A ViT-shaped network (patch embedding, class token, position embedding, transformer blocks,
final norm, head) so that layer decay, norm and bias rules have something real to act on.
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


class TinyViT(nn.Module):
    """A 4-block ViT on 16x16 images with 4x4 patches and 10 classes."""

    def __init__(self, dim: int = 32, depth: int = 4, heads: int = 4, classes: int = 10) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 17, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        out: torch.Tensor = self.head(self.norm(x[:, 0]))
        return out

    def no_weight_decay(self) -> set[str]:
        """The parameters weight decay should not shrink, as timm's ViT lists them (the
        ``no_weight_decay`` rule reads this list)."""
        return {"pos_embed", "cls_token"}

    @staticmethod
    def example_batch(batch: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Random images and labels for a simulated step."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(batch, 3, 16, 16, generator=g), torch.randint(
            0, 10, (batch,), generator=g
        )


def tiny_vit() -> TinyViT:
    """The default preview model."""
    torch.manual_seed(0)
    return TinyViT()
