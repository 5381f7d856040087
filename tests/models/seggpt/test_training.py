"""The fine-tuning recipe's pieces: random repaint, mask_ratio, the pair canvas, smooth-L1 (beta 0.01), IoU."""
from __future__ import annotations

import math

import numpy as np
import pytest

from regionkit.models.segmentation.seggpt.canvas import normalize
from regionkit.models.segmentation.seggpt.palette import paint
from regionkit.models.segmentation.seggpt.training import (
    class_iou_counts,
    foreground_iou_counts,
    iou,
    make_pair,
    random_palette,
    random_patch_mask,
    repaint_pair,
    training_patch_mask,
)
from tests.models.seggpt.support import TINY, photo, photo_mask


def test_repaint_draws_fresh_shared_colours_per_sample():
    rng = np.random.default_rng(0)
    a = np.array([[0, 1], [2, 1]])
    b = np.array([[2, 2], [0, 0]])
    seen = set()
    for _ in range(20):
        top, bottom, palette = repaint_pair(a, b, 2, rng)
        assert palette.shape == (3, 3) and palette.dtype == np.uint8
        np.testing.assert_array_equal(top[0, 0], bottom[1, 0])  # background painted alike in both images
        np.testing.assert_array_equal(top[1, 0], bottom[0, 0])  # class 2 alike
        seen.add(tuple(palette[1]))
    assert len(seen) == 20  # a new palette every sample
    black = random_palette(3, rng, background="black")
    assert black[0].tolist() == [0, 0, 0]
    fixed = random_palette(1, rng, background=(10, 20, 30))
    assert fixed[0].tolist() == [10, 20, 30]
    with pytest.raises(ValueError, match="num_classes is 1"):
        repaint_pair(a, b, 1, rng)


def test_random_backgrounds_vary_and_colours_keep_apart():
    rng = np.random.default_rng(1)
    palettes = [random_palette(4, rng) for _ in range(50)]
    assert len({tuple(p[0]) for p in palettes}) > 40  # upstream: the background is random too
    for p in palettes:
        d = np.linalg.norm(p[:, None].astype(float) - p[None].astype(float), axis=-1)
        assert d[~np.eye(5, dtype=bool)].min() >= 30


@pytest.mark.parametrize("ratio, expected", [(0.75, 1176), (0.4, 627), (0.0, 0), (1.0, 1568)])
def test_mask_ratio_masks_exactly_that_many_patches_over_both_halves(ratio, expected):
    rng = np.random.default_rng(2)
    mask = random_patch_mask(1568, ratio, rng)
    assert mask.sum() == expected
    if 0 < ratio < 1:
        assert mask[:784].any() and mask[784:].any()
    with pytest.raises(ValueError, match="mask_ratio"):
        random_patch_mask(10, 1.5, rng)


def test_same_class_pairs_get_the_half_mask_only_when_asked():
    rng = np.random.default_rng(3)
    half = training_patch_mask((56, 28), 0.75, rng, same_class=True, half_for_same_class=True)
    assert not half[:784].any() and half[784:].all()
    assert training_patch_mask((56, 28), 0.75, rng, same_class=True).sum() == 1176


def test_make_pair_stacks_prompt_over_query_without_new_colours():
    image = photo("coffee")
    ids = (photo_mask(image) > 0).astype(np.int64)
    palette = np.array([[12, 200, 40], [250, 3, 90]], np.uint8)
    colours = paint(ids, palette)
    img, lab = make_pair(image, colours, image[::-1], colours[::-1], (32, 32))
    assert img.shape == lab.shape == (3, 64, 32)
    allowed = {tuple(np.round(normalize(palette[None])[:, 0, i], 5)) for i in range(2)}
    found = {tuple(np.round(v, 5)) for v in lab.reshape(3, -1).T}
    assert found <= allowed


def test_smooth_l1_on_masked_patches_is_transformers_loss(one_thread):
    torch = pytest.importorskip("torch")
    from regionkit.models.segmentation.seggpt.training import masked_smooth_l1
    from tests.models.seggpt.support import tiny_model

    net = tiny_model(seed=2)
    h, w = TINY["image_size"][0] // 2, TINY["image_size"][1]
    g = torch.Generator().manual_seed(0)
    q, p, pm, lab = (torch.randn(2, 3, h, w, generator=g) for _ in range(4))
    rows, cols = TINY["image_size"][0] // TINY["patch_size"], w // TINY["patch_size"]
    rng = np.random.default_rng(0)
    mask = torch.from_numpy(np.stack([random_patch_mask(rows * cols, 0.75, rng) for _ in range(2)]))
    out = net(pixel_values=q, prompt_pixel_values=p, prompt_masks=pm, labels=lab, bool_masked_pos=mask)
    target = torch.cat([pm, lab], dim=2)
    ours = masked_smooth_l1(out.pred_masks, target, mask, TINY["patch_size"], beta=0.01)
    torch.testing.assert_close(ours, out.loss, rtol=1e-5, atol=1e-6)
    # only masked pixels count: changing the target on visible patches leaves the loss unchanged
    visible = ~mask.reshape(2, rows, cols).repeat_interleave(8, 1).repeat_interleave(8, 2)[:, None].expand_as(target)
    changed = torch.where(visible, target + 5.0, target)
    torch.testing.assert_close(masked_smooth_l1(out.pred_masks, changed, mask, 8), ours)
    assert float(masked_smooth_l1(out.pred_masks, target, mask, 8, beta=1.0).detach()) != pytest.approx(float(ours.detach()))


def _canvas(gt_ids, palette):
    return normalize(paint(gt_ids, palette))


def test_foreground_iou_scores_the_query_half_by_default():
    palette = np.array([[30, 30, 30], [220, 40, 40]], np.uint8)
    gt = np.zeros((8, 4), np.int64)
    gt[1:3, :] = 1   # prompt half: 8 px foreground
    gt[5:7, :2] = 1  # query half: 4 px
    pred_ids = gt.copy()
    pred_ids[5:7, 2:] = 1  # 4 false-positive px in the query half
    pred = _canvas(pred_ids, palette)
    assert foreground_iou_counts(pred, gt, palette) == (4, 8)
    assert foreground_iou_counts(pred, gt, palette, exclude_prompt=False) == (12, 16)  # the visible half inflates it
    inter, union = class_iou_counts(pred, gt, palette, 1)
    assert inter.tolist() == [8, 4] and union.tolist() == [12, 8]
    assert iou(inter, union) == pytest.approx(0.5)
    assert iou(inter, union, skip_background=False) == pytest.approx((8 / 12 + 0.5) / 2)
    assert iou(4, 8) == 0.5 and math.isnan(iou(0, 0))


def test_decoding_uses_the_samples_palette():
    """A blurry prediction between colours is decoded to the nearest colour of that sample's palette."""
    palette = np.array([[0, 0, 255], [255, 255, 0]], np.uint8)
    gt = np.zeros((4, 2), np.int64)
    gt[2:, 0] = 1
    rgb = paint(gt, palette).astype(np.float32) * 0.8 + 25  # washed out
    pred = normalize(np.clip(rgb, 0, 255).astype(np.uint8))
    assert foreground_iou_counts(pred, gt, palette) == (2, 2)
