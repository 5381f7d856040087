"""Public API of the native BARON model: shapes, ordering, determinism, batching, errors."""
from __future__ import annotations

import numpy as np
import pytest

from regionkit.models.detectors.baron.model import BaronDetectorModel, Detections

from . import support
from .images import load_rgb
from .support import LIGHT, compare

baron_model = support.baron_model  # session fixture
light_model = support.light_model  # session fixture
seeded_checkpoint = support.seeded_checkpoint  # session fixture

STRIP = "motorcycle_strip_700x64.png"


def _check_contract(det: Detections, image: np.ndarray, num_classes: int) -> None:
    h, w = image.shape[:2]
    assert det.boxes.dtype == np.float32 and det.boxes.shape == (len(det.scores), 4)
    assert det.scores.dtype == np.float32 and det.labels.dtype == np.int64
    assert np.all(np.diff(det.scores) <= 0), "scores must be sorted descending"
    assert np.all(det.scores > 0.01) and np.all(det.scores <= 1)
    assert np.all((det.labels >= 0) & (det.labels < num_classes))
    assert np.all(det.boxes[:, 2] >= det.boxes[:, 0]) and np.all(det.boxes[:, 3] >= det.boxes[:, 1])
    assert det.boxes.min() >= 0 and det.boxes[:, [0, 2]].max() <= w * 1.001 and det.boxes[:, [1, 3]].max() <= h * 1.001


def test_predict_contract_and_determinism(light_model):
    img = load_rgb(STRIP)
    a, b = light_model.predict([img]), light_model.predict([img.copy()])
    assert len(a) == 1 and isinstance(a[0], Detections)
    _check_contract(a[0], img, 80)
    for x, y in zip(a[0], b[0]):
        assert np.array_equal(x, y)
    boxes, scores, labels = a[0]  # a plain tuple too
    assert len(boxes) == len(scores) == len(labels)


def test_tiny_grey_and_order_of_mixed_sizes(light_model):
    rgb = load_rgb(STRIP)
    tiny = np.ascontiguousarray(rgb[20:29, 100:113])  # 13 x 9
    grey = np.ascontiguousarray(rgb[:, :200].mean(axis=2).astype(np.uint8))
    odd = np.ascontiguousarray(rgb[:63, :301])  # odd dimensions
    dets = light_model.predict([tiny, grey, rgb, odd])
    for det, img in zip(dets, [tiny, grey, rgb, odd]):
        _check_contract(det, img, 80)
    alone = light_model.predict([rgb])[0]  # results do not depend on the other images of the call
    assert all(np.array_equal(x, y) for x, y in zip(dets[2], alone))
    grey3 = light_model.predict([np.repeat(grey[:, :, None], 3, axis=2)])[0]
    assert all(np.array_equal(x, y) for x, y in zip(dets[1], grey3))
    assert light_model.predict([]) == []


def test_errors(baron_model):
    with pytest.raises(TypeError):
        baron_model.predict(load_rgb(STRIP))
    with pytest.raises(ValueError):
        baron_model.predict([np.zeros((5, 5, 3), np.float32)])
    with pytest.raises(ValueError, match="amp"):
        BaronDetectorModel(baron_model.detector, baron_model.class_names, amp="fp8")
    with pytest.raises(ValueError, match="batch_size"):
        BaronDetectorModel(baron_model.detector, baron_model.class_names, batch_size=0)
    with pytest.raises(ValueError, match="class names"):
        BaronDetectorModel(baron_model.detector, ["a"])
    assert "classes=80" in repr(baron_model)


def test_max_per_img_and_threshold(light_model):
    img = load_rgb(STRIP)
    full = light_model.predict([img])[0]
    model = BaronDetectorModel(light_model.detector, light_model.class_names, max_per_img=7, **LIGHT)
    top = model.predict([img])[0]
    assert np.array_equal(top.scores, full.scores[:7]) and np.array_equal(top.labels, full.labels[:7])
    model = BaronDetectorModel(light_model.detector, light_model.class_names, score_thr=0.9, **LIGHT)
    high = model.predict([img])[0]
    assert np.array_equal(high.scores, full.scores[full.scores > 0.9])


def test_exact_and_fast_agree(light_model):
    img = load_rgb(STRIP)
    exact = BaronDetectorModel(light_model.detector, light_model.class_names, exact=True, **LIGHT)
    assert light_model.fast and not exact.fast
    a, b = light_model.predict([img])[0], exact.predict([img])[0]
    compare({"name": STRIP, "boxes": b.boxes.tolist(), "scores": b.scores.tolist(), "labels": b.labels.tolist()},
            a.boxes, a.scores, a.labels)
