"""What the edge-density detector finds, on images whose answer is known."""
import re
from pathlib import Path

import numpy as np
import pytest
from regionkit_plugin_example.detectors import EdgeDensityDetector

HERE = Path(__file__).resolve().parents[1]


def textured(canvas: np.ndarray, x1: int, y1: int, x2: int, y2: int, seed: int = 0) -> None:
    """Fill a rectangle of ``canvas`` with a fine random pattern (lots of edges)."""
    rng = np.random.default_rng(seed)
    canvas[y1:y2, x1:x2] = rng.integers(0, 256, (y2 - y1, x2 - x1, 1), dtype=np.uint8)


def test_one_detailed_patch_on_a_plain_background_gets_one_box_around_it():
    image = np.full((200, 300, 3), 200, dtype=np.uint8)
    textured(image, 180, 40, 260, 140)
    (boxes,) = EdgeDensityDetector().detect([image])
    assert len(boxes) == 1 and boxes.image_size == (300, 200) and boxes.label_names == ("detailed",)
    x1, y1, x2, y2 = boxes.xyxy[0]
    assert abs(x1 - 180) <= 12 and abs(y1 - 40) <= 12 and abs(x2 - 260) <= 12 and abs(y2 - 140) <= 12


def test_denser_patch_comes_first_and_max_boxes_keeps_the_best():
    image = np.full((240, 320, 3), 128, dtype=np.uint8)
    textured(image, 20, 20, 100, 100, seed=1)                     # dense noise
    image[150:220, 200:300] = 128
    image[150:220, 200:300:8] = 64                                 # sparse stripes: fewer edges
    two = EdgeDensityDetector(threshold=0.2).detect([image])[0]
    assert len(two) == 2 and two.xyxy[0][0] < 100 and np.all(np.diff(two.scores) <= 0)
    one = EdgeDensityDetector(threshold=0.2, max_boxes=1).detect([image])[0]
    assert len(one) == 1 and np.allclose(one.xyxy, two.xyxy[:1])


def test_plain_images_give_no_boxes_and_small_regions_are_dropped():
    flat = np.full((64, 64, 3), 77, dtype=np.uint8)
    assert len(EdgeDensityDetector().detect([flat])[0]) == 0
    speck = np.full((400, 400, 3), 90, dtype=np.uint8)
    textured(speck, 200, 200, 206, 206)
    assert len(EdgeDensityDetector(min_area_frac=0.05).detect([speck])[0]) == 0


@pytest.mark.parametrize("params, message", [
    (dict(threshold=0), "threshold must be in (0, 1]"),
    (dict(window_frac=1.5), "window_frac must be in (0, 1]"),
    (dict(max_boxes=0), "max_boxes must be in [1, 1000]"),
    (dict(work_size="big"), "work_size must be an integer"),
    (dict(min_area_frac=1), "min_area_frac must be in [0, 1)"),
    (dict(label_name=""), "label_name must not be empty"),
])
def test_bad_parameters_are_refused_with_the_reason(params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EdgeDensityDetector(**params)


def test_the_example_config_resolves_to_this_detector():
    from regionkit import load_config, registry_for

    # regionkit's loader: plain mmengine does not know the regionkit:: prefix of the packaged base
    cfg = load_config(HERE / "configs" / "example_four_box.py")
    detector = registry_for("detectors").build(cfg.detector)
    assert isinstance(detector, EdgeDensityDetector) and detector.max_boxes == 6
    assert [s["type"] for s in cfg.selectors][:2] == ["patch_matters_score_filter", "neighbor_rpn_merge"]
