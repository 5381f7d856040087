"""ViT token sequences as patch grids, and boxes in grid units.

Conventions used throughout :mod:`regionkit.models.region_features`:

* tokens are ``[B, N, D]`` with the patches in row-major order (``y`` then ``x``), optionally
  preceded by one CLS token: ``N == h * w`` (no CLS) or ``N == h * w + 1`` (CLS at index 0);
* boxes are ``xyxy``; *grid units* measure them in patches, so a box ``[0, 0, w, h]`` covers the
  whole grid and the patch ``(y, x)`` spans ``[x, x + 1] x [y, y + 1]`` (its centre is at
  ``(x + 0.5, y + 0.5)``).  Normalised boxes (names ending in ``_norm``) are in ``[0, 1]`` of the
  model input; pixel boxes are in model-input pixels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["GridSpec", "infer_grid", "tokens_to_grid", "boxes_norm_to_grid", "boxes_pixels_to_grid",
           "pack_boxes", "as_box_tensor"]

#: a grid size: ``S`` (square) or ``(h, w)``
GridSize = int | tuple[int, int]


class GridSpec(NamedTuple):
    """The patch grid of a token sequence: ``h`` rows, ``w`` columns, CLS token at index 0 or not."""

    h: int
    w: int
    has_cls: bool


def _square_side(n: int) -> int | None:
    side = math.isqrt(n) if n >= 0 else -1
    return side if side > 0 and side * side == n else None


def infer_grid(num_tokens: int, grid_size: GridSize | None = None, has_cls: bool | None = None) -> GridSpec:
    """The grid of a sequence of ``num_tokens`` tokens.

    ``grid_size`` (``S`` or ``(h, w)``) is required for non-square grids; without it the grid is
    square and the CLS token is detected from the count: ``N`` a perfect square means no CLS,
    ``N - 1`` a perfect square means a CLS token at index 0 (257 -> CLS + 16x16, 256 -> 16x16).
    ``has_cls`` forces the answer.  Raises ``ValueError`` when the count fits no grid.
    """
    if num_tokens < 1:
        raise ValueError(f"a token sequence needs at least one token, got {num_tokens}")
    if grid_size is not None:
        h, w = (grid_size, grid_size) if isinstance(grid_size, int) else (int(grid_size[0]), int(grid_size[1]))
        if h < 1 or w < 1:
            raise ValueError(f"grid_size must be positive, got {grid_size}")
        cells = h * w
        detected = {cells: False, cells + 1: True}.get(num_tokens)
        if detected is None or (has_cls is not None and has_cls != detected):
            expected = cells + 1 if has_cls else cells if has_cls is not None else f"{cells} or {cells + 1}"
            raise ValueError(f"{num_tokens} tokens do not fit a {h}x{w} grid"
                             f"{'' if has_cls is None else (' with a CLS token' if has_cls else ' without a CLS token')}"
                             f" (expected {expected})")
        return GridSpec(h, w, detected)
    if has_cls is None:
        side = _square_side(num_tokens)
        if side is not None:
            return GridSpec(side, side, False)
        side = _square_side(num_tokens - 1)
        if side is not None:
            return GridSpec(side, side, True)
        raise ValueError(f"{num_tokens} tokens are neither a square grid nor a CLS token plus a square grid; "
                         f"pass grid_size=(h, w) for a non-square grid")
    side = _square_side(num_tokens - int(has_cls))
    if side is None:
        raise ValueError(f"{num_tokens} tokens {'minus the CLS token ' if has_cls else ''}are not a square grid; "
                         f"pass grid_size=(h, w)")
    return GridSpec(side, side, has_cls)


def tokens_to_grid(tokens: Tensor, grid_size: GridSize | None = None,
                   has_cls: bool | None = None) -> tuple[Tensor, GridSpec]:
    """``[B, N, D]`` tokens as a channels-last patch grid ``[B, h, w, D]`` (a view, CLS dropped) and its spec."""
    if tokens.dim() != 3:
        raise ValueError(f"tokens must be [B, N, D], got shape {tuple(tokens.shape)}")
    spec = infer_grid(tokens.shape[1], grid_size, has_cls)
    patches = tokens[:, 1:] if spec.has_cls else tokens
    return patches.reshape(tokens.shape[0], spec.h, spec.w, tokens.shape[2]), spec


def as_box_tensor(boxes: Tensor | Sequence[Sequence[float]], *, dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> Tensor:
    """``boxes`` (a tensor or nested sequence, possibly empty) as a ``[K, 4]`` tensor."""
    out = torch.as_tensor(boxes, dtype=dtype, device=device)
    if out.numel() == 0:
        return out.reshape(0, 4)
    if out.dim() != 2 or out.shape[1] != 4:
        raise ValueError(f"boxes must be [K, 4] xyxy, got shape {tuple(out.shape)}")
    return out


def boxes_norm_to_grid(boxes_norm: Tensor, grid_hw: tuple[int, int]) -> Tensor:
    """Normalised model-input ``xyxy`` (``[..., 4]``) to grid units: ``x * w``, ``y * h`` (as FG-CLIP)."""
    h, w = grid_hw
    scale = boxes_norm.new_tensor([w, h, w, h])
    return boxes_norm * scale


def boxes_pixels_to_grid(boxes: Tensor, input_size: tuple[int, int], grid_hw: tuple[int, int]) -> Tensor:
    """Model-input pixel ``xyxy`` (``[..., 4]``; ``input_size = (width, height)``) to grid units."""
    width, height = input_size
    h, w = grid_hw
    scale = boxes.new_tensor([w / width, h / height, w / width, h / height])
    return boxes * scale


def pack_boxes(boxes: Sequence[Tensor | Sequence[Sequence[float]]], *, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Per-image ``[K_i, 4]`` boxes as one ``[R, 4]`` tensor and the owner index ``[R]`` (int64 image index)."""
    parts = [as_box_tensor(b, dtype=dtype, device=device) for b in boxes]
    counts = torch.tensor([p.shape[0] for p in parts], dtype=torch.long, device=device)
    packed = torch.cat(parts) if parts else torch.zeros(0, 4, dtype=dtype, device=device)
    # output_size: without it repeat_interleave takes milliseconds on CPU
    owner = torch.repeat_interleave(torch.arange(len(parts), device=device), counts, output_size=packed.shape[0])
    return packed, owner
