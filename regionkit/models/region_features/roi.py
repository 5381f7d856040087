"""Batched RoI Align over ViT token grids with FG-CLIP's conventions.

FG-CLIP (``fgclip.py``, ``get_image_box_roi_features``) pools one feature per box with
``roi_align(feature_map.float(), boxes_in_grid_units, output_size=(1, 1), spatial_scale=1.0,
sampling_ratio=-1, aligned=True)[..., 0, 0]``.  :func:`roi_align_tokens` does the same for a whole
batch whose images have different numbers of boxes, in one vectorised call, straight from the
``[B, N, D]`` tokens (CLS handled) and returns an owner index per region.

Exact semantics (torchvision's CPU/CUDA kernels, reproduced by both backends):

* with ``aligned=True`` the box is shifted by half a cell, so the patch ``(y, x)`` is sampled at
  its centre; there is no minimum box size;
* the single bin holds ``ceil(box_h) x ceil(box_w)`` bilinear samples; samples with ``y`` outside
  ``[-1, h]`` or ``x`` outside ``[-1, w]`` count as 0 (they still count in the average), samples
  in ``[-1, 0]`` are clamped to the first row/column, samples beyond ``h - 1`` to the last;
* the whole-grid box ``[0, 0, w, h]`` takes one sample at every patch centre, so it **equals the
  mean of all patch tokens exactly** (verified in the tests, square and non-square grids);
* a zero-width or zero-height box takes no sample and gives a zero vector; so does a box lying
  entirely beyond ``[-0.5, w + 0.5] x [-0.5, h + 0.5]`` (all its samples outside ``[-1, w] x [-1, h]``).
  Nothing gives NaN: non-finite and inverted (``x2 < x1`` or ``y2 < y1``) boxes are replaced by a
  zero box.  Regions whose box has no
  positive-area overlap with the grid ``[0, w] x [0, h]`` have ``valid == False``;
  ``invalid="drop"`` removes them instead.

Images without boxes (policy ``empty``): ``"whole_image"`` (default) gives them one region, the
whole-grid box, i.e. the mean of their patch tokens, flagged ``fallback``; ``"skip"`` gives them no
region.  Computation is fp32 for half/bfloat16/fp32 tokens (FG-CLIP casts to fp32 before RoI
Align) and fp64 for fp64 tokens; the features come back in that dtype.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from regionkit.models.region_features.grid import GridSize, as_box_tensor, tokens_to_grid
from regionkit.models.region_features.separable import roi_align_1x1_separable

__all__ = ["RegionFeatures", "roi_align_tokens", "roi_align_grid", "compute_dtype", "EmptyPolicy", "InvalidPolicy",
           "Backend"]

#: what an image without boxes contributes
EmptyPolicy = Literal["whole_image", "skip"]
#: what happens to degenerate boxes (zero area, outside the grid, non-finite)
InvalidPolicy = Literal["keep", "drop"]
#: ``"separable"``: the exact separable-weights form, one ``embedding_bag`` over the token matrix
#: (default, fastest on CPU); ``"torchvision"``: one ``torchvision.ops.roi_align`` call over the
#: batch (the reference kernel)
Backend = Literal["separable", "torchvision"]


@dataclass(frozen=True)
class RegionFeatures:
    """Pooled region features of a batch.

    ``features``: ``[R, D]``; ``owner``: ``[R]`` int64 index of each region's image in the batch;
    ``valid``: ``[R]`` bool, the box has positive width and height and overlaps the grid;
    ``fallback``: ``[R]`` bool, the whole-image region of an image that had no (kept) boxes;
    ``source``: ``[R]`` int64 position of the region's box in the input (within its image's list,
    or in the packed tensor), ``-1`` for fallbacks; ``num_images``: ``B``.
    """

    features: Tensor
    owner: Tensor
    valid: Tensor
    fallback: Tensor
    source: Tensor
    num_images: int

    def counts(self) -> Tensor:
        """``[B]`` regions per image."""
        return torch.bincount(self.owner, minlength=self.num_images)

    def per_image(self) -> list[Tensor]:
        """The features of each image: ``B`` tensors ``[K_i, D]`` (in region order)."""
        return [self.features[self.owner == i] for i in range(self.num_images)]

    def replace(self, features: Tensor) -> RegionFeatures:
        """The same regions with other features (e.g. projected), ``[R, D']``."""
        return RegionFeatures(features, self.owner, self.valid, self.fallback, self.source, self.num_images)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype RoI Align runs in: fp64 for fp64 input, fp32 otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _valid(boxes: Tensor, h: int, w: int) -> Tensor:
    x1, y1, x2, y2 = boxes.unbind(1)
    return (x2 > x1) & (y2 > y1) & (x2 > 0) & (y2 > 0) & (x1 < w) & (y1 < h)


def roi_align_grid(grid: Tensor, boxes: Tensor, owner: Tensor, *, backend: Backend = "separable") -> Tensor:
    """``[R, D]`` pooled features of ``boxes`` (``[R, 4]`` grid units, finite) on ``grid`` (``[B, h, w, D]``).

    ``owner``: ``[R]`` int64 image index of each box.  ``grid`` and ``boxes`` share a float dtype.
    """
    num_images, h, w, dim = grid.shape
    if backend == "separable":
        first_row = torch.arange(num_images, device=grid.device) * (h * w)
        return roi_align_1x1_separable(grid.reshape(num_images * h * w, dim), first_row, (h, w), boxes, owner)
    if backend != "torchvision":
        raise ValueError(f"backend must be 'separable' or 'torchvision', got {backend!r}")
    from torchvision.ops import roi_align  # type: ignore[import-untyped]

    rois = torch.cat([owner[:, None].to(boxes.dtype), boxes], 1)
    return roi_align(grid.permute(0, 3, 1, 2), rois, (1, 1), 1.0, -1, True)[..., 0, 0]


def _packed_input(boxes: Sequence[Tensor | Sequence[Sequence[float]]] | Tensor, owner: Tensor | None,
                  num_images: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``(boxes [R, 4], owner [R], source [R])`` from either input form; ``source`` is the box's input position."""
    if isinstance(boxes, Tensor) and owner is not None:
        packed = as_box_tensor(boxes, dtype=dtype, device=device)
        owner = torch.as_tensor(owner, dtype=torch.long, device=device).reshape(-1)
        if owner.shape[0] != packed.shape[0]:
            raise ValueError(f"owner has {owner.shape[0]} entries for {packed.shape[0]} boxes")
        if owner.numel() and (int(owner.min()) < 0 or int(owner.max()) >= num_images):
            raise ValueError(f"owner indices must be in [0, {num_images}), got {owner.min()}..{owner.max()}")
        return packed, owner, torch.arange(packed.shape[0], device=device)
    if owner is not None:
        raise ValueError("owner is only used with boxes given as one [R, 4] tensor")
    if len(boxes) != num_images:
        raise ValueError(f"got box lists for {len(boxes)} images but {num_images} token sequences")
    parts = [as_box_tensor(b, dtype=dtype, device=device) for b in boxes]
    sizes = [p.shape[0] for p in parts]
    packed = torch.cat(parts) if parts else torch.zeros(0, 4, dtype=dtype, device=device)
    owner = torch.tensor([i for i, k in enumerate(sizes) for _ in range(k)], dtype=torch.long, device=device)
    source = torch.tensor([j for k in sizes for j in range(k)], dtype=torch.long, device=device)
    return packed, owner, source


def roi_align_tokens(tokens: Tensor, boxes: Sequence[Tensor | Sequence[Sequence[float]]] | Tensor, *,
                     owner: Tensor | None = None, grid_size: GridSize | None = None, has_cls: bool | None = None,
                     empty: EmptyPolicy = "whole_image", invalid: InvalidPolicy = "keep",
                     backend: Backend = "separable") -> RegionFeatures:
    """Pool one feature per box from ViT tokens, for the whole batch at once.

    ``tokens``: ``[B, N, D]`` (``N = h*w`` or ``h*w + 1`` with CLS at index 0; see
    :func:`~regionkit.models.region_features.grid.infer_grid`).  ``boxes``: xyxy in **grid units**,
    either one ``[K_i, 4]`` tensor (or nested list) per image, or one ``[R, 4]`` tensor with
    ``owner`` (``[R]`` image indices).  ``invalid="drop"`` removes degenerate boxes first (an image
    left without boxes then falls under ``empty``); ``"keep"`` keeps them as zero features.
    ``empty`` decides what an image without boxes contributes (module docstring).  Per-image
    input: regions come ordered by image; packed input: in the given order, fallbacks last.
    """
    if empty not in ("whole_image", "skip"):
        raise ValueError(f"empty must be 'whole_image' or 'skip', got {empty!r}")
    if invalid not in ("keep", "drop"):
        raise ValueError(f"invalid must be 'keep' or 'drop', got {invalid!r}")
    if backend not in ("separable", "torchvision"):
        raise ValueError(f"backend must be 'separable' or 'torchvision', got {backend!r}")
    grid, spec = tokens_to_grid(tokens, grid_size, has_cls)
    num_images = tokens.shape[0]
    dtype = compute_dtype(tokens.dtype)
    device = tokens.device
    packed, owner_index, source = _packed_input(boxes, owner, num_images, dtype, device)
    # non-finite and inverted boxes become zero boxes (torchvision's kernel fails on boxes inverted on one axis)
    usable = torch.isfinite(packed).all(1) & (packed[:, 2] >= packed[:, 0]) & (packed[:, 3] >= packed[:, 1])
    packed = torch.where(usable[:, None], packed, torch.zeros_like(packed))
    valid = _valid(packed, spec.h, spec.w)
    if invalid == "drop":
        packed, owner_index, source, valid = packed[valid], owner_index[valid], source[valid], valid[valid]
    fallback = torch.zeros_like(valid)
    if empty == "whole_image":
        missing = (torch.bincount(owner_index, minlength=num_images) == 0).nonzero()[:, 0]
        if missing.numel():
            packed = torch.cat([packed, packed.new_tensor([0.0, 0.0, spec.w, spec.h]).expand(missing.shape[0], 4)])
            owner_index = torch.cat([owner_index, missing])
            source = torch.cat([source, torch.full_like(missing, -1)])
            valid = torch.cat([valid, torch.ones_like(missing, dtype=torch.bool)])
            fallback = torch.cat([fallback, torch.ones_like(missing, dtype=torch.bool)])
            if owner is None:  # per-image input: back in image order
                order = torch.argsort(owner_index, stable=True)
                packed, owner_index, source, valid, fallback = (t[order] for t in
                                                                (packed, owner_index, source, valid, fallback))
    if backend == "separable":  # the token matrix read in place, CLS rows skipped
        num_tokens = tokens.shape[1]
        first_row = torch.arange(num_images, device=device) * num_tokens + int(spec.has_cls)
        matrix = tokens.to(dtype).reshape(num_images * num_tokens, tokens.shape[2])
        features = roi_align_1x1_separable(matrix, first_row, (spec.h, spec.w), packed, owner_index)
    else:
        features = roi_align_grid(grid.to(dtype), packed, owner_index, backend=backend)
    return RegionFeatures(features, owner_index, valid, fallback, source, num_images)
