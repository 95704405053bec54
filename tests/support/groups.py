"""The models and helpers the param-group tests share (the builder in tests/core, the
layer-decay and param-rules plugins in tests/plugins)."""

from __future__ import annotations

from torch import nn

import schedkit


def settings(model, groups):
    """name -> (lr, weight_decay, tags) for every trainable parameter."""
    out = {}
    for info in schedkit.trainable_parameters(model):
        g = groups[groups.group_of(info.name)]
        out[info.name] = (g["lr"], g["weight_decay"], tuple(g.get("tags", ())))
    return out


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3))
        self.layer2 = nn.Sequential(nn.Conv2d(4, 4, 3))
        self.fc = nn.Linear(4, 2)


def schedkit_example() -> nn.Module:
    """The example ViT the command previews (four blocks)."""
    from schedkit._example import tiny_vit

    return tiny_vit()
