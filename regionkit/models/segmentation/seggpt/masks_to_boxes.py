"""A class map into scored, labelled boxes: one box per connected component of each class.

Rules (regionkit's own design; SegGPT itself gives no boxes and no confidence):

* **Components.**  For every class id ``c >= 1`` present in the map, the pixels of class ``c``
  are split into connected components (8-connectivity by default, 4 on request).  Background
  (id 0) never gives a box.
* **Box.**  The component's pixel extent in the map's pixels, edges included: a component
  covering columns ``x0..x1`` and rows ``y0..y1`` gives ``[x0, y0, x1 + 1, y1 + 1]`` (regionkit
  boxes have no +1 convention: the width is ``x2 - x1``), so a one-pixel component is a 1 x 1 box.
* **Size filter.**  Components with fewer than ``min_area_px`` pixels, or less than
  ``min_area_norm`` of the image's pixels, are dropped (pixel counts of the component, not box
  areas).
* **Score.**  The mean of the decoding margin (:func:`~regionkit.models.segmentation.seggpt.
  palette.decode`) over the component's pixels, in [0, 1]: 1 when every pixel is exactly its
  class colour, near 0 when the model's colours sit halfway between two classes.  Without a
  margin map every score is 1.  Components scoring below ``min_score`` are dropped.
* **Label.**  The class id (the value the ``seggpt_masks`` writer stores in an index PNG), and as
  label name ``class_names[id - 1]``.
* **Order.**  By descending score; equal scores keep the order class id, then the component's
  top-left-most pixel (row-major), which makes the output deterministic.  ``max_boxes`` keeps the
  best ones.

numpy and scipy.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from regionkit.structures.boxes import Boxes

__all__ = ["masks_to_boxes", "class_areas"]


def _structure(connectivity: int) -> np.ndarray:
    if connectivity == 8:
        return np.ones((3, 3), dtype=bool)
    if connectivity == 4:
        return np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")


def masks_to_boxes(class_map: np.ndarray, margin: np.ndarray | None = None, *,
                   class_names: Sequence[str] = (), min_area_px: float = 1.0, min_area_norm: float = 0.0,
                   min_score: float = 0.0, connectivity: int = 8, max_boxes: int | None = None) -> Boxes:
    """Boxes of the connected components of ``class_map`` (``(H, W)`` ints, 0 = background), best first.

    ``margin`` (``(H, W)`` in [0, 1], optional) gives the scores; ``class_names[i]`` names class
    id ``i + 1`` (missing names become ``class_<id>``).  The rules are in the module docstring.
    """
    from scipy import ndimage

    ids = np.asarray(class_map)
    if ids.ndim != 2:
        raise ValueError(f"class_map must be (H, W), got shape {ids.shape}")
    h, w = ids.shape
    if margin is not None and np.shape(margin) != ids.shape:
        raise ValueError(f"margin has shape {np.shape(margin)}, the class map {ids.shape}")
    min_pixels = max(float(min_area_px), float(min_area_norm) * h * w)
    rows: list[tuple[float, int, int, list[float]]] = []
    for cid in (int(c) for c in np.unique(ids) if c > 0):
        components, count = ndimage.label(ids == cid, structure=_structure(connectivity))
        if count == 0:
            continue
        index = np.arange(1, count + 1)
        sizes = np.bincount(components.reshape(-1), minlength=count + 1)[1:]
        scores = (np.ones(count) if margin is None
                  else np.asarray(ndimage.mean(np.asarray(margin, dtype=np.float64), components, index)))
        # first pixel of each component in row-major order: its rank in the tie rule
        flat = components.reshape(-1)
        nonzero = np.flatnonzero(flat)
        firsts = np.full(count + 1, h * w, dtype=np.int64)
        np.minimum.at(firsts, flat[nonzero], nonzero)
        for k, sl in enumerate(ndimage.find_objects(components)):
            if sl is None or sizes[k] < min_pixels or scores[k] < min_score:
                continue
            ys, xs = sl
            rows.append((float(scores[k]), cid, int(firsts[k + 1]),
                         [float(xs.start), float(ys.start), float(xs.stop), float(ys.stop)]))
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    if max_boxes is not None:
        rows = rows[:max_boxes]
    names = [class_names[c - 1] if 0 < c <= len(class_names) else f"class_{c}" for _, c, _, _ in rows]
    return Boxes.create(np.array([r[3] for r in rows], dtype=np.float64).reshape(-1, 4), (w, h),
                        scores=np.array([r[0] for r in rows], dtype=np.float64),
                        labels=np.array([r[1] for r in rows], dtype=np.int64), label_names=names)


def class_areas(class_map: np.ndarray) -> dict[int, int]:
    """Pixel count of every class id ``>= 1`` present in ``class_map``."""
    values, counts = np.unique(np.asarray(class_map), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts) if v > 0}
