"""mmdet/mmcv conventions of the native ops (anchors, delta coding, NMS, RoI levels)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from regionkit.models.ops.anchors import AnchorGenerator
from regionkit.models.ops.box_coder import delta2bbox
from regionkit.models.ops.nms import batched_nms, multiclass_nms, nms
from regionkit.models.ops.roi_extract import map_roi_levels, multi_level_roi_align


def test_base_anchors_follow_mmdet_convention():
    gen = AnchorGenerator(strides=(4, 8), ratios=(0.5, 1.0, 2.0), scales=(8.0,))
    base = gen.base_anchors[0]
    # centre (0, 0); w = 32 / sqrt(r), h = 32 * sqrt(r)
    for row, r in zip(base, (0.5, 1.0, 2.0)):
        w, h = 32 / math.sqrt(r), 32 * math.sqrt(r)
        np.testing.assert_allclose(row.numpy(), [-w / 2, -h / 2, w / 2, h / 2], rtol=1e-6)
    grid = gen.single_level((2, 3), 0)
    assert grid.shape == (2 * 3 * 3, 4)
    np.testing.assert_allclose(grid[3].numpy(), (base[0] + torch.tensor([4.0, 0, 4.0, 0])).numpy())  # next column
    np.testing.assert_allclose(grid[9].numpy(), (base[0] + torch.tensor([0, 4.0, 0, 4.0])).numpy())  # next row


def test_delta2bbox_clamps_and_clips():
    rois = torch.tensor([[10.0, 10.0, 30.0, 50.0]])
    out = delta2bbox(rois, torch.zeros(1, 4))
    np.testing.assert_allclose(out.numpy(), rois.numpy())
    big = delta2bbox(rois, torch.tensor([[0.0, 0.0, 100.0, -100.0]]))  # dw, dh clamp at |log(0.016)|
    r = abs(math.log(16 / 1000))
    np.testing.assert_allclose((big[0, 2] - big[0, 0]).item(), 20 * math.exp(r), rtol=1e-5)
    np.testing.assert_allclose((big[0, 3] - big[0, 1]).item(), 40 * math.exp(-r), rtol=1e-5)
    clipped = delta2bbox(rois, torch.tensor([[-1.0, -1.0, 2.0, 2.0]]), stds=(0.1, 0.1, 0.2, 0.2), max_shape=(40, 25))
    assert clipped[0, 0] >= 0 and clipped[0, 2] <= 25 and clipped[0, 3] <= 40


def test_nms_tie_order_is_mmcv_order():
    """Tied scores are visited in the order of torch's default (unstable) sort, like mmcv."""
    g = torch.Generator().manual_seed(0)
    boxes = torch.rand(400, 2, generator=g) * 100
    boxes = torch.cat([boxes, boxes + 20], 1)
    scores = (torch.rand(400, generator=g) * 5).round() / 5
    keep = nms(boxes, scores, 0.5)
    order = scores.sort(0, descending=True)[1]
    # reference greedy NMS over that order
    ref, alive = [], torch.ones(400, dtype=torch.bool)
    from torchvision.ops import box_iou
    iou = box_iou(boxes, boxes)
    for i in order.tolist():
        if alive[i]:
            ref.append(i)
            alive &= ~(iou[i] > 0.5)
    assert keep.tolist() == ref


def test_batched_nms_keeps_groups_apart_and_split_path_agrees():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    idxs = torch.tensor([0, 0, 1, 1])
    s, keep = batched_nms(boxes, scores, idxs, 0.5)
    assert keep.tolist() == [0, 2, 3] and s.tolist() == pytest.approx([0.9, 0.7, 0.6])
    s2, keep2 = batched_nms(boxes, scores, idxs, 0.5, split_thr=2)
    assert keep2.tolist() == keep.tolist() and torch.equal(s, s2)
    s3, keep3 = batched_nms(boxes[:0], scores[:0], idxs[:0], 0.5)
    assert keep3.numel() == 0 and s3.numel() == 0


def test_multiclass_nms_candidates_threshold_and_cap():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30]])
    scores = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.45, 0.05], [0.005, 0.9, 0.095]])  # last column: background
    b, s, lab = multiclass_nms(boxes, scores, score_thr=0.01, iou_threshold=0.5)
    assert s.tolist() == pytest.approx([0.9, 0.6, 0.45]) and lab.tolist() == [1, 0, 1]
    assert torch.equal(b[0], boxes[2])
    b, s, lab = multiclass_nms(boxes, scores, score_thr=0.01, iou_threshold=0.5, max_num=2)
    assert len(s) == 2
    b, s, lab = multiclass_nms(boxes, scores, score_thr=0.95, iou_threshold=0.5)
    assert b.shape == (0, 4) and s.shape == (0,) and lab.shape == (0,)


def test_roi_levels_use_finest_scale_56():
    sizes = [10, 111.9, 112, 223, 224, 448, 2000]
    rois = torch.tensor([[0, 0, 0, s, s] for s in sizes], dtype=torch.float32)
    assert map_roi_levels(rois, 4).tolist() == [0, 0, 1, 1, 2, 3, 3]


def test_multi_level_roi_align_picks_the_level():
    feats = [torch.full((1, 2, 256 // s, 256 // s), float(i)) for i, s in enumerate((4, 8, 16, 32))]
    rois = torch.tensor([[0, 0, 0, 20, 20], [0, 0, 0, 150, 150], [0, 10, 10, 250, 250]], dtype=torch.float32)
    out = multi_level_roi_align(feats, rois, (4, 8, 16, 32))
    assert out.shape == (3, 2, 7, 7)
    assert [float(o.mean()) for o in out] == pytest.approx([0.0, 1.0, 2.0])
    assert multi_level_roi_align(feats, rois[:0], (4, 8, 16, 32)).shape == (0, 2, 7, 7)
