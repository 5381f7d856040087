"""Region embeddings for a region loss: RoI Align on tokens, a linear projection, L2 normalisation.

This is the ``extract_region_features`` of the proposed SPRC + region formulation (spec §3.2):
``z = l2norm(region_proj(roi_align(tokens, boxes)), eps)``.  The projection is applied after
pooling; for boxes inside the grid this equals projecting every token first (RoI Align weights
sum to one, so it commutes with an affine map) at a fraction of the cost.  Degenerate boxes are
dropped by default (``invalid="drop"``; an image left without boxes gets its whole-image region),
and ``eps`` keeps any zero feature at a finite embedding instead of NaN.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch.nn.functional as F
from torch import Tensor, nn

from regionkit.models.region_features.grid import GridSize
from regionkit.models.region_features.roi import Backend, EmptyPolicy, InvalidPolicy, RegionFeatures, roi_align_tokens
from regionkit.params import Range, checked

__all__ = ["RegionEmbedder"]


class RegionEmbedder(nn.Module):
    """``tokens [B, N, in_dim]`` + boxes in grid units -> :class:`RegionFeatures` with ``[R, out_dim]`` unit vectors.

    The features are fp32 (fp64 for fp64 tokens and a fp64 projection), whatever the token dtype.
    """

    @checked
    def __init__(self, in_dim: Annotated[int, Range(1, 1 << 20)], out_dim: Annotated[int, Range(1, 1 << 20)], *,
                 bias: bool = True, normalize: bool = True, eps: Annotated[float, Range(0.0, 1.0)] = 1e-6,
                 grid_size: int | tuple[int, int] | None = None, has_cls: bool | None = None,
                 empty: EmptyPolicy = "whole_image", invalid: InvalidPolicy = "drop",
                 backend: Backend = "separable") -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim, bias=bias)
        self.normalize = normalize
        self.eps = eps
        self.grid_size: GridSize | None = grid_size
        self.has_cls = has_cls
        self.empty: EmptyPolicy = empty
        self.invalid: InvalidPolicy = invalid
        self.backend: Backend = backend

    def forward(self, tokens: Tensor, boxes: Sequence[Tensor | Sequence[Sequence[float]]] | Tensor,
                owner: Tensor | None = None) -> RegionFeatures:
        regions = roi_align_tokens(tokens, boxes, owner=owner, grid_size=self.grid_size, has_cls=self.has_cls,
                                   empty=self.empty, invalid=self.invalid, backend=self.backend)
        z = self.proj(regions.features.to(self.proj.weight.dtype))
        if self.normalize:
            z = F.normalize(z, dim=-1, eps=self.eps)
        return regions.replace(z)
