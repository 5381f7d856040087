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

import numbers
from typing import Optional, Sequence, Union

import numpy as np

from regionkit.core import box_ops
from regionkit.core.boxes import Boxes
from regionkit.core.interfaces import BaseBoxSelector
from regionkit.core.validation import check_number

__all__ = ["ScoreFilter", "ClassFilter", "AreaFilter", "TopK", "Nms"]


class ScoreFilter(BaseBoxSelector):
    """Keep boxes with min_score <= score (<= max_score); both bounds inclusive.

    ``max_score=None`` means no upper bound.  Scores are compared as stored (float64); for
    Patch Matters' float32 ``score > 0.3`` use ``patch_matters_score_filter``.
    """

    def __init__(self, *, min_score: float = 0.0, max_score: Optional[float] = None) -> None:
        self.min_score = check_number("min_score", min_score)
        self.max_score = None if max_score is None else check_number("max_score", max_score)
        if self.max_score is not None and self.max_score < self.min_score:
            raise ValueError(f"max_score ({self.max_score}) must be >= min_score ({self.min_score})")

    def __repr__(self) -> str:
        return f"ScoreFilter(min_score={self.min_score}, max_score={self.max_score})"

    def __call__(self, boxes: Boxes) -> Boxes:
        keep = boxes.scores >= self.min_score
        if self.max_score is not None:
            keep &= boxes.scores <= self.max_score
        return boxes[keep]


ClassKey = Union[int, str]


def _class_set(name: str, value: object) -> Optional[tuple[ClassKey, ...]]:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, numbers.Integral)) else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise ValueError(f"{name} must be a label id, a label name, or a list of them, got {value!r}")
    out: list[ClassKey] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, numbers.Integral)):
            raise ValueError(f"{name} entries must be label ids (int) or label names (str), got {item!r}")
        out.append(item if isinstance(item, str) else int(item))
    return tuple(out)


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

    def __init__(self, *, include: Optional[Union[ClassKey, Sequence[ClassKey]]] = None,
                 exclude: Optional[Union[ClassKey, Sequence[ClassKey]]] = None) -> None:
        self.include = _class_set("include", include)
        self.exclude = _class_set("exclude", exclude)

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

    def __init__(self, *, min_area_norm: float = 0.0, max_area_norm: float = 1.0, min_area_px: float = 0) -> None:
        self.min_area_norm = check_number("min_area_norm", min_area_norm, 0.0, 1.0)
        self.max_area_norm = check_number("max_area_norm", max_area_norm, 0.0, 1.0)
        if self.max_area_norm < self.min_area_norm:
            raise ValueError(f"max_area_norm ({self.max_area_norm}) must be >= min_area_norm ({self.min_area_norm})")
        self.min_area_px = check_number("min_area_px", min_area_px, 0.0)

    def __repr__(self) -> str:
        return (f"AreaFilter(min_area_norm={self.min_area_norm}, max_area_norm={self.max_area_norm}, "
                f"min_area_px={self.min_area_px})")

    def __call__(self, boxes: Boxes) -> Boxes:
        areas = boxes.areas
        w, h = boxes.image_size
        norm = areas / float(w * h)
        keep = (norm >= self.min_area_norm) & (norm <= self.max_area_norm) & (areas >= self.min_area_px)
        return boxes[keep]


TOPK_KEYS = ("score", "area")


class TopK(BaseBoxSelector):
    """Keep the k boxes with the highest score (or pixel area), in that order; ties keep input order.

    The output is sorted by the key, descending (a stable sort, so equal keys keep their
    input order); fewer than ``k`` boxes are all kept, sorted.
    """

    def __init__(self, *, k: int = 5, by: str = "score") -> None:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if by not in TOPK_KEYS:
            raise ValueError(f"by must be one of {TOPK_KEYS}, got {by!r}")
        self.k = int(k)
        self.by = by

    def __repr__(self) -> str:
        return f"TopK(k={self.k}, by={self.by!r})"

    def __call__(self, boxes: Boxes) -> Boxes:
        key = boxes.scores if self.by == "score" else boxes.areas
        order = np.argsort(-key, kind="stable")[: self.k]
        return boxes[order]


def _nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    nms = getattr(box_ops, "nms", None)
    if nms is not None:
        return np.asarray(nms(xyxy, scores, iou_threshold), dtype=np.int64)
    import torch  # fallback for older box_ops; lazily imported
    from torchvision.ops import nms as tv_nms

    keep = tv_nms(torch.as_tensor(xyxy, dtype=torch.float64), torch.as_tensor(scores, dtype=torch.float64),
                  float(iou_threshold))
    return keep.numpy().astype(np.int64)


class Nms(BaseBoxSelector):
    """Greedy non-maximum suppression: drop boxes overlapping a higher-scored kept box with IoU > iou_threshold.

    ``class_agnostic=False`` suppresses only within a class (same label id and label name).
    Kept boxes keep their input order.  Equal scores: the earlier box wins.
    """

    def __init__(self, *, iou_threshold: float = 0.5, class_agnostic: bool = True) -> None:
        self.iou_threshold = check_number("iou_threshold", iou_threshold, 0.0, 1.0)
        if not isinstance(class_agnostic, bool):
            raise ValueError(f"class_agnostic must be True or False, got {class_agnostic!r}")
        self.class_agnostic = class_agnostic

    def __repr__(self) -> str:
        return f"Nms(iou_threshold={self.iou_threshold}, class_agnostic={self.class_agnostic})"

    def __call__(self, boxes: Boxes) -> Boxes:
        if len(boxes) == 0:
            return boxes[np.zeros(0, dtype=np.int64)]
        if self.class_agnostic:
            keep = _nms(boxes.xyxy, boxes.scores, self.iou_threshold)
        else:
            groups: dict[tuple[int, str], list[int]] = {}
            for i, key in enumerate(zip(boxes.labels.tolist(), boxes.label_names)):
                groups.setdefault(key, []).append(i)
            parts = []
            for members in groups.values():
                idx = np.asarray(members, dtype=np.int64)
                parts.append(idx[_nms(boxes.xyxy[idx], boxes.scores[idx], self.iou_threshold)])
            keep = np.concatenate(parts)
        return boxes[np.sort(keep)]
