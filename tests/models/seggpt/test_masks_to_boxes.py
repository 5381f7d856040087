"""Hand-built class maps into boxes: components, extents, size and score filters, labels, order; the mask store."""
from __future__ import annotations

import numpy as np
import pytest

from regionkit.models.segmentation.seggpt import mask_store
from regionkit.models.segmentation.seggpt.masks_to_boxes import class_areas, masks_to_boxes


def _map():
    ids = np.zeros((20, 30), np.int64)
    ids[2:6, 3:9] = 1      # 24 px, class 1
    ids[10:12, 20:21] = 1  # 2 px, class 1
    ids[12:19, 10:25] = 2  # 105 px, class 2
    ids[0, 29] = 1         # 1 px in the corner
    return ids


def test_one_box_per_component_with_exclusive_extents():
    boxes = masks_to_boxes(_map(), class_names=("scratch", "dent"))
    assert boxes.image_size == (30, 20)
    got = {(tuple(b), int(lbl), name) for b, lbl, name in zip(boxes.xyxy.tolist(), boxes.labels, boxes.label_names)}
    assert got == {((3.0, 2.0, 9.0, 6.0), 1, "scratch"), ((20.0, 10.0, 21.0, 12.0), 1, "scratch"),
                   ((10.0, 12.0, 25.0, 19.0), 2, "dent"), ((29.0, 0.0, 30.0, 1.0), 1, "scratch")}
    np.testing.assert_allclose(boxes.scores, 1.0)  # no margin map: every score is 1


def test_size_filters_use_component_pixels():
    ids = _map()
    assert len(masks_to_boxes(ids, min_area_px=3)) == 2
    assert len(masks_to_boxes(ids, min_area_norm=25 / 600)) == 1  # only the 105-px component is >= 25 px
    diagonal = np.eye(6, dtype=np.int64)
    assert len(masks_to_boxes(diagonal, connectivity=8)) == 1
    assert len(masks_to_boxes(diagonal, connectivity=4)) == 6


def test_scores_are_mean_margins_sorted_and_filtered():
    ids = _map()
    margin = np.zeros(ids.shape, np.float32)
    margin[2:6, 3:9] = 0.9
    margin[12:19, 10:25] = 0.5
    margin[12, 10:25] = 0.0  # one row of the dent at zero: its mean drops to 0.5 * 6 / 7
    boxes = masks_to_boxes(ids, margin, min_area_px=3)
    np.testing.assert_allclose(boxes.scores, [0.9, 0.5 * 6 / 7], rtol=1e-6)
    assert boxes.labels.tolist() == [1, 2]
    assert len(masks_to_boxes(ids, margin, min_area_px=3, min_score=0.6)) == 1
    assert len(masks_to_boxes(ids, margin, max_boxes=1)) == 1


def test_equal_scores_keep_class_then_position_order():
    ids = np.zeros((10, 10), np.int64)
    ids[6:8, 6:8] = 1
    ids[0:2, 0:2] = 2
    ids[0:2, 6:8] = 1
    boxes = masks_to_boxes(ids)
    assert boxes.labels.tolist() == [1, 1, 2]
    assert boxes.xyxy[:2, :2].tolist() == [[6.0, 0.0], [6.0, 6.0]]


def test_background_only_and_missing_names():
    empty = masks_to_boxes(np.zeros((5, 7), np.int64))
    assert len(empty) == 0 and empty.image_size == (7, 5)
    assert masks_to_boxes(np.full((3, 3), 4)).label_names == ("class_4",)
    with pytest.raises(ValueError, match="margin has shape"):
        masks_to_boxes(np.zeros((3, 3)), np.zeros((2, 2)))
    assert class_areas(_map()) == {1: 27, 2: 105}


def test_mask_store_takes_once_and_stays_bounded(monkeypatch):
    mask_store.clear()
    monkeypatch.setattr(mask_store, "MAX_ENTRIES", 3)
    for i in range(5):
        mask_store.put(f"k{i}", mask_store.StoredMask(np.full((2, 2), i, np.uint8), ("a",), np.zeros((2, 3))))
    assert mask_store.peek("k0") is None and mask_store.peek("k1") is None
    taken = mask_store.take("k4")
    assert taken is not None and int(taken.class_map[0, 0]) == 4
    assert mask_store.take("k4") is None
    mask_store.clear()
