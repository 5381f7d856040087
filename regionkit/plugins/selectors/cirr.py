"""The CIRR box recipe's post-filter (aizhao/SPRC- ``generate_cirr_boxes.py``), bit for bit.

Given a detector's boxes for one image, the original script (YOLO path) did::

    for box in results[0].boxes:                     # ultralytics order: descending confidence
        if box.conf[0] >= 0.3:                        # float32 tensor vs 0.3 -> compared in float32
            boxes.append(box.xyxyn[0].cpu().numpy().tolist())   # float32 xyxy / (w, h, w, h)
    boxes = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) >= 0.01]  # Python float arithmetic
    boxes.sort(key=area, reverse=True)               # stable
    boxes = boxes[:5]

and wrote the normalised lists to JSON.  :class:`CirrBoxFilter` makes the same choice of
boxes in the same order; :func:`cirr_xyxyn` turns its output back into the exact normalised
floats the original wrote.

**Why this is bit-exact (the design).**  The selector's output stays in pixels, as every
regionkit selector's does, and it does *not* store ``norm * size`` (multiplying back and
dividing again is not guaranteed to give the same float).  Instead, in the float32 modes it
rounds each kept pixel coordinate to float32 (lossless for detectors that, like ultralytics,
produce float32 boxes) and keeps that float32 value, exactly, in the float64 ``xyxy``.  The
normalisation is a pure function of those float32 pixels and the image size,
:func:`cirr_xyxyn`, used by the selector (to filter and sort) and by a CIRR writer (to emit
the values).  Same inputs, same IEEE operations: the writer's floats are the selector's
floats, which are the original's floats.  Because the rounding is idempotent, the filter is
too.  A writer must use the same ``arithmetic`` as the selector.

**Arithmetic** (``arithmetic=``), i.e. how ultralytics' ``xyxyn`` was computed:

``"float32_div"`` (default)
    ``float32(x) / float32(w)``: ultralytics run on the CPU (PyTorch divides a float32 tensor
    by a Python number in float32).
``"float32_reciprocal"``
    ``float32(x) * float32(1 / w)``: ultralytics run on a CUDA device.  PyTorch's CUDA kernel
    divides a tensor by a CPU scalar as a multiplication by its reciprocal, which differs from
    the division in the last bit for a large share of values.  This is read from PyTorch's
    ``BinaryDivTrueKernel.cu``; it was not run on a GPU here (a test checks it when CUDA is
    available).
``"float64_div"``
    ``x / w`` in float64, as Python divides numbers: the script's saliency path, which
    normalised integer ``cv2.boundingRect`` boxes with Python division.  Pixels are not rounded.
"""
from __future__ import annotations

import numbers
from typing import Optional

import numpy as np

from regionkit.core.boxes import Boxes
from regionkit.core.interfaces import BaseBoxSelector
from regionkit.core.validation import check_number

__all__ = ["CirrBoxFilter", "cirr_xyxyn", "cirr_pixels", "ARITHMETICS"]

#: the ways ultralytics' (or the saliency path's) normalisation can be reproduced
ARITHMETICS = ("float32_div", "float32_reciprocal", "float64_div")


def _check_arithmetic(arithmetic: object) -> str:
    if arithmetic not in ARITHMETICS:
        raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
    return str(arithmetic)


def cirr_pixels(xyxy: object, arithmetic: str = "float32_div") -> np.ndarray:
    """Pixel ``xyxy`` as the recipe holds them: rounded to float32 (returned as float64), or as is for ``float64_div``."""
    arithmetic = _check_arithmetic(arithmetic)
    arr = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if arithmetic == "float64_div":
        return arr.copy()
    return arr.astype(np.float32).astype(np.float64)


def _normalize(xyxy: np.ndarray, image_size: tuple[int, int], arithmetic: str) -> np.ndarray:
    w, h = (int(v) for v in image_size)
    if arithmetic == "float64_div":
        return np.asarray(xyxy, dtype=np.float64).reshape(-1, 4) / np.array([w, h, w, h], dtype=np.float64)
    px = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).astype(np.float32)
    if arithmetic == "float32_div":
        return px / np.array([w, h, w, h], dtype=np.float32)
    # CUDA: the reciprocal is formed in (at least) float32 precision, then one float32 multiply
    inv = np.array([1.0 / w, 1.0 / h, 1.0 / w, 1.0 / h], dtype=np.float64).astype(np.float32)
    return px * inv


def cirr_xyxyn(boxes: Boxes, arithmetic: str = "float32_div") -> list[list[float]]:
    """The CIRR JSON's normalised ``[x1, y1, x2, y2]`` lists (Python floats) of ``boxes``.

    Apply it to the output of :class:`CirrBoxFilter` with the same ``arithmetic``; the result
    equals, float for float, what ``generate_cirr_boxes.py`` wrote for the same detections.
    """
    return _normalize(boxes.xyxy, boxes.image_size, _check_arithmetic(arithmetic)).tolist()


class CirrBoxFilter(BaseBoxSelector):
    """CIRR recipe filter: conf >= 0.3, normalised area >= 0.01, largest 5 first (generate_cirr_boxes.py, bit-exact).

    Parameters (keyword only):

    min_score:
        Keep boxes with ``float32(score) >= float32(min_score)`` (the YOLO path's ``conf >= 0.3``
        on a float32 tensor); ``None`` keeps every box (the saliency path has no scores).
    min_area_norm:
        Drop boxes whose normalised area ``(x2n - x1n) * (y2n - y1n)``, computed in Python
        float arithmetic on the normalised values, is ``< min_area_norm``.
    max_boxes:
        Keep at most this many boxes, largest normalised area first (a stable sort: equal
        areas keep the input order, i.e. descending confidence for a detector).
    arithmetic:
        How the normalised values are computed; see the module docstring.  The default
        ``"float32_div"`` is ultralytics' ``xyxyn`` on the CPU.

    The output is in pixels, rounded to float32 in the float32 modes (see the module
    docstring for why), with scores, labels and names carried along; get the CIRR JSON's
    normalised values with :func:`cirr_xyxyn`.  Empty input gives empty output.
    """

    def __init__(self, *, min_score: Optional[float] = 0.3, min_area_norm: float = 0.01, max_boxes: int = 5,
                 arithmetic: str = "float32_div") -> None:
        self.min_score = None if min_score is None else check_number("min_score", min_score, 0.0, 1.0)
        self.min_area_norm = check_number("min_area_norm", min_area_norm, 0.0, 1.0)
        if isinstance(max_boxes, bool) or not isinstance(max_boxes, numbers.Integral) or int(max_boxes) < 1:
            raise ValueError(f"max_boxes must be an integer >= 1, got {max_boxes!r}")
        self.max_boxes = int(max_boxes)
        self.arithmetic = _check_arithmetic(arithmetic)

    def __repr__(self) -> str:
        return (f"CirrBoxFilter(min_score={self.min_score}, min_area_norm={self.min_area_norm}, "
                f"max_boxes={self.max_boxes}, arithmetic={self.arithmetic!r})")

    def __call__(self, boxes: Boxes) -> Boxes:
        if self.min_score is None:
            candidates = list(range(len(boxes)))
        else:
            passed = boxes.scores.astype(np.float32) >= np.float32(self.min_score)
            candidates = [int(i) for i in np.nonzero(passed)[0]]
        norm = _normalize(boxes.xyxy[candidates], boxes.image_size, self.arithmetic).tolist()
        # areas exactly as the script computed them: Python floats, left to right
        areas = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in norm]
        kept = [k for k in range(len(candidates)) if areas[k] >= self.min_area_norm]
        kept = sorted(kept, key=lambda k: areas[k], reverse=True)[: self.max_boxes]
        idx = np.array([candidates[k] for k in kept], dtype=np.int64)
        out = boxes[idx]
        return out.with_xyxy(cirr_pixels(out.xyxy, self.arithmetic))
