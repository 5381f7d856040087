"""HybridDetector (fallback / union) and the NMS it uses (``regionkit.core.box_ops.nms``)."""
from __future__ import annotations

import numpy as np
import pytest

from regionkit.errors import ConfigError, ContractError
from regionkit.plugins.detectors.hybrid import HybridDetector
from regionkit.registry import DETECTORS
from regionkit.structures import box_ops
from regionkit.structures.boxes import Boxes


# ---------------------------------------------------------------------- nms
def test_nms_greedy_by_score_and_strict_threshold():
    xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10], [50, 50, 50, 60]])
    scores = np.array([0.5, 0.9, 0.3, 0.5, 0.1])
    # box 1 (0.9) removes 0 and 3 (IoU 9/11); box 2 overlaps nothing; the zero-area box 4 stays
    assert box_ops.nms(xyxy, scores, 0.5).tolist() == [1, 2, 4]
    # IoU exactly at the threshold is kept (strictly greater suppresses), as in torchvision
    assert box_ops.nms(xyxy[[0, 3]], scores[[0, 3]], 1.0).tolist() == [0, 1]
    assert box_ops.nms(xyxy[[0, 3]], scores[[0, 3]], 0.999).tolist() == [0]  # equal scores: first wins
    assert box_ops.nms(np.zeros((0, 4)), np.zeros(0), 0.5).dtype == np.int64
    with pytest.raises(ValueError, match="3 boxes but 2 scores"):
        box_ops.nms(xyxy[:3], scores[:2], 0.5)


def test_nms_matches_torchvision():
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (300, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(1, 40, (300, 2))], axis=1)
    scores = rng.permutation(300) / 300.0  # distinct scores, so the order is unambiguous
    for thr in (0.0, 0.3, 0.5, 0.9):
        expected = ops.nms(torch.from_numpy(xyxy), torch.from_numpy(scores), thr).numpy()
        assert box_ops.nms(xyxy, scores, thr).tolist() == expected.tolist()


# ---------------------------------------------------------------------- fake detectors
class ListDetector:
    """Test detector: for each image, the boxes ``table[tag]`` where tag = the image's first pixel."""

    def __init__(self, table=None, name="fake", calls=None):
        self.table = table or {}
        self.name = name
        self.calls = calls if calls is not None else []

    def detect(self, images):
        self.calls.append([int(im[0, 0, 0]) for im in images])
        out = []
        for im in images:
            h, w = im.shape[:2]
            rows = self.table.get(int(im[0, 0, 0]), [])
            out.append(Boxes.create([r[:4] for r in rows], (w, h), scores=[r[4] for r in rows],
                                    labels=[7] * len(rows), label_names=[self.name] * len(rows)))
        return out


def tagged(tag, h=40, w=60):
    im = np.full((h, w, 3), 128, dtype=np.uint8)
    im[0, 0, 0] = tag
    return im


@pytest.fixture
def fake_detector():
    """Registers ListDetector in-process as 'hybrid_test_list', removed afterwards."""
    DETECTORS.register_module(name="hybrid_test_list", module=ListDetector)
    try:
        yield "hybrid_test_list"
    finally:
        DETECTORS._module_dict.pop("hybrid_test_list", None)


# ---------------------------------------------------------------------- fallback
def test_fallback_runs_the_next_detector_only_on_empty_images(fake_detector):
    calls_a, calls_b = [], []
    det = DETECTORS.build({"type": HybridDetector, "detectors": [
        {"type": fake_detector, "name": "a", "calls": calls_a,
         "table": {1: [[0, 0, 10, 10, 0.4], [5, 5, 30, 30, 0.8]], 3: [[1, 1, 2, 2, 0.05]]}},
        {"type": fake_detector, "name": "b", "calls": calls_b,
         "table": {2: [[2, 2, 20, 20, 0.6]], 3: [[3, 3, 9, 9, 0.7]]}},
    ], "min_score": 0.1})
    out = det.detect([tagged(1), tagged(2), tagged(3), tagged(4)])
    assert calls_a == [[1, 2, 3, 4]]
    assert calls_b == [[2, 3, 4]], "the second detector sees only the images the first left empty"
    assert out[0].scores.tolist() == [0.8, 0.4] and out[0].label_names == ("a", "a")
    assert out[1].tolist() == [[2, 2, 20, 20]] and out[1].label_names == ("b",)
    # image 3: detector a's only box scores below min_score, so it counts as empty
    assert out[2].tolist() == [[3, 3, 9, 9]] and out[2].label_names == ("b",)
    assert len(out[3]) == 0 and out[3].image_size == (60, 40)
    assert all(b.image_size == (60, 40) for b in out)


def test_fallback_stops_calling_when_every_image_is_answered(fake_detector):
    calls_b = []
    det = HybridDetector(detectors=[
        {"type": fake_detector, "table": {1: [[0, 0, 10, 10, 0.4]]}},
        {"type": fake_detector, "calls": calls_b},
    ])
    assert len(det.detect([tagged(1), tagged(1)])[1]) == 1
    assert calls_b == []
    assert det.detect([]) == []


def test_cirr_recipe_with_real_saliency_fallback(fake_detector):
    """A stand-in for YOLO that finds nothing on the natural photo, then saliency (2 regions)."""
    data = pytest.importorskip("skimage.data")
    photo = data.coffee()
    photo[0, 0, 0] = 9
    det = HybridDetector(detectors=[
        {"type": fake_detector, "name": "person", "table": {1: [[5, 5, 30, 30, 0.9]]}},
        {"type": "saliency", "max_regions": 2},
    ])
    out = det.detect([tagged(1), photo])
    assert out[0].label_names == ("person",)
    assert 1 <= len(out[1]) <= 2 and set(out[1].label_names) == {"salient"}
    assert np.all(np.diff(out[1].scores) <= 0)
    assert out[1].image_size == (photo.shape[1], photo.shape[0])
    assert not det.parallel_safe  # the fake detector does not declare it
    assert HybridDetector(detectors=[{"type": "saliency"}, {"type": "saliency", "threshold": 0.3}]).parallel_safe


# ---------------------------------------------------------------------- union
def test_union_concatenates_and_removes_duplicates_with_nms(fake_detector):
    det = HybridDetector(mode="union", nms_iou=0.5, detectors=[
        {"type": fake_detector, "name": "a", "table": {1: [[0, 0, 10, 10, 0.9], [40, 20, 50, 30, 0.2]]}},
        {"type": fake_detector, "name": "b", "table": {1: [[0, 0, 10, 11, 0.7], [20, 0, 30, 10, 0.5]],
                                                       2: [[1, 1, 5, 5, 0.3]]}},
    ])
    out = det.detect([tagged(1), tagged(2), tagged(3)])
    # b's [0, 0, 10, 11] duplicates a's best box (IoU 10/11) and goes; the rest are merged
    assert out[0].tolist() == [[0, 0, 10, 10], [20, 0, 30, 10], [40, 20, 50, 30]]
    assert out[0].scores.tolist() == [0.9, 0.5, 0.2]
    assert out[0].label_names == ("a", "b", "a") and out[0].labels.tolist() == [7, 7, 7]
    assert out[1].label_names == ("b",) and len(out[2]) == 0


def test_union_equal_scores_keep_the_higher_priority_detector(fake_detector):
    det = HybridDetector(mode="union", detectors=[
        {"type": fake_detector, "name": "first", "table": {1: [[0, 0, 10, 10, 0.5]]}},
        {"type": fake_detector, "name": "second", "table": {1: [[0, 0, 10, 10, 0.5]]}},
    ])
    assert det.detect([tagged(1)])[0].label_names == ("first",)


def test_union_with_real_saliency_keeps_names(fake_detector):
    data = pytest.importorskip("skimage.data")
    photo = data.astronaut()
    photo[0, 0, 0] = 1
    det = HybridDetector(mode="union", detectors=[
        {"type": fake_detector, "name": "person", "table": {1: [[100, 50, 300, 500, 1.0]]}},
        {"type": "saliency", "max_regions": 3},
    ])
    boxes = det.detect([photo])[0]
    assert boxes.label_names[0] == "person" and "salient" in boxes.label_names
    assert np.all(np.diff(boxes.scores) <= 0)
    kept = box_ops.pairwise_iou(boxes.xyxy)
    np.fill_diagonal(kept, 0)
    assert kept.max() <= 0.5


# ---------------------------------------------------------------------- config errors
def test_config_errors(fake_detector):
    with pytest.raises(ConfigError, match="at least one detector"):
        DETECTORS.build({"type": HybridDetector, "detectors": []})
    with pytest.raises(ConfigError, match="mode must be one of 'fallback', 'union', got 'intersection'"):
        DETECTORS.build({"type": HybridDetector, "mode": "intersection", "detectors": [{"type": "saliency"}]})
    with pytest.raises(ConfigError, match=r"detectors\[1\]: unknown detector 'salency'.*did you mean"):
        DETECTORS.build({"type": HybridDetector, "detectors": [{"type": "saliency"}, {"type": "salency"}]})
    with pytest.raises(ConfigError, match=r"detectors\[0\]: detector 'saliency' got unknown parameter"):
        HybridDetector(detectors=[{"type": "saliency", "treshold": 0.3}])
    with pytest.raises(ValueError, match=r"detectors\[0\] must be a detector config dict"):
        HybridDetector(detectors=["saliency"])
    with pytest.raises(ValueError, match="must be a list"):
        HybridDetector(detectors={"type": "saliency"})
    with pytest.raises(ValueError, match="nms_iou"):
        HybridDetector(mode="union", nms_iou=1.5, detectors=[{"type": "saliency"}])


def test_broken_inner_detector_is_reported(fake_detector):
    class Short:
        def detect(self, images):
            return []

    det = HybridDetector(detectors=[Short()])
    with pytest.raises(ContractError, match=r"detectors\[0\] \(Short\)\.detect returned 0 results for 1 image"):
        det.detect([tagged(1)])
