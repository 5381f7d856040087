"""Patch Matters divide-stage selectors and writers: behaviour of the original, bit for bit.

Expected values are the worked examples of the spec (§1.4, §1.5, §1.6 of
``specs/patch_matters_and_baron.md``) plus hand-computed cases.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from regionkit import ImageItem, ImageResult
from regionkit.plugins.patch_matters.geometry import (
    greedy_merge_pass,
    image_to_n_part,
    intersection_area,
    neighbor_rpn_merge,
    neighbor_rpn_merge_clean,
    patch_matters_iou,
    proposal_to_n_part,
)
from regionkit.plugins.patch_matters.selectors import NeighborRpnMerge, NPartRegions, PatchMattersScoreFilter
from regionkit.plugins.patch_matters.whole_image import WHOLE_IMAGE_LABEL
from regionkit.plugins.patch_matters.writers import (
    PatchMattersFourBoxWriter,
    PatchMattersObjectBoxWriter,
    parent_and_name,
)
from regionkit.structures.boxes import Boxes

# --------------------------------------------------------------------------- spec data
W, H = 640, 427
KEPT = [[10, 50, 300, 400], [280, 60, 330, 410], [400, 100, 620, 380], [420, 120, 600, 360], [50, 10, 120, 40]]
KEPT_NAMES = ["person", "chair", "car", "car", "bird"]
KEPT_LABELS = [0, 56, 2, 2, 14]
MERGED = [[10.0, 50.0, 300.0, 400.0], [280.0, 60.0, 330.0, 410.0],
          [400.0, 100.0, 620.0, 380.0], [50.0, 10.0, 120.0, 40.0]]
FOUR_BOX = [[0.0, 0.0, 330.0, 410.0], [320.0, 0.0, 640.0, 380.0],
            [0.0, 50.0, 330.0, 427.0], [320.0, 100.0, 640.0, 427.0]]
TWO_BOX = [[0.0, 0.0, 330.0, 427.0], [320.0, 0.0, 640.0, 427.0]]

FAR = [100, 100, 110, 110]
CHAIN = [[0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]]

IMAGE_PATH = "/abs/or/rel/coco_image/coco_sample_data_Image_Textualization/000000247929.jpg"


def _raw_detections() -> Boxes:
    """The worked example's kept boxes mixed with low-score detections, score-descending."""
    xyxy = [KEPT[0], KEPT[1], KEPT[2], KEPT[3], KEPT[4], [5, 5, 50, 50], [500, 300, 630, 420]]
    scores = [0.91, 0.82, 0.77, 0.64, 0.45, 0.3, 0.12]
    labels = [*KEPT_LABELS, 39, 60]
    names = [*KEPT_NAMES, "bottle", "dining_table"]
    return Boxes.create(xyxy, (W, H), scores=scores, labels=labels, label_names=names)


def _run_chain(detections: Boxes, path: str = IMAGE_PATH) -> ImageResult:
    kept = PatchMattersScoreFilter()(detections)
    merged = NeighborRpnMerge()(kept)
    result = ImageResult(item=ImageItem(path=path, rel_path=path.rsplit("/", 1)[-1]),
                         image_size=detections.image_size, detections=detections)
    result.regions.update(kept=kept, merged=merged, four_box=NPartRegions(n=4)(merged),
                          two_box=NPartRegions(n=2)(merged))
    return result


def _load_ordered(path: Path) -> object:
    """Load JSON keeping key order visible (objects become lists of (key, value) pairs)."""
    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=list)


# --------------------------------------------------------------------------- IoU and merge
def test_patch_matters_iou_has_zero_diagonal_and_no_plus_one() -> None:
    iou = patch_matters_iou([[0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 15, 10]])
    assert iou.shape == (3, 3)
    assert np.all(np.diag(iou) == 0.0)
    assert iou[0, 1] == 1.0  # duplicates still overlap: only the index itself is excluded
    assert iou[0, 2] == pytest.approx(50 / 150)  # no +1 pixel convention


def test_merge_spec_example_with_far_box_first_keeps_stale_union() -> None:
    out = neighbor_rpn_merge([FAR, *CHAIN], iou_threshold=0.3)
    assert out.dtype == np.float64
    assert out.tolist() == [[100.0, 100.0, 110.0, 110.0], [0.0, 0.0, 13.0, 10.0], [0.0, 0.0, 16.0, 10.0]]


def test_merge_spec_example_without_far_box_merges_fully() -> None:
    assert neighbor_rpn_merge(CHAIN, iou_threshold=0.3).tolist() == [[0.0, 0.0, 16.0, 10.0]]


def test_single_pass_reenqueues_union_at_tail_and_keeps_stale_union() -> None:
    # one pass only: the union [0,0,13,10] goes to the tail, merges again with [6,0,16,10],
    # and stays in the output as a stale box
    assert greedy_merge_pass(CHAIN, 0.3).tolist() == [[0.0, 0.0, 13.0, 10.0], [0.0, 0.0, 16.0, 10.0]]


def test_merge_skips_exact_duplicates_even_without_merging() -> None:
    # IoU 1 is not > 1.0, so nothing merges, but the repeated box is not written twice
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]]
    assert neighbor_rpn_merge(boxes, 1.0).tolist() == [[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]


def test_merge_worked_example_of_section_1_5() -> None:
    assert neighbor_rpn_merge(KEPT, 0.3).tolist() == MERGED


def test_merge_of_no_boxes_is_empty() -> None:
    assert neighbor_rpn_merge([], 0.3).shape == (0, 4)
    assert neighbor_rpn_merge_clean([], 0.3).shape == (0, 4)


def test_clean_variant_removes_stale_union() -> None:
    boxes = [FAR, *CHAIN]
    original = neighbor_rpn_merge(boxes, 0.3)
    clean = neighbor_rpn_merge_clean(boxes, 0.3)
    assert clean.tolist() == [[100.0, 100.0, 110.0, 110.0], [0.0, 0.0, 16.0, 10.0]]
    assert clean.tolist() != original.tolist()
    # the original leaves an overlapping pair behind (only row 0 is checked); clean does not
    assert (patch_matters_iou(original) > 0.3).any()
    assert not (patch_matters_iou(clean) > 0.3).any()


def test_clean_variant_agrees_when_the_original_has_no_quirk() -> None:
    assert neighbor_rpn_merge_clean(KEPT, 0.3).tolist() == MERGED
    assert neighbor_rpn_merge_clean(CHAIN, 0.3).tolist() == [[0.0, 0.0, 16.0, 10.0]]


def test_clean_variant_never_leaves_overlaps_on_random_boxes() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        xy = rng.uniform(0, 60, size=(12, 2))
        wh = rng.uniform(3, 30, size=(12, 2))
        out = neighbor_rpn_merge_clean(np.hstack([xy, xy + wh]), 0.3)
        assert not (patch_matters_iou(out) > 0.3).any()
        assert 1 <= len(out) <= 12


def test_neighbor_rpn_merge_selector_drops_identity() -> None:
    kept = Boxes.create([FAR, *CHAIN], (200, 200), scores=[0.9, 0.8, 0.7, 0.6], labels=[1, 2, 3, 4],
                        label_names=["a", "b", "c", "d"])
    out = NeighborRpnMerge()(kept)
    assert out.image_size == (200, 200)
    assert out.tolist() == [[100.0, 100.0, 110.0, 110.0], [0.0, 0.0, 13.0, 10.0], [0.0, 0.0, 16.0, 10.0]]
    assert out.scores.tolist() == [1.0, 1.0, 1.0]
    assert out.labels.tolist() == [-1, -1, -1]
    assert out.label_names == ("", "", "")
    assert NeighborRpnMerge(variant="clean")(kept).tolist() == [[100.0, 100.0, 110.0, 110.0], [0.0, 0.0, 16.0, 10.0]]
    assert len(NeighborRpnMerge()(Boxes.empty((200, 200)))) == 0


# --------------------------------------------------------------------------- n-part geometry
def test_image_to_n_part_uses_integer_halves() -> None:
    assert image_to_n_part((W, H), 4) == [[0, 0, 320, 213], [320, 0, 640, 213],
                                          [0, 213, 320, 427], [320, 213, 640, 427]]
    assert image_to_n_part((5, 3), 2) == [[0, 0, 5, 1], [0, 1, 5, 3], [0, 0, 2, 3], [2, 0, 5, 3]]


def test_intersection_area_is_fraction_of_the_box() -> None:
    assert intersection_area([0, 0, 10, 10], [5, 0, 100, 100]) == 0.5
    assert intersection_area([0, 0, 10, 10], [-100, -100, 100, 100]) == 1.0
    assert intersection_area([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0  # touching
    assert intersection_area([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    with pytest.raises(ValueError, match="zero or negative width or height"):
        intersection_area([5, 5, 5, 10], [0, 0, 10, 10])


def test_four_box_worked_example() -> None:
    assert proposal_to_n_part(MERGED, (W, H), 4) == FOUR_BOX


def test_two_box_worked_example_picks_left_right() -> None:
    # one wide box, landscape image: 1 + (-1) = 0 is not > 4 // 2
    assert proposal_to_n_part(MERGED, (W, H), 2) == TWO_BOX


def test_degenerate_whole_image_case() -> None:
    whole = [[0.0, 0.0, 639.0, 426.0]]
    assert proposal_to_n_part(whole, (W, H), 4) == [
        [0.0, 0.0, 320.0, 213.0], [320.0, 0.0, 640.0, 213.0], [0.0, 213.0, 320.0, 427.0], [320.0, 213.0, 640.0, 427.0]]
    assert proposal_to_n_part(whole, (W, H), 2) == [[0.0, 0.0, 639.0, 427.0], [0.0, 0.0, 640.0, 427.0]]


def test_two_box_portrait_bias_picks_top_bottom() -> None:
    # portrait 400x600, one wide box and one tall box: 1 + 1 = 2 > 2 // 2 -> TOP/BOTTOM
    boxes = [[10.0, 10.0, 110.0, 60.0], [300.0, 400.0, 320.0, 590.0]]
    assert proposal_to_n_part(boxes, (400, 600), 2) == [[0.0, 0.0, 400.0, 300.0], [0.0, 300.0, 400.0, 600.0]]
    out = NPartRegions(n=2)(Boxes.create(boxes, (400, 600)))
    assert out.label_names == ("top", "bottom")


def test_n_part_outputs_python_floats() -> None:
    for n in (2, 4):
        for box in proposal_to_n_part(MERGED, (W, H), n):
            assert all(type(v) is float for v in box)


def test_n_part_rejects_degenerate_boxes_and_bad_n() -> None:
    with pytest.raises(ValueError, match="zero or negative width or height"):
        proposal_to_n_part([[10.0, 10.0, 10.0, 50.0]], (W, H), 4)
    with pytest.raises(ValueError, match="zero or negative width or height"):
        proposal_to_n_part([[10.0, 10.0, 50.0, 10.0]], (W, H), 2)
    with pytest.raises(ValueError, match="n must be 2 or 4"):
        proposal_to_n_part(MERGED, (W, H), 3)


def test_n_part_selector_names_and_defaults() -> None:
    merged = Boxes.create(MERGED, (W, H))
    four = NPartRegions()(merged)
    assert four.tolist() == FOUR_BOX
    assert four.label_names == ("top_left", "top_right", "bottom_left", "bottom_right")
    assert four.scores.tolist() == [1.0] * 4
    two = NPartRegions(n=2)(merged)
    assert two.tolist() == TWO_BOX
    assert two.label_names == ("left", "right")


# --------------------------------------------------------------------------- score filter
def test_score_filter_keeps_strictly_above_threshold_in_float32() -> None:
    thr32 = float(np.float32(0.3))  # 0.30000001192092896
    boxes = Boxes.create([[0, 0, 10, 10]] * 4, (100, 100), scores=[0.9, 0.3, thr32, 0.3000000001],
                         labels=[1, 2, 3, 4], label_names=["a", "b", "c", "d"])
    # in float64, 0.3000000001 > 0.3; in float32 it equals float32(0.3) and is dropped,
    # and float32(0.3) itself is not > float32(0.3)
    assert 0.3000000001 > 0.3 and thr32 > 0.3
    out = PatchMattersScoreFilter()(boxes)
    assert out.labels.tolist() == [1]
    assert out.label_names == ("a",)
    assert out.scores.tolist() == [float(np.float32(0.9))]


def test_score_filter_rounds_coordinates_to_float32() -> None:
    boxes = Boxes.create([[10.1, 20.2, 30.3, 40.4]], (100, 100), scores=[0.8])
    out = PatchMattersScoreFilter()(boxes)
    assert out.xyxy.dtype == np.float64
    assert out.tolist() == [[10.100000381469727, 20.200000762939453, 30.299999237060547, 40.400001525878906]]


def test_score_filter_top2_fallback_uses_input_order() -> None:
    boxes = Boxes.create([[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 40, 40]], (100, 100),
                         scores=[0.1, 0.25, 0.2], labels=[7, 8, 9], label_names=["x", "y", "z"])
    out = PatchMattersScoreFilter()(boxes)
    assert out.labels.tolist() == [7, 8]
    assert out.tolist() == [[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 20.0]]


@pytest.mark.parametrize("scores", [[0.2], []])
def test_score_filter_whole_image_fallback(scores: list[float]) -> None:
    xyxy = [[10, 10, 50, 50]] * len(scores)
    out = PatchMattersScoreFilter()(Boxes.create(xyxy, (W, H), scores=scores, labels=[5] * len(scores),
                                                 label_names=["cat"] * len(scores)))
    assert out.tolist() == [[0.0, 0.0, 639.0, 426.0]]
    assert out.scores.tolist() == [1.0]
    assert out.labels.tolist() == [WHOLE_IMAGE_LABEL] == [1008611]
    assert out.label_names == ("None",)


def test_score_filter_fallback_k_zero_disables_top_k() -> None:
    boxes = Boxes.create([[0, 0, 10, 10], [5, 5, 20, 20]], (100, 100), scores=[0.1, 0.2])
    assert PatchMattersScoreFilter(fallback_top_k=0)(boxes).labels.tolist() == [WHOLE_IMAGE_LABEL]
    assert PatchMattersScoreFilter(fallback_top_k=3)(boxes).labels.tolist() == [WHOLE_IMAGE_LABEL]
    assert len(PatchMattersScoreFilter(fallback_top_k=1)(boxes)) == 1


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("make", [
    lambda: PatchMattersScoreFilter(threshold=1.5),
    lambda: PatchMattersScoreFilter(threshold=-0.1),
    lambda: PatchMattersScoreFilter(threshold="0.3"),
    lambda: PatchMattersScoreFilter(threshold=float("nan")),
    lambda: PatchMattersScoreFilter(fallback_top_k=-1),
    lambda: PatchMattersScoreFilter(fallback_top_k=1.5),
    lambda: NeighborRpnMerge(iou_threshold=2.0),
    lambda: NeighborRpnMerge(variant="fancy"),
    lambda: NPartRegions(n=3),
    lambda: NPartRegions(n=True),
    lambda: PatchMattersFourBoxWriter(filename="../four_box.json"),
    lambda: PatchMattersFourBoxWriter(filename="/tmp/four_box.json"),
    lambda: PatchMattersObjectBoxWriter(filename=""),
    lambda: PatchMattersObjectBoxWriter(filename="a/../../b.json"),
    lambda: PatchMattersFourBoxWriter(two_box=""),
])
def test_constructors_validate(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


def test_constructors_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        PatchMattersScoreFilter(0.3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        NPartRegions(4)  # type: ignore[misc]


@pytest.mark.parametrize("cls", [PatchMattersScoreFilter, NeighborRpnMerge, NPartRegions,
                                 PatchMattersFourBoxWriter, PatchMattersObjectBoxWriter])
def test_docstring_first_line_is_a_summary(cls: type) -> None:
    lines = (cls.__doc__ or "").strip().splitlines()
    assert lines and lines[0].strip().endswith(".") and (len(lines) == 1 or not lines[1].strip())


# --------------------------------------------------------------------------- writers
def test_parent_and_name() -> None:
    assert parent_and_name("data/coco/x/0001.jpg") == "x/0001.jpg"
    assert parent_and_name("./0001.jpg") == "./0001.jpg"
    assert parent_and_name("0001.jpg") == "0001.jpg"


def test_four_box_writer_layout(tmp_path: Path) -> None:
    result = _run_chain(_raw_detections())
    writer = PatchMattersFourBoxWriter()
    assert writer.required_regions() == {"merged", "four_box", "two_box"}
    paths = writer.finalize(tmp_path, [writer.make_record(result)])
    assert paths == [tmp_path / "four_box.json"]
    expected = [{
        "image": "coco_sample_data_Image_Textualization/000000247929.jpg",
        "object_detect_box": MERGED,
        "four_box": FOUR_BOX,
        "two_box": TWO_BOX,
    }]
    text = paths[0].read_text(encoding="utf-8")
    assert text == json.dumps(expected, indent=4, ensure_ascii=False)
    assert "10.0" in text and "640.0" in text
    assert _load_ordered(paths[0]) == [[("image", expected[0]["image"]), ("object_detect_box", MERGED),
                                        ("four_box", FOUR_BOX), ("two_box", TWO_BOX)]]


def test_object_box_writer_layout(tmp_path: Path) -> None:
    result = _run_chain(_raw_detections())
    writer = PatchMattersObjectBoxWriter()
    assert writer.required_regions() == {"kept"}
    paths = writer.finalize(tmp_path, [writer.make_record(result)])
    assert paths == [tmp_path / "object_box.json"]
    bbox = [[float(v) for v in b] for b in KEPT]
    expected = {IMAGE_PATH: {"image": IMAGE_PATH, "bbox": bbox, "name": KEPT_NAMES, "label": KEPT_LABELS}}
    assert paths[0].read_text(encoding="utf-8") == json.dumps(expected, indent=4, ensure_ascii=False)
    assert _load_ordered(paths[0]) == [(IMAGE_PATH, [("image", IMAGE_PATH), ("bbox", bbox),
                                                     ("name", KEPT_NAMES), ("label", KEPT_LABELS)])]


def test_object_box_writer_whole_image_fallback_entry(tmp_path: Path) -> None:
    detections = Boxes.create([[10, 10, 50, 50]], (W, H), scores=[0.2], labels=[3], label_names=["car"])
    result = _run_chain(detections, path="imgs/a/b.jpg")
    writer = PatchMattersObjectBoxWriter(filename="objects.json")
    (path,) = writer.finalize(tmp_path, [writer.make_record(result)])
    assert path == tmp_path / "objects.json"
    assert _load_ordered(path) == [("imgs/a/b.jpg", [("image", "imgs/a/b.jpg"), ("bbox", [[0.0, 0.0, 639.0, 426.0]]),
                                                     ("name", ["None"]), ("label", [1008611])])]


def test_end_to_end_spec_sample(tmp_path: Path) -> None:
    """§1.6: raw detections -> filter -> merge -> parts -> both files, exactly the spec sample."""
    second = "/abs/or/rel/coco_image/other_dir/000000000002.jpg"
    results = [_run_chain(_raw_detections()),
               _run_chain(Boxes.create([[10, 10, 50, 50]], (W, H), scores=[0.1], labels=[3],
                                       label_names=["car"]), path=second)]
    four_writer, obj_writer = PatchMattersFourBoxWriter(), PatchMattersObjectBoxWriter()
    (four_path,) = four_writer.finalize(tmp_path, (four_writer.make_record(r) for r in results))
    (obj_path,) = obj_writer.finalize(tmp_path, (obj_writer.make_record(r) for r in results))

    four = json.loads(four_path.read_text(encoding="utf-8"))
    assert four == [
        {"image": "coco_sample_data_Image_Textualization/000000247929.jpg",
         "object_detect_box": MERGED, "four_box": FOUR_BOX, "two_box": TWO_BOX},
        {"image": "other_dir/000000000002.jpg",
         "object_detect_box": [[0.0, 0.0, 639.0, 426.0]],
         "four_box": [[0.0, 0.0, 320.0, 213.0], [320.0, 0.0, 640.0, 213.0],
                      [0.0, 213.0, 320.0, 427.0], [320.0, 213.0, 640.0, 427.0]],
         "two_box": [[0.0, 0.0, 639.0, 427.0], [0.0, 0.0, 640.0, 427.0]]},
    ]
    assert len(four[0]["object_detect_box"]) == 4

    objects = json.loads(obj_path.read_text(encoding="utf-8"))
    assert list(objects) == [IMAGE_PATH, second]
    assert objects[IMAGE_PATH] == {"image": IMAGE_PATH, "bbox": [[float(v) for v in b] for b in KEPT],
                                   "name": KEPT_NAMES, "label": KEPT_LABELS}
    assert len(objects[IMAGE_PATH]["bbox"]) == 5
    assert objects[second] == {"image": second, "bbox": [[0.0, 0.0, 639.0, 426.0]], "name": ["None"],
                               "label": [1008611]}


def test_writer_reports_missing_region_set() -> None:
    detections = Boxes.create(KEPT, (W, H))
    result = ImageResult(item=ImageItem(path="a/b.jpg", rel_path="b.jpg"), image_size=(W, H), detections=detections)
    with pytest.raises(KeyError, match="merged"):
        PatchMattersFourBoxWriter().make_record(result)


def test_empty_run_writes_empty_containers(tmp_path: Path) -> None:
    (four_path,) = PatchMattersFourBoxWriter().finalize(tmp_path, [])
    (obj_path,) = PatchMattersObjectBoxWriter().finalize(tmp_path, iter(()))
    assert json.loads(four_path.read_text()) == []
    assert json.loads(obj_path.read_text()) == {}
