"""CIRR box filter: bit-exact against a torch float32 re-statement of generate_cirr_boxes.py's post-processing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from regionkit.errors import ConfigError
from regionkit.plugins.cirr.box_filter import CirrBoxFilter, cirr_pixels, cirr_xyxyn
from regionkit.registry import BOX_SELECTORS
from regionkit.structures.boxes import Boxes

F32_01 = float(np.float32(0.1))  # 0.10000000149011612
F32_06 = float(np.float32(0.6))  # 0.6000000238418579


def area(b):
    return (b[2] - b[0]) * (b[3] - b[1])


def reference(pixels32: np.ndarray, conf32: np.ndarray, w: int, h: int, min_conf=0.3, min_area=0.01, max_boxes=5,
              device="cpu"):
    """The recipe restated: ultralytics' per-box ``conf >= 0.3`` and ``xyxyn`` on float32 tensors, then filter_boxes."""
    data = torch.tensor(pixels32, dtype=torch.float32, device=device).reshape(-1, 4)
    conf = torch.tensor(conf32, dtype=torch.float32, device=device).reshape(-1)
    boxes = []
    for i in range(len(data)):
        if min_conf is None or conf[i] >= min_conf:
            xyxyn = data[i:i + 1].clone()
            xyxyn[..., [0, 2]] /= w
            xyxyn[..., [1, 3]] /= h
            boxes.append(xyxyn[0].cpu().numpy().tolist())
    filtered = [b for b in boxes if area(b) >= min_area]
    filtered.sort(key=area, reverse=True)
    return filtered[:max_boxes]


def random_case(rng: np.random.Generator):
    w, h = (int(v) for v in rng.integers(1, 2500, size=2))
    n = int(rng.integers(0, 14))
    x1 = rng.uniform(0, w, n)
    y1 = rng.uniform(0, h, n)
    x2 = x1 + rng.uniform(0, w, n) * rng.choice([0.05, 0.3, 1.0], n)
    y2 = y1 + rng.uniform(0, h, n) * rng.choice([0.05, 0.3, 1.0], n)
    pixels = np.stack([x1, y1, np.minimum(x2, w), np.minimum(y2, h)], axis=1).astype(np.float32)
    # boxes whose normalised area sits right at 0.01
    for i in range(n):
        if rng.random() < 0.25:
            bw = np.float32(w * 0.1 * (1 + rng.choice([-1e-7, 0.0, 1e-7, 2e-6])))
            bh = np.float32(h * 0.1)
            pixels[i] = [0, 0, bw, bh]
        elif rng.random() < 0.15 and i > 0:
            pixels[i] = pixels[i - 1][[1, 0, 3, 2]] if w == h else pixels[i - 1]  # equal areas: order ties
    conf = rng.uniform(0.2, 1.0, n).astype(np.float32)
    edge = np.float32(0.3)
    for i in range(n):
        if rng.random() < 0.2:
            conf[i] = rng.choice([edge, np.nextafter(edge, np.float32(0)), np.nextafter(edge, np.float32(1))])
    conf = -np.sort(-conf)  # a detector returns boxes by descending confidence
    return pixels, conf, w, h


def as_boxes(pixels32, conf32, w, h):
    n = len(pixels32)
    return Boxes.create(pixels32.astype(np.float64), (w, h), scores=conf32.astype(np.float64),
                        labels=np.arange(n), label_names=[f"c{i}" for i in range(n)])


def test_bit_exact_against_torch_restatement_on_random_cases():
    rng = np.random.default_rng(1234)
    sel = CirrBoxFilter()
    nonempty = 0
    for _ in range(2500):
        pixels, conf, w, h = random_case(rng)
        expected = reference(pixels, conf, w, h)
        got = cirr_xyxyn(sel(as_boxes(pixels, conf, w, h)))
        assert got == expected
        assert json.dumps(got) == json.dumps(expected)  # same bytes in the JSON file
        nonempty += bool(expected)
    assert nonempty > 1000  # the cases exercise the filter, not just empty lists


@pytest.mark.parametrize("params", [dict(min_score=None), dict(min_area_norm=0.05, max_boxes=2),
                                    dict(min_score=0.5, min_area_norm=0.0, max_boxes=10)])
def test_bit_exact_with_other_parameters(params):
    rng = np.random.default_rng(7)
    sel = CirrBoxFilter(**params)
    ref_kw = dict(min_conf=params.get("min_score", 0.3), min_area=params.get("min_area_norm", 0.01),
                  max_boxes=params.get("max_boxes", 5))
    for _ in range(500):
        pixels, conf, w, h = random_case(rng)
        assert cirr_xyxyn(sel(as_boxes(pixels, conf, w, h))) == reference(pixels, conf, w, h, **ref_kw)


def test_float64_arithmetic_matches_python_division_of_integer_boxes():
    """The saliency path: integer boundingRect boxes divided by w, h as Python numbers."""
    rng = np.random.default_rng(3)
    sel = CirrBoxFilter(min_score=None, arithmetic="float64_div")
    for _ in range(500):
        w, h = (int(v) for v in rng.integers(2, 1500, size=2))
        rects = []
        for _ in range(int(rng.integers(0, 8))):
            x, y = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
            rects.append((x, y, int(rng.integers(1, w - x + 1)), int(rng.integers(1, h - y + 1))))
        norm = [[x / w, y / h, (x + bw) / w, (y + bh) / h] for x, y, bw, bh in rects]
        expected = sorted([b for b in norm if area(b) >= 0.01], key=area, reverse=True)[:5]
        pixels = [[x, y, x + bw, y + bh] for x, y, bw, bh in rects]
        got = cirr_xyxyn(sel(Boxes.create(pixels, (w, h))), arithmetic="float64_div")
        assert got == expected
    # area exactly 0.01 (1.0 * (1/100 - 0)) is kept: the recipe's test is ``area >= min_area``
    edge = Boxes.create([[0, 0, 100, 1], [0, 0, 100, 0.99]], (100, 100), label_names=["edge", "below"])
    assert sel(edge).label_names == ("edge",)
    assert cirr_xyxyn(sel(edge), arithmetic="float64_div") == [[0.0, 0.0, 1.0, 0.01]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_reciprocal_arithmetic_matches_ultralytics_on_cuda():
    rng = np.random.default_rng(11)
    sel = CirrBoxFilter(arithmetic="float32_reciprocal")
    for _ in range(500):
        pixels, conf, w, h = random_case(rng)
        expected = reference(pixels, conf, w, h, device="cuda")
        assert cirr_xyxyn(sel(as_boxes(pixels, conf, w, h)), arithmetic="float32_reciprocal") == expected


def test_hand_checked_example():
    # 100 x 200 image; detector order = descending score
    boxes = Boxes.create(
        [[0, 100, 100, 200],    # score exactly float32(0.3): kept (>=); area 1 * 0.5 = 0.5
         [10, 20, 60, 120],     # norm [0.1, 0.1, 0.6, 0.6] in float32, area about 0.25
         [0, 0, 10, 20],        # float32(0.1)**2 = 0.0100000003 >= 0.01: kept
         [0, 0, 10, 19],        # 0.1 * 0.095 = 0.0095 < 0.01: dropped
         [5, 5, 95, 195]],      # score just below float32(0.3): dropped although largest
        (100, 200),
        scores=[0.9, 0.8, 0.7, 0.6, float(np.nextafter(np.float32(0.3), np.float32(0)))],
        labels=[1, 2, 3, 4, 5], label_names=["a", "b", "c", "d", "e"])
    boxes = Boxes(boxes.xyxy, [float(np.float32(0.3)), 0.8, 0.7, 0.6, boxes.scores[4]], boxes.labels,
                  boxes.label_names, boxes.image_size)
    out = CirrBoxFilter()(boxes)
    assert out.label_names == ("a", "b", "c")
    assert out.xyxy.tolist() == [[0, 100, 100, 200], [10, 20, 60, 120], [0, 0, 10, 20]]
    assert cirr_xyxyn(out) == [[0.0, 0.5, 1.0, 1.0], [F32_01, F32_01, F32_06, F32_06], [0.0, 0.0, F32_01, F32_01]]
    assert CirrBoxFilter(max_boxes=2)(boxes).label_names == ("a", "b")
    assert CirrBoxFilter(min_score=None)(boxes).label_names == ("e", "a", "b", "c")  # e's area 0.81 comes first


def test_scores_are_compared_in_float32():
    # 0.2999999999 rounds to float32(0.3), so ultralytics' float32 conf tensor kept it; 0.29999999 rounds below
    boxes = Boxes.create([[0, 0, 50, 50], [0, 0, 40, 40]], (100, 100), scores=[0.2999999999, 0.29999999],
                         label_names=["kept", "dropped"])
    assert CirrBoxFilter()(boxes).label_names == ("kept",)
    assert CirrBoxFilter(min_score=0.0)(boxes).label_names == ("kept", "dropped")


def test_equal_areas_keep_input_order():
    # 128 x 128 (dyadic fractions, so the areas are exactly equal): three 0.0625-area boxes and a bigger one
    boxes = Boxes.create([[0, 0, 64, 16], [0, 0, 64, 64], [0, 0, 16, 64], [32, 32, 96, 48]], (128, 128),
                         scores=[0.9, 0.8, 0.7, 0.6], label_names=["w", "big", "t", "w2"])
    assert CirrBoxFilter()(boxes).label_names == ("big", "w", "t", "w2")
    assert CirrBoxFilter()(boxes[[3, 2, 1, 0]]).label_names == ("big", "w2", "t", "w")


def test_output_is_pixels_rounded_to_float32_and_the_filter_is_idempotent():
    rng = np.random.default_rng(5)
    sel = CirrBoxFilter()
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(10, 1000, size=2))
        n = int(rng.integers(0, 10))
        xyxy = np.sort(rng.uniform(0, 1, (n, 2, 2)), axis=1).transpose(0, 2, 1).reshape(n, 4) * [w, h, w, h]
        boxes = Boxes.create(xyxy, (w, h), scores=rng.uniform(0, 1, n), labels=np.arange(n))
        once = sel(boxes)
        assert np.array_equal(once.xyxy, once.xyxy.astype(np.float32).astype(np.float64))
        assert np.array_equal(once.xyxy, cirr_pixels(boxes.xyxy[once.labels]).reshape(-1, 4))
        assert np.array_equal(once.scores, boxes.scores[once.labels])
        twice = sel(once)
        assert np.array_equal(twice.xyxy, once.xyxy) and np.array_equal(twice.scores, once.scores)
        assert cirr_xyxyn(twice) == cirr_xyxyn(once)


def test_empty_input_gives_empty_output():
    out = CirrBoxFilter()(Boxes.empty((640, 480)))
    assert len(out) == 0 and out.image_size == (640, 480) and cirr_xyxyn(out) == []


@pytest.mark.parametrize("params, message", [
    (dict(min_score=1.5), "min_score"), (dict(min_score="0.3"), "min_score"),
    (dict(min_area_norm=-0.1), "min_area_norm"), (dict(max_boxes=0), "max_boxes"),
    (dict(max_boxes=2.0), "max_boxes"), (dict(arithmetic="float16"), "arithmetic"),
])
def test_bad_parameters_raise_clear_errors(params, message):
    with pytest.raises(ValueError, match=message):
        CirrBoxFilter(**params)
    with pytest.raises(ConfigError, match=message):
        BOX_SELECTORS.build(dict(type=CirrBoxFilter, **params))
    with pytest.raises(ValueError, match="arithmetic"):
        cirr_xyxyn(Boxes.empty((2, 2)), arithmetic="float16")


def _filtered_record(writer, out):
    """The CIRR writer's record for an image whose region set 'cirr' is ``out``."""
    from regionkit.structures.results import ImageItem, ImageResult

    result = ImageResult(item=ImageItem("/d/x.png", "x.png", name="x"), image_size=out.image_size,
                         detections=out, regions={"cirr": out})
    return writer.make_record(result)["boxes"]


def test_cirr_writer_writes_the_filters_floats_in_the_filters_arithmetic():
    """The writer takes the filter's arithmetic (bind) and writes exactly the recipe's floats."""
    from regionkit.plugins.cirr.writer import CirrBoxesWriter

    rng = np.random.default_rng(21)
    for arithmetic in ("float32_div", "float32_reciprocal", "float64_div"):
        sel = CirrBoxFilter(arithmetic=arithmetic)
        writer = CirrBoxesWriter(boxes="cirr")
        writer.bind({"detections": None, "cirr": sel})
        assert writer.arithmetic == arithmetic
        for _ in range(200):
            pixels, conf, w, h = random_case(rng)
            if arithmetic == "float64_div":
                pixels = np.floor(pixels.astype(np.float64))  # the saliency path's integer boundingRect boxes
            out = sel(as_boxes(np.asarray(pixels, dtype=np.float32), conf, w, h))
            got = _filtered_record(writer, out)
            assert got == cirr_xyxyn(out, arithmetic=arithmetic)
            if arithmetic == "float32_div":
                assert got == reference(pixels, conf, w, h)
            if arithmetic == "float64_div":
                assert got == [[x1 / w, y1 / h, x2 / w, y2 / h] for x1, y1, x2, y2 in out.xyxy.tolist()]


def test_cirr_writer_refuses_an_arithmetic_that_contradicts_its_filter():
    from regionkit.plugins.cirr.writer import CirrBoxesWriter

    writer = CirrBoxesWriter(boxes="cirr", arithmetic="float32_div")
    with pytest.raises(ConfigError, match="float64_div"):
        writer.bind({"cirr": CirrBoxFilter(arithmetic="float64_div")})
    plain = CirrBoxesWriter(boxes="cirr")
    plain.bind({"cirr": None})  # a region set not made by the CIRR filter: the default arithmetic
    assert plain.arithmetic == "float32_div"


def test_float64_labels_give_the_hybrid_recipes_per_box_arithmetic():
    """YOLO boxes (float32) and saliency fallback boxes (Python floats) in one image set, as the hybrid recipe wrote."""
    from regionkit.plugins.cirr.writer import CirrBoxesWriter

    w, h = 333, 517
    boxes = Boxes.create([[10, 20, 300, 400], [np.float32(1.1), np.float32(2.2), np.float32(250.7), np.float32(300.3)]],
                         (w, h), scores=[0.0, 0.9], label_names=["salient", "dog"])
    sel = CirrBoxFilter(min_score=None, float64_labels=["salient"])
    out = sel(boxes)
    writer = CirrBoxesWriter(boxes="cirr")
    writer.bind({"cirr": sel})
    got = _filtered_record(writer, out)
    by_name = dict(zip(out.label_names, got))
    assert by_name["salient"] == [10 / w, 20 / h, 300 / w, 400 / h]  # Python division
    dog = np.float32([1.1, 2.2, 250.7, 300.3]) / np.float32([w, h, w, h])
    assert by_name["dog"] == dog.tolist() != [v / s for v, s in zip(np.float32([1.1, 2.2, 250.7, 300.3]).tolist(),
                                                                     (w, h, w, h))]
    assert sel(out).xyxy.tolist() == out.xyxy.tolist()  # still idempotent
