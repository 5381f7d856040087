"""Box mapping through preprocessing: the spec's worked examples and painted rectangles through the REAL transforms."""
from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from regionkit.models.region_features.box_mapping import map_boxes, map_boxes_norm, map_boxes_norm_batch
from regionkit.models.region_features.geometry import (
    center_crop_geometry,
    preprocess_geometry,
    resize_short_side_geometry,
    squarepad_pad,
    targetpad_pad,
)
from tests.models.region_features.sprc_transforms import (
    SquarePad,
    TargetPad,
    plain_resize_pipeline,
    squarepad_pipeline,
    targetpad_pipeline,
)

PIPELINES = {"targetpad": targetpad_pipeline, "squarepad": squarepad_pipeline, "resize": plain_resize_pipeline}


# ---------------------------------------------------------------------- spec §3.1 worked examples
def test_spec_worked_examples():
    wide = map_boxes_norm([[0.1, 0.2, 0.5, 0.9]], (640, 360), "targetpad")
    torch.testing.assert_close(wide.boxes_norm, torch.tensor([[0.0, 0.2890625, 0.5, 0.78125]], dtype=torch.float64),
                               rtol=0, atol=1e-12)
    assert wide.valid.tolist() == [True]
    tall = map_boxes_norm([[0.0, 0.0, 1.0, 1.0]], (375, 500), "targetpad")
    torch.testing.assert_close(tall.boxes_norm, torch.tensor([[12 / 399, 0.0, 387 / 399, 1.0]], dtype=torch.float64),
                               rtol=0, atol=1e-12)
    assert round(float(tall.boxes_norm[0, 0]), 4) == 0.0301 and round(float(tall.boxes_norm[0, 2]), 4) == 0.9699


def test_intermediate_sizes_of_the_worked_example():
    assert targetpad_pad((640, 360)) == (0, 76)
    assert resize_short_side_geometry((640, 512), 224).out_size == (280, 224)
    crop = center_crop_geometry((280, 224), (224, 224))
    assert (crop.ox, crop.oy) == (-28.0, 0.0)


# ---------------------------------------------------------------------- pad rules equal SPRC's transforms
@pytest.mark.parametrize("size", [(640, 360), (375, 500), (301, 283), (250, 200), (200, 250), (1001, 211), (3, 97),
                                  (224, 224), (225, 180), (181, 226)])
def test_pad_rules_match_the_transforms(size):
    image = PIL.Image.new("RGB", size)
    hp, vp = targetpad_pad(size)
    assert TargetPad(1.25, 224)(image).size == (size[0] + 2 * hp, size[1] + 2 * vp)
    hp, vp = squarepad_pad(size)
    assert SquarePad(224)(image).size == (size[0] + 2 * hp, size[1] + 2 * vp)
    for name, pipeline in PIPELINES.items():
        assert pipeline()(image).size == preprocess_geometry(size, name).out_size == (224, 224)


# ---------------------------------------------------------------------- painted rectangles through the real pipeline
def painted(size: tuple[int, int], rect: tuple[int, int, int, int]) -> PIL.Image.Image:
    """A grey image with a red rectangle covering pixel columns x1..x2-1 and rows y1..y2-1."""
    w, h = size
    array = np.full((h, w, 3), 90, dtype=np.uint8)
    array[..., 0] = 0
    x1, y1, x2, y2 = rect
    array[y1:y2, x1:x2] = (255, 90, 90)
    return PIL.Image.fromarray(array)


def measured_box(image: PIL.Image.Image) -> tuple[int, int, int, int] | None:
    """The red rectangle's extent in continuous coordinates (half-intensity threshold), or None if absent."""
    red = np.asarray(image)[..., 0] > 127
    if not red.any():
        return None
    ys, xs = np.nonzero(red)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


CASES = [  # (image size, painted rectangle in pixels)
    ((641, 359), (97, 41, 402, 300)),       # wide: TargetPad pads top and bottom, crop trims left/right
    ((359, 641), (20, 133, 300, 611)),      # tall
    ((301, 283), (0, 0, 150, 141)),         # ratio < 1.25: no padding, corner rectangle
    ((1001, 211), (480, 10, 640, 201)),     # very wide
    ((333, 500), (33, 50, 333, 500)),       # touches the right and bottom edges
    ((517, 389), (1, 388 - 120, 257, 388)),
]


@pytest.mark.parametrize("name", sorted(PIPELINES))
@pytest.mark.parametrize(("size", "rect"), CASES)
def test_mapped_box_lands_on_the_painted_rectangle(name, size, rect):
    out = PIPELINES[name]()(painted(size, rect))
    w, h = size
    box_norm = torch.tensor([[rect[0] / w, rect[1] / h, rect[2] / w, rect[3] / h]], dtype=torch.float64)
    mapped = map_boxes_norm(box_norm, size, name)
    seen = measured_box(out)
    assert seen is not None and mapped.valid.tolist() == [True]
    assert np.abs(np.array(seen) - mapped.boxes[0].numpy()).max() <= 1.0, (seen, mapped.boxes[0].tolist())


def test_rectangle_cropped_away_is_flagged():
    size, rect = (1000, 300), (0, 100, 50, 200)  # left 5 %: TargetPad -> 1000x400 -> 560x224, crop drops 168 px
    out = targetpad_pipeline()(painted(size, rect))
    assert measured_box(out) is None
    mapped = map_boxes_norm([[0.0, 1 / 3, 0.05, 2 / 3]], size, "targetpad")
    assert mapped.valid.tolist() == [False] and float(mapped.boxes[0, 2] - mapped.boxes[0, 0]) == 0.0


def test_degenerate_boxes_are_flagged_and_clipped():
    boxes = [[0.2, 0.2, 0.4, 0.4], [0.5, 0.5, 0.5, 0.7], [0.6, 0.6, 0.3, 0.7], [float("nan"), 0, 1, 1],
             [-0.5, -0.5, 1.5, 1.5], [0.1, 0.1, 0.1001, 0.5]]
    mapped = map_boxes_norm(boxes, (400, 400), "resize", min_size=0.5)
    assert mapped.valid.tolist() == [True, False, False, False, True, False]
    assert torch.isfinite(mapped.boxes).all()
    assert mapped.boxes[4].tolist() == [0.0, 0.0, 224.0, 224.0]
    assert mapped.boxes.min() >= 0 and mapped.boxes.max() <= 224


def test_grid_units_and_custom_geometry():
    mapped = map_boxes_norm([[0.25, 0.25, 0.75, 0.75]], (300, 300), "squarepad")
    torch.testing.assert_close(mapped.to_grid((16, 16)), torch.tensor([[4.0, 4.0, 12.0, 12.0]], dtype=torch.float64))
    geometry = preprocess_geometry((640, 360), "resize_center_crop")
    direct = map_boxes(torch.tensor([[320.0, 0.0, 640.0, 360.0]]), geometry)
    assert direct.boxes.dtype == torch.float32 and direct.size == (224, 224)
    assert direct.boxes[0].tolist() == pytest.approx([320 * 398 / 640 - 87, 0.0, 224.0, 224.0])
    with pytest.raises(ValueError, match="not"):
        map_boxes_norm([[0, 0, 1, 1]], (100, 100), geometry)


def test_batch_mapping_equals_per_image_mapping():
    gen = torch.Generator().manual_seed(0)
    sizes = [(640, 360), (375, 500), (301, 283), (1000, 300), (224, 224)]
    # sorted values give x1 <= y1 <= x2 <= y2 per row: ordered boxes, some thin; the last list has an inverted one
    boxes = [torch.rand(k, 4, generator=gen, dtype=torch.float64).sort(-1).values[:, [0, 1, 2, 3]] for k in (3, 0, 1, 4)]
    boxes.append(torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.6, 0.5, 0.2, 0.9]], dtype=torch.float64))
    for name in ("targetpad", "squarepad", "resize", "resize_center_crop"):
        batch = map_boxes_norm_batch(boxes, sizes, name)
        for b, size, got in zip(boxes, sizes, batch):
            one = map_boxes_norm(b, size, name)
            torch.testing.assert_close(got.boxes, one.boxes, rtol=0, atol=1e-9)
            assert torch.equal(got.valid, one.valid) and got.size == one.size
