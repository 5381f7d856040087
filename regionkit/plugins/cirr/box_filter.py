"""The CIRR recipe's post-filter (aizhao/SPRC- ``generate_cirr_boxes.py``), bit for bit.

Given a detector's boxes for one image, the original script (YOLO path) did::

    for box in results[0].boxes:                     # ultralytics order: descending confidence
        if box.conf[0] >= 0.3:                        # float32 tensor vs 0.3 -> compared in float32
            boxes.append(box.xyxyn[0].cpu().numpy().tolist())   # float32 xyxy / (w, h, w, h)
    boxes = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) >= 0.01]  # Python float arithmetic
    boxes.sort(key=area, reverse=True)               # stable
    boxes = boxes[:5]

and wrote the normalised lists to JSON.  :class:`CirrBoxFilter` makes the same choice of
boxes in the same order; the CIRR writer (``cirr_boxes``) turns its output back into the
exact normalised floats the original wrote, with the same arithmetic (it takes the filter's
``arithmetic`` when it writes the filter's region set).

**Why this is bit-exact.**  The selector's output stays in pixels, as every regionkit
selector's does, and it does *not* store ``norm * size`` (multiplying back and dividing again
is not guaranteed to give the same float).  Instead, in the float32 modes it rounds each kept
pixel coordinate to float32 and keeps that value, exactly, in the float64 ``xyxy``.  The
normalisation is a pure function of those pixels and the image size,
:func:`~regionkit.plugins.cirr.arithmetic.cirr_xyxyn`, used by the selector (to filter and
sort) and by the writer (to emit the values).  Because the rounding is idempotent, the
filter is too.  See :mod:`regionkit.plugins.cirr.arithmetic` for the three arithmetics.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np

from regionkit.kinds.box_selectors import BaseBoxSelector
from regionkit.params import NonEmpty, Range, UnitInterval, checked
from regionkit.plugins.cirr.arithmetic import Arithmetic, cirr_pixels, cirr_xyxyn
from regionkit.structures.boxes import Boxes

__all__ = ["CirrBoxFilter", "cirr_pixels", "cirr_xyxyn"]


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

    float64_labels:
        Label names whose boxes are normalised with ``float64_div`` whatever ``arithmetic``
        says: the hybrid recipe wrote YOLO boxes in float32 and its saliency fallback boxes
        (label name ``salient``) with Python division, image by image.

    The output is in pixels, rounded to float32 for the boxes normalised in float32 (see the
    module docstring for why), with scores, labels and names carried along; the CIRR JSON's
    normalised values are :meth:`normalized` of them (the CIRR writer calls it).  Empty input
    gives empty output.
    """

    idempotent = True

    @checked
    def __init__(self, *, min_score: UnitInterval | None = 0.3, min_area_norm: UnitInterval = 0.01,
                 max_boxes: Annotated[int, Range(1, 100000)] = 5, arithmetic: Arithmetic = "float32_div",
                 float64_labels: Sequence[Annotated[str, NonEmpty()]] = ()) -> None:
        self.min_score = min_score
        self.min_area_norm = min_area_norm
        self.max_boxes = max_boxes
        self.arithmetic = arithmetic
        self.float64_labels = frozenset(float64_labels)

    def __repr__(self) -> str:
        return (f"CirrBoxFilter(min_score={self.min_score}, min_area_norm={self.min_area_norm}, "
                f"max_boxes={self.max_boxes}, arithmetic={self.arithmetic!r})")

    def __call__(self, boxes: Boxes) -> Boxes:
        if self.min_score is None:
            candidates = list(range(len(boxes)))
        else:
            passed = boxes.scores.astype(np.float32) >= np.float32(self.min_score)
            candidates = [int(i) for i in np.nonzero(passed)[0]]
        norm = self.normalized(boxes[np.asarray(candidates, dtype=np.int64)])
        # areas exactly as the script computed them: Python floats, left to right
        areas = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in norm]
        kept = [k for k in range(len(candidates)) if areas[k] >= self.min_area_norm]
        kept = sorted(kept, key=lambda k: areas[k], reverse=True)[: self.max_boxes]
        idx = np.array([candidates[k] for k in kept], dtype=np.int64)
        out = boxes[idx]
        rounded = np.array([cirr_pixels(row, a)[0] for row, a in zip(out.xyxy, self._arithmetics(out))],
                           dtype=np.float64).reshape(-1, 4)
        return out.with_xyxy(rounded)

    def _arithmetics(self, boxes: Boxes) -> list[str]:
        """The arithmetic of each box (``float64_div`` for the label names in ``float64_labels``)."""
        return ["float64_div" if name in self.float64_labels else self.arithmetic for name in boxes.label_names]

    def normalized(self, boxes: Boxes) -> list[list[float]]:
        """The CIRR JSON's normalised ``[x1, y1, x2, y2]`` lists of ``boxes``, each box in its arithmetic."""
        if not self.float64_labels:
            return cirr_xyxyn(boxes, self.arithmetic)
        return [cirr_xyxyn(boxes[[i]], a)[0] for i, a in enumerate(self._arithmetics(boxes))]
