"""Tests for the numpy/scipy spectral-residual saliency detector."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.data

from regionkit.plugins.detectors.saliency import SaliencyDetector
from regionkit.structures.boxes import Boxes


# ---------------------------------------------------------------------- helpers
def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _intersection(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def _textured_patch(rng: np.random.Generator, size: int, block: int = 4) -> np.ndarray:
    """A bright square of random 4x4-pixel blocks (grey levels 170..255), shape (size, size, 1)."""
    n = -(-size // block)
    tiles = rng.integers(170, 256, (n, n)).astype(np.uint8)
    return np.kron(tiles, np.ones((block, block), np.uint8))[:size, :size, None]


def _scene(objects, height=256, width=320, background=110, seed=0) -> np.ndarray:
    """Uniform grey RGB image with textured bright squares at ``(x1, y1, size)``."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), background, np.uint8)
    for x1, y1, size in objects:
        img[y1:y1 + size, x1:x1 + size] = _textured_patch(rng, size)
    return img


def _same(a: Boxes, b: Boxes) -> bool:
    return (np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores)
            and np.array_equal(a.labels, b.labels) and a.label_names == b.label_names
            and a.image_size == b.image_size)


PHOTOS = {name: getattr(skimage.data, name)()
          for name in ("astronaut", "coffee", "chelsea", "rocket")}


@pytest.fixture(scope="module")
def det() -> SaliencyDetector:
    return SaliencyDetector()


# ---------------------------------------------------------------------- synthetic scenes
def test_single_textured_square_is_the_top_box(det):
    square = (120, 80, 72)
    out = det.detect([_scene([square])])[0]
    assert len(out) >= 1
    x1, y1, s = square
    assert _iou(out.xyxy[0], (x1, y1, x1 + s, y1 + s)) > 0.5


def test_single_square_robust_to_texture_seed(det):
    x1, y1, s = 120, 80, 72
    ious = [_iou(det.detect([_scene([(x1, y1, s)], seed=seed)])[0].xyxy[0],
                 (x1, y1, x1 + s, y1 + s)) for seed in range(1, 6)]
    assert min(ious) > 0.5, ious


def test_dark_square_on_bright_background_is_found(det):
    # saliency is about the spectrum, not brightness: a dark object is found just as well
    rng = np.random.default_rng(0)
    img = np.full((256, 320, 3), 200, np.uint8)
    img[80:152, 120:192] = _textured_patch(rng, 72) - 170     # grey levels 0..85
    out = det.detect([img])[0]
    assert len(out) >= 1
    assert _iou(out.xyxy[0], (120, 80, 192, 152)) > 0.5


def test_two_separated_objects_give_two_boxes(det):
    objects = [(60, 50, 60), (340, 130, 60)]
    out = det.detect([_scene(objects, height=240, width=480)])[0]
    assert len(out) == 2
    matched = set()
    for x1, y1, s in objects:
        obj = (x1, y1, x1 + s, y1 + s)
        covering = [i for i, box in enumerate(out.xyxy)
                    if _intersection(box, obj) >= 0.8 * s * s      # the box covers the object
                    and (box[2] - box[0]) * (box[3] - box[1]) <= 3 * s * s]  # and is not huge
        assert len(covering) == 1, (obj, out.xyxy)
        matched.add(covering[0])
    assert matched == {0, 1}


def test_box_follows_the_object_when_it_moves(det):
    # 320 x 240 is exactly 5x the 64 x 48 working size, and the shift is a whole number of
    # working pixels, so the box moves with the object (the FFT is shift-equivariant)
    a = det.detect([_scene([(40, 40, 64)], height=240)])[0]
    b = det.detect([_scene([(200, 150, 64)], height=240)])[0]
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(b.xyxy[0] - a.xyxy[0], [160, 110, 160, 110], atol=1)


@pytest.mark.parametrize("value", [0, 77, 255])
@pytest.mark.parametrize("shape", [(120, 200, 3), (64, 64), (90, 50, 4)])
def test_constant_image_gives_no_boxes_and_a_zero_map(det, value, shape):
    img = np.full(shape, value, np.uint8)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = det.detect([img])[0]
        smap = det.saliency_map(img)
    assert len(out) == 0
    assert out.image_size == (shape[1], shape[0])
    assert smap.shape == shape[:2]
    assert np.isfinite(smap).all() and not smap.any()


# ---------------------------------------------------------------------- real photographs
@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_photographs_give_valid_sorted_boxes(det, name):
    img = PHOTOS[name]
    height, width = img.shape[:2]
    out = det.detect([img])[0]
    assert isinstance(out, Boxes)
    assert out.image_size == (width, height)
    assert 1 <= len(out) <= det.max_regions
    x1, y1, x2, y2 = out.xyxy.T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= width).all() and (y2 <= height).all()
    assert (x2 > x1).all() and (y2 > y1).all()
    np.testing.assert_array_equal(out.xyxy, np.round(out.xyxy))  # whole pixels, x2 exclusive
    assert ((out.scores > det.threshold) & (out.scores <= 1.0)).all()
    assert (np.diff(out.scores) <= 0).all()
    assert (out.labels == 0).all() and set(out.label_names) == {"salient"}
    assert (out.areas >= det.min_area_frac * width * height).all()


def test_chelsea_eyes_are_the_two_best_regions(det):
    # pupil centres read off the photograph (451 x 300)
    pupils = [(170, 112), (315, 135)]
    top2 = det.detect([PHOTOS["chelsea"]])[0].xyxy[:2]
    hits = [[i for i, (x1, y1, x2, y2) in enumerate(top2) if x1 <= px < x2 and y1 <= py < y2]
            for px, py in pupils]
    assert sorted(h[0] for h in hits if len(h) == 1) == [0, 1], top2


def test_saliency_map_shape_range_and_dtype(det):
    img = PHOTOS["coffee"]
    smap = det.saliency_map(img)
    assert smap.shape == img.shape[:2]
    assert np.issubdtype(smap.dtype, np.floating)
    assert smap.min() >= 0.0 and smap.max() <= 1.0
    assert smap.max() > 0.9 and smap.min() < 0.1   # normalised, not flat


# ---------------------------------------------------------------------- input layouts
def test_grayscale_input_matches_replicated_rgb(det):
    gray = skimage.data.camera()
    out_gray = det.detect([gray])[0]
    out_rgb = det.detect([np.repeat(gray[:, :, None], 3, axis=2)])[0]
    assert out_gray.image_size == (512, 512)
    assert 1 <= len(out_gray) <= det.max_regions
    np.testing.assert_array_equal(out_gray.xyxy, out_rgb.xyxy)
    np.testing.assert_allclose(out_gray.scores, out_rgb.scores, atol=1e-5)
    # (H, W, 1) is grayscale too
    assert _same(det.detect([gray[:, :, None]])[0], out_gray)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_colour_is_reduced_with_bt601_luma(det, name):
    rgb = PHOTOS[name]
    luma = np.round(rgb.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    # the uint8 rounding of the luma image is the only difference
    assert np.abs(det.saliency_map(rgb) - det.saliency_map(luma)).max() < 0.01
    out_rgb, out_luma = det.detect([rgb])[0], det.detect([luma])[0]
    assert len(out_rgb) == len(out_luma)
    np.testing.assert_allclose(out_rgb.xyxy, out_luma.xyxy, atol=2)


def test_rgba_input_ignores_alpha(det):
    rgb = PHOTOS["astronaut"]
    alpha = np.random.default_rng(0).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha[:, :, None]], axis=2)
    assert _same(det.detect([rgba])[0], det.detect([rgb])[0])


@pytest.mark.parametrize("bad", [
    np.zeros((32, 32, 3), np.float32),
    np.zeros((32, 32, 3), np.uint16),
    np.zeros((32, 32, 2), np.uint8),
    np.zeros((32, 32, 3, 1), np.uint8),
    np.zeros((32,), np.uint8),
    np.zeros((0, 32, 3), np.uint8),
    [[1, 2], [3, 4]],
])
def test_bad_images_are_rejected(det, bad):
    with pytest.raises(ValueError):
        det.detect([bad])


def test_single_image_instead_of_batch_is_rejected(det):
    with pytest.raises(ValueError, match="sequence of images"):
        det.detect(PHOTOS["astronaut"])


# ---------------------------------------------------------------------- behaviour
def test_deterministic_across_calls_and_instances(det):
    img = PHOTOS["rocket"]
    first = det.detect([img])[0]
    assert _same(first, det.detect([img])[0])
    assert _same(first, SaliencyDetector().detect([img])[0])
    np.testing.assert_array_equal(det.saliency_map(img), det.saliency_map(img))


def test_batch_equals_per_image(det):
    images = [PHOTOS["astronaut"], skimage.data.camera(), PHOTOS["chelsea"], PHOTOS["coffee"]]
    batch = det.detect(images)
    assert len(batch) == len(images)
    for img, got in zip(images, batch):
        assert _same(got, det.detect([img])[0])
    # a stacked (N, H, W, C) array is a batch too
    stacked = det.detect(np.stack([PHOTOS["astronaut"], PHOTOS["astronaut"]]))
    assert _same(stacked[0], batch[0]) and _same(stacked[1], batch[0])
    assert det.detect([]) == []


def test_max_regions_keeps_the_best_prefix():
    img = PHOTOS["astronaut"]
    full = SaliencyDetector(max_regions=100).detect([img])[0]
    assert len(full) > 2
    for k in (1, 2):
        out = SaliencyDetector(max_regions=k).detect([img])[0]
        assert len(out) == k
        assert _same(out, full[np.arange(k)])


def test_min_area_frac_drops_small_boxes():
    img = PHOTOS["astronaut"]
    area = 512 * 512
    full = SaliencyDetector(max_regions=100, min_area_frac=0.0).detect([img])[0]
    frac = 0.02
    big = SaliencyDetector(max_regions=100, min_area_frac=frac).detect([img])[0]
    expected = full[full.areas >= frac * area]
    assert 0 < len(big) < len(full)           # the setting really removes something
    assert (big.areas >= frac * area).all()
    assert _same(big, expected)


def test_boxes_from_a_known_map(monkeypatch):
    """Exclusive x2/y2, 8-connectivity, mean-saliency scores, area filter and tie order."""
    det = SaliencyDetector(threshold=0.5, min_area_frac=0.004, max_regions=5)  # 20 px
    smap = np.zeros((50, 100), np.float32)
    smap[5:10, 10:20] = 0.8                 # A: columns 10..19, rows 5..9 -> [10, 5, 20, 10]
    smap[30, 40] = smap[31, 41] = 1.0       # B: two diagonal pixels, one 8-connected component
    smap[32:35, 42:45] = 1.0                #    joined diagonally to a 3x3 block
    smap[40:46, 70:80] = 0.8                # C: same score as A, larger box -> ranks before A
    smap[0, 99] = 1.0                       # D: 1 pixel, area 1 < 20 -> dropped
    smap[20:25, 60:66] = 0.5                # E: not strictly above the threshold -> ignored
    monkeypatch.setattr(det, "_full_map", lambda gray: smap)
    out = det.detect([np.zeros((50, 100), np.uint8)])[0]
    assert out.image_size == (100, 50)
    np.testing.assert_array_equal(out.xyxy, [[40, 30, 45, 35], [70, 40, 80, 46], [10, 5, 20, 10]])
    np.testing.assert_allclose(out.scores, [1.0, 0.8, 0.8], rtol=1e-6)


# ---------------------------------------------------------------------- construction
@pytest.mark.parametrize("kwargs, match", [
    ({"resize_width": 7}, "resize_width"),
    ({"resize_width": 64.0}, "resize_width"),
    ({"resize_width": True}, "resize_width"),
    ({"blur_sigma": -1.0}, "blur_sigma"),
    ({"blur_sigma": float("nan")}, "blur_sigma"),
    ({"threshold": 0.0}, "threshold"),
    ({"threshold": 1.0}, "threshold"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": "0.5"}, "threshold"),
    ({"min_area_frac": -0.001}, "min_area_frac"),
    ({"min_area_frac": 1.0}, "min_area_frac"),
    ({"max_regions": 0}, "max_regions"),
    ({"max_regions": 2.5}, "max_regions"),
    ({"label_name": ""}, "label_name"),
    ({"label_name": 3}, "label_name"),
])
def test_invalid_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SaliencyDetector(**kwargs)


def test_parameters_are_keyword_only_and_stored():
    with pytest.raises(TypeError):
        SaliencyDetector(64)  # type: ignore[misc]
    det = SaliencyDetector(resize_width=32, blur_sigma=0, threshold=0.3, min_area_frac=0,
                           max_regions=3, label_name="object")
    assert (det.resize_width, det.blur_sigma, det.threshold) == (32, 0.0, 0.3)
    assert (det.min_area_frac, det.max_regions, det.label_name) == (0.0, 3, "object")
    out = det.detect([PHOTOS["coffee"]])[0]
    assert 1 <= len(out) <= 3 and set(out.label_names) == {"object"}


def test_docstring_first_line_is_a_summary():
    first = SaliencyDetector.__doc__.strip().splitlines()[0]
    assert first and len(first) <= 100 and "saliency" in first.lower()
