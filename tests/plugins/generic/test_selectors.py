"""Generic selectors: hand-checked examples, empty input, idempotence, NMS against torchvision, errors."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms
from torchvision.ops import nms as tv_nms

from regionkit.errors import ConfigError
from regionkit.plugins.generic.selectors import AreaFilter, ClassFilter, Nms, ScoreFilter, TopK
from regionkit.registry import BOX_SELECTORS
from regionkit.structures.boxes import Boxes

SIZE = (200, 100)  # width, height: image area 20000


def sample() -> Boxes:
    return Boxes.create(
        [[0, 0, 100, 100],     # area 10000 (0.5)
         [10, 10, 30, 20],     # 200 (0.01)
         [5, 5, 105, 95],      # 9000 (0.45); IoU with box 0 = 8550 / 10450 = 0.818
         [150, 50, 160, 60],   # 100 (0.005)
         [0, 0, 200, 100]],    # 20000 (1.0)
        SIZE, scores=[0.9, 0.2, 0.8, 0.5, 0.3], labels=[0, 1, 0, 2, 3],
        label_names=["person", "dog", "person", "cat", "scene"])


def random_boxes(rng: np.random.Generator, n: int | None = None) -> Boxes:
    n = int(rng.integers(0, 25)) if n is None else n
    w, h = (int(v) for v in rng.integers(20, 400, size=2))
    xy = rng.uniform(0, 1, (n, 2)) * [w, h]
    wh = rng.uniform(0.02, 0.6, (n, 2)) * [w, h]
    xyxy = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)
    labels = rng.integers(0, 4, n)
    scores = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], n) if rng.random() < 0.5 else rng.uniform(0, 1, n)
    return Boxes.create(xyxy, (w, h), scores=scores, labels=labels, label_names=[f"c{v}" for v in labels])


def same(a: Boxes, b: Boxes) -> bool:
    return (a.image_size == b.image_size and np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores)
            and np.array_equal(a.labels, b.labels) and a.label_names == b.label_names)


SELECTORS = [
    ScoreFilter(min_score=0.4), ScoreFilter(min_score=0.2, max_score=0.6), ClassFilter(include=["c1", 2]),
    ClassFilter(exclude=[0]), ClassFilter(include=[0, 1, "c3"], exclude="c1"), AreaFilter(min_area_norm=0.01),
    AreaFilter(min_area_norm=0.02, max_area_norm=0.2, min_area_px=50), TopK(k=3), TopK(k=4, by="area"),
    Nms(), Nms(iou_threshold=0.1, class_agnostic=False), Nms(iou_threshold=0.0),
]


@pytest.mark.parametrize("selector", SELECTORS, ids=repr)
def test_empty_input_gives_empty_output(selector):
    out = selector(Boxes.empty((64, 48)))
    assert len(out) == 0 and out.image_size == (64, 48)


@pytest.mark.parametrize("selector", SELECTORS, ids=repr)
def test_idempotent(selector):
    rng = np.random.default_rng(zlib.crc32(repr(selector).encode()))
    changed = 0
    for _ in range(200):
        boxes = random_boxes(rng)
        once = selector(boxes)
        assert same(selector(once), once)
        changed += len(once) != len(boxes)
    assert changed > 0  # the selector did something on these inputs


def test_score_filter_bounds_are_inclusive():
    assert ScoreFilter(min_score=0.3)(sample()).label_names == ("person", "person", "cat", "scene")
    assert ScoreFilter(min_score=0.3, max_score=0.8)(sample()).scores.tolist() == [0.8, 0.5, 0.3]
    assert len(ScoreFilter()(sample())) == 5


def test_class_filter_by_ids_and_names():
    assert ClassFilter(include=["person"])(sample()).scores.tolist() == [0.9, 0.8]
    assert ClassFilter(include=[1, "cat"])(sample()).label_names == ("dog", "cat")
    assert ClassFilter(exclude="person")(sample()).label_names == ("dog", "cat", "scene")
    assert ClassFilter(include=[0, 1], exclude=["dog"])(sample()).label_names == ("person", "person")
    assert len(ClassFilter(include=[])(sample())) == 0
    assert len(ClassFilter()(sample())) == 5
    assert len(ClassFilter(include=["Person"])(sample())) == 0  # names match exactly


def test_area_filter_normalised_and_pixel_bounds():
    assert AreaFilter(min_area_norm=0.01)(sample()).label_names == ("person", "dog", "person", "scene")
    assert AreaFilter(max_area_norm=0.45)(sample()).label_names == ("dog", "person", "cat")
    assert AreaFilter(min_area_px=200, max_area_norm=0.5)(sample()).label_names == ("person", "dog", "person")


def test_top_k_by_score_and_by_area():
    assert TopK(k=2)(sample()).scores.tolist() == [0.9, 0.8]
    assert TopK(k=3, by="area")(sample()).label_names == ("scene", "person", "person")
    assert TopK(k=10)(sample()).scores.tolist() == [0.9, 0.8, 0.5, 0.3, 0.2]
    ties = Boxes.create([[0, 0, 1, 1]] * 3, (2, 2), scores=[0.5, 0.7, 0.5], label_names=["a", "b", "c"])
    assert TopK(k=3)(ties).label_names == ("b", "a", "c")  # stable: equal scores keep input order


def test_nms_hand_checked():
    # person 0.9 suppresses person 0.8 (IoU 0.818); the whole-image box overlaps box 0 with IoU 0.5 exactly: kept
    assert Nms(iou_threshold=0.5)(sample()).label_names == ("person", "dog", "cat", "scene")
    # at 0.49 the whole-image box goes; the dog (IoU 0.02 with box 0, 0.01 with the scene) stays
    assert Nms(iou_threshold=0.49)(sample()).label_names == ("person", "dog", "cat")
    assert len(Nms(iou_threshold=0.9)(sample())) == 5
    # class-aware: overlapping boxes of different classes survive
    boxes = Boxes.create([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10]], (20, 20), scores=[0.9, 0.8, 0.7],
                         labels=[0, 1, 0], label_names=["a", "b", "a"])
    assert Nms(class_agnostic=False)(boxes).label_names == ("a", "b")
    assert Nms()(boxes).label_names == ("a",)


def test_nms_keeps_the_same_boxes_as_torchvision():
    rng = np.random.default_rng(0)
    for _ in range(300):
        boxes = random_boxes(rng)
        boxes = Boxes(boxes.xyxy, rng.permutation(len(boxes)) / max(len(boxes), 1) + 0.01, boxes.labels,
                      boxes.label_names, boxes.image_size)  # distinct scores: tie order is implementation-defined
        thr = float(rng.choice([0.0, 0.3, 0.5, 0.7]))
        xyxy = torch.as_tensor(boxes.xyxy)
        scores = torch.as_tensor(boxes.scores)
        want = sorted(tv_nms(xyxy, scores, thr).tolist())
        got = Nms(iou_threshold=thr)(boxes)
        assert got.xyxy.tolist() == boxes.xyxy[want].tolist()
        want_cls = sorted(batched_nms(xyxy, scores, torch.as_tensor(boxes.labels), thr).tolist())
        assert Nms(iou_threshold=thr, class_agnostic=False)(boxes).xyxy.tolist() == boxes.xyxy[want_cls].tolist()


@pytest.mark.parametrize("cls, params, message", [
    (ScoreFilter, dict(min_score="high"), "min_score"),
    (ScoreFilter, dict(min_score=0.5, max_score=0.4), "max_score"),
    (ScoreFilter, dict(min_score=float("nan")), "min_score"),
    (ClassFilter, dict(include=[1.5]), "include"),
    (ClassFilter, dict(exclude=[True]), "exclude"),
    (ClassFilter, dict(include={"a": 1}), "include"),
    (AreaFilter, dict(min_area_norm=1.5), "min_area_norm"),
    (AreaFilter, dict(min_area_norm=0.5, max_area_norm=0.1), "max_area_norm"),
    (AreaFilter, dict(min_area_px=-1), "min_area_px"),
    (TopK, dict(k=0), "k must be"),
    (TopK, dict(k=2, by="confidence"), "by must be"),
    (Nms, dict(iou_threshold=1.5), "iou_threshold"),
    (Nms, dict(class_agnostic="yes"), "class_agnostic"),
])
def test_bad_parameters_raise_clear_errors(cls, params, message):
    with pytest.raises(ValueError, match=message):
        cls(**params)
    with pytest.raises(ConfigError, match=message):
        BOX_SELECTORS.build(dict(type=cls, **params))


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        TopK(3)  # type: ignore[misc]
