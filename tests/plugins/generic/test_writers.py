"""Writers for CIRR box files, COCO results and PNG visualisations, on real photographs."""
from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from regionkit import ImageItem, ImageResult
from regionkit.inference.runner import InferenceRunner
from regionkit.io.images import load_rgb
from regionkit.io.pictures import PALETTE, draw_boxes, png_name
from regionkit.plugins.cirr.arithmetic import cirr_xyxyn
from regionkit.plugins.cirr.writer import CirrBoxesWriter
from regionkit.plugins.detectors.saliency import SaliencyDetector
from regionkit.plugins.generic.coco_dataset import CocoImages
from regionkit.plugins.generic.coco_writer import COCO80_CATEGORY_IDS, CocoResultsWriter
from regionkit.plugins.generic.visualize import BoxVisualizer
from regionkit.structures.boxes import Boxes


def result_for(image_path: Path, boxes_xyxy, rel_path: str, name: str = "", meta=None, scores=None, labels=None,
               regions=None) -> ImageResult:
    image = load_rgb(image_path)
    size = (image.shape[1], image.shape[0])
    dets = Boxes.create(boxes_xyxy, size, scores=scores, labels=labels)
    regions = {k: Boxes.create(v, size) for k, v in (regions or {}).items()}
    item = ImageItem(path=str(image_path), rel_path=rel_path, name=name, meta=meta or {})
    return ImageResult(item=item, image_size=size, detections=dets, regions=regions, image=image)


# ---------------------------------------------------------------------- CIRR
def test_cirr_normalisation_is_float32_division_like_ultralytics():
    boxes = Boxes.create([[100.0, 37.25, 333.0, 499.9], [0.0, 0.0, 640.0, 480.0]], (333, 500))
    got = cirr_xyxyn(boxes)
    expected = (np.float32([[100.0, 37.25, 333.0, 499.9], [0, 0, 640, 480]])
                / np.float32([333, 500, 333, 500])).tolist()
    assert got == expected
    assert all(type(v) is float for row in got for v in row)
    assert got[0][0] == float(np.float32(100.0) / np.float32(333.0)) != 100.0 / 333.0  # float32, not float64
    assert got[0][2] == 1.0 and got[1] == [0.0, 0.0, float(np.float32(640) / np.float32(333)),
                                          float(np.float32(0.96))]  # 480/500 rounded to float32
    assert cirr_xyxyn(Boxes.empty((5, 5))) == []


def test_cirr_normalisation_matches_torch_in_place_division_on_cpu():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w, h = 481, 333
    xyxy = (rng.random((500, 4)) * [w, h, w, h]).astype(np.float32)
    t = torch.from_numpy(xyxy.copy())
    t[..., [0, 2]] /= w  # ultralytics Boxes.xyxyn
    t[..., [1, 3]] /= h
    assert cirr_xyxyn(Boxes.create(xyxy, (w, h))) == t.tolist()
    # float32_reciprocal is what CUDA computes (a * (1/b)); it differs in the last bit for some values
    recip = cirr_xyxyn(Boxes.create(xyxy, (w, h)), arithmetic="float32_reciprocal")
    assert recip == (xyxy * (np.float32(1) / np.float32([w, h, w, h]))).tolist()
    assert recip != t.tolist()


def test_cirr_writer_streams_exact_json(sample_images, tmp_path):
    writer = CirrBoxesWriter(boxes="cirr")
    r1 = result_for(sample_images / "astronaut.png", [[0, 0, 1, 1]], "train/34/a.png", name="train-1-0-img0",
                    regions={"cirr": [[10, 20, 100, 200], [0.5, 1.5, 300.25, 400]]})
    r2 = result_for(sample_images / "coffee.png", [[0, 0, 1, 1]], "dev/c.png", name="dev-7-1-img1",
                    regions={"cirr": np.zeros((0, 4))})
    records = [writer.make_record(r1), writer.make_record(r2)]
    records = json.loads(json.dumps(records))  # as the journal stores them
    paths = writer.finalize(tmp_path, iter(records))
    assert paths == [tmp_path / "cirr_boxes.json"]
    expected = {"train-1-0-img0": [[10 / 512, 20 / 512, 100 / 512, 200 / 512],
                                   [0.5 / 512, 1.5 / 512, 300.25 / 512, 400 / 512]],  # 512x512: exact in float32
                "dev-7-1-img1": []}
    assert paths[0].read_text(encoding="utf-8") == json.dumps(expected, indent=2, ensure_ascii=False)
    assert writer.read_records(paths) == records
    assert writer.required_regions() == {"cirr"}
    assert [p.name for p in tmp_path.iterdir()] == ["cirr_boxes.json"]  # no temporary file left behind


def test_cirr_writer_rejects_duplicate_names_and_bad_params(tmp_path):
    writer = CirrBoxesWriter()
    with pytest.raises(ValueError, match="'x' occurs twice"):
        writer.finalize(tmp_path, iter([{"image": "x", "boxes": []}, {"image": "x", "boxes": []}]))
    assert not (tmp_path / "cirr_boxes.json").exists()
    with pytest.raises(ValueError, match="indent"):
        CirrBoxesWriter(indent=-1)
    for bad in ("/abs.json", "sub/b.json", "..", "a\x00b.json"):
        with pytest.raises(ValueError, match="filename must"):
            CirrBoxesWriter(filename=bad)
    with pytest.raises(ValueError, match="boxes"):
        CirrBoxesWriter(boxes="")
    writer = CirrBoxesWriter(indent=None, filename="b.json")
    path = writer.finalize(tmp_path, iter([{"image": "é", "boxes": [[0.0, 0.5, 1.0, 1.0]]}]))[0]
    assert path.read_text(encoding="utf-8") == '{"é": [[0.0, 0.5, 1.0, 1.0]]}'


# ---------------------------------------------------------------------- COCO
def coco_gt(tmp_path: Path, sample_images: Path) -> Path:
    """GT for astronaut (id 3) and coffee (id 9): categories person (1), car (3), dog (18)."""
    a = Image.open(sample_images / "astronaut.png").size
    c = Image.open(sample_images / "coffee.png").size
    gt = {
        "images": [{"id": 9, "file_name": "coffee.png", "width": c[0], "height": c[1]},
                   {"id": 3, "file_name": "astronaut.png", "width": a[0], "height": a[1]}],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 1, "bbox": [150.0, 10.0, 200.0, 400.0], "area": 80000.0,
             "iscrowd": 0},
            {"id": 2, "image_id": 3, "category_id": 3, "bbox": [350.0, 0.0, 120.0, 300.0], "area": 36000.0,
             "iscrowd": 0},
            {"id": 3, "image_id": 9, "category_id": 18, "bbox": [100.0, 50.0, 300.0, 250.0], "area": 75000.0,
             "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return path


def test_coco_results_are_accepted_by_pycocotools_and_score_perfect_ap(sample_images, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_path = coco_gt(tmp_path, sample_images)
    ds = CocoImages(gt_path, sample_images)
    writer = CocoResultsWriter(category_ids=ds.category_ids)  # labels 0, 1, 2 -> 1, 3, 18
    results = []
    for item in ds:
        if item.meta["image_id"] == 3:
            boxes, labels = [[150, 10, 350, 410], [350, 0, 470, 300]], [0, 1]
        else:
            boxes, labels = [[100, 50, 400, 300]], [2]
        results.append(result_for(Path(item.path), boxes, item.rel_path, name=item.name, meta=item.meta,
                                  scores=[0.9] * len(boxes), labels=labels))
    records = json.loads(json.dumps([writer.make_record(r) for r in results]))
    path = writer.finalize(tmp_path / "out", iter(records))[0]
    data = json.loads(path.read_text())
    assert data == [
        {"image_id": 3, "category_id": 1, "bbox": [150.0, 10.0, 200.0, 400.0], "score": 0.9},
        {"image_id": 3, "category_id": 3, "bbox": [350.0, 0.0, 120.0, 300.0], "score": 0.9},
        {"image_id": 9, "category_id": 18, "bbox": [100.0, 50.0, 300.0, 250.0], "score": 0.9},
    ]
    assert writer.read_records([path]) == records
    gt = COCO(str(gt_path))
    dt = gt.loadRes(str(path))
    assert len(dt.getAnnIds()) == 3
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]: every box exact


def test_coco_results_from_a_real_run_load_and_evaluate(sample_images, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_path = coco_gt(tmp_path, sample_images)
    ds = CocoImages(gt_path, sample_images)
    runner = InferenceRunner(SaliencyDetector(), [], {"coco": CocoResultsWriter()}, progress=False)
    summary = runner.run(list(ds), tmp_path / "out")
    assert summary.ok
    path = tmp_path / "out" / "coco_results.json"
    data = json.loads(path.read_text())
    assert data and {d["image_id"] for d in data} == {3, 9}
    assert {d["category_id"] for d in data} == {COCO80_CATEGORY_IDS[0]}  # saliency labels every box 0
    assert [d["image_id"] for d in data] == sorted(d["image_id"] for d in data)  # dataset order (by id)
    ev = COCOeval(COCO(str(gt_path)), COCO(str(gt_path)).loadRes(str(path)), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert len(ev.stats) == 12 and all(-1.0 <= s <= 1.0 for s in ev.stats)


def test_coco_results_mapping_and_errors(sample_images):
    assert len(COCO80_CATEGORY_IDS) == 80 and len(set(COCO80_CATEGORY_IDS)) == 80
    assert COCO80_CATEGORY_IDS[:12] == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13) and COCO80_CATEGORY_IDS[-1] == 90
    assert set(range(1, 91)) - set(COCO80_CATEGORY_IDS) == {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    r = result_for(sample_images / "chelsea.png", [[1, 2, 3, 4], [5, 6, 7, 9]], "chelsea.png",
                   meta={"image_id": 77}, scores=[0.5, 0.25], labels=[79, 11])
    assert [(d["category_id"], d["bbox"], d["score"]) for d in CocoResultsWriter().make_record(r)] == [
        (90, [1.0, 2.0, 2.0, 2.0], 0.5), (13, [5.0, 6.0, 2.0, 3.0], 0.25)]
    with pytest.raises(ValueError, match="label 79 has no COCO category id"):
        CocoResultsWriter(category_ids=[5, 6]).make_record(r)
    no_id = result_for(sample_images / "chelsea.png", [[1, 2, 3, 4]], "chelsea.png")
    with pytest.raises(ValueError, match="needs a dataset with COCO image ids, e.g. coco_images"):
        CocoResultsWriter().make_record(no_id)
    for bad in ("1,2", [], [1, 1], [1.5]):
        with pytest.raises(ValueError, match="category_ids"):
            CocoResultsWriter(category_ids=bad)


# ---------------------------------------------------------------------- PNG visualiser
def test_visualizer_saves_pngs_at_once_with_set_colours(sample_images, tmp_path):
    vis = BoxVisualizer(regions=("detections", "kept"), line_width=3, max_size=256)
    vis.start(tmp_path)
    r = result_for(sample_images / "chelsea.png", [[40, 40, 200, 200]], "cats/chelsea.png",
                   regions={"kept": [[300, 100, 440, 260]]})  # chelsea is 451x300
    record = vis.make_record(r)
    assert record == "vis/cats%2Fchelsea.png.png"
    png = tmp_path / record
    assert png.is_file()  # written by make_record, before finalize
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (256, round(300 * 256 / 451))
        scale = 256 / 451
        assert im.getpixel((round(40 * scale) + 1, round(120 * scale))) == PALETTE[0]  # left edge of set 0
        assert im.getpixel((round(300 * scale) + 1, round(180 * scale))) == PALETTE[1]  # left edge of set 1
        original = Image.open(sample_images / "chelsea.png").convert("RGB").resize(im.size, Image.BILINEAR)
        assert im.getpixel((5, 5)) == original.getpixel((5, 5))  # away from boxes: the photo
    assert vis.finalize(tmp_path, iter([record])) == [png]
    assert vis.read_records([png]) == [record]
    assert sorted(p.name for p in (tmp_path / "vis").iterdir()) == ["cats%2Fchelsea.png.png"]  # no temp files
    assert vis.required_regions() == {"detections", "kept"}


def test_visualizer_in_a_run_and_errors(sample_images, tmp_path):
    vis = BoxVisualizer(max_size=None)
    r = result_for(sample_images / "coffee.png", [[10, 10, 50, 50]], "coffee.png")
    with pytest.raises(RuntimeError, match="start"):
        vis.make_record(r)
    vis.start(tmp_path / "run")
    rec = vis.make_record(r)
    with Image.open(tmp_path / "run" / rec) as im:
        assert im.size == (r.image.shape[1], r.image.shape[0])  # max_size=None keeps the size
    r.image = None
    with pytest.raises(ValueError, match="result.image is None"):
        vis.make_record(r)
    for kwargs, pattern in (({"regions": []}, "regions"), ({"regions": ("a", "a")}, "twice"),
                            ({"line_width": 0}, "line_width"), ({"max_size": 0}, "max_size"),
                            ({"folder": "../x"}, "'..'")):
        with pytest.raises(ValueError, match=pattern):
            BoxVisualizer(**kwargs)
    assert BoxVisualizer(regions="kept").regions == ("kept",)


def test_png_names_are_flat_unique_and_reversible():
    keys = ["a/b.png", "a%2Fb.png", "a_b.png", "../up.jpg", "/abs/x.jpg", "ünï cøde.jpg"]
    names = [png_name(k) for k in keys]
    assert len(set(names)) == len(keys)
    assert all("/" not in n and n.endswith(".png") for n in names)
    assert [urllib.parse.unquote(n[:-4]) for n in names] == keys
    long_a, long_b = "d/" * 200 + "a.png", "d/" * 200 + "b.png"
    assert png_name(long_a) != png_name(long_b) and len(png_name(long_a)) <= 204


def test_draw_boxes_clips_and_skips_bad_boxes():
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    pic = draw_boxes(image, [[[-5, -5, 100, 100], [np.nan, 0, 3, 3], [8, 8, 8, 12]]], line_width=1, max_size=None)
    arr = np.asarray(pic)
    assert tuple(arr[0, 0]) == PALETTE[0] and tuple(arr[19, 29]) == PALETTE[0]  # clipped to the border
    assert tuple(arr[10, 10]) == (0, 0, 0) and tuple(arr[1, 3]) == (0, 0, 0)   # NaN and empty boxes skipped
    assert arr.shape == (20, 30, 3)
    with pytest.raises(ValueError, match="RGB uint8"):
        draw_boxes(np.zeros((4, 4)), [])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_visualizer_through_the_runner_once_started(sample_images, tmp_path, num_workers):
    from regionkit.plugins.generic.image_folder import ImageFolder

    vis = BoxVisualizer(max_size=128)
    vis.start(tmp_path / "out")  # what the runner does before the first image
    # with workers, saliency (parallel_safe) detects in the workers: the pixels come back only
    # because the visualiser declares needs_image
    runner = InferenceRunner(SaliencyDetector(), [], {"vis": vis}, num_workers=num_workers,
                             detector_factory=SaliencyDetector, progress=False)
    assert runner.needs_pixels
    summary = runner.run(list(ImageFolder(sample_images)), tmp_path / "out")
    assert summary.ok, summary.failures
    pngs = [p for p in summary.outputs if p.suffix == ".png"]
    assert sorted(p.name for p in pngs) == sorted(png_name(n) for n in os.listdir(sample_images))
    for p in pngs:
        with Image.open(p) as im:
            assert max(im.size) == 128
