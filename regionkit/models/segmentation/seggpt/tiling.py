"""Tiled inference (``split``) for large images, with a second pass that redraws the seams, as the fine-tuners did.

SegGPT sees every image at its input size (448 x 448 for the released weights), so small objects
in a large photo shrink to a few pixels.  The forks' ``--split s`` cuts the query (and each
prompt) into ``s x s`` tiles and predicts each query tile with every tile of every prompt as its
prompts (feature ensemble over them).  Here:

1. **Working canvas.**  The query is resized once to ``s * h`` x ``s * w`` (``h x w`` = the model's
   image size), so each tile is exactly one model input and the stitched prediction lives on that
   canvas without resampling.  Prompts are resized and tiled the same way (``tile_prompts=True``,
   the forks' choice) or used whole.
2. **First pass.**  Each tile is predicted and placed on the canvas.
3. **Seam pass** (``seam_pass=True``, for ``s >= 2``).  Crops of one model input, centred on the
   seams, are predicted again with *inpainting*: the crop's label half shows the first-pass
   colours and only the patches within ``stitch_width`` patches of the seam line are masked, so the
   model redraws the band across the seam with both sides in view.  There are ``s (s - 1)`` crops
   on vertical seams, as many on horizontal ones, and ``(s - 1)^2`` on the crossings (5 for
   ``s = 2``, as in the forks).  The redrawn band is blended in with a linear feather: weight 1
   on the seam line, falling to 0 at the band's edge, so no new edge appears where the band ends.
   Crossing crops go last.
4. The canvas (colours, normalised) is returned; the detector decodes it with the palette and
   resizes the class map to the original size (nearest), which is the same as resizing the colour
   map first.

torch via :class:`~regionkit.models.segmentation.seggpt.model.SegGptNet`; the geometry is numpy.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from regionkit.models.segmentation.seggpt.canvas import normalize, prepare_mask, resize_image, resize_nearest, to_rgb

if TYPE_CHECKING:
    from regionkit.models.segmentation.seggpt.model import SegGptNet

__all__ = ["SeamCrop", "tile_origins", "seam_crops", "PromptBatch", "prepare_prompts", "predict_tiled"]


@dataclass(frozen=True)
class SeamCrop:
    """One seam-pass crop: its top-left corner on the canvas, the masked band and the blending weight.

    ``band`` is ``(rows, cols)`` bool over the crop's patches (the query half of the model input);
    ``weight`` is ``(h, w)`` float in [0, 1], zero outside the band.
    """

    y: int
    x: int
    band: np.ndarray
    weight: np.ndarray


def tile_origins(split: int, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the ``split x split`` tiles of a canvas of ``split * size``, row-major."""
    h, w = size
    return [(r * h, c * w) for r in range(split) for c in range(split)]


def _feather(length: int, centre: float, half: float) -> np.ndarray:
    pos = np.arange(length) + 0.5
    return np.clip(1.0 - np.abs(pos - centre) / max(half, 1e-6), 0.0, 1.0)


def seam_crops(split: int, size: tuple[int, int], patch: int, stitch_width: int) -> list[SeamCrop]:
    """The seam-pass crops of a ``split x split`` canvas of tiles of ``size`` (model patches of ``patch`` px)."""
    if split < 2 or stitch_width < 1:
        return []
    h, w = size
    rows, cols = h // patch, w // patch
    sw_r, sw_c = min(stitch_width, rows // 2), min(stitch_width, cols // 2)
    mid_r, mid_c = rows // 2, cols // 2  # the seam line, in patches, when the crop is centred on it
    vert_band = np.zeros((rows, cols), dtype=bool)
    vert_band[:, mid_c - sw_c: mid_c + sw_c] = True
    horz_band = np.zeros((rows, cols), dtype=bool)
    horz_band[mid_r - sw_r: mid_r + sw_r] = True
    wx = _feather(w, mid_c * patch, sw_c * patch)
    wy = _feather(h, mid_r * patch, sw_r * patch)
    vert_w = np.broadcast_to(wx[None, :], (h, w)).copy()
    horz_w = np.broadcast_to(wy[:, None], (h, w)).copy()
    crops: list[SeamCrop] = []
    for j in range(1, split):  # vertical seam at x = j * w, one crop per tile row
        crops.extend(SeamCrop(r * h, j * w - mid_c * patch, vert_band, vert_w) for r in range(split))
    for i in range(1, split):  # horizontal seam at y = i * h, one crop per tile column
        crops.extend(SeamCrop(i * h - mid_r * patch, c * w, horz_band, horz_w) for c in range(split))
    cross_band = vert_band | horz_band
    cross_w = np.maximum(vert_w, horz_w)
    for i in range(1, split):
        crops.extend(SeamCrop(i * h - mid_r * patch, j * w - mid_c * patch, cross_band, cross_w)
                     for j in range(1, split))
    return crops


@dataclass(frozen=True)
class PromptBatch:
    """Prompt images and painted masks ready for the model: ``(N, 3, h, w)`` each, normalised."""

    images: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def prepare_prompts(images: Sequence[np.ndarray], class_maps: Sequence[np.ndarray], palette: np.ndarray,
                    size: tuple[int, int], split: int = 1, tile_prompts: bool = True) -> PromptBatch:
    """Prompt pairs as model inputs; with ``split > 1`` and ``tile_prompts``, every tile of every prompt."""
    h, w = size
    s = split if tile_prompts else 1
    ims, masks = [], []
    for image, class_map in zip(images, class_maps):
        big = resize_image(to_rgb(image), (s * h, s * w))
        big_map = resize_nearest(np.asarray(class_map), (s * h, s * w))
        for y, x in tile_origins(s, size):
            ims.append(normalize(big[y:y + h, x:x + w]))
            masks.append(prepare_mask(big_map[y:y + h, x:x + w], palette, size))
    return PromptBatch(np.stack(ims), np.stack(masks))


def predict_tiled(net: SegGptNet, image: np.ndarray, prompts: PromptBatch, split: int = 1,
                  stitch_width: int = 4, seam_pass: bool = True) -> np.ndarray:
    """The predicted colour canvas ``(3, split * h, split * w)`` (normalised) of one RGB uint8 image."""
    h, w = net.image_size
    big = resize_image(to_rgb(image), (split * h, split * w))
    origins = tile_origins(split, (h, w))
    queries = np.stack([normalize(big[y:y + h, x:x + w]) for y, x in origins])
    p_images, p_masks = prompts.images[None], prompts.masks[None]
    canvas = np.zeros((3, split * h, split * w), dtype=np.float32)
    for (y, x), query in zip(origins, queries):
        canvas[:, y:y + h, x:x + w] = net.predict(query[None], p_images, p_masks)[0]
    if not seam_pass:
        return canvas
    for crop in seam_crops(split, (h, w), net.patch_size, stitch_width):
        ys, xs = slice(crop.y, crop.y + h), slice(crop.x, crop.x + w)
        query = normalize(big[ys, xs])[None]
        first = canvas[:, ys, xs].copy()
        redrawn = net.inpaint(query, p_images, p_masks, first[None], crop.band[None])[0]
        canvas[:, ys, xs] = first * (1.0 - crop.weight) + redrawn * crop.weight
    return canvas
