"""ResNet-50 (pytorch style: stride on the 3x3 conv) with mmdet's ``ResNet`` parameter names.

Inference only: every batch norm uses its running statistics (:class:`FrozenBatchNorm2d`).
Keys: ``conv1``, ``bn1``, ``layer{1..4}.{i}.{conv1,bn1,conv2,bn2,conv3,bn3}`` and
``layer{1..4}.0.downsample.{0,1}``, the same as mmdet and torchvision.
"""
from __future__ import annotations

import torch
from torch import nn

from regionkit.models.layers import FrozenBatchNorm2d

__all__ = ["Bottleneck", "ResNet50"]


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 bottleneck with expansion 4, as mmdet's ``Bottleneck``."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(out)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu_(self.bn1(self.conv1(x)))
        out = torch.relu_(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return torch.relu_(out)


class ResNet50(nn.Module):
    """ResNet-50 returning the four stage outputs (strides 4, 8, 16, 32; 256..2048 channels)."""

    stage_blocks = (3, 4, 6, 3)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for i, blocks in enumerate(self.stage_blocks):
            planes = 64 * 2 ** i
            stride = 1 if i == 0 else 2
            downsample = nn.Sequential(
                nn.Conv2d(in_channels, planes * 4, 1, stride=stride, bias=False),
                FrozenBatchNorm2d(planes * 4))
            layers = [Bottleneck(in_channels, planes, stride, downsample)]
            in_channels = planes * 4
            layers += [Bottleneck(in_channels, planes) for _ in range(blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(torch.relu_(self.bn1(self.conv1(x))))
        outs = []
        for i in range(len(self.stage_blocks)):
            x = getattr(self, f"layer{i + 1}")(x)
            outs.append(x)
        return tuple(outs)
