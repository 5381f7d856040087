"""Delta (dx, dy, dw, dh) box decoding with mmdet's ``DeltaXYWHBBoxCoder`` arithmetic.

``decode`` applies ``deltas * stds + means`` to boxes in xyxy pixels: centre shift
``(x1+x2)/2 + w*dx``, size ``w * exp(clamp(dw, +-|log(wh_ratio_clip)|))``, then optionally
clamps x to ``[0, W]`` and y to ``[0, H]`` of ``max_shape=(H, W)`` (no ``-1``: the v2.0
pixel convention).  The operations are done in the same order as mmdet so results match
bit for bit in float32.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["delta2bbox"]


def delta2bbox(rois: torch.Tensor, deltas: torch.Tensor,
               means: Sequence[float] = (0.0, 0.0, 0.0, 0.0), stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
               max_shape: Sequence[int] | None = None, wh_ratio_clip: float = 16 / 1000,
               clip_border: bool = True) -> torch.Tensor:
    """Decode ``deltas`` (N, 4k) relative to ``rois`` (N, 4) into boxes (N, 4k), xyxy pixels."""
    num_bboxes, num_classes = deltas.size(0), deltas.size(1) // 4
    if num_bboxes == 0:
        return deltas
    deltas = deltas.reshape(-1, 4)
    means_t = deltas.new_tensor(means).view(1, -1)
    stds_t = deltas.new_tensor(stds).view(1, -1)
    denorm = deltas * stds_t + means_t
    dxy = denorm[:, :2]
    dwh = denorm[:, 2:]
    rois_ = rois.repeat(1, num_classes).reshape(-1, 4)
    pxy = (rois_[:, :2] + rois_[:, 2:]) * 0.5
    pwh = rois_[:, 2:] - rois_[:, :2]
    dxy_wh = pwh * dxy
    max_ratio = np.abs(np.log(wh_ratio_clip))
    dwh = dwh.clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    x1y1 = gxy - (gwh * 0.5)
    x2y2 = gxy + (gwh * 0.5)
    bboxes = torch.cat([x1y1, x2y2], dim=-1)
    if clip_border and max_shape is not None:
        bboxes[..., 0::2].clamp_(min=0, max=max_shape[1])
        bboxes[..., 1::2].clamp_(min=0, max=max_shape[0])
    return bboxes.reshape(num_bboxes, -1)
