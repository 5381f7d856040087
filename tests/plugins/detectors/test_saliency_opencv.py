"""The ``opencv_contrib`` saliency variant against the real OpenCV-contrib.

The reference (``fixtures/saliency_opencv_reference.json``) was made by
``make_saliency_opencv_reference.py`` with the real ``opencv-contrib-python-headless`` in a
side virtualenv; the inputs are rebuilt here by ``saliency_opencv_cases`` from scikit-image's
data files with Pillow, so these tests need neither OpenCV nor the side virtualenv.
"""
from __future__ import annotations

import json
import os
import tracemalloc
import warnings

import numpy as np
import pytest

from regionkit.plugins.detectors import saliency_opencv as port
from tests.plugins.detectors import saliency_opencv_cases as cases

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "fixtures", "saliency_opencv_reference.json")) as _f:
    REF: dict = json.load(_f)
CASE_IDS = [k for k in REF if not k.startswith("_")]
SPECS = dict(cases.all_cases())

try:
    cases.skimage_data_dir()
    _HAVE_DATA = all(os.path.exists(os.path.join(cases.skimage_data_dir(), s[0]))
                     for s in SPECS.values())
except FileNotFoundError:
    _HAVE_DATA = False
needs_data = pytest.mark.skipif(not _HAVE_DATA, reason="scikit-image data files not found")


def test_reference_covers_all_cases() -> None:
    assert set(CASE_IDS) == set(SPECS)
    assert sum(REF[k]["set"] == "heldout" for k in CASE_IDS) >= 20
    assert len(CASE_IDS) >= 60


@needs_data
def test_inputs_reproducible() -> None:
    """The Pillow-built inputs are the pixels the reference was made from."""
    bad = [cid for cid in CASE_IDS
           if cases.input_digest(cases.build_case(SPECS[cid])) != REF[cid]["digest"]]
    assert not bad, f"input pixels changed (Pillow/decoder drift?): {bad}"


@needs_data
@pytest.mark.parametrize("cid", CASE_IDS)
def test_boxes_match_opencv(cid: str) -> None:
    ref = REF[cid]
    rgb = cases.build_case(SPECS[cid])
    if cases.input_digest(rgb) != ref["digest"]:
        pytest.skip("input differs from the reference input (see test_inputs_reproducible)")
    assert [rgb.shape[1], rgb.shape[0]] == ref["size"]
    got = port.opencv_saliency_boxes(rgb)
    want = ref["boxes"]
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        assert max(abs(a - b) for a, b in zip(g, w)) <= 1, (got, want)
    # the thresholded map itself: identical on the reference machine; allow
    # a few flipped pixels for float64 libm differences on other CPUs
    fg = port.saliency_binary(rgb)
    n = int(fg.sum())
    assert abs(n - ref["fg"]) <= 2 + fg.size // 10000, (n, ref["fg"])
    if n == ref["fg"]:
        regions = port.external_regions(fg)
        assert len(regions) == ref["ncontours"]
        top = sorted(regions, key=lambda r: r[0], reverse=True)[:len(ref["top"])]
        assert [list(r) for r in top] == ref["top"]
    if cases.mask_digest(fg) != ref["mask"]:
        warnings.warn(f"{cid}: binary mask not bit-identical to OpenCV's", stacklevel=2)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 7, 3), (7, 1, 3), (1, 500, 3), (500, 1, 3),
                                   (2, 2, 3), (3, 200, 3), (64, 64, 3), (32, 32, 3)])
def test_tiny_and_thin_images(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    rgb = rng.integers(0, 256, shape, dtype=np.uint8)
    m = port.opencv_saliency_map(rgb)
    assert m.shape == shape[:2] and m.dtype == np.float32
    assert np.all(np.isfinite(m)) and m.max() <= 1.0 and m.min() >= 0.0
    for x1, y1, x2, y2 in port.opencv_saliency_boxes(rgb):
        assert 0 <= x1 < x2 <= shape[1] and 0 <= y1 < y2 <= shape[0]


def test_constant_image_is_one_full_box() -> None:
    # OpenCV gives a map of ~0.9957 everywhere for a flat image
    rgb = np.full((40, 60, 3), 77, np.uint8)
    assert port.opencv_saliency_boxes(rgb) == [(0, 0, 60, 40)]


def test_grey_and_rgba_inputs() -> None:
    rng = np.random.default_rng(1)
    g = rng.integers(0, 256, (90, 120), dtype=np.uint8)
    rgb = np.repeat(g[:, :, None], 3, axis=2)
    assert np.array_equal(port.opencv_saliency_map(g), port.opencv_saliency_map(rgb))
    rgba = np.concatenate([rgb, rng.integers(0, 256, (90, 120, 1), dtype=np.uint8)], axis=2)
    assert np.array_equal(port.opencv_saliency_map(rgba), port.opencv_saliency_map(rgb))
    with pytest.raises(TypeError):
        port.opencv_saliency_map(rgb.astype(np.float32))
    with pytest.raises(ValueError):
        port.opencv_saliency_map(np.zeros((0, 5, 3), np.uint8))


def test_grey_conversion_channel_order() -> None:
    # RGB input, IPP BGR2GRAY coefficients: R 9798, G 19235, B 3735 (>> 15)
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]]], np.uint8)
    assert port._to_gray(px).tolist() == [[76, 150, 29, (10 * 9798 + 200 * 19235 + 30 * 3735
                                                         + 16384) >> 15]]


def test_huge_aspect_ratio_memory_is_bounded() -> None:
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (4, 60000, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        port.opencv_saliency_boxes(rgb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * rgb.shape[0] * rgb.shape[1] + (1 << 20), peak


def _mask(rows: list[str]) -> np.ndarray:
    return np.array([[c == "#" for c in r] for r in rows])


# (mask, findContours(RETR_EXTERNAL) -> [(contourArea, *boundingRect)] in
# OpenCV's output order), recorded with opencv-contrib-python-headless 5.0.0
CONTOUR_CASES = {
    "single": (["....", ".#..", "...."], [(0.0, 1, 1, 1, 1)]),
    "line": (["......", ".####.", "......"], [(0.0, 1, 1, 4, 1)]),
    "ring_nested": (["#######", "#.....#", "#.###.#", "#.#.#.#", "#.###.#", "#.....#",
                     "#######"], [(36.0, 0, 0, 7, 7)]),
    "two_equal_squares": (["##..##", "##..##", "......", "......"],
                          [(1.0, 4, 0, 2, 2), (1.0, 0, 0, 2, 2)]),
    "tie_rows": (["...##", "...##", "##...", "##..."], [(1.0, 0, 2, 2, 2), (1.0, 3, 0, 2, 2)]),
    "diagonal_touch": (["##..", "##..", "..##", "..##"], [(2.0, 0, 0, 4, 4)]),
    "edge_touch": (["###", "#.#", "###"], [(4.0, 0, 0, 3, 3)]),
    "L": (["#.", "##"], [(0.5, 0, 0, 2, 2)]),
}


@pytest.mark.parametrize("name", list(CONTOUR_CASES))
def test_external_regions_semantics(name: str) -> None:
    rows, want = CONTOUR_CASES[name]
    assert port.external_regions(_mask(rows)) == want


# ------------------------------------------------------------- the detector variant and the CIRR recipe
def _script_entry(boxes: list, w: int, h: int) -> list:
    """What generate_cirr_boxes.py wrote for --method saliency: Python-float normalisation, then its
    filter_boxes (area >= 0.01, sorted by normalised box area, at most 5)."""
    norm = [[x1 / w, y1 / h, x2 / w, y2 / h] for x1, y1, x2, y2 in boxes]
    kept = [b for b in norm if (b[2] - b[0]) * (b[3] - b[1]) >= 0.01]
    kept.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    return kept[:5]


@needs_data
def test_detector_variant_and_cirr_recipe_reproduce_the_reference_entries() -> None:
    """saliency(variant='opencv_contrib') -> cirr_box_filter(float64_div) -> cirr_boxes writes the script's JSON."""
    from regionkit.plugins.cirr.box_filter import CirrBoxFilter
    from regionkit.plugins.cirr.writer import CirrBoxesWriter
    from regionkit.plugins.detectors.saliency import SaliencyDetector
    from regionkit.structures.results import ImageItem, ImageResult

    det = SaliencyDetector(variant="opencv_contrib", max_regions=3, min_area_frac=0.01)
    sel = CirrBoxFilter(min_score=None, arithmetic="float64_div")
    writer = CirrBoxesWriter(boxes="cirr")
    writer.bind({"detections": None, "cirr": sel})
    checked = 0
    for cid in CASE_IDS:
        rgb = cases.build_case(SPECS[cid])
        if cases.input_digest(rgb) != REF[cid]["digest"]:
            continue
        (boxes,) = det.detect([rgb])
        w, h = REF[cid]["size"]
        assert boxes.xyxy.astype(int).tolist() == REF[cid]["boxes"], cid
        assert list(boxes.scores) == sorted(boxes.scores, reverse=True)
        clean, _ = boxes.sanitize()
        result = ImageResult(item=ImageItem(cid, cid, name=cid), image_size=(w, h), detections=clean,
                             regions={"cirr": sel(clean)})
        assert writer.make_record(result)["boxes"] == _script_entry(REF[cid]["boxes"], w, h), cid
        checked += 1
    assert checked >= 60


def test_detector_variant_rejects_the_default_variants_parameters() -> None:
    from regionkit.errors import ConfigError
    from regionkit.plugins.detectors.saliency import SaliencyDetector

    for name in ("resize_width", "blur_sigma", "threshold"):
        value = {"resize_width": 32, "blur_sigma": 1.0, "threshold": 0.4}[name]
        with pytest.raises(ValueError, match=name):
            SaliencyDetector(variant="opencv_contrib", **{name: value})
    with pytest.raises(ConfigError, match="variant must be one of"):
        SaliencyDetector(variant="opencv")
