"""Pure geometry of Patch Matters' "divide" stage, reproduced bit for bit.

Everything here works on pixel ``[x1, y1, x2, y2]`` boxes in float64 with no "+1 pixel"
convention.  The functions mirror the original helpers (``divide/sample_tools.py`` and the
nested functions of ``divide/true_box_sample.py``) including their quirks; where a quirk
is deliberately *not* reproduced (the ``clean`` merge, the errors on degenerate boxes) the
docstring says so.

Numerics: every floating-point operation is done in float64 in the same order as the
original (numpy for the merge, Python floats for the part assignment), so results match
the original's to the last bit.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "patch_matters_iou",
    "greedy_merge_pass",
    "neighbor_rpn_merge",
    "neighbor_rpn_merge_clean",
    "intersection_area",
    "width_height_ratio",
    "image_to_n_part",
    "choose_two_split",
    "proposal_to_n_part",
    "N_PART_NAMES",
    "PART_MEMBERSHIP_THRESHOLD",
]

#: a box joins a part iff more than this fraction of the *box's* area lies inside the part
PART_MEMBERSHIP_THRESHOLD = 0.3

#: label names of the parts, in output order, for each layout
N_PART_NAMES: dict[str, tuple[str, ...]] = {
    "four": ("top_left", "top_right", "bottom_left", "bottom_right"),
    "top_bottom": ("top", "bottom"),
    "left_right": ("left", "right"),
}


def _as_boxes(boxes: object) -> np.ndarray:
    """``(N, 4)`` float64 copy of ``boxes`` (a list of ``[x1, y1, x2, y2]`` or an array)."""
    arr = np.array(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


# --------------------------------------------------------------------------- IoU / merge
def _iou_row(boxes: np.ndarray, i: int) -> np.ndarray:
    """Row ``i`` of :func:`patch_matters_iou` (same float64 operations, same bits)."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    width = np.maximum(0, np.minimum(boxes[i, 2], boxes[:, 2]) - np.maximum(boxes[i, 0], boxes[:, 0]))
    height = np.maximum(0, np.minimum(boxes[i, 3], boxes[:, 3]) - np.maximum(boxes[i, 1], boxes[:, 1]))
    inter = width * height
    union = areas[i] + areas - inter
    row = inter / np.clip(union, 1e-6, None)
    row[i] = 0.0
    return row


def patch_matters_iou(boxes: object) -> np.ndarray:
    """Patch Matters' pairwise IoU matrix of pixel ``xyxy`` boxes.

    Differs from :func:`regionkit.structures.box_ops.pairwise_iou`: areas are not clipped at 0
    (inverted boxes get negative areas, as in the original), the union is clipped at
    ``>= 1e-6`` instead of mapping empty unions to 0, and the **diagonal is set to 0** so a
    box never counts as overlapping itself (duplicates at other indices still do).
    """
    arr = _as_boxes(boxes)
    areas = (arr[:, 2] - arr[:, 0]) * (arr[:, 3] - arr[:, 1])
    width = np.maximum(0, np.minimum(arr[:, None, 2], arr[None, :, 2]) - np.maximum(arr[:, None, 0], arr[None, :, 0]))
    height = np.maximum(0, np.minimum(arr[:, None, 3], arr[None, :, 3]) - np.maximum(arr[:, None, 1], arr[None, :, 1]))
    inter = width * height
    union = areas[:, None] + areas[None, :] - inter
    iou = inter / np.clip(union, 1e-6, None)
    np.fill_diagonal(iou, 0.0)
    return iou


def greedy_merge_pass(boxes: object, iou_threshold: float) -> np.ndarray:
    """One pass of Patch Matters' greedy queue merge (the original ``merge_box``).

    The queue starts as ``boxes`` in order.  While it is not empty, look at its head:

    * if any other queued box has IoU > ``iou_threshold`` with the head, their enclosing box
      (the "union") is appended to the output, the head and those boxes leave the queue and
      the union is enqueued **at the tail**, where it may merge again later;
    * otherwise the head is dequeued and appended to the output unless an identical box
      is already there (so a re-popped union, or an exact duplicate, is not written twice).

    Quirk kept on purpose: when a union later merges again, the earlier union stays in the
    output as a *stale* box.  Returns an ``(M, 4)`` float64 array, ``M <= N``.
    """
    queue = _as_boxes(boxes)
    out: list[np.ndarray] = []
    seen: set[tuple[float, ...]] = set()
    while len(queue) > 0:
        row = _iou_row(queue, 0)
        members = np.append(np.nonzero(row > iou_threshold)[0], 0)
        if len(members) > 1:
            group = queue[members]
            union = np.array([group[:, 0].min(), group[:, 1].min(), group[:, 2].max(), group[:, 3].max()])
            out.append(union)
            seen.add(tuple(union.tolist()))
            rest = np.setdiff1d(np.arange(len(queue)), members)
            queue = np.vstack((queue[rest], union))
        else:
            head = queue[0]
            key = tuple(head.tolist())
            if key not in seen:
                out.append(head)
                seen.add(key)
            queue = queue[1:]
    if not out:
        return np.zeros((0, 4), dtype=np.float64)
    return np.array(out, dtype=np.float64)


def neighbor_rpn_merge(boxes: object, iou_threshold: float = 0.3) -> np.ndarray:
    """Patch Matters' ``neighbor_rpn_merge``: repeat :func:`greedy_merge_pass` on its own output.

    The pass is repeated while the **first** output box still has IoU > ``iou_threshold``
    with some other output box; only row 0 is checked, so overlapping or stale boxes further
    down the list can survive.  Input and output are pixel ``xyxy`` float64 boxes; zero input
    boxes give an ``(0, 4)`` array (the original would raise on empty input).

    Example (threshold 0.3): ``[[100,100,110,110],[0,0,10,10],[3,0,13,10],[6,0,16,10]]`` gives
    ``[[100,100,110,110],[0,0,13,10],[0,0,16,10]]`` (stale ``[0,0,13,10]``), while the same boxes
    without the leading far box give ``[[0,0,16,10]]``.
    """
    merged = greedy_merge_pass(boxes, iou_threshold)
    while len(merged) > 0 and bool((_iou_row(merged, 0) > iou_threshold).any()):
        merged = greedy_merge_pass(merged, iou_threshold)
    return merged


def neighbor_rpn_merge_clean(boxes: object, iou_threshold: float = 0.3) -> np.ndarray:
    """A quirk-free merge: afterwards **no pair** of output boxes has IoU > ``iou_threshold``.

    Differences from :func:`neighbor_rpn_merge`: there are no stale unions (a box that merges
    is replaced, not kept), every pair is checked rather than only the first box, and a union
    stays at the position of its first member instead of moving to the tail.  Algorithm: find
    the first box (in list order) that overlaps any other box above the threshold, replace it
    by the enclosing box of itself and all boxes it overlaps, drop those boxes, and repeat.
    Uses the same IoU as :func:`patch_matters_iou`.  Results differ from the original whenever
    the original leaves stale or overlapping boxes.
    """
    current = _as_boxes(boxes)
    while len(current) > 1:
        iou = patch_matters_iou(current)
        hits = iou > iou_threshold
        rows = np.nonzero(hits.any(axis=1))[0]
        if len(rows) == 0:
            break
        i = int(rows[0])
        members = np.append(i, np.nonzero(hits[i])[0])
        group = current[members]
        union = np.concatenate([group[:, :2].min(axis=0), group[:, 2:].max(axis=0)])
        keep = np.ones(len(current), dtype=bool)
        keep[members] = False
        keep[i] = True
        current = current.copy()
        current[i] = union
        current = current[keep]
    return current


# --------------------------------------------------------------------------- n-part regions
def _check_box(box: Sequence[float]) -> None:
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise ValueError(
            f"box {list(box)} has zero or negative width or height; Patch Matters' part assignment "
            "divides by the box's area and height (remove such boxes first, e.g. Boxes.sanitize())")


def intersection_area(box: Sequence[float], region: Sequence[float]) -> float:
    """Fraction of ``box``'s own area that lies inside ``region`` (not IoU), in ``[0, 1]``.

    Returns 0 when they do not overlap or only touch.  Raises ``ValueError`` when ``box``
    has zero (or negative) width or height, where the original divided by zero.
    """
    _check_box(box)
    x_left = max(box[0], region[0])
    y_top = max(box[1], region[1])
    x_right = min(box[2], region[2])
    y_bottom = min(box[3], region[3])
    if x_right < x_left or y_bottom < y_top:
        return 0.0
    return float((x_right - x_left) * (y_bottom - y_top)) / float((box[2] - box[0]) * (box[3] - box[1]))


def width_height_ratio(box: Sequence[float]) -> float:
    """``(x2 - x1) / (y2 - y1)``; ``ValueError`` for a box of zero height."""
    if box[3] - box[1] == 0:
        raise ValueError(f"box {list(box)} has zero height; its width/height ratio is undefined")
    return float(box[2] - box[0]) / float(box[3] - box[1])


def image_to_n_part(image_size: tuple[int, int], n: int) -> list[list[int]]:
    """Integer-half parts of a ``(W, H)`` image, as pixel ``xyxy`` int lists.

    ``n=4``: ``[TL, TR, BL, BR]``; ``n=2``: the four candidates ``[TOP, BOTTOM, LEFT, RIGHT]``
    (:func:`choose_two_split` picks a pair).  Halves are ``W // 2`` and ``H // 2``.
    """
    w, h = (int(v) for v in image_size)
    hw, hh = w // 2, h // 2
    if n == 4:
        return [[0, 0, hw, hh], [hw, 0, w, hh], [0, hh, hw, h], [hw, hh, w, h]]
    if n == 2:
        return [[0, 0, w, hh], [0, hh, w, h], [0, 0, hw, h], [hw, 0, w, h]]
    raise ValueError(f"n must be 2 or 4, got {n!r}")


def choose_two_split(boxes: Sequence[Sequence[float]], image_size: tuple[int, int]) -> bool:
    """``True`` for the TOP/BOTTOM split, ``False`` for LEFT/RIGHT.

    Rule: ``#wide + (-1 if W / H > 1 else +1) > len(boxes) // 2`` where a box is wide iff
    ``(x2 - x1) / (y2 - y1) > 1``; landscape images are biased toward LEFT/RIGHT.
    """
    w, h = (int(v) for v in image_size)
    wide = sum(1 for b in boxes if width_height_ratio(b) > 1)
    bias = -1 if w / h > 1 else 1
    return wide + bias > len(boxes) // 2


def proposal_to_n_part(boxes: object, image_size: tuple[int, int], n: int = 4) -> list[list[float]]:
    """Patch Matters' "four boxes" (``n=4``) or "two boxes" (``n=2``) of an image.

    ``boxes`` are the merged pixel ``xyxy`` detections, ``image_size`` is ``(W, H)``.  Each
    part (see :func:`image_to_n_part`; for ``n=2`` the pair chosen by
    :func:`choose_two_split`) is expanded to the enclosing box of itself and every box with
    :func:`intersection_area` ``> 0.3`` inside it (a box may join several parts).  Parts never
    shrink and are not clipped.  Returns ``n`` boxes as lists of Python floats, in the order
    ``[TL, TR, BL, BR]``, ``[TOP, BOTTOM]`` or ``[LEFT, RIGHT]``.

    Raises ``ValueError`` for ``n`` not in {2, 4} or for a box of zero width or height (the
    original raised ``ZeroDivisionError``).
    """
    candidates = image_to_n_part(image_size, n)
    box_list = [[float(v) for v in b] for b in _as_boxes(boxes).tolist()]
    for b in box_list:
        _check_box(b)
    if n == 2:
        parts = candidates[:2] if choose_two_split(box_list, image_size) else candidates[2:]
    else:
        parts = candidates
    groups: list[list[Sequence[float]]] = [[p] for p in parts]
    for b in box_list:
        for i, part in enumerate(parts):
            if intersection_area(b, part) > PART_MEMBERSHIP_THRESHOLD:
                groups[i].append(b)
    return [[float(min(m[0] for m in g)), float(min(m[1] for m in g)),
             float(max(m[2] for m in g)), float(max(m[3] for m in g))] for g in groups]
