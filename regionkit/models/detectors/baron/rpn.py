"""BARON's region proposal network (ovdet ``DetachRPNHead``), inference only.

Per FPN level: ``relu(rpn_conv(x))`` feeds ``rpn_reg`` (1x1, 4 deltas per anchor) and
``rpn_cls`` (3x3 conv, ReLU, 1x1; one sigmoid objectness per anchor).  ovdet detaches the
input of ``rpn_cls`` during training; at inference that changes nothing.

:meth:`DetachRPNHead.proposals` follows mmdet's ``RPNHead._predict_by_feat_single`` and
ovdet's ``_bbox_post_process``: per level keep the ``nms_pre`` (1000) highest scores (only if
the level has more), decode deltas (stds 1) against the anchors clipped to the resized image,
drop boxes with zero width or height (``min_bbox_size=0``), run NMS (IoU 0.7) with levels kept
apart, and keep the ``max_per_img`` (1000) best.  Boxes are in resized-image pixels.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from regionkit.models.ops.anchors import AnchorGenerator
from regionkit.models.ops.box_coder import delta2bbox
from regionkit.models.ops.nms import batched_nms

__all__ = ["DetachRPNHead"]


class DetachRPNHead(nn.Module):
    """Keys as ovdet's ``rpn_head``: ``rpn_conv``, ``rpn_cls.{0,2}``, ``rpn_reg``."""

    def __init__(self, in_channels: int = 256, num_anchors: int = 3) -> None:
        super().__init__()
        self.rpn_conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.rpn_cls = nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(in_channels, num_anchors, 1))
        self.rpn_reg = nn.Conv2d(in_channels, num_anchors * 4, 1)
        self.anchor_generator = AnchorGenerator(strides=(4, 8, 16, 32, 64), ratios=(0.5, 1.0, 2.0),
                                                scales=(8.0,), scale_major=False)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-level objectness logits (B, A, H, W) and deltas (B, 4A, H, W)."""
        cls_scores, bbox_preds = [], []
        for x in feats:
            x = F.relu(self.rpn_conv(x))
            cls_scores.append(self.rpn_cls(x))
            bbox_preds.append(self.rpn_reg(x))
        return cls_scores, bbox_preds

    def proposals(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                  img_shapes: Sequence[Sequence[int]], nms_pre: int = 1000, max_per_img: int = 1000,
                  iou_threshold: float = 0.7) -> list[torch.Tensor]:
        """Proposal boxes (N_i, 4) per image, descending objectness, resized-image pixels."""
        featmap_sizes = [c.shape[-2:] for c in cls_scores]
        anchors = self.anchor_generator.grid_anchors(featmap_sizes, device=cls_scores[0].device,
                                                     dtype=cls_scores[0].dtype)
        out = []
        for img_id, img_shape in enumerate(img_shapes):
            deltas_l, anchors_l, scores_l, level_ids = [], [], [], []
            for level, (cls, reg, priors) in enumerate(zip(cls_scores, bbox_preds, anchors)):
                reg = reg[img_id].permute(1, 2, 0).reshape(-1, 4)
                scores = cls[img_id].permute(1, 2, 0).reshape(-1, 1).sigmoid()
                scores = torch.squeeze(scores)
                if 0 < nms_pre < scores.shape[0]:
                    ranked, rank_inds = scores.sort(descending=True)
                    topk = rank_inds[:nms_pre]
                    scores = ranked[:nms_pre]
                    reg = reg[topk, :]
                    priors = priors[topk]
                deltas_l.append(reg)
                anchors_l.append(priors)
                scores_l.append(scores)
                level_ids.append(scores.new_full((scores.size(0),), level, dtype=torch.long))
            boxes = delta2bbox(torch.cat(anchors_l), torch.cat(deltas_l), max_shape=img_shape)
            scores = torch.cat(scores_l)
            levels = torch.cat(level_ids)
            w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            valid = (w > 0) & (h > 0)
            if not valid.all():
                boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
            if boxes.numel() == 0:
                out.append(boxes.new_zeros(0, 4))
                continue
            _, keep = batched_nms(boxes, scores.float(), levels, iou_threshold)
            out.append(boxes[keep][:max_per_img])
        return out
