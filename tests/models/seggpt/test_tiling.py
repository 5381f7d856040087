"""Tiled inference: tile and seam-crop geometry, the feathered blend, and tiled prediction on the tiny model."""
from __future__ import annotations

import numpy as np
import pytest

from regionkit.models.segmentation.seggpt.tiling import PromptBatch, prepare_prompts, seam_crops, tile_origins

SIZE = (16, 16)  # the tiny model's image; 8-pixel patches -> 2 x 2 patches per tile


def test_tiles_cover_the_canvas_row_major():
    assert tile_origins(2, SIZE) == [(0, 0), (0, 16), (16, 0), (16, 16)]
    assert len(tile_origins(3, SIZE)) == 9


@pytest.mark.parametrize("split, expected", [(1, 0), (2, 5), (3, 16), (4, 33)])
def test_seam_crop_counts(split, expected):
    """s(s-1) vertical + s(s-1) horizontal + (s-1)^2 crossing crops: 5 for split 2, as in the forks."""
    assert len(seam_crops(split, (448, 448), 16, 4)) == expected


def test_seam_crops_are_centred_on_the_seams_and_feathered():
    crops = seam_crops(2, (448, 448), 16, 4)
    vertical = crops[0]
    assert (vertical.y, vertical.x) == (0, 224)  # centred on x = 448
    cols = np.flatnonzero(vertical.band.any(axis=0))
    assert cols.tolist() == list(range(10, 18))  # stitch_width 4 patches each side of column 14
    row = vertical.weight[0]
    assert row.max() <= 1 and row[224 - 65] == 0 and row[224 - 64] < 0.02 and row[224 + 63] < 0.02 and row[223] > 0.98
    assert np.all(vertical.weight[:, ~np.repeat(vertical.band.any(axis=0), 16)] == 0)
    cross = crops[-1]
    assert (cross.y, cross.x) == (224, 224) and cross.band.sum() > vertical.band.sum()
    for crop in crops:  # every crop lies inside the 896 x 896 working canvas
        assert 0 <= crop.y <= 448 and 0 <= crop.x <= 448


def test_prompts_are_tiled_alike():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    ids = np.zeros((40, 60), np.int64)
    ids[:, 30:] = 1
    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    whole = prepare_prompts([image], [ids], palette, SIZE, split=2, tile_prompts=False)
    tiled = prepare_prompts([image, image], [ids, ids], palette, SIZE, split=2)
    assert len(whole) == 1 and len(tiled) == 8 and tiled.images.shape == (8, 3, 16, 16)
    # tile 0 is the left half (background), tile 1 the right half (class 1, white)
    assert tiled.masks[0].max() < 0 < tiled.masks[1].min()


def test_tiled_prediction_on_the_tiny_model(tiny_seggpt_dir, one_thread):
    pytest.importorskip("torch")
    from regionkit.models.segmentation.seggpt.model import SegGptNet, load_seggpt
    from regionkit.models.segmentation.seggpt.tiling import predict_tiled

    net = SegGptNet(load_seggpt(tiny_seggpt_dir).net)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    ids = (rng.random((50, 70)) > 0.5).astype(np.int64)
    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    one = predict_tiled(net, image, prepare_prompts([image], [ids], palette, SIZE), split=1)
    assert one.shape == (3, 16, 16)
    batch = prepare_prompts([image], [ids], palette, SIZE, split=2)
    plain = predict_tiled(net, image, batch, split=2, seam_pass=False)
    seamed = predict_tiled(net, image, batch, split=2, stitch_width=1, seam_pass=True)
    assert plain.shape == seamed.shape == (3, 32, 32)
    changed = np.abs(seamed - plain).max(axis=0) > 1e-6
    assert changed.any()
    # only pixels within one patch (8 px) of a seam line (16) are redrawn
    far = np.ones((32, 32), bool)
    far[8:24, :] = False
    far[:, 8:24] = False
    assert not changed[far].any()
    assert isinstance(batch, PromptBatch)
