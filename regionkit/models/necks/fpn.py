"""Feature Pyramid Network with mmdet's ``FPN`` parameter names (``lateral_convs.i``, ``fpn_convs.i``).

Top-down pathway with nearest-neighbour upsampling to the finer level's size, 3x3 output
convs, and extra levels from stride-2 max pooling of the last output (mmdet's
``add_extra_convs=False``).  With ``norm=True`` each conv is followed by a batch norm (the
BARON config uses SyncBN there; at inference it is a plain batch norm).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from regionkit.models.layers import ConvNormAct

__all__ = ["FPN"]


class FPN(nn.Module):
    """``in_channels`` per input level -> ``num_outs`` maps of ``out_channels`` each."""

    def __init__(self, in_channels: Sequence[int] = (256, 512, 1024, 2048), out_channels: int = 256,
                 num_outs: int = 5, norm: bool = True) -> None:
        super().__init__()
        self.num_outs = num_outs
        self.lateral_convs = nn.ModuleList(
            ConvNormAct(c, out_channels, 1, norm=norm, act=False) for c in in_channels)
        self.fpn_convs = nn.ModuleList(
            ConvNormAct(out_channels, out_channels, 3, padding=1, norm=norm, act=False) for _ in in_channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode="nearest")
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
