"""Multi-level RoIAlign with mmdet's ``SingleRoIExtractor`` level assignment.

A RoI of size ``w x h`` (pixels of the network input) goes to level
``clamp(floor(log2(sqrt(w*h) / finest_scale + 1e-6)), 0, L-1)`` (``finest_scale=56``: below
112 px level 0, 112-224 level 1, ...) and is pooled by ``torchvision.ops.roi_align`` with
``spatial_scale = 1/stride``, ``sampling_ratio=0`` (adaptive) and ``aligned=True``, the
same sampling as mmcv's ``RoIAlign(aligned=True)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import roi_align  # type: ignore[import-untyped]

__all__ = ["map_roi_levels", "multi_level_roi_align"]


def map_roi_levels(rois: torch.Tensor, num_levels: int, finest_scale: int = 56) -> torch.Tensor:
    """Level index per RoI; ``rois`` is (N, 5) ``[batch_idx, x1, y1, x2, y2]``."""
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    levels = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return levels.clamp(min=0, max=num_levels - 1).long()


def multi_level_roi_align(feats: Sequence[torch.Tensor], rois: torch.Tensor, strides: Sequence[int],
                          output_size: int = 7, finest_scale: int = 56, sampling_ratio: int = 0) -> torch.Tensor:
    """Pool (N, C, output_size, output_size) features for ``rois`` (N, 5) from ``feats[:len(strides)]``."""
    num_levels = len(strides)
    rois = rois.type_as(feats[0])
    out = feats[0].new_zeros(rois.size(0), feats[0].size(1), output_size, output_size)
    if rois.size(0) == 0:
        return out
    levels = map_roi_levels(rois, num_levels, finest_scale)
    for i in range(num_levels):
        inds = (levels == i).nonzero(as_tuple=False).squeeze(1)
        if inds.numel() > 0:
            out[inds] = roi_align(feats[i], rois[inds], output_size, spatial_scale=1.0 / strides[i],
                                  sampling_ratio=sampling_ratio, aligned=True)
    return out
