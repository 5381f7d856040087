"""Shared helpers for the BARON tests: the seeded checkpoint, the model, the references, matching.

Imported by the test modules (the suite also runs with ``--noconftest``); the fixtures are
session scoped because building the seeded checkpoint and the model takes a few seconds.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KEYS = FIXTURES / "baron_checkpoint_keys.txt"
SEED = 0
#: float32 scores on kernels other than the reference's: up to 1e-4 on Intel (other thread counts or
#: instruction sets), 1.7e-4 on an AMD EPYC (measured over the 10 images); 5e-4 leaves room for both
SCORE_TOL = 5e-4
IOU_MIN = 0.99
#: settings of the ``light_model`` fixture
LIGHT = {"scale": (333, 200), "rpn_max_proposals": 60}
#: The kernels ``make_reference.py`` ran on (an Intel CPU, 2 intra-op threads; ATen, oneDNN and
#: MKL on their AVX-512 paths).  Established by reproduction: with exactly these pins ``exact=True`` matches
#: the float32 reference bit for bit; 1 or 4 threads, or AVX2 in any one of the three libraries,
#: each changes scores by 1e-6..1e-4.  ``env`` must be set before torch is imported.
REFERENCE_KERNELS = {"threads": 2, "capability": "AVX512", "vendor": "GenuineIntel",
                     "env": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
                             "MKL_CBWR": "AVX512", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}}


@cache
def reference(name: str = "reference_detections.json") -> dict[str, Any]:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"missing fixture {path.name}: run tests/models/baron/make_reference.py")
    return json.loads(path.read_text())


def reference_image(name: str, fixture: str = "reference_detections.json") -> dict[str, Any]:
    for item in reference(fixture)["images"]:
        if item["name"] == name:
            return item
    raise KeyError(name)


@pytest.fixture(scope="session")
def seeded_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed-0 checkpoint in ovdet's layout (inference keys only), written on the fly."""
    from regionkit.models.detectors.baron import testing

    path = tmp_path_factory.mktemp("baron") / "seeded_s0.pth"
    return testing.save_seeded_checkpoint(path, testing.read_key_list(KEYS), seed=SEED,
                                          exclude_prefixes=testing.INFERENCE_ONLY_EXCLUDE)


@pytest.fixture(scope="session")
def baron_model(seeded_checkpoint: Path):
    """The native model on the seeded checkpoint, default settings (float32 on CPU, exact=False)."""
    from regionkit.models.detectors.baron.model import BaronDetectorModel

    return BaronDetectorModel.from_checkpoint(seeded_checkpoint)


@pytest.fixture(scope="session")
def light_model(baron_model):
    """Same weights, images resized to fit 333 x 200 and 60 RPN proposals: for API-contract tests."""
    from regionkit.models.detectors.baron.model import BaronDetectorModel

    return BaronDetectorModel(baron_model.detector, baron_model.class_names, **LIGHT)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise IoU of two (N, 4) xyxy arrays (no +1 convention)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    same = np.all(a == b, axis=1)
    return np.where(same, 1.0, inter / np.maximum(union, 1e-12))


def compare(ref: dict[str, Any], boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Match by rank (both lists sorted by descending score) and return the deviations.

    Asserts: same count, same labels, |score diff| <= SCORE_TOL and IoU >= IOU_MIN pairwise.
    Equal scores may be listed in either order by two implementations, so within a run of
    scores closer than SCORE_TOL the pairing is made on (label, box) instead of rank.
    """
    rb = np.asarray(ref["boxes"], dtype=np.float32).reshape(-1, 4)
    rs = np.asarray(ref["scores"], dtype=np.float32)
    rl = np.asarray(ref["labels"], dtype=np.int64)
    assert len(scores) == len(rs), f"{ref['name']}: {len(scores)} detections vs {len(rs)} in the reference"
    order = _pair(rs, rl, rb, scores, labels, boxes)
    boxes, scores, labels = boxes[order], scores[order], labels[order]
    assert np.array_equal(labels, rl), f"{ref['name']}: labels differ at {np.nonzero(labels != rl)[0][:10]}"
    score_diff = float(np.abs(scores - rs).max()) if len(rs) else 0.0
    ious = box_iou(boxes, rb)
    min_iou = float(ious.min()) if len(rs) else 1.0
    assert score_diff <= SCORE_TOL, f"{ref['name']}: max score diff {score_diff}"
    assert min_iou >= IOU_MIN, f"{ref['name']}: min IoU {min_iou}"
    coord = float(np.abs(boxes - rb).max()) if len(rs) else 0.0
    return {"count": len(rs), "max_score_diff": score_diff, "min_iou": min_iou, "max_coord_diff": coord,
            "reordered": int((order != np.arange(len(order))).sum())}


#: bfloat16 comparisons: bf16 rounding depends on the CPU's kernels, so two machines agree only this closely
BF16_SCORE_TOL = 0.03
BF16_MATCHED_MIN = 0.9


def compare_bf16(ref: dict[str, Any], boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of reference detections with a native one of the same label, IoU >= IOU_MIN and score within
    BF16_SCORE_TOL (each native detection used once); asserts it is at least BF16_MATCHED_MIN."""
    rb = np.asarray(ref["boxes"], dtype=np.float32).reshape(-1, 4)
    rs = np.asarray(ref["scores"], dtype=np.float32)
    rl = np.asarray(ref["labels"], dtype=np.int64)
    if len(rs) == 0:
        assert len(scores) == 0
        return 1.0
    ious = box_iou(rb, np.asarray(boxes, np.float32).reshape(-1, 4))
    free = np.ones(len(scores), dtype=bool)
    matched = 0
    for r in range(len(rs)):
        ok = free & (labels == rl[r]) & (ious[r] >= IOU_MIN) & (np.abs(scores - rs[r]) <= BF16_SCORE_TOL)
        if ok.any():
            free[int(np.argmax(np.where(ok, ious[r], -1.0)))] = False
            matched += 1
    share = matched / len(rs)
    assert share >= BF16_MATCHED_MIN, f"{ref['name']}: only {share:.0%} of the bf16 reference detections matched"
    return share


def _pair(rs, rl, rb, scores, labels, boxes) -> np.ndarray:
    """Index into the native lists for each reference rank (identity unless near-tied scores)."""
    n = len(rs)
    order = np.arange(n)
    i = 0
    while i < n:
        j = i + 1
        while j < n and abs(float(rs[j - 1]) - float(rs[j])) <= SCORE_TOL:
            j += 1
        if j - i > 1:  # a run of near-equal scores: greedy match on label then IoU
            free = list(range(i, j))
            for r in range(i, j):
                cands = [c for c in free if labels[c] == rl[r]] or free
                best = max(cands, key=lambda c: float(box_iou(boxes[c], rb[r])[0]))
                order[r] = best
                free.remove(best)
        i = j
    return order
