"""Pure-numpy operations on ``(N, 4)`` pixel ``xyxy`` arrays.

These are the general-purpose versions.  Paper-faithful variants with their quirks (for
example Patch Matters' IoU with a zeroed diagonal) live beside the algorithm that needs
them (e.g. :mod:`regionkit.plugins.patch_matters.geometry`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["box_area", "pairwise_iou", "enclosing_box", "clip_xyxy", "xywh_to_xyxy", "xyxy_to_xywh",
           "normalize_xyxy", "denormalize_xyxy", "nms"]


def box_area(xyxy: np.ndarray) -> np.ndarray:
    """Areas of ``(N, 4)`` boxes; inverted boxes count as 0."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    wh = np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None)
    return wh[:, 0] * wh[:, 1]


def pairwise_iou(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``(N, M)`` intersection-over-union matrix; 0 where the union is empty."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = a if b is None else np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def enclosing_box(xyxy: np.ndarray) -> np.ndarray:
    """The smallest box containing every box (the "union" box); ``ValueError`` if empty."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(xyxy) == 0:
        raise ValueError("enclosing_box of no boxes is undefined")
    return np.concatenate([xyxy[:, :2].min(axis=0), xyxy[:, 2:].max(axis=0)])


def clip_xyxy(xyxy: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Clip into ``[0, width] x [0, height]``."""
    w, h = image_size
    return np.clip(np.asarray(xyxy, dtype=np.float64).reshape(-1, 4), 0, [w, h, w, h])


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    out = np.array(xywh, dtype=np.float64).reshape(-1, 4)
    out[:, 2:] += out[:, :2]
    return out


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    out = np.array(xyxy, dtype=np.float64).reshape(-1, 4)
    out[:, 2:] -= out[:, :2]
    return out


def normalize_xyxy(xyxy: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Pixel ``xyxy`` to ``xyxy_norm`` (divided by width and height)."""
    w, h = image_size
    return np.asarray(xyxy, dtype=np.float64).reshape(-1, 4) / np.array([w, h, w, h], dtype=np.float64)


def denormalize_xyxy(xyxy_norm: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    w, h = image_size
    return np.asarray(xyxy_norm, dtype=np.float64).reshape(-1, 4) * np.array([w, h, w, h], dtype=np.float64)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy class-agnostic non-maximum suppression; the indices of the kept boxes.

    Boxes are visited by descending score (ties keep their input order, so with equal
    scores the earlier box wins); a box is kept unless its IoU with an already kept box is
    **strictly greater** than ``iou_threshold`` (the convention of ``torchvision.ops.nms``).
    The result is an ``int64`` array ordered by descending score.  Boxes with zero area
    overlap nothing (IoU 0) and are kept; boxes or scores that are not finite should be
    removed first (``Boxes.sanitize``).
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(xyxy):
        raise ValueError(f"nms got {len(xyxy)} boxes but {len(scores)} scores")
    threshold = float(iou_threshold)
    if not np.isfinite(threshold):
        raise ValueError(f"iou_threshold must be finite, got {iou_threshold!r}")
    order = np.argsort(-scores, kind="stable")
    areas = box_area(xyxy)
    keep: list[int] = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(int(best))
        if not len(rest):
            break
        lt = np.maximum(xyxy[best, :2], xyxy[rest, :2])
        rb = np.minimum(xyxy[best, 2:], xyxy[rest, 2:])
        wh = np.clip(rb - lt, 0, None)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[best] + areas[rest] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        order = rest[~(iou > threshold)]
    return np.asarray(keep, dtype=np.int64)
