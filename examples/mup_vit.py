"""Models for ``examples/mup-width-transfer.toml``: schedkit's example ViT (the model
``schedkit preview`` uses by default) in μP form, at any width.

The parameter names and shapes are those of the default model, so at width 32 (``base``)
this is the base model of the setup's ``base_shapes``; ``wide`` and ``wider`` are the same
network 4 and 8 times wider, on which the same setup gives μP's per-layer lrs. What μP asks
of the model itself is here: attention logits over ``head_dim`` (not its square root), and
a readout multiplied by ``base width / width`` and started at zero. The rule does the
optimizer's part.

    schedkit preview examples/mup-width-transfer.toml --model examples.mup_vit:wide
"""

from __future__ import annotations

import torch
from torch import nn

BASE_WIDTH = 32


class Attention(nn.Module):
    """Multi-head self-attention with the parameter names of ``nn.MultiheadAttention``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1], dim=-1)  # μP: 1 / head_dim
        out: torch.Tensor = self.out_proj((att @ v).transpose(1, 2).reshape(b, n, d))
        return out


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


class MuViT(nn.Module):
    """A 4-block ViT on 16x16 images with 4x4 patches and 10 classes, ``dim`` wide."""

    def __init__(self, dim: int = BASE_WIDTH, depth: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 17, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)
        nn.init.zeros_(self.head.weight)  # μP's readout starts at zero
        self.readout = BASE_WIDTH / dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        out: torch.Tensor = self.head(self.norm(x[:, 0])) * self.readout
        return out

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    @staticmethod
    def example_batch(batch: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Random images and labels, as the default model's."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(batch, 3, 16, 16, generator=g), torch.randint(
            0, 10, (batch,), generator=g
        )


def base() -> MuViT:
    """The base model, 32 wide: where the lr is tuned."""
    torch.manual_seed(0)
    return MuViT(BASE_WIDTH)


def wide() -> MuViT:
    """4 times wider (128): the tuned lr transfers."""
    torch.manual_seed(0)
    return MuViT(4 * BASE_WIDTH)


def wider() -> MuViT:
    """8 times wider (256)."""
    torch.manual_seed(0)
    return MuViT(8 * BASE_WIDTH)
