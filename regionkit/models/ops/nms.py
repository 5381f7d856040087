"""NMS with mmcv/mmdet semantics on top of ``torchvision.ops.nms``.

* :func:`batched_nms` reproduces ``mmcv.ops.batched_nms``: boxes of different groups are
  separated by adding ``group * (boxes.max() + 1)`` to their coordinates, then one NMS runs
  over all of them (or, from ``split_thr`` boxes on, one NMS per group on the same shifted
  boxes, the kept boxes being re-sorted by score).  The shifted coordinates change float
  rounding slightly, so this offset scheme (not a per-group loop on raw boxes) is what makes
  IoUs, hence suppression decisions, identical to mmcv's.
* :func:`multiclass_nms` reproduces ``mmdet.models.layers.multiclass_nms`` for
  class-agnostic boxes: every (box, class) pair with score ``> score_thr`` is a candidate,
  candidates are ordered box-major, class-minor, NMS is per class, and at most ``max_num``
  survive, in descending score order.

torchvision's NMS kernel is the same greedy algorithm as mmcv's (IoU without the +1 pixel
offset, suppression when ``IoU > threshold``, candidates visited in descending score order).
The one difference is the order of tied scores: mmcv sorts with torch's default (unstable)
sort, torchvision with a stable one.  :func:`nms` therefore sorts first with the same
unstable ``Tensor.sort`` call mmcv makes and hands torchvision an already sorted input, whose
stable re-sort keeps that order, so tied boxes are visited in mmcv's order.
"""
from __future__ import annotations

import torch
from torchvision.ops import nms as tv_nms  # type: ignore[import-untyped]

__all__ = ["nms", "batched_nms", "multiclass_nms"]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices kept by greedy NMS, in descending score order, ties ordered as by ``mmcv.ops.nms``."""
    order = scores.sort(0, descending=True)[1]
    return order[tv_nms(boxes[order], scores[order], float(iou_threshold))]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float,
                split_thr: int = 10000) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-wise NMS; returns ``(kept scores, kept indices)`` in descending score order.

    ``boxes`` (N, 4) xyxy, ``scores`` (N,), ``idxs`` (N,) group ids (for example levels or classes).
    """
    if boxes.numel() == 0:
        return scores.new_zeros(0), torch.zeros(0, dtype=torch.long, device=boxes.device)
    offsets = idxs.to(boxes) * (boxes.max() + torch.tensor(1).to(boxes))
    boxes_for_nms = boxes + offsets[:, None]
    if boxes_for_nms.shape[0] < split_thr:
        keep = nms(boxes_for_nms, scores, iou_threshold)
        return scores[keep], keep
    total_mask = scores.new_zeros(scores.size(), dtype=torch.bool)
    for group in torch.unique(idxs):
        mask = (idxs == group).nonzero(as_tuple=False).view(-1)
        keep = nms(boxes_for_nms[mask], scores[mask], iou_threshold)
        total_mask[mask[keep]] = True
    keep = total_mask.nonzero(as_tuple=False).view(-1)
    kept_scores, order = scores[keep].sort(descending=True)
    return kept_scores, keep[order]


def multiclass_nms(boxes: torch.Tensor, scores: torch.Tensor, score_thr: float, iou_threshold: float,
                   max_num: int = -1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class NMS over class-agnostic ``boxes`` (N, 4) and ``scores`` (N, C+1), background last.

    Returns ``(boxes (M, 4), scores (M,), labels (M,))`` sorted by descending score.
    """
    num_classes = scores.size(1) - 1
    cand_boxes = boxes[:, None].expand(scores.size(0), num_classes, 4).reshape(-1, 4)
    cls_scores = scores[:, :-1]
    labels = torch.arange(num_classes, dtype=torch.long, device=scores.device)
    labels = labels.view(1, -1).expand_as(cls_scores).reshape(-1)
    cls_scores = cls_scores.reshape(-1)
    inds = (cls_scores > score_thr).nonzero(as_tuple=False).squeeze(1)
    cand_boxes, cls_scores, labels = cand_boxes[inds], cls_scores[inds], labels[inds]
    if cand_boxes.numel() == 0:
        return cand_boxes.new_zeros(0, 4), cls_scores.new_zeros(0), labels.new_zeros(0)
    kept_scores, keep = batched_nms(cand_boxes, cls_scores, labels, iou_threshold)
    if max_num > 0:
        kept_scores, keep = kept_scores[:max_num], keep[:max_num]
    return cand_boxes[keep], kept_scores, labels[keep]
