"""Fault injection: nothing about one image stops a run, and nothing is lost or written as non-standard JSON.

Each test injects one fault (a worker that dies, segfaults, hangs or returns something that
does not pickle; a detector that breaks its contract, raises ``SystemExit`` or loops; NaN
scores; degenerate image shapes) and checks the run goes on, records the image(s) at fault
with the reason, and gets every other image right.
"""
from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regionkit import BaseDetector, Boxes
from regionkit.inference.runner import InferenceRunner, SelectorStage
from regionkit.kinds.datasets import ImageListDataset
from regionkit.plugins.generic.coco_writer import CocoResultsWriter
from regionkit.plugins.generic.image_folder import ImageFolder
from regionkit.plugins.patch_matters.selectors import NeighborRpnMerge, NPartRegions, PatchMattersScoreFilter
from regionkit.plugins.patch_matters.writers import PatchMattersFourBoxWriter, PatchMattersObjectBoxWriter
from regionkit.structures.results import ImageItem


def _images(folder: Path, sizes: list[tuple[int, int]]) -> list[ImageItem]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i}_{w}x{h}.png")
    return list(ImageFolder(str(folder)))


class _Fault(BaseDetector):
    """One box per image; does ``action`` on the image whose width is ``bad_width``."""

    parallel_safe = True

    def __init__(self, action: str = "none", bad_width: int = -1) -> None:
        self.action, self.bad_width = action, bad_width

    def detect(self, images):
        out = []
        for im in images:
            h, w = im.shape[:2]
            if w == self.bad_width:
                if self.action == "exit":
                    os._exit(3)
                if self.action == "segfault":
                    os.kill(os.getpid(), signal.SIGSEGV)
                if self.action == "hang":
                    time.sleep(60)
                if self.action == "loop":
                    deadline = time.time() + 60
                    while time.time() < deadline:
                        pass
                if self.action == "sysexit":
                    raise SystemExit(7)
                if self.action == "unpicklable":
                    box = Boxes.create([[0, 0, w, h]], (w, h))
                    object.__setattr__(box, "label_names", (lambda: None,))  # a lambda does not pickle
                    out.append(box)
                    continue
                if self.action == "count":
                    return []
                if self.action == "type":
                    out.append([[0, 0, 1, 1]])
                    continue
                if self.action == "size":
                    out.append(Boxes.create([[0, 0, 1, 1]], (h, w)))
                    continue
                if self.action == "nan":
                    out.append(Boxes.create([[0, 0, w, h], [1, 1, 2, 2]], (w, h), scores=[math.nan, math.inf]))
                    continue
            out.append(Boxes.create([[0, 0, max(w / 2, 1), max(h / 2, 1)]], (w, h), scores=[0.9], labels=[0],
                                    label_names=["thing"]))
        return out


def _factory(action: str, bad_width: int):
    import functools

    return functools.partial(_Fault, action, bad_width)


def _pm_stages():
    return [SelectorStage(PatchMattersScoreFilter(), "detections", "kept"),
            SelectorStage(NeighborRpnMerge(), "kept", "merged"),
            SelectorStage(NPartRegions(n=4), "merged", "four_box"),
            SelectorStage(NPartRegions(n=2), "merged", "two_box")]


def _pm_writers():
    return {"four": PatchMattersFourBoxWriter(), "objects": PatchMattersObjectBoxWriter()}


def _run(items, out: Path, action: str, bad_width: int, workers: int, timeout: float | None = None, resume=False):
    det = _Fault(action, bad_width)
    runner = InferenceRunner(det, _pm_stages(), _pm_writers(), batch_size=2, num_workers=workers, progress=False,
                             detector_factory=_factory(action, bad_width), image_timeout=timeout)
    return runner.run(items, out, fingerprint="f", resume=resume)


@pytest.mark.parametrize("action", ["exit", "segfault", "unpicklable", "sysexit"])
def test_a_worker_that_dies_or_fails_costs_one_image_only(tmp_path, action):
    items = _images(tmp_path / "img", [(40, 30), (41, 30), (42, 30), (43, 30), (44, 30)])
    summary = _run(items, tmp_path / "out", action, bad_width=42, workers=2)
    assert [f["image"] for f in summary.failures] == [items[2].path]
    reason = summary.failures[0]["reason"]
    expected = {"exit": "worker process died", "segfault": "worker process died",
                "unpicklable": "could not return its result", "sysexit": "sys.exit(7)"}[action]
    assert expected in reason
    records = json.loads((tmp_path / "out" / "four_box.json").read_text())
    assert len(records) == 4 and summary.num_ok == 4
    if action in ("exit", "segfault"):
        assert summary.worker_restarts >= 1


def test_a_hung_worker_becomes_a_timeout_failure(tmp_path):
    items = _images(tmp_path / "img", [(40, 30), (41, 30), (42, 30)])
    start = time.perf_counter()
    summary = _run(items, tmp_path / "out", "hang", bad_width=41, workers=2, timeout=1.5)
    assert time.perf_counter() - start < 30
    assert [f["image"] for f in summary.failures] == [items[1].path]
    assert "timed out" in summary.failures[0]["reason"] and summary.failures[0]["stage"] == "worker"
    assert summary.num_ok == 2


def test_a_main_process_detector_that_loops_becomes_a_timeout_failure(tmp_path):
    items = _images(tmp_path / "img", [(40, 30), (41, 30)])
    summary = _run(items, tmp_path / "out", "loop", bad_width=40, workers=0, timeout=1.0)
    assert [f["image"] for f in summary.failures] == [items[0].path]
    assert "timed out" in summary.failures[0]["reason"] and summary.num_ok == 1


@pytest.mark.parametrize("action, words", [("count", "returned 0 results for 1 images"),
                                           ("type", "returned list, not Boxes"),
                                           ("size", "returned image_size (30, 41), expected (41, 30)"),
                                           ("sysexit", "called sys.exit(7)")])
@pytest.mark.parametrize("workers", [0, 2])
def test_contract_violations_are_per_image_failures_in_main_process_and_workers(tmp_path, action, words, workers):
    items = _images(tmp_path / "img", [(40, 30), (41, 30), (42, 30)])
    summary = _run(items, tmp_path / "out", action, bad_width=41, workers=workers)
    assert [f["image"] for f in summary.failures] == [items[1].path]
    assert words in summary.failures[0]["reason"]
    assert summary.num_ok == 2


def test_non_finite_scores_never_reach_a_file_as_nan(tmp_path):
    items = _images(tmp_path / "img", [(40, 30), (41, 30)])
    coco = CocoResultsWriter()
    runner = InferenceRunner(_Fault("nan", 41), [], {"coco": coco}, progress=False)
    for i, item in enumerate(items):
        item.meta["image_id"] = i + 1
    summary = runner.run(items, tmp_path / "out")
    text = (tmp_path / "out" / "coco_results.json").read_text()

    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    results = json.loads(text, parse_constant=refuse)
    assert summary.ok and summary.sanitize.non_finite == 2
    assert {r["image_id"] for r in results} == {1}  # the NaN/inf boxes of image 2 were dropped


@pytest.mark.parametrize("size", [(1, 1), (1, 37), (37, 1), (2, 1), (1, 2)])
def test_one_pixel_images_get_records(tmp_path, size):
    from regionkit.plugins.detectors.saliency import SaliencyDetector

    items = _images(tmp_path / "img", [size])
    runner = InferenceRunner(SaliencyDetector(), _pm_stages(), _pm_writers(), progress=False)
    summary = runner.run(items, tmp_path / "out")
    assert summary.ok, summary.failures
    (record,) = json.loads((tmp_path / "out" / "four_box.json").read_text())
    assert len(record["four_box"]) == 4 and len(record["two_box"]) == 2
    objects = json.loads((tmp_path / "out" / "object_box.json").read_text())
    (entry,) = objects.values()
    x1, y1, x2, y2 = entry["bbox"][0]
    assert x2 > x1 and y2 > y1  # the whole-image fallback has an area even one pixel wide


@pytest.mark.parametrize("variant", ["spectral_residual", "opencv_contrib"])
def test_saliency_memory_is_bounded_by_the_pixel_count(variant):
    from regionkit.plugins.detectors.saliency import SaliencyDetector

    image = np.random.default_rng(3).integers(0, 255, (60000, 4, 3), dtype=np.uint8)  # 0.24 MP, very tall
    det = SaliencyDetector(variant=variant)
    tracemalloc.start()
    try:
        (boxes,) = det.detect([image])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert boxes.image_size == (4, 60000)
    assert peak < 200 * image.shape[0] * image.shape[1], f"{peak / 2**20:.0f} MiB for a 0.24 MP image"


def test_too_long_a_side_is_refused_by_the_bomb_guard(tmp_path):
    from regionkit.io.images import MAX_IMAGE_SIDE, ImageLoadError, load_rgb

    path = tmp_path / "strip.png"
    Image.new("L", (MAX_IMAGE_SIDE + 1, 1)).save(path)
    with pytest.raises(ImageLoadError, match="too large a side"):
        load_rgb(path)


def test_a_hook_that_replaces_detections_with_garbage_fails_that_image(tmp_path):
    from regionkit import hookimpl
    from regionkit.inference.lifecycle import create_plugin_manager

    class Vandal:
        @hookimpl
        def regionkit_after_detections(self, result):
            if result.image_size[0] == 41:
                result.detections = "not boxes"

    items = _images(tmp_path / "img", [(40, 30), (41, 30)])
    pm = create_plugin_manager([Vandal()])
    runner = InferenceRunner(_Fault(), _pm_stages(), _pm_writers(), progress=False, hook=pm.hook)
    summary = runner.run(items, tmp_path / "out")
    assert [f["image"] for f in summary.failures] == [items[1].path]
    assert "lifecycle hook replaced result.detections" in summary.failures[0]["reason"]


class _Named(ImageListDataset):
    def __init__(self, items):
        self.items = list(items)
        self.skipped = []


def test_file_names_that_are_not_utf8_round_trip_through_journal_and_outputs(tmp_path):
    folder = tmp_path / "img"
    folder.mkdir()
    raw = os.fsencode(str(folder)) + b"/caf\xe9-\xff.png"  # latin-1 bytes: not UTF-8
    Image.new("RGB", (20, 10), (200, 30, 40)).save(raw.decode("utf-8", "surrogateescape"))
    Image.new("RGB", (20, 10), (20, 30, 240)).save(folder / "plain.png")
    items = list(ImageFolder(str(folder)))
    assert len(items) == 2
    out = tmp_path / "out"
    first = InferenceRunner(_Fault(), _pm_stages(), _pm_writers(), progress=False).run(items[:1], out)
    assert first.ok
    resumed = InferenceRunner(_Fault(), _pm_stages(), _pm_writers(), progress=False).run(items, out, resume=True)
    assert resumed.ok and resumed.num_resumed == 1
    objects = json.loads((out / "object_box.json").read_text(encoding="utf-8"))
    weird = next(k for k in objects if "caf" in k)
    assert os.fsencode(weird) == raw  # the exact bytes of the file name come back


@pytest.mark.parametrize("action", ["none", "exit"])
def test_a_closed_pool_leaves_no_executor_thread_for_the_exit_hook(tmp_path, action):
    """A manager thread still ending at exit raced concurrent.futures' exit hook (a traceback after Ctrl-C)."""
    from concurrent.futures import process as cf_process

    from regionkit.inference.pool import WorkerPool

    before = {t for t in threading.enumerate() if isinstance(t, cf_process._ExecutorManagerThread)}
    items = _images(tmp_path / "img", [(40, 30), (41, 30), (42, 30)])
    with WorkerPool(2, window=2, detector_factory=_factory(action, 42), keep_image=False) as pool:
        assert len(list(pool.map(items))) == 3
    left = [t for t in threading.enumerate()
            if isinstance(t, cf_process._ExecutorManagerThread) and t not in before and t.is_alive()]
    assert left == []
