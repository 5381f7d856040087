"""Tests for :mod:`regionkit.core.boxes` (``Boxes``, ``SanitizeReport``) and :mod:`regionkit.core.box_ops`."""
from __future__ import annotations

import numpy as np
import pytest

from regionkit.structures import box_ops
from regionkit.structures.boxes import Boxes, SanitizeReport

SIZE = (100, 50)  # (width, height)


def make(n: int = 3) -> Boxes:
    xyxy = [[10 * i, 5 * i, 10 * i + 20, 5 * i + 10] for i in range(n)]
    return Boxes.create(xyxy, SIZE, scores=[0.1 * (i + 1) for i in range(n)],
                        labels=list(range(n)), label_names=[f"n{i}" for i in range(n)])


# ---------------------------------------------------------------------- construction

class TestConstruction:
    def test_create_defaults(self):
        b = Boxes.create([[0, 0, 10, 10], [1, 2, 3, 4]], SIZE)
        assert len(b) == 2
        assert b.xyxy.dtype == np.float64 and b.xyxy.shape == (2, 4)
        np.testing.assert_array_equal(b.scores, [1.0, 1.0])
        assert b.scores.dtype == np.float64
        np.testing.assert_array_equal(b.labels, [-1, -1])
        assert b.labels.dtype == np.int64
        assert b.label_names == ("", "")
        assert b.image_size == (100, 50)
        assert (b.width, b.height) == (100, 50)

    def test_create_keeps_given_fields(self):
        b = Boxes.create([[0, 0, 1, 1]], SIZE, scores=[0.5], labels=[7], label_names=iter(["cat"]))
        assert b.scores.tolist() == [0.5]
        assert b.labels.tolist() == [7]
        assert b.label_names == ("cat",)

    @pytest.mark.parametrize("field, value", [
        ("scores", [0.5]),
        ("labels", [1, 2, 3]),
        ("label_names", ["a"]),
    ])
    def test_mismatched_lengths_raise(self, field, value):
        kwargs = {field: value}
        with pytest.raises(ValueError, match="disagree in length"):
            Boxes.create([[0, 0, 1, 1], [0, 0, 2, 2]], SIZE, **kwargs)

    def test_direct_constructor_checks_lengths(self):
        with pytest.raises(ValueError, match="2 boxes, 1 scores"):
            Boxes(xyxy=np.zeros((2, 4)), scores=[1.0], labels=[0, 0], label_names=("a", "b"),
                  image_size=SIZE)

    @pytest.mark.parametrize("bad", [
        [0, 0, 1, 1],                 # (4,) - a single box without the N axis
        [[0, 0, 1]],                  # (1, 3)
        [[0, 0, 1, 1, 1]],            # (1, 5)
        np.zeros((2, 2, 4)),          # 3-D
    ])
    def test_bad_shapes_raise(self, bad):
        with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
            Boxes.create(bad, SIZE)

    @pytest.mark.parametrize("size", [(0, 10), (10, 0), (-5, 10), (10, -1)])
    def test_non_positive_image_size_raises(self, size):
        with pytest.raises(ValueError, match="image_size must be positive"):
            Boxes.create([[0, 0, 1, 1]], size)

    def test_image_size_normalised_to_int_tuple(self):
        b = Boxes.create([[0, 0, 1, 1]], np.array([640, 480]))
        assert b.image_size == (640, 480)
        assert all(type(v) is int for v in b.image_size)

    def test_single_string_label_names_rejected(self):
        # A bare string would otherwise be split into one-character "names".
        with pytest.raises(TypeError, match="label_names"):
            Boxes.create(np.zeros((3, 4)), SIZE, label_names="cat")

    def test_does_not_alias_callers_array(self):
        arr = np.array([[0.0, 0.0, 10.0, 10.0]])
        scores = np.array([0.9])
        b = Boxes.create(arr, SIZE, scores=scores)
        arr[0, 0] = 5.0
        scores[0] = 0.1
        assert b.xyxy[0, 0] == 0.0
        assert b.scores[0] == 0.9

    @pytest.mark.parametrize("empty", [[], np.zeros((0, 4)), np.zeros(0)])
    def test_empty(self, empty):
        for b in (Boxes.create(empty, SIZE), Boxes.empty(SIZE)):
            assert len(b) == 0
            assert b.xyxy.shape == (0, 4)
            assert b.scores.shape == (0,) and b.labels.shape == (0,)
            assert b.label_names == ()
            assert b.areas.shape == (0,)
            assert b.to_xywh().shape == (0, 4)
            assert b.to_normalized().shape == (0, 4)
            assert len(b.clip()) == 0
            assert len(b.sorted_by_score()) == 0
            sane, report = b.sanitize()
            assert len(sane) == 0 and report == SanitizeReport()

    def test_repr(self):
        assert repr(make(2)) == "Boxes(n=2, image_size=(100, 50))"


# ---------------------------------------------------------------------- indexing

class TestIndexing:
    def test_boolean_mask(self):
        b = make(4)[np.array([True, False, False, True])]
        assert b.label_names == ("n0", "n3")
        np.testing.assert_array_equal(b.labels, [0, 3])
        np.testing.assert_allclose(b.scores, [0.1, 0.4])
        np.testing.assert_array_equal(b.xyxy, [[0, 0, 20, 10], [30, 15, 50, 25]])
        assert b.image_size == SIZE

    def test_boolean_list_mask(self):
        assert make(3)[[False, True, True]].label_names == ("n1", "n2")

    def test_index_array_reorders_and_repeats(self):
        b = make(3)[np.array([2, 0, 2])]
        assert b.label_names == ("n2", "n0", "n2")
        np.testing.assert_array_equal(b.labels, [2, 0, 2])
        np.testing.assert_array_equal(b.xyxy[0], [20, 10, 40, 20])

    def test_slice(self):
        b = make(4)[1:3]
        assert b.label_names == ("n1", "n2")
        assert make(4)[::-1].label_names == ("n3", "n2", "n1", "n0")

    @pytest.mark.parametrize("i, name", [(0, "n0"), (2, "n2"), (-1, "n2"), (np.int64(1), "n1")])
    def test_int_gives_one_box(self, i, name):
        b = make(3)[i]
        assert isinstance(b, Boxes) and len(b) == 1
        assert b.xyxy.shape == (1, 4)
        assert b.label_names == (name,)

    def test_int_out_of_range(self):
        with pytest.raises(IndexError):
            make(3)[3]

    @pytest.mark.parametrize("empty", [[], np.array([], dtype=np.int64), np.array([])])
    def test_empty_index_selects_nothing(self, empty):
        # np.array([]) is float64; selecting with it must not crash.
        b = make(3)[empty]
        assert len(b) == 0 and b.xyxy.shape == (0, 4) and b.image_size == SIZE

    def test_scalar_bool_is_not_an_index(self):
        with pytest.raises(IndexError):
            make(3)[True]

    def test_mask_of_wrong_length(self):
        with pytest.raises(IndexError):
            make(3)[np.array([True, False])]


# ---------------------------------------------------------------------- conversions

class TestConversions:
    def test_xywh_round_trip(self):
        xyxy = np.array([[10.0, 20.0, 30.0, 50.0], [0.5, 1.5, 2.0, 2.0]])
        xywh = box_ops.xyxy_to_xywh(xyxy)
        np.testing.assert_array_equal(xywh, [[10, 20, 20, 30], [0.5, 1.5, 1.5, 0.5]])
        np.testing.assert_array_equal(box_ops.xywh_to_xyxy(xywh), xyxy)
        # the input array is not modified in place
        np.testing.assert_array_equal(xyxy, [[10, 20, 30, 50], [0.5, 1.5, 2.0, 2.0]])
        np.testing.assert_array_equal(xywh, [[10, 20, 20, 30], [0.5, 1.5, 1.5, 0.5]])

    def test_boxes_xywh(self):
        b = Boxes.from_xywh([[10, 20, 30, 5]], SIZE, scores=[0.3], label_names=["dog"])
        np.testing.assert_array_equal(b.xyxy, [[10, 20, 40, 25]])
        np.testing.assert_array_equal(b.to_xywh(), [[10, 20, 30, 5]])
        assert b.scores.tolist() == [0.3] and b.label_names == ("dog",)

    def test_normalised_round_trip(self):
        xyxy = np.array([[10.0, 5.0, 50.0, 50.0], [0.0, 0.0, 100.0, 25.0]])
        norm = box_ops.normalize_xyxy(xyxy, SIZE)
        # x divided by width (100), y by height (50) - not the other way round
        np.testing.assert_allclose(norm, [[0.1, 0.1, 0.5, 1.0], [0.0, 0.0, 1.0, 0.5]])
        np.testing.assert_allclose(box_ops.denormalize_xyxy(norm, SIZE), xyxy)

    def test_boxes_normalised(self):
        b = Boxes.from_normalized([[0.1, 0.2, 0.5, 1.0]], SIZE, labels=[4])
        np.testing.assert_allclose(b.xyxy, [[10, 10, 50, 50]])
        np.testing.assert_allclose(b.to_normalized(), [[0.1, 0.2, 0.5, 1.0]])
        assert b.labels.tolist() == [4]
        assert b.scores.tolist() == [1.0]

    def test_tolist_and_areas(self):
        b = Boxes.create([[0, 0, 10, 5], [5, 5, 2, 8]], SIZE)  # second box inverted in x
        assert b.tolist() == [[0.0, 0.0, 10.0, 5.0], [5.0, 5.0, 2.0, 8.0]]
        np.testing.assert_array_equal(b.areas, [50.0, 0.0])

    def test_box_area_of_inverted_is_zero(self):
        np.testing.assert_array_equal(box_ops.box_area([[0, 0, 2, 3], [3, 0, 0, 4], [0, 4, 4, 0]]),
                                      [6.0, 0.0, 0.0])


# ---------------------------------------------------------------------- geometry

class TestPairwiseIou:
    def test_identical_is_one(self):
        iou = box_ops.pairwise_iou([[0, 0, 10, 10], [3, 4, 7, 9]])
        np.testing.assert_allclose(np.diag(iou), [1.0, 1.0])

    def test_hand_computed_values(self):
        a = np.array([[0, 0, 10, 10]])
        b = np.array([
            [0, 0, 10, 10],     # identical            -> 1
            [20, 20, 30, 30],   # disjoint             -> 0
            [10, 0, 20, 10],    # touching at x = 10   -> 0
            [5, 0, 15, 10],     # half overlap: 50 / 150
            [0, 0, 5, 10],      # contained half: 50 / 100
            [5, 5, 15, 15],     # corner: 25 / 175
        ])
        iou = box_ops.pairwise_iou(a, b)
        assert iou.shape == (1, 6)
        np.testing.assert_allclose(iou[0], [1.0, 0.0, 0.0, 1 / 3, 0.5, 1 / 7])

    def test_shape_and_symmetry(self):
        a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 4, 4]])
        b = np.array([[2, 2, 6, 6], [5, 5, 15, 15]])
        iou = box_ops.pairwise_iou(a, b)
        assert iou.shape == (3, 2)
        np.testing.assert_allclose(iou, box_ops.pairwise_iou(b, a).T)
        np.testing.assert_allclose(box_ops.pairwise_iou(a), box_ops.pairwise_iou(a, a))

    def test_zero_area_gives_zero_not_nan(self):
        zero = np.array([[5, 5, 5, 5], [1, 1, 1, 8]])  # a point and a line
        normal = np.array([[0, 0, 10, 10]])
        with np.errstate(all="raise"):  # no division warnings either
            iou = box_ops.pairwise_iou(zero, np.concatenate([zero, normal]))
        assert not np.isnan(iou).any()
        np.testing.assert_array_equal(iou, np.zeros((2, 3)))

    def test_inverted_box_does_not_overlap(self):
        iou = box_ops.pairwise_iou([[8, 0, 2, 10]], [[0, 0, 10, 10]])
        np.testing.assert_array_equal(iou, [[0.0]])

    def test_empty(self):
        assert box_ops.pairwise_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


class TestEnclosingAndClip:
    def test_enclosing_box(self):
        out = box_ops.enclosing_box([[10, 20, 30, 40], [5, 25, 15, 60], [12, 0, 50, 10]])
        np.testing.assert_array_equal(out, [5, 0, 50, 60])
        np.testing.assert_array_equal(box_ops.enclosing_box([[1, 2, 3, 4]]), [1, 2, 3, 4])

    def test_enclosing_box_empty_raises(self):
        with pytest.raises(ValueError, match="no boxes"):
            box_ops.enclosing_box(np.zeros((0, 4)))

    def test_clip_xyxy(self):
        out = box_ops.clip_xyxy([[-5, -1, 120, 60], [10, 10, 20, 20]], SIZE)
        np.testing.assert_array_equal(out, [[0, 0, 100, 50], [10, 10, 20, 20]])

    def test_boxes_clip_keeps_fields(self):
        b = Boxes.create([[-5, 10, 150, 70]], SIZE, scores=[0.4], labels=[3], label_names=["x"])
        c = b.clip()
        np.testing.assert_array_equal(c.xyxy, [[0, 10, 100, 50]])
        assert c.scores.tolist() == [0.4] and c.labels.tolist() == [3] and c.label_names == ("x",)
        np.testing.assert_array_equal(b.xyxy, [[-5, 10, 150, 70]])  # original untouched

    def test_with_xyxy_checks_length(self):
        b = make(2)
        assert b.with_xyxy(np.ones((2, 4))).label_names == ("n0", "n1")
        with pytest.raises(ValueError):
            b.with_xyxy(np.ones((3, 4)))


# ---------------------------------------------------------------------- ordering and concat

class TestSortAndConcat:
    def test_sorted_by_score_descending_and_stable(self):
        b = Boxes.create(np.arange(20).reshape(5, 4), SIZE, scores=[0.5, 0.9, 0.5, 0.1, 0.9],
                         label_names=["a", "b", "c", "d", "e"])
        s = b.sorted_by_score()
        assert s.label_names == ("b", "e", "a", "c", "d")  # ties keep their input order
        np.testing.assert_array_equal(s.scores, [0.9, 0.9, 0.5, 0.5, 0.1])
        np.testing.assert_array_equal(s.xyxy[0], [4, 5, 6, 7])

    def test_concat(self):
        a, b = make(2), make(3)[1:]
        c = a.concat(b)
        assert len(c) == 4
        assert c.label_names == ("n0", "n1", "n1", "n2")
        np.testing.assert_array_equal(c.labels, [0, 1, 1, 2])
        np.testing.assert_allclose(c.scores, [0.1, 0.2, 0.2, 0.3])
        np.testing.assert_array_equal(c.xyxy, np.concatenate([a.xyxy, b.xyxy]))
        assert len(a.concat(Boxes.empty(SIZE))) == 2
        assert Boxes.empty(SIZE).concat(a).label_names == ("n0", "n1")

    def test_concat_image_size_mismatch(self):
        with pytest.raises(ValueError, match="cannot concatenate"):
            make(1).concat(Boxes.empty((50, 100)))


# ---------------------------------------------------------------------- sanitize

def _sanitize(xyxy, size=(10, 10)):
    n = len(xyxy)
    b = Boxes.create(xyxy, size, scores=np.linspace(0.1, 0.9, n), labels=np.arange(n),
                     label_names=[f"b{i}" for i in range(n)])
    return b.sanitize()


class TestSanitize:
    def test_clean_boxes_unchanged(self):
        out, report = _sanitize([[0, 0, 10, 10], [1, 2, 3, 4]])
        np.testing.assert_array_equal(out.xyxy, [[0, 0, 10, 10], [1, 2, 3, 4]])
        assert report == SanitizeReport()
        assert report.dropped == 0 and report.describe() == "no changes"

    @pytest.mark.parametrize("bad", [
        [np.nan, 0, 5, 5], [0, np.nan, 5, 5], [0, 0, np.inf, 5], [-np.inf, 0, 5, 5], [0, 0, 5, -np.inf],
    ])
    def test_non_finite_dropped(self, bad):
        out, report = _sanitize([[1, 1, 2, 2], bad])
        assert out.label_names == ("b0",)
        assert report == SanitizeReport(non_finite=1)
        assert report.dropped == 1

    @pytest.mark.parametrize("bad", [
        [5, 1, 2, 4],   # x2 < x1
        [1, 5, 4, 2],   # y2 < y1
        [3, 1, 3, 4],   # zero width
        [1, 3, 4, 3],   # zero height
        [2, 2, 2, 2],   # a point
    ])
    def test_inverted_and_zero_area_dropped(self, bad):
        out, report = _sanitize([bad, [1, 1, 2, 2]])
        assert out.label_names == ("b1",)
        assert report == SanitizeReport(inverted=1)

    @pytest.mark.parametrize("bad", [
        [-5, 2, -1, 4],    # left of the image
        [11, 2, 15, 4],    # right
        [2, -9, 4, -2],    # above
        [2, 12, 4, 20],    # below
        [-5, 2, 0, 4],     # touches the left edge x = 0 only
        [10, 2, 15, 4],    # touches the right edge x = width only
        [2, -5, 4, 0],     # touches the top edge
        [2, 10, 4, 15],    # touches the bottom edge
        [-5, -5, 0, 0],    # touches a corner only
    ])
    def test_outside_or_edge_touching_dropped(self, bad):
        out, report = _sanitize([[1, 1, 2, 2], bad])
        assert out.label_names == ("b0",)
        assert report == SanitizeReport(outside=1)

    @pytest.mark.parametrize("box, expected", [
        ([-5, 2, 5, 4], [0, 2, 5, 4]),
        ([2, -3, 4, 15], [2, 0, 4, 10]),
        ([-1, -1, 11, 11], [0, 0, 10, 10]),
        ([9.5, 9.5, 30, 30], [9.5, 9.5, 10, 10]),
    ])
    def test_partially_outside_clipped(self, box, expected):
        out, report = _sanitize([box])
        np.testing.assert_array_equal(out.xyxy, [expected])
        assert report == SanitizeReport(clipped=1)
        assert report.dropped == 0
        assert (out.areas > 0).all()

    def test_first_rule_wins_each_box_counted_once(self):
        # NaN and inverted -> non_finite only; inverted and outside -> inverted only
        out, report = _sanitize([[np.nan, 5, 1, 1], [-3, 5, -8, 6]])
        assert len(out) == 0
        assert report == SanitizeReport(non_finite=1, inverted=1)

    def test_mixed_report_and_alignment(self):
        xyxy = [
            [1, 1, 3, 3],          # b0 kept
            [np.nan, 1, 3, 3],     # b1 non-finite
            [4, 4, 2, 6],          # b2 inverted
            [-4, 1, 2, 3],         # b3 clipped
            [20, 20, 30, 30],      # b4 outside
            [5, 5, 5, 9],          # b5 zero area
            [6, 6, 9, 9],          # b6 kept
            [0, 10, 5, 12],        # b7 touches bottom edge
            [8, 8, 12, 14],        # b8 clipped
            [1, np.inf, 2, 2],     # b9 non-finite
        ]
        n = len(xyxy)
        b = Boxes.create(xyxy, (10, 10), scores=np.arange(n) / 10, labels=np.arange(n) * 10,
                         label_names=[f"b{i}" for i in range(n)])
        out, report = b.sanitize()
        assert out.label_names == ("b0", "b3", "b6", "b8")
        np.testing.assert_array_equal(out.labels, [0, 30, 60, 80])
        np.testing.assert_allclose(out.scores, [0.0, 0.3, 0.6, 0.8])
        np.testing.assert_array_equal(out.xyxy, [[1, 1, 3, 3], [0, 1, 2, 3], [6, 6, 9, 9], [8, 8, 10, 10]])
        assert out.image_size == (10, 10)
        assert report.non_finite == 2
        assert report.inverted == 2
        assert report.outside == 2
        assert report.clipped == 2
        assert report.dropped == 6
        assert report.describe() == "2 non-finite, 2 inverted or empty, 2 outside the image, 2 clipped"
        # the input is left alone
        assert len(b) == n and np.isnan(b.xyxy[1, 0])

    def test_sanitize_output_is_stable(self):
        out, _ = _sanitize([[-4, 1, 2, 3], [np.nan, 0, 1, 1], [2, 2, 4, 4]])
        again, report = out.sanitize()
        np.testing.assert_array_equal(again.xyxy, out.xyxy)
        assert report == SanitizeReport()

    def test_report_describe_and_add(self):
        assert SanitizeReport(outside=3).describe() == "3 outside the image"
        assert SanitizeReport(non_finite=1, clipped=4).describe() == "1 non-finite, 4 clipped"
        total = SanitizeReport(1, 2, 3, 4) + SanitizeReport(10, 20, 30, 40)
        assert total == SanitizeReport(non_finite=11, inverted=22, outside=33, clipped=44)
        assert total.dropped == 66  # clipped boxes are kept, not dropped

