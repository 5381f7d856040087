"""Patch Matters' "divide"-stage box selectors: score filter, neighbour merge, n-part regions.

Chained as in the original ``true_box_sample.sample_rpn_output``::

    kept     = PatchMattersScoreFilter()(detections)      # -> object_box.json
    merged   = NeighborRpnMerge()(kept)                   # -> four_box.json "object_detect_box"
    four_box = NPartRegions(n=4)(merged)
    two_box  = NPartRegions(n=2)(merged)

All boxes are pixel ``xyxy`` on the original image; see
:mod:`regionkit.plugins.patch_matters.geometry` for the pure algorithms.
"""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from regionkit.kinds.box_selectors import BaseBoxSelector
from regionkit.params import Range, UnitInterval, checked
from regionkit.plugins.patch_matters.geometry import (
    N_PART_NAMES,
    choose_two_split,
    neighbor_rpn_merge,
    neighbor_rpn_merge_clean,
    proposal_to_n_part,
)
from regionkit.plugins.patch_matters.whole_image import whole_image_box
from regionkit.structures.boxes import Boxes

__all__ = ["PatchMattersScoreFilter", "NeighborRpnMerge", "NPartRegions"]


class PatchMattersScoreFilter(BaseBoxSelector):
    """Keep detections with score > threshold (float32, as Patch Matters), else top-k, else the whole image.

    Reproduces the original's filter, which ran on float32 torch tensors:

    * box coordinates and scores are rounded to float32 (returned as float64 holding those
      float32 values), and ``score > threshold`` is evaluated in float32 against
      ``float32(threshold)``; so a score equal to ``float32(0.3)`` is **not** kept;
    * if nothing passes and there are at least ``fallback_top_k`` detections, the first
      ``fallback_top_k`` entries **in input order** are kept (detectors return boxes sorted
      by descending score, so these are the top-k); ``fallback_top_k=0`` disables this;
    * if the result is still empty, one whole-image box ``[0, 0, W-1, H-1]`` is returned with
      score 1.0, label ``1008611`` and label name ``"None"``
      (:func:`~regionkit.plugins.patch_matters.whole_image.whole_image_box`).

    Labels and label names of kept boxes are passed through unchanged.
    """

    @checked
    def __init__(self, *, threshold: UnitInterval = 0.3, fallback_top_k: Annotated[int, Range(0, 100000)] = 2) -> None:
        self.threshold = threshold
        self.fallback_top_k = fallback_top_k

    def __repr__(self) -> str:
        return f"PatchMattersScoreFilter(threshold={self.threshold}, fallback_top_k={self.fallback_top_k})"

    def __call__(self, boxes: Boxes) -> Boxes:
        xyxy32 = boxes.xyxy.astype(np.float32)
        scores32 = boxes.scores.astype(np.float32)
        keep = scores32 > np.float32(self.threshold)
        if not keep.any() and len(boxes) >= self.fallback_top_k:
            keep[: self.fallback_top_k] = True
        if keep.any():
            idx = np.nonzero(keep)[0]
            return Boxes(
                xyxy=xyxy32[idx].astype(np.float64),
                scores=scores32[idx].astype(np.float64),
                labels=boxes.labels[idx],
                label_names=tuple(boxes.label_names[i] for i in idx),
                image_size=boxes.image_size,
            )
        return whole_image_box(boxes.image_size)


class NeighborRpnMerge(BaseBoxSelector):
    """Merge overlapping boxes into their enclosing boxes (Patch Matters' neighbor_rpn_merge).

    ``variant='original'`` reproduces the original bit for bit, quirks included (stale
    unions, only the first box checked for remaining overlaps; see
    :func:`~regionkit.plugins.patch_matters.geometry.neighbor_rpn_merge`).
    ``variant='clean'`` merges until no pair of output boxes has IoU > ``iou_threshold``
    (:func:`~regionkit.plugins.patch_matters.geometry.neighbor_rpn_merge_clean`).

    Merged boxes lose their identity: the output carries default scores (1.0), labels (-1)
    and empty label names.  Zero input boxes give zero output boxes.
    """

    @checked
    def __init__(self, *, iou_threshold: UnitInterval = 0.3, variant: Literal["original", "clean"] = "original") -> None:
        self.iou_threshold = iou_threshold
        self.variant = variant

    def __repr__(self) -> str:
        return f"NeighborRpnMerge(iou_threshold={self.iou_threshold}, variant={self.variant!r})"

    def __call__(self, boxes: Boxes) -> Boxes:
        merge = neighbor_rpn_merge if self.variant == "original" else neighbor_rpn_merge_clean
        return Boxes.create(merge(boxes.xyxy, self.iou_threshold), boxes.image_size)


class NPartRegions(BaseBoxSelector):
    """Patch Matters' four (or two) image parts, each expanded to the detections mostly inside it.

    ``n=4`` returns ``[top_left, top_right, bottom_left, bottom_right]``; ``n=2`` returns
    ``[top, bottom]`` or ``[left, right]`` (see
    :func:`~regionkit.plugins.patch_matters.geometry.proposal_to_n_part` for the
    geometry and the split rule).  The part is the label name; scores are 1.0 and labels -1.
    Input boxes must have positive width and height (``ValueError`` otherwise; the runner's
    sanitising removes such boxes).
    """

    @checked
    def __init__(self, *, n: Literal[2, 4] = 4) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"NPartRegions(n={self.n})"

    def __call__(self, boxes: Boxes) -> Boxes:
        regions = proposal_to_n_part(boxes.xyxy, boxes.image_size, self.n)
        if self.n == 4:
            names = N_PART_NAMES["four"]
        elif choose_two_split(boxes.xyxy.tolist(), boxes.image_size):
            names = N_PART_NAMES["top_bottom"]
        else:
            names = N_PART_NAMES["left_right"]
        return Boxes.create(regions, boxes.image_size, label_names=names)
