"""RoI Align to one bin, computed from separable weights as one sparse weighted sum over the tokens.

``torchvision.ops.roi_align(x, rois, output_size=(1, 1), spatial_scale=1.0, sampling_ratio=-1,
aligned=True)`` averages bilinear samples on a regular ``ceil(roi_h) x ceil(roi_w)`` grid inside
each box (torchvision's ``roi_align_kernel.cpp``).  Both the sample grid and bilinear
interpolation factor over the two axes, and so does the kernel's rule that drops a sample whose
``y`` lies outside ``[-1, H]`` *or* whose ``x`` lies outside ``[-1, W]``.  The pooled feature of a
box is therefore ``sum_{y,x} wy[y] wx[x] F[y, x] / count`` with one weight vector per axis.  Only
the few cells under a box have non-zero weight, so a whole batch of boxes is a single
``embedding_bag`` (weighted sum of token rows) over the ``[B*N, D]`` token matrix, read in place:
the same numbers as torchvision's kernel up to float rounding, many times faster on CPU, with
gradients for the tokens from autograd.  Boxes are constants (no gradient), as in torchvision.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["axis_weights", "cell_weights", "roi_align_1x1_separable", "MAX_SAMPLES_PER_AXIS"]

#: boxes needing more samples than this along an axis (boxes far larger than the grid) are
#: delegated to torchvision's kernel instead of materialising a huge sample tensor
MAX_SAMPLES_PER_AXIS = 1024


def axis_weights(lo: Tensor, hi: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Per-box interpolation weights along one axis and the sample count, as torchvision computes them.

    ``lo``, ``hi``: ``[R]`` box edges in grid units (``aligned=True``: shifted by half a cell);
    ``size``: cells along the axis.  Returns ``(weights [R, size], samples [R] int64)``; the
    weights of a box sum to its number of in-range samples.
    """
    start = lo - 0.5
    length = hi - lo                      # aligned=True: no minimum size of 1
    samples = torch.ceil(length).clamp(min=0).to(torch.long)
    weights = lo.new_zeros(lo.shape[0], size)
    most = int(samples.max()) if samples.numel() else 0
    if most == 0:
        return weights, samples
    step = torch.arange(most, dtype=lo.dtype, device=lo.device)
    grid = samples.clamp(min=1).to(lo.dtype)
    # y = roi_start + (iy + .5) * bin_size / roi_bin_grid, in the kernel's order of operations
    pos = start[:, None] + (step[None, :] + 0.5) * length[:, None] / grid[:, None]
    used = (step[None, :] < samples[:, None].to(lo.dtype)) & (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().clamp(max=size - 1).to(torch.long)
    at_edge = low >= size - 1
    high = torch.where(at_edge, low, low + 1)
    pos = torch.where(at_edge, low.to(lo.dtype), pos)
    frac = pos - low.to(lo.dtype)
    keep = used.to(lo.dtype)
    weights.scatter_add_(1, low, (1 - frac) * keep)
    weights.scatter_add_(1, high, frac * keep)
    return weights, samples


def cell_weights(boxes: Tensor, h: int, w: int) -> tuple[Tensor, Tensor, Tensor]:
    """The non-zero RoI Align weights of ``boxes`` (``[R, 4]`` grid units) on an ``h x w`` grid.

    Returns ``(box [nnz], cell [nnz], weight [nnz])``, sorted by box: box ``r`` pools
    ``sum weight * F[cell]`` with ``cell = y * w + x``.
    """
    wx, nx = axis_weights(boxes[:, 0], boxes[:, 2], w)
    wy, ny = axis_weights(boxes[:, 1], boxes[:, 3], h)
    count = (nx * ny).clamp(min=1).to(boxes.dtype)
    dense = ((wy[:, :, None] * wx[:, None, :]).reshape(boxes.shape[0], h * w) / count[:, None]).reshape(-1)
    index = dense.nonzero().squeeze(1)
    return index // (h * w), index % (h * w), dense.index_select(0, index)


def _via_torchvision(matrix: Tensor, first_row: Tensor, grid_hw: tuple[int, int], boxes: Tensor,
                     owner: Tensor) -> Tensor:
    from torchvision.ops import roi_align  # type: ignore[import-untyped]

    h, w = grid_hw
    rows = first_row[:, None] + torch.arange(h * w, device=matrix.device)[None, :]
    grid = matrix.index_select(0, rows.reshape(-1)).reshape(first_row.shape[0], h, w, matrix.shape[1])
    rois = torch.cat([owner[:, None].to(boxes.dtype), boxes], 1)
    return roi_align(grid.permute(0, 3, 1, 2), rois, (1, 1), 1.0, -1, True)[..., 0, 0]


def roi_align_1x1_separable(matrix: Tensor, first_row: Tensor, grid_hw: tuple[int, int], boxes: Tensor,
                            owner: Tensor) -> Tensor:
    """One pooled feature per box: ``[R, D]``.

    ``matrix``: ``[M, D]`` token rows (e.g. ``tokens.reshape(B * N, D)``, read in place);
    ``first_row``: ``[B]`` int64 row of each image's patch ``(0, 0)`` (``b * N + 1`` with a CLS
    token); patch ``(y, x)`` of image ``b`` is row ``first_row[b] + y * w + x``.  ``boxes``:
    ``[R, 4]`` xyxy in grid units, finite, same dtype as ``matrix``; ``owner``: ``[R]`` int64
    image index.  Equals torchvision's ``roi_align(grid, rois, (1, 1), 1.0, -1, True)[..., 0, 0]``.
    """
    regions = boxes.shape[0]
    if regions == 0:
        return matrix[:0]
    h, w = grid_hw
    big = ((boxes[:, 2] - boxes[:, 0]) > MAX_SAMPLES_PER_AXIS) | ((boxes[:, 3] - boxes[:, 1]) > MAX_SAMPLES_PER_AXIS)
    if bool(big.any()):
        small = (~big).nonzero()[:, 0]
        large = big.nonzero()[:, 0]
        out = matrix.new_zeros(regions, matrix.shape[1])
        if small.numel():
            out = out.index_put((small,), roi_align_1x1_separable(matrix, first_row, grid_hw, boxes[small],
                                                                   owner[small]))
        return out.index_put((large,), _via_torchvision(matrix, first_row, grid_hw, boxes[large], owner[large]))
    box, cell, weight = cell_weights(boxes, h, w)
    rows = first_row.index_select(0, owner).index_select(0, box) + cell
    counts = torch.bincount(box, minlength=regions)
    offsets = torch.cumsum(counts, 0) - counts
    return F.embedding_bag(rows, matrix, offsets, mode="sum", per_sample_weights=weight)
