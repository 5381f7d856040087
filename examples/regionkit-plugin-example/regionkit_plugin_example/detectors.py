"""``edge_density``: boxes around the detailed parts of an image, from Sobel-gradient density.

Photographs of objects on plain backgrounds (products, documents, animals against sky or
grass, microscope slides) have their content where the edges are.  This detector finds
those regions without any model or weights, using only numpy and scipy:

1. the image is turned grey and shrunk so its longer side is ``work_size`` pixels (never
   enlarged);
2. the Sobel gradient magnitude is normalised by its 99th percentile and clipped to 1;
3. its local mean over a square window of ``window_frac`` times the longer side is the
   *edge density*, normalised so the densest point is 1;
4. pixels with density >= ``threshold`` form regions (8-connected); each region's bounding
   box, scaled back to the full image, is a box scored by the region's mean density;
5. boxes smaller than ``min_area_frac`` of the image are dropped, the best ``max_boxes`` kept.

A constant image has no edges and gets no boxes.  The detector is deterministic and each
image is processed on its own, so batching does not change the result.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np

from regionkit import BaseDetector, Boxes, MaxLength, NonEmpty, Range, checked

__all__ = ["EdgeDensityDetector"]


class EdgeDensityDetector(BaseDetector):
    """Boxes around detailed, edge-dense regions (Sobel-gradient density); numpy/scipy only, no weights.

    Parameters (keyword only):

    work_size:
        Longer side, in pixels, of the working image (>= 8; smaller images are used as they are).
    window_frac:
        Side of the density window as a fraction of the working image's longer side, in (0, 1].
    threshold:
        Density level in (0, 1]; pixels at or above it form the regions.  Lower finds more and
        larger regions.
    min_area_frac:
        Boxes covering less than this fraction of the image are dropped, in [0, 1).
    max_boxes:
        At most this many boxes per image (>= 1), the highest-scoring ones.
    label_name:
        The label name of every box (label id 0).
    """

    #: parameter sets regionkit's conformance suite tests (pytest --regionkit-conformance=...)
    conformance_params = [dict(), dict(threshold=0.3, max_boxes=3, work_size=64)]

    @checked  # regionkit checks every value against these declarations, from a config or from Python
    def __init__(self, *, work_size: Annotated[int, Range(8, 4096)] = 160,
                 window_frac: Annotated[float, Range(0.0, 1.0, low_open=True)] = 0.08,
                 threshold: Annotated[float, Range(0.0, 1.0, low_open=True)] = 0.5,
                 min_area_frac: Annotated[float, Range(0.0, 1.0, high_open=True)] = 0.005,
                 max_boxes: Annotated[int, Range(1, 1000)] = 8,
                 label_name: Annotated[str, NonEmpty(), MaxLength(100)] = "detailed") -> None:
        self.work_size = work_size
        self.window_frac = window_frac
        self.threshold = threshold
        self.min_area_frac = min_area_frac
        self.max_boxes = max_boxes
        self.label_name = label_name

    def __repr__(self) -> str:
        return (f"EdgeDensityDetector(work_size={self.work_size}, window_frac={self.window_frac}, "
                f"threshold={self.threshold}, min_area_frac={self.min_area_frac}, "
                f"max_boxes={self.max_boxes}, label_name={self.label_name!r})")

    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """One :class:`Boxes` per RGB ``uint8`` ``(H, W, 3)`` image, best first."""
        return [self._detect_one(np.asarray(image)) for image in images]

    def density_map(self, image: np.ndarray) -> np.ndarray:
        """The normalised edge density of ``image`` at working resolution (values in [0, 1])."""
        from PIL import Image
        from scipy import ndimage

        height, width = image.shape[:2]
        grey = np.asarray(image, dtype=np.float64)
        if grey.ndim == 3:
            grey = grey[..., :3] @ np.array([0.299, 0.587, 0.114])
        scale = min(1.0, self.work_size / max(width, height))
        work_w, work_h = max(1, round(width * scale)), max(1, round(height * scale))
        if (work_w, work_h) != (width, height):
            grey = np.asarray(Image.fromarray(grey.astype(np.float32), mode="F").resize((work_w, work_h),
                                                                                         Image.Resampling.BILINEAR),
                              dtype=np.float64)
        magnitude = np.hypot(ndimage.sobel(grey, axis=1, mode="nearest"),
                             ndimage.sobel(grey, axis=0, mode="nearest"))
        top = float(np.percentile(magnitude, 99))
        if top <= 1e-6:
            return np.zeros_like(magnitude)
        magnitude = np.clip(magnitude / top, 0.0, 1.0)
        window = max(3, round(self.window_frac * max(work_w, work_h)) | 1)
        density = ndimage.uniform_filter(magnitude, size=window, mode="nearest")
        peak = float(density.max())
        return density / peak if peak > 1e-12 else np.zeros_like(density)

    def _detect_one(self, image: np.ndarray) -> Boxes:
        from scipy import ndimage

        height, width = image.shape[:2]
        density = self.density_map(image)
        work_h, work_w = density.shape
        labels, count = ndimage.label(density >= self.threshold, structure=np.ones((3, 3), dtype=int))
        if count == 0 or not density.any():
            return Boxes.empty((width, height))
        sx, sy = width / work_w, height / work_h
        boxes, scores = [], []
        for index, region in enumerate(ndimage.find_objects(labels), start=1):
            if region is None:
                continue
            rows, cols = region
            x1, x2 = cols.start * sx, min(cols.stop * sx, width)
            y1, y2 = rows.start * sy, min(rows.stop * sy, height)
            if (x2 - x1) * (y2 - y1) < self.min_area_frac * width * height or x2 <= x1 or y2 <= y1:
                continue
            boxes.append([x1, y1, x2, y2])
            scores.append(float(density[region][labels[region] == index].mean()))
        if not boxes:
            return Boxes.empty((width, height))
        xyxy, score = np.array(boxes), np.array(scores)
        area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
        order = np.lexsort((xyxy[:, 0], xyxy[:, 1], -area, -score))[: self.max_boxes]  # score, then area
        n = len(order)
        return Boxes.create(xyxy[order], (width, height), scores=score[order], labels=np.zeros(n, dtype=int),
                            label_names=[self.label_name] * n)
