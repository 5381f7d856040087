"""Token grids: CLS detection, grid sizes, box unit conversions, packing."""
from __future__ import annotations

import pytest
import torch

from regionkit.models.region_features.grid import (
    boxes_norm_to_grid,
    boxes_pixels_to_grid,
    infer_grid,
    pack_boxes,
    tokens_to_grid,
)


@pytest.mark.parametrize(("n", "expected"), [
    (257, (16, 16, True)),      # SPRC: CLS + 16x16 at 224 px, patch 14
    (256, (16, 16, False)),
    (197, (14, 14, True)),      # ViT-B/16 @ 224
    (577, (24, 24, True)),      # ViT-L/14 @ 336
    (1, (1, 1, False)),
    (2, (1, 1, True)),
])
def test_infer_grid_detects_cls_from_the_count(n, expected):
    assert tuple(infer_grid(n)) == expected


def test_non_square_grids_need_grid_size():
    assert tuple(infer_grid(12 * 20 + 1, (12, 20))) == (12, 20, True)
    assert tuple(infer_grid(12 * 20, (12, 20))) == (12, 20, False)
    assert tuple(infer_grid(50, 7)) == (7, 7, True)
    with pytest.raises(ValueError, match="grid_size"):
        infer_grid(12 * 20 + 1)
    with pytest.raises(ValueError, match="do not fit a 12x20 grid"):
        infer_grid(250, (12, 20))


def test_has_cls_forces_the_answer_and_is_checked():
    assert tuple(infer_grid(256, has_cls=False)) == (16, 16, False)
    with pytest.raises(ValueError, match="not a square grid"):
        infer_grid(256, has_cls=True)
    with pytest.raises(ValueError, match="without a CLS token"):
        infer_grid(241, (12, 20), has_cls=False)
    with pytest.raises(ValueError):
        infer_grid(0)


def test_tokens_to_grid_is_row_major_and_drops_cls():
    h, w = 3, 5
    tokens = torch.arange(2 * (1 + h * w), dtype=torch.float32).reshape(2, 1 + h * w, 1)
    grid, spec = tokens_to_grid(tokens, (h, w))
    assert spec.has_cls and grid.shape == (2, h, w, 1)
    for y in range(h):
        for x in range(w):
            assert grid[1, y, x, 0] == tokens[1, 1 + y * w + x, 0]
    with pytest.raises(ValueError, match=r"\[B, N, D\]"):
        tokens_to_grid(tokens[0])


def test_box_unit_conversions():
    norm = torch.tensor([[0.25, 0.5, 0.75, 1.0]])
    assert torch.equal(boxes_norm_to_grid(norm, (16, 20)), torch.tensor([[5.0, 8.0, 15.0, 16.0]]))
    pixels = torch.tensor([[56.0, 112.0, 168.0, 224.0]])
    assert torch.allclose(boxes_pixels_to_grid(pixels, (224, 224), (16, 16)), torch.tensor([[4.0, 8.0, 12.0, 16.0]]))


def test_pack_boxes_gives_owner_index():
    boxes, owner = pack_boxes([[[0, 0, 1, 1], [1, 1, 2, 2]], [], torch.tensor([[2.0, 2, 3, 3]])])
    assert boxes.shape == (3, 4) and owner.tolist() == [0, 0, 2]
    empty, owner = pack_boxes([[], []])
    assert empty.shape == (0, 4) and owner.numel() == 0
    with pytest.raises(ValueError, match=r"\[K, 4\]"):
        pack_boxes([[[0, 0, 1]]])
