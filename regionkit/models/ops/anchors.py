"""Anchor generation following mmdet's ``AnchorGenerator`` (v2.0 coordinate convention).

Base anchors of a level are centred on ``center_offset * stride`` (0 by default: the
top-left corner of the first cell, mmdet's convention, not the cell centre) with
``w = stride * scale / sqrt(ratio)`` and ``h = stride * scale * sqrt(ratio)``; grid anchors
are the base anchors shifted by ``(x * stride, y * stride)`` for every feature-map cell,
ordered cell-major (row by row), anchor-minor, the same order as an RPN's
``permute(1, 2, 0)`` flattening.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["AnchorGenerator"]


class AnchorGenerator:
    """Multi-level anchors; ``grid_anchors`` returns one ``(H*W*A, 4)`` xyxy tensor per level."""

    def __init__(self, strides: Sequence[int] = (4, 8, 16, 32, 64), ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 scales: Sequence[float] = (8.0,), scale_major: bool = False, center_offset: float = 0.0) -> None:
        self.strides = [int(s) for s in strides]
        self.ratios = torch.tensor(list(ratios), dtype=torch.float32)
        self.scales = torch.tensor(list(scales), dtype=torch.float32)
        self.scale_major = scale_major
        self.center_offset = center_offset
        self.base_anchors = [self._base_anchors(s) for s in self.strides]

    @property
    def num_base_anchors(self) -> int:
        return int(self.ratios.numel() * self.scales.numel())

    def _base_anchors(self, base_size: int) -> torch.Tensor:
        w = h = base_size
        x_center = self.center_offset * w
        y_center = self.center_offset * h
        h_ratios = torch.sqrt(self.ratios)
        w_ratios = 1 / h_ratios
        if self.scale_major:
            ws = (w * w_ratios[:, None] * self.scales[None, :]).view(-1)
            hs = (h * h_ratios[:, None] * self.scales[None, :]).view(-1)
        else:
            ws = (w * self.scales[:, None] * w_ratios[None, :]).view(-1)
            hs = (h * self.scales[:, None] * h_ratios[None, :]).view(-1)
        return torch.stack([x_center - 0.5 * ws, y_center - 0.5 * hs,
                            x_center + 0.5 * ws, y_center + 0.5 * hs], dim=-1)

    def single_level(self, featmap_size: Sequence[int], level: int, device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Anchors of one level for a feature map of ``(H, W)``."""
        base = self.base_anchors[level].to(device=device, dtype=dtype)
        feat_h, feat_w = int(featmap_size[0]), int(featmap_size[1])
        stride = self.strides[level]
        shift_x = torch.arange(0, feat_w, device=device).to(dtype) * stride
        shift_y = torch.arange(0, feat_h, device=device).to(dtype) * stride
        shift_xx = shift_x.repeat(feat_h)
        shift_yy = shift_y.view(-1, 1).repeat(1, feat_w).view(-1)
        shifts = torch.stack([shift_xx, shift_yy, shift_xx, shift_yy], dim=-1)
        return (base[None, :, :] + shifts[:, None, :]).view(-1, 4)

    def grid_anchors(self, featmap_sizes: Sequence[Sequence[int]], device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
        return [self.single_level(size, i, device, dtype) for i, size in enumerate(featmap_sizes)]
