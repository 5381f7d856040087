"""RoI Align on token grids: FG-CLIP semantics, the spec's table, exactness of both backends, edge cases."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import roi_align

from regionkit.models.region_features import separable
from regionkit.models.region_features.embedder import RegionEmbedder
from regionkit.models.region_features.grid import boxes_norm_to_grid
from regionkit.models.region_features.roi import roi_align_tokens

BACKENDS = ("separable", "torchvision")


def coordinate_tokens(h: int = 16, w: int = 16, cls: bool = True) -> torch.Tensor:
    """``[1, (1+) h*w, 3]`` tokens whose channels are (x, y, 100y + x) of the patch (spec §2.2)."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    patches = torch.stack([x, y, 100 * y + x], -1).reshape(1, h * w, 3)
    return torch.cat([torch.full((1, 1, 3), 1e6, dtype=torch.float64), patches], 1) if cls else patches


def random_boxes(gen: torch.Generator, count: int, size: float, spread: float = 1.3) -> torch.Tensor:
    """Boxes in grid units, some partly or wholly outside the grid, some thin, some zero-area."""
    xy = (torch.rand(count, 2, generator=gen, dtype=torch.float64) * spread - (spread - 1) / 2) * size
    wh = torch.rand(count, 2, generator=gen, dtype=torch.float64) * size * 0.8
    wh[::7] = 0.0
    wh[3::11, 0] = 0.01
    return torch.cat([xy, xy + wh], 1)


def per_image_loop(tokens: torch.Tensor, boxes: list[torch.Tensor], side: int) -> torch.Tensor:
    """The fork's extract_region_features pattern: one roi_align call per image."""
    out = []
    for i, image_boxes in enumerate(boxes):
        fmap = tokens[i, 1:].reshape(side, side, -1).permute(2, 0, 1)[None].float()
        rois = torch.cat([torch.zeros(len(image_boxes), 1), image_boxes.float()], 1)
        out.append(roi_align(fmap, rois, (1, 1), 1.0, -1, True)[..., 0, 0])
    return torch.cat(out)


# ---------------------------------------------------------------------- the spec's values
@pytest.mark.parametrize("backend", BACKENDS)
def test_spec_table_values(backend):
    boxes_norm = torch.tensor([[.25, .25, .75, .75], [0, 0, 1, 1], [0, 0, .1, .1], [.9, .9, 1, 1],
                               [.5, .2, .5, .8], [0, 0, 0, 0]], dtype=torch.float64)
    regions = roi_align_tokens(coordinate_tokens(), [boxes_norm_to_grid(boxes_norm, (16, 16))], backend=backend)
    expected = torch.tensor([[7.5, 7.5, 757.5], [7.5, 7.5, 757.5], [0.35, 0.35, 35.35], [14.65, 14.65, 1479.65],
                             [0, 0, 0], [0, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(regions.features, expected, rtol=0, atol=1e-9)
    assert regions.valid.tolist() == [True, True, True, True, False, False]
    assert regions.owner.tolist() == [0] * 6 and not regions.fallback.any()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hw", [(16, 16), (7, 12), (1, 5), (1, 1)])
def test_whole_image_box_is_exactly_the_patch_mean(backend, hw):
    h, w = hw
    tokens = torch.randn(3, 1 + h * w, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(h * w))
    regions = roi_align_tokens(tokens, [[[0.0, 0.0, w, h]]] * 3, grid_size=hw, backend=backend)
    torch.testing.assert_close(regions.features, tokens[:, 1:].mean(1), rtol=0, atol=1e-13)


def test_images_without_boxes_default_to_the_patch_mean():
    tokens = torch.randn(3, 257, 4, dtype=torch.float64)
    boxes = [torch.zeros(0, 4), torch.tensor([[1.0, 2.0, 9.0, 7.0]]), []]
    regions = roi_align_tokens(tokens, boxes)
    assert regions.owner.tolist() == [0, 1, 2] and regions.fallback.tolist() == [True, False, True]
    torch.testing.assert_close(regions.features[[0, 2]], tokens[[0, 2], 1:].mean(1), rtol=0, atol=1e-13)
    skipped = roi_align_tokens(tokens, boxes, empty="skip")
    assert skipped.owner.tolist() == [1] and skipped.counts().tolist() == [0, 1, 0]
    torch.testing.assert_close(skipped.features, regions.features[1:2])
    none = roi_align_tokens(tokens, [[], [], []], empty="skip")
    assert none.features.shape == (0, 4)


def test_packed_boxes_with_owner_index():
    tokens = torch.randn(3, 17, 2, dtype=torch.float64)
    boxes = torch.tensor([[0, 0, 2, 2], [1, 1, 4, 3], [0.5, 0.5, 3, 3.5]], dtype=torch.float64)
    packed = roi_align_tokens(tokens, boxes, owner=torch.tensor([2, 0, 2]))
    assert packed.owner.tolist() == [2, 0, 2, 1] and packed.fallback.tolist() == [False, False, False, True]
    listed = roi_align_tokens(tokens, [boxes[1:2], [], boxes[[0, 2]]])
    torch.testing.assert_close(packed.features[[1, 3, 0, 2]], listed.features)
    with pytest.raises(ValueError, match="owner"):
        roi_align_tokens(tokens, boxes, owner=torch.tensor([0, 3, 1]))


# ---------------------------------------------------------------------- exactness and batching
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_separable_equals_torchvision_on_random_and_edge_boxes(dtype):
    gen = torch.Generator().manual_seed(3)
    h, w = 9, 13
    tokens = torch.randn(4, 1 + h * w, 6, generator=gen, dtype=torch.float64).to(dtype)
    boxes = [random_boxes(gen, k, 12.0) for k in (17, 1, 9, 30)]
    boxes[1] = torch.tensor([[-5.0, -5.0, 40.0, 50.0]])  # far larger than the grid
    a = roi_align_tokens(tokens, boxes, grid_size=(h, w), backend="separable")
    b = roi_align_tokens(tokens, boxes, grid_size=(h, w), backend="torchvision")
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(a.features, b.features, rtol=0, atol=tol)
    assert torch.equal(a.valid, b.valid)


COORD = st.floats(-4.0, 12.0, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(h=st.integers(1, 6), w=st.integers(1, 6), boxes=st.lists(st.tuples(COORD, COORD, COORD, COORD), max_size=6))
def test_separable_equals_torchvision_property(h, w, boxes):
    tokens = torch.randn(1, 1 + h * w, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(h * 7 + w))
    grid_boxes = [torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4)]
    a = roi_align_tokens(tokens, grid_boxes, grid_size=(h, w), backend="separable")
    b = roi_align_tokens(tokens, grid_boxes, grid_size=(h, w), backend="torchvision")
    torch.testing.assert_close(a.features, b.features, rtol=0, atol=1e-12)


def test_separable_gradients_equal_torchvision():
    gen = torch.Generator().manual_seed(4)
    tokens = torch.randn(3, 26, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    boxes = [random_boxes(gen, k, 5.0) for k in (4, 2, 6)]
    weights = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    grads = []
    for backend in BACKENDS:
        out = roi_align_tokens(tokens, boxes, backend=backend).features
        grads.append(torch.autograd.grad((out * weights).sum(), tokens)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-12)


def test_very_large_boxes_take_the_torchvision_path(monkeypatch):
    monkeypatch.setattr(separable, "MAX_SAMPLES_PER_AXIS", 8)
    gen = torch.Generator().manual_seed(5)
    tokens = torch.randn(2, 17, 3, generator=gen, dtype=torch.float64)
    boxes = [torch.tensor([[-3.0, -2.0, 9.0, 4.0], [0.5, 0.5, 2.0, 3.0]], dtype=torch.float64),
             torch.tensor([[-20.0, -20.0, 30.0, 30.0]], dtype=torch.float64)]
    a = roi_align_tokens(tokens, boxes, backend="separable")
    b = roi_align_tokens(tokens, boxes, backend="torchvision")
    torch.testing.assert_close(a.features, b.features, rtol=0, atol=1e-12)


def test_one_batched_call_equals_a_per_image_loop():
    gen = torch.Generator().manual_seed(6)
    tokens = torch.randn(8, 257, 32, generator=gen)
    boxes = []
    for i in range(8):
        xy = torch.rand(1 + i % 5, 2, generator=gen) * 10
        boxes.append(torch.cat([xy, xy + 1 + torch.rand(1 + i % 5, 2, generator=gen) * 5], 1))
    expected = per_image_loop(tokens, boxes, 16)
    for backend in BACKENDS:
        got = roi_align_tokens(tokens, boxes, backend=backend)
        torch.testing.assert_close(got.features, expected, rtol=0, atol=1e-5)
        assert got.counts().tolist() == [len(b) for b in boxes]


def test_half_precision_tokens_are_computed_in_fp32():
    tokens = torch.randn(2, 17, 8)
    boxes = [[[0.3, 0.2, 3.1, 2.9]], [[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 1.0, 3.0]]]
    for dtype in (torch.float16, torch.bfloat16):
        low = tokens.to(dtype)
        regions = roi_align_tokens(low, boxes)
        assert regions.features.dtype == torch.float32
        torch.testing.assert_close(regions.features, roi_align_tokens(low.float(), boxes).features, rtol=0, atol=0)


def test_degenerate_and_outside_boxes_give_zeros_never_nan():
    tokens = torch.randn(1, 17, 4)
    bad = torch.tensor([[1.0, 1.0, 1.0, 3.0], [2.0, 2.0, 2.0, 2.0], [-9.0, -9.0, -2.0, -2.0], [7.0, 7.0, 9.0, 9.0],
                        [float("nan"), 0.0, 1.0, 1.0], [0.0, float("inf"), 1.0, 1.0], [3.0, 3.0, 1.0, 1.0],
                        [0.0, 2.0, 1.0, 1.0]])  # the last is inverted on one axis only: torchvision itself fails
    for backend in BACKENDS:
        regions = roi_align_tokens(tokens, [bad], backend=backend)
        assert torch.isfinite(regions.features).all()
        assert torch.equal(regions.features, torch.zeros_like(regions.features))
        assert not regions.valid.any()
    embedded = RegionEmbedder(4, 3)(tokens, [bad])
    assert torch.isfinite(embedded.features).all()


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(7)
    tokens = torch.randn(2, 10, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    boxes = [torch.tensor([[0.2, 0.1, 2.7, 1.9], [0.0, 0.0, 3.0, 3.0]], dtype=torch.float64),
             torch.tensor([[1.1, 0.4, 1.9, 2.6]], dtype=torch.float64)]
    for backend in BACKENDS:
        assert torch.autograd.gradcheck(lambda t, b=backend: roi_align_tokens(t, boxes, backend=b).features,
                                        (tokens,), fast_mode=True)


def test_deterministic():
    gen = torch.Generator().manual_seed(8)
    tokens = torch.randn(4, 257, 16, generator=gen)
    boxes = [random_boxes(gen, 5, 16.0).float() for _ in range(4)]
    first = roi_align_tokens(tokens, boxes).features
    assert torch.equal(first, roi_align_tokens(tokens, boxes).features)


def test_projection_commutes_with_roi_align_for_in_image_boxes():
    gen = torch.Generator().manual_seed(9)
    tokens = torch.randn(2, 50, 6, generator=gen, dtype=torch.float64)
    proj = torch.nn.Linear(6, 3).double()
    boxes = [torch.tensor([[0.0, 0.0, 7.0, 7.0], [1.3, 2.2, 5.9, 6.1]], dtype=torch.float64),
             torch.tensor([[0.5, 0.5, 1.5, 6.5]], dtype=torch.float64)]
    with torch.no_grad():
        after = proj(roi_align_tokens(tokens, boxes).features)
        before = roi_align_tokens(proj(tokens), boxes).features
    torch.testing.assert_close(after, before, rtol=0, atol=1e-12)


def test_invalid_boxes_can_be_dropped_and_sources_are_kept():
    tokens = torch.randn(3, 17, 4, dtype=torch.float64)
    boxes = [[[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 1.0, 3.0], [0.5, 0.5, 3.0, 3.0]], [[9.0, 9.0, 10.0, 10.0]], []]
    kept = roi_align_tokens(tokens, boxes)
    assert kept.source.tolist() == [0, 1, 2, 0, -1] and kept.valid.tolist() == [True, False, True, False, True]
    dropped = roi_align_tokens(tokens, boxes, invalid="drop")
    assert dropped.owner.tolist() == [0, 0, 1, 2] and dropped.source.tolist() == [0, 2, -1, -1]
    assert dropped.fallback.tolist() == [False, False, True, True] and dropped.valid.all()
    torch.testing.assert_close(dropped.features[2], tokens[1, 1:].mean(0), rtol=0, atol=1e-13)


def test_region_embedder_unit_vectors_and_gradients():
    embedder = RegionEmbedder(8, 5)
    tokens = torch.randn(3, 17, 8, requires_grad=True)
    out = embedder(tokens, [[[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0]], [], [[1.0, 0.5, 3.5, 4.0]]])
    assert out.features.shape == (3, 5) and out.owner.tolist() == [0, 1, 2]  # the zero-area box is dropped
    assert out.fallback.tolist() == [False, True, False]
    torch.testing.assert_close(out.features.norm(dim=-1), torch.ones(3))
    out.features.sum().backward()
    assert tokens.grad is not None and torch.isfinite(tokens.grad).all()
    kept = RegionEmbedder(8, 5, invalid="keep", bias=False)(tokens, [[[1.0, 1.0, 1.0, 1.0]], [], []])
    assert torch.equal(kept.features[0], torch.zeros(5))  # zero feature, eps: zero embedding, no NaN
