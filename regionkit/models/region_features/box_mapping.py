"""Map boxes from the original image into model-input coordinates through the preprocessing geometry.

Boxes from a detector are measured on the original image (normalised ``xyxy`` in ``[0, 1]``), but
RoI Align runs on the grid of the preprocessed image.  :mod:`~regionkit.models.region_features.
geometry` gives each pipeline's affine map (SPRC's TargetPad/SquarePad pipelines, CLIP's
resize + center crop, FG-CLIP's plain resize); here boxes are mapped through it, clipped to the
model input and flagged ``valid = False`` when degenerate (non-finite, inverted, or no more than
``min_size`` pixels wide or high after clipping, e.g. cropped away).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from regionkit.models.region_features.geometry import BoxGeometry, Preprocess, Size, checked_size, preprocess_geometry

__all__ = ["MappedBoxes", "map_boxes", "map_boxes_norm", "map_boxes_norm_batch"]


@dataclass(frozen=True)
class MappedBoxes:
    """Boxes in model-input pixels: ``boxes`` ``[K, 4]`` xyxy clipped to ``size = (W, H)``; ``valid`` ``[K]`` bool."""

    boxes: Tensor
    valid: Tensor
    size: Size

    @property
    def boxes_norm(self) -> Tensor:
        """The boxes normalised by the model input size, in ``[0, 1]``."""
        width, height = self.size
        return self.boxes / self.boxes.new_tensor([width, height, width, height])

    def to_grid(self, grid_hw: tuple[int, int]) -> Tensor:
        """The boxes in grid units of an ``h x w`` patch grid over the model input."""
        h, w = grid_hw
        width, height = self.size
        return self.boxes * self.boxes.new_tensor([w / width, h / height, w / width, h / height])


def map_boxes(boxes: Tensor, geometry: BoxGeometry, *, min_size: float = 0.0) -> MappedBoxes:
    """Pixel ``xyxy`` boxes ``[K, 4]`` on the original image mapped, clipped and flagged (see module docstring)."""
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be [K, 4] xyxy, got shape {tuple(boxes.shape)}")
    width, height = geometry.out_size
    finite = torch.isfinite(boxes).all(1)
    ordered = (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    safe = torch.where(finite[:, None], boxes, torch.zeros_like(boxes))
    mapped = geometry.apply(safe)
    limit = mapped.new_tensor([width, height, width, height])
    clipped = torch.minimum(mapped.clamp(min=0), limit)
    big_enough = ((clipped[:, 2] - clipped[:, 0]) > min_size) & ((clipped[:, 3] - clipped[:, 1]) > min_size)
    return MappedBoxes(clipped, finite & ordered & big_enough, (width, height))


def map_boxes_norm(boxes_norm: Tensor | Sequence[Sequence[float]], image_size: Size,
                   preprocess: Preprocess | BoxGeometry = "targetpad", *, size: int = 224,
                   target_ratio: float = 1.25, min_size: float = 0.0) -> MappedBoxes:
    """Boxes normalised on the original image (``image_size = (w, h)``) in model-input pixels.

    ``preprocess`` names a pipeline (:func:`preprocess_geometry`) or is a :class:`BoxGeometry`.
    Lists and arrays become float64 tensors; tensors keep their (floating) dtype.
    """
    width, height = checked_size(image_size)
    tensor = boxes_norm if isinstance(boxes_norm, Tensor) and boxes_norm.is_floating_point() else \
        torch.as_tensor(boxes_norm, dtype=torch.float64)
    tensor = tensor.reshape(-1, 4)
    geometry = preprocess if isinstance(preprocess, BoxGeometry) else \
        preprocess_geometry((width, height), preprocess, size=size, target_ratio=target_ratio)
    if geometry.in_size != (width, height):
        raise ValueError(f"the geometry is for images of {geometry.in_size}, not {(width, height)}")
    pixels = tensor * tensor.new_tensor([width, height, width, height])
    return map_boxes(pixels, geometry, min_size=min_size)


def map_boxes_norm_batch(boxes_norm: Sequence[Tensor | Sequence[Sequence[float]]], image_sizes: Sequence[Size],
                         preprocess: Preprocess = "targetpad", *, size: int = 224, target_ratio: float = 1.25,
                         min_size: float = 0.0) -> list[MappedBoxes]:
    """:func:`map_boxes_norm` for a whole batch with one tensor computation (for a collate function).

    ``boxes_norm[i]``: ``[K_i, 4]`` boxes normalised on image ``i`` of ``image_sizes[i] = (w, h)``.
    Returns one :class:`MappedBoxes` per image (float64 unless the first tensor says otherwise).
    """
    if len(boxes_norm) != len(image_sizes):
        raise ValueError(f"got {len(boxes_norm)} box lists for {len(image_sizes)} image sizes")
    first = next((b for b in boxes_norm if isinstance(b, Tensor) and b.is_floating_point()), None)
    dtype = first.dtype if first is not None else torch.float64
    parts = [torch.as_tensor(b, dtype=dtype).reshape(-1, 4) for b in boxes_norm]
    counts = [p.shape[0] for p in parts]
    rows = []
    out_sizes = []
    for image_size, count in zip(image_sizes, counts):
        width, height = checked_size(image_size)
        g = preprocess_geometry((width, height), preprocess, size=size, target_ratio=target_ratio)
        # normalised -> original pixels -> model input: x' = sx * (x * w) + ox
        rows.extend([[g.sx * width, g.sy * height, g.ox, g.oy]] * count)
        out_sizes.append(g.out_size)
    coef = torch.tensor(rows, dtype=dtype).reshape(-1, 4)
    boxes = torch.cat(parts) if parts else torch.zeros(0, 4, dtype=dtype)
    finite = torch.isfinite(boxes).all(1)
    ordered = (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    safe = torch.where(finite[:, None], boxes, torch.zeros_like(boxes))
    mapped = safe * coef[:, [0, 1, 0, 1]] + coef[:, [2, 3, 2, 3]]
    limit = torch.tensor([[w, h, w, h] for (w, h), count in zip(out_sizes, counts) for _ in range(count)],
                         dtype=dtype).reshape(-1, 4)
    clipped = torch.minimum(mapped.clamp(min=0), limit)
    big_enough = ((clipped[:, 2] - clipped[:, 0]) > min_size) & ((clipped[:, 3] - clipped[:, 1]) > min_size)
    valid = finite & ordered & big_enough
    return [MappedBoxes(b, v, out_size) for b, v, out_size in
            zip(torch.split(clipped, counts), torch.split(valid, counts), out_sizes)]
