"""Preprocessing geometry: mmcv's rescale rounding, grey input, odd sizes, padding, rescaling back."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from regionkit.models.detectors.baron.preprocess import (
    as_rgb_uint8,
    pad_batch,
    padded_input_shape,
    prepare_image,
    rescale_size,
)

from .images import load_rgb
from .support import reference


@pytest.mark.parametrize("w,h,expected", [
    (512, 600, (800, 938)),    # spec §7: 512x600 -> 800x938
    (900, 707, (1018, 800)),   # spec §7: 900x707 -> 1018x800
    (1333, 800, (1333, 800)),
    (700, 64, (1333, 122)),
    (1, 1, (800, 800)),
    (33, 17, (1333, 687)),
    (4000, 10, (1333, 3)),
])
def test_rescale_size_matches_mmcv(w, h, expected):
    assert rescale_size(w, h)[0] == expected


def test_reference_geometry_is_reproduced():
    pytest.importorskip("cv2")
    for item in reference()["images"]:
        h, w = item["ori_shape"]
        assert list(padded_input_shape(h, w)) == item["batch_input_shape"]
        prep = prepare_image(load_rgb(item["name"]))
        assert list(prep.ori_shape) == item["ori_shape"]
        assert list(prep.img_shape) == item["img_shape"], item["name"]
        assert list(prep.scale_factor) == pytest.approx(item["scale_factor"], rel=1e-12)
        assert list(pad_batch([prep]).shape[-2:]) == item["batch_input_shape"]


def test_grey_images_become_three_identical_channels():
    pytest.importorskip("cv2")
    grey = (np.arange(37 * 53) % 251).astype(np.uint8).reshape(37, 53)
    a = prepare_image(grey)
    b = prepare_image(grey[:, :, None])
    c = prepare_image(np.repeat(grey[:, :, None], 3, axis=2))
    assert torch.equal(a.tensor, b.tensor) and torch.equal(a.tensor, c.tensor)


def test_normalisation_and_padding():
    pytest.importorskip("cv2")
    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 0] = 255
    prep = prepare_image(img)
    assert prep.img_shape == (800, 1200) and prep.scale_factor == (40.0, 40.0)
    batch = pad_batch([prep])
    assert batch.shape == (1, 3, 800, 1216)
    assert float(batch[0, 0, 0, 0]) == pytest.approx((255 - 123.675) / 58.395, rel=1e-6)
    assert float(batch[0, 1, 0, 0]) == pytest.approx(-116.28 / 57.12, rel=1e-6)
    assert float(batch[:, :, :, 1200:].abs().max()) == 0.0
    other = prepare_image(np.zeros((800, 900, 3), np.uint8))
    both = pad_batch([prep, other])
    assert both.shape[-2:] == (800, 1216) and other.img_shape == (800, 900)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                                 np.zeros((0, 4, 3), np.uint8), np.zeros((4,), np.uint8)])
def test_invalid_images_are_refused(bad):
    with pytest.raises(ValueError):
        as_rgb_uint8(bad)
    with pytest.raises(TypeError):
        as_rgb_uint8([[1, 2]])


def test_too_elongated_image_is_refused():
    pytest.importorskip("cv2")
    with pytest.raises(ValueError, match="too elongated"):
        prepare_image(np.zeros((1, 3000, 3), np.uint8))
