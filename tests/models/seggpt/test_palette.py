"""Palettes far apart, nearest-colour decoding and its margin (what box scores are made of)."""
from __future__ import annotations

import numpy as np
import pytest

from regionkit.errors import ConfigError
from regionkit.models.segmentation.seggpt.canvas import normalize
from regionkit.models.segmentation.seggpt.palette import (
    as_palette,
    build_palette,
    check_palette,
    decode,
    min_separation,
    paint,
    unnormalize,
)


def test_one_class_on_black_is_white_and_seven_classes_use_the_cube_corners():
    assert build_palette(1).tolist() == [[0, 0, 0], [255, 255, 255]]
    seven = build_palette(7)
    assert len({tuple(c) for c in seven.tolist()}) == 8
    assert set(np.unique(seven)) <= {0, 255} and min_separation(seven) >= 255


@pytest.mark.parametrize("k", [1, 2, 3, 8, 20, 63])
def test_palettes_stay_well_separated(k):
    palette = build_palette(k)
    assert palette.shape == (k + 1, 3) and palette.dtype == np.uint8
    assert palette[0].tolist() == [0, 0, 0]
    assert min_separation(palette) >= 60
    check_palette(palette)
    np.testing.assert_array_equal(palette, build_palette(k))  # deterministic


def test_a_custom_background_comes_first_and_the_classes_avoid_it():
    palette = build_palette(2, background=(255, 255, 255))
    assert palette[0].tolist() == [255, 255, 255] and min_separation(palette) >= 255


def test_transformers_two_class_palette_is_refused_ours_is_not():
    """transformers' build_palette(2) gives (255,255,255) and (255,255,127): the near-identical colours trap."""
    transformers_seggpt = pytest.importorskip("transformers.models.seggpt.image_processing_seggpt")
    theirs = np.array(transformers_seggpt.build_palette(2))
    assert min_separation(theirs) < 130
    with pytest.raises(ConfigError, match="apart in RGB") as info:
        check_palette(theirs, minimum=130)
    assert "\n" not in str(info.value)
    assert min_separation(build_palette(2)) >= 255


def test_as_palette_checks_shape_range_and_count():
    assert as_palette([[0, 0, 0], [255, 0, 0]], num_classes=1).dtype == np.uint8
    for bad, needle in [([[0, 0, 0]], "at least two"), ([[0, 0, 0], [300, 0, 0]], r"\[0, 255\]"),
                        ([[0, 0], [1, 1]], "at least two")]:
        with pytest.raises(ConfigError, match=needle):
            as_palette(bad)
    with pytest.raises(ConfigError, match="3 classes"):
        as_palette([[0, 0, 0], [255, 0, 0]], num_classes=3)


def test_decode_pure_colours_gives_their_ids_with_full_margin():
    palette = build_palette(3)
    ids = np.array([[0, 1], [2, 3]])
    labels, margin = decode(paint(ids, palette).astype(np.float32), palette)
    np.testing.assert_array_equal(labels, ids)
    np.testing.assert_allclose(margin, 1.0)


def test_margin_is_zero_halfway_and_in_unit_interval():
    palette = build_palette(1)  # black, white
    grey = np.full((1, 3, 3), 127.5, np.float32)
    _, margin = decode(grey, palette)
    np.testing.assert_allclose(margin, 0.0, atol=1e-6)
    rng = np.random.default_rng(0)
    _, margin = decode(rng.uniform(-50, 300, (20, 20, 3)).astype(np.float32), build_palette(5))
    assert margin.min() >= 0 and margin.max() <= 1
    # a quarter of the way from black to white: margin 0.5
    _, quarter = decode(np.full((1, 1, 3), 63.75, np.float32), palette)
    np.testing.assert_allclose(quarter, 0.5, atol=1e-5)


def test_ties_go_to_the_lower_class_id():
    palette = np.array([[0, 0, 0], [100, 0, 0], [0, 100, 0]], np.uint8)
    labels, _ = decode(np.array([[[100, 100, 0]]], np.float32), palette)  # as far from class 1 as from class 2
    assert labels[0, 0] == 1


def test_unnormalize_inverts_normalize():
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    back = unnormalize(normalize(rgb))
    np.testing.assert_allclose(back, rgb, atol=1e-3)
    assert unnormalize(np.full((3, 2, 2), 100.0)).max() == 255.0  # clipped


def test_paint_refuses_ids_outside_the_palette():
    with pytest.raises(ValueError, match="do not fit"):
        paint(np.array([[0, 4]]), build_palette(2))


def test_decode_matches_a_brute_force_reference():
    rng = np.random.default_rng(3)
    palette = build_palette(4)
    colours = rng.uniform(-20, 280, (9, 7, 3)).astype(np.float32)
    ids, margin = decode(colours, palette)
    for y in range(9):
        for x in range(7):
            d = [float(np.linalg.norm(colours[y, x] - c.astype(np.float64))) for c in palette]
            order = sorted(range(len(d)), key=lambda i: (d[i], i))
            gap = float(np.linalg.norm(palette[order[0]].astype(float) - palette[order[1]].astype(float)))
            assert ids[y, x] == order[0]
            assert margin[y, x] == pytest.approx(min(1.0, max(0.0, (d[order[1]] - d[order[0]]) / gap)), abs=1e-4)
