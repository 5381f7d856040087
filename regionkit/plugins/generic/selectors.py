"""General-purpose, composable box selectors: score, class and area filters, top-k, NMS.

Each one is a pure function of its input boxes (and the image size), maps empty input to
empty output, and is idempotent: applying it to its own output changes nothing.  Filters
keep the input order of the boxes they keep; :class:`TopK` sorts.  Chain them as stages::

    selectors = [
        dict(type='score_filter', input='detections', output='confident', min_score=0.3),
        dict(type='class_filter', exclude=['person']),
        dict(type='nms', iou_threshold=0.5, class_agnostic=False),
        dict(type='top_k', k=5, by='area', output='kept'),
    ]
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import numpy as np

from regionkit.kinds.box_selectors import BaseBoxSelector
from regionkit.params import Range, UnitInterval, checked
from regionkit.structures import box_ops
from regionkit.structures.boxes import Boxes

__all__ = ["ScoreFilter", "ClassFilter", "AreaFilter", "TopK", "Nms"]


class ScoreFilter(BaseBoxSelector):
    """Keep boxes with min_score <= score (<= max_score); both bounds inclusive.

    ``max_score=None`` means no upper bound.  Scores are compared as stored (float64); for
    Patch Matters' float32 ``score > 0.3`` use ``patch_matters_score_filter``.
    """

    idempotent = True

    @checked
    def __init__(self, *, min_score: float = 0.0, max_score: float | None = None) -> None:
        self.min_score = min_score
        self.max_score = max_score
        if self.max_score is not None and self.max_score < self.min_score:
            raise ValueError(f"max_score ({self.max_score}) must be >= min_score ({self.min_score})")

    def __repr__(self) -> str:
        return f"ScoreFilter(min_score={self.min_score}, max_score={self.max_score})"

    def __call__(self, boxes: Boxes) -> Boxes:
        keep = boxes.scores >= self.min_score
        if self.max_score is not None:
            keep &= boxes.scores <= self.max_score
        return boxes[keep]


ClassKey = int | str


def _class_set(value: ClassKey | Sequence[ClassKey] | None) -> tuple[ClassKey, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, (str, int)) else tuple(value)


def _matches(boxes: Boxes, selectors: Sequence[ClassKey]) -> np.ndarray:
    ids = {s for s in selectors if isinstance(s, int)}
    names = {s for s in selectors if isinstance(s, str)}
    return np.array([int(label) in ids or name in names for label, name in zip(boxes.labels, boxes.label_names)],
                    dtype=bool).reshape(-1)


class ClassFilter(BaseBoxSelector):
    """Keep boxes whose class is in ``include`` and not in ``exclude`` (label ids or label names).

    Entries that are ``int`` match ``labels``; entries that are ``str`` match ``label_names``
    exactly; a list may mix both.  ``include=None`` keeps every class (``include=[]`` keeps
    none); ``exclude=None`` removes none.  A single id or name may be given without a list.
    """

    idempotent = True

    @checked
    def __init__(self, *, include: ClassKey | Sequence[ClassKey] | None = None,
                 exclude: ClassKey | Sequence[ClassKey] | None = None) -> None:
        self.include = _class_set(include)
        self.exclude = _class_set(exclude)

    def __repr__(self) -> str:
        return f"ClassFilter(include={self.include}, exclude={self.exclude})"

    def __call__(self, boxes: Boxes) -> Boxes:
        keep = np.ones(len(boxes), dtype=bool)
        if self.include is not None:
            keep &= _matches(boxes, self.include)
        if self.exclude is not None:
            keep &= ~_matches(boxes, self.exclude)
        return boxes[keep]


class AreaFilter(BaseBoxSelector):
    """Keep boxes with min_area_norm <= area / image area <= max_area_norm and pixel area >= min_area_px.

    Areas are pixel ``(x2 - x1) * (y2 - y1)`` (inverted boxes count as 0); the normalised
    area divides by ``width * height``.  All bounds are inclusive.
    """

    idempotent = True

    @checked
    def __init__(self, *, min_area_norm: UnitInterval = 0.0, max_area_norm: UnitInterval = 1.0,
                 min_area_px: Annotated[float, Range(0.0)] = 0.0) -> None:
        self.min_area_norm = min_area_norm
        self.max_area_norm = max_area_norm
        if self.max_area_norm < self.min_area_norm:
            raise ValueError(f"max_area_norm ({self.max_area_norm}) must be >= min_area_norm ({self.min_area_norm})")
        self.min_area_px = min_area_px

    def __repr__(self) -> str:
        return (f"AreaFilter(min_area_norm={self.min_area_norm}, max_area_norm={self.max_area_norm}, "
                f"min_area_px={self.min_area_px})")

    def __call__(self, boxes: Boxes) -> Boxes:
        areas = boxes.areas
        w, h = boxes.image_size
        norm = areas / float(w * h)
        keep = (norm >= self.min_area_norm) & (norm <= self.max_area_norm) & (areas >= self.min_area_px)
        return boxes[keep]


class TopK(BaseBoxSelector):
    """Keep the k boxes with the highest score (or pixel area), in that order; ties keep input order.

    The output is sorted by the key, descending (a stable sort, so equal keys keep their
    input order); fewer than ``k`` boxes are all kept, sorted.
    """

    idempotent = True

    @checked
    def __init__(self, *, k: Annotated[int, Range(1, 1_000_000)] = 5, by: Literal["score", "area"] = "score") -> None:
        self.k = k
        self.by = by

    def __repr__(self) -> str:
        return f"TopK(k={self.k}, by={self.by!r})"

    def __call__(self, boxes: Boxes) -> Boxes:
        key = boxes.scores if self.by == "score" else boxes.areas
        order = np.argsort(-key, kind="stable")[: self.k]
        return boxes[order]


class Nms(BaseBoxSelector):
    """Greedy non-maximum suppression: drop boxes overlapping a higher-scored kept box with IoU > iou_threshold.

    ``class_agnostic=False`` suppresses only within a class (same label id and label name).
    Kept boxes keep their input order.  Equal scores: the earlier box wins.
    """

    idempotent = True

    @checked
    def __init__(self, *, iou_threshold: UnitInterval = 0.5, class_agnostic: bool = True) -> None:
        self.iou_threshold = iou_threshold
        self.class_agnostic = class_agnostic

    def __repr__(self) -> str:
        return f"Nms(iou_threshold={self.iou_threshold}, class_agnostic={self.class_agnostic})"

    def __call__(self, boxes: Boxes) -> Boxes:
        if len(boxes) == 0:
            return boxes[np.zeros(0, dtype=np.int64)]
        if self.class_agnostic:
            keep = box_ops.nms(boxes.xyxy, boxes.scores, self.iou_threshold)
        else:
            groups: dict[tuple[int, str], list[int]] = {}
            for i, key in enumerate(zip(boxes.labels.tolist(), boxes.label_names)):
                groups.setdefault(key, []).append(i)
            parts = []
            for members in groups.values():
                idx = np.asarray(members, dtype=np.int64)
                parts.append(idx[box_ops.nms(boxes.xyxy[idx], boxes.scores[idx], self.iou_threshold)])
            keep = np.concatenate(parts)
        return boxes[np.sort(keep)]
