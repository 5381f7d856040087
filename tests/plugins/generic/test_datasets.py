"""Datasets: CIRR split files, COCO annotation files and image lists, on real photographs."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from regionkit.errors import ConfigError
from regionkit.inference.runner import InferenceRunner
from regionkit.plugins.cirr.dataset import CirrSplit
from regionkit.plugins.cirr.writer import CirrBoxesWriter
from regionkit.plugins.detectors.saliency import SaliencyDetector
from regionkit.plugins.generic.coco_dataset import CocoImages
from regionkit.plugins.generic.image_list import ImageList
from regionkit.registry import DATASETS

# CIRR names -> sample photo; deliberately not in sorted order (file order must be kept)
CIRR_TRAIN = {
    "train-9-0-img1": ("./train/9/train-9-0-img1.png", "coffee.png"),
    "train-11041-2-img0": ("./train/34/train-11041-2-img0.png", "astronaut.png"),
    "train-11041-2-img1": ("./train/34/train-11041-2-img1.png", None),  # listed, missing on disk
    "train-2-1-img0": ("./train/0/train-2-1-img0.png", "chelsea.png"),
}
CIRR_VAL = {"dev-5-0-img0": ("./dev/dev-5-0-img0.png", "motorcycle_left.png")}


def make_cirr(root: Path, samples: Path) -> Path:
    """A miniature CIRR tree: cirr/image_splits/split.rc2.{train,val}.json plus the image folders."""
    splits = root / "cirr" / "image_splits"
    splits.mkdir(parents=True)
    for split, table in (("train", CIRR_TRAIN), ("val", CIRR_VAL)):
        (splits / f"split.rc2.{split}.json").write_text(json.dumps({k: rel for k, (rel, _) in table.items()}))
        for rel, photo in table.values():
            if photo is not None:
                target = root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(samples / photo, target)
    return root


# ---------------------------------------------------------------------- CIRR
def test_cirr_items_keep_file_order_names_and_original_paths(sample_images, tmp_path):
    root = make_cirr(tmp_path / "cirr_dataset", sample_images)
    ds = CirrSplit(str(root))
    assert len(ds) == 4
    assert [item.name for item in ds] == list(CIRR_TRAIN)
    assert [item.rel_path for item in ds] == [rel[2:] for rel, _ in CIRR_TRAIN.values()]
    assert [item.path for item in ds] == [os.path.join(str(root), rel) for rel, _ in CIRR_TRAIN.values()]
    assert ds[1].rel_path == "train/34/train-11041-2-img0.png"
    assert ds.split == "train" and ds.names == list(CIRR_TRAIN)
    # the missing image is still an item: the runner reports it instead of it vanishing
    assert "train-11041-2-img1" in ds.names and not Path(ds[2].path).exists()
    assert CirrSplit.ALL_SPLITS == ("train", "val")


def test_cirr_val_split_and_image_splits_override(sample_images, tmp_path):
    root = make_cirr(tmp_path / "cirr_dataset", sample_images)
    assert [i.name for i in CirrSplit(root, split="val")] == ["dev-5-0-img0"]
    custom = tmp_path / "mine.json"
    custom.write_text(json.dumps({"x": "./dev/dev-5-0-img0.png", "y": "train/0/train-2-1-img0.png"}))
    ds = CirrSplit(root, split="val", image_splits=str(custom))
    assert [(i.name, i.rel_path) for i in ds] == [("x", "dev/dev-5-0-img0.png"), ("y", "train/0/train-2-1-img0.png")]
    assert ds.image_splits == str(custom)


def test_cirr_missing_split_file_names_file_layout_and_present_splits(sample_images, tmp_path):
    root = make_cirr(tmp_path / "cirr_dataset", sample_images)
    with pytest.raises(ValueError) as info:
        CirrSplit(root, split="test1")
    message = str(info.value)
    assert str(root / "cirr" / "image_splits" / "split.rc2.test1.json") in message
    assert "<root>/cirr/image_splits/split.rc2.<split>.json" in message
    assert "splits present: train, val" in message
    with pytest.raises(ValueError, match="expected layout"):
        CirrSplit(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no CIRR root"):
        CirrSplit(None)
    with pytest.raises(ValueError, match="split must be"):
        CirrSplit(root, split="../train")


def test_cirr_rejects_malformed_split_files(tmp_path):
    splits = tmp_path / "cirr" / "image_splits"
    splits.mkdir(parents=True)
    target = splits / "split.rc2.train.json"
    for content, pattern in (("[1, 2]", "must be a JSON object"), ("{}", "lists no images"),
                             ("{\"a\": 3}", "no relative path"), ("{not json", "cannot read"),
                             ('{"a": "./train/x.png", "b": "train/x.png"}', "both point to")):
        target.write_text(content)
        with pytest.raises(ValueError, match=pattern):
            CirrSplit(tmp_path)


def test_cirr_parameter_errors_are_config_errors_through_the_registry(tmp_path):
    with pytest.raises(ConfigError, match="CIRR split file not found"):
        DATASETS.build(dict(type=CirrSplit, root=str(tmp_path), split="val"))
    with pytest.raises(ConfigError, match="unknown parameter 'splt'"):
        DATASETS.build(dict(type=CirrSplit, root=str(tmp_path), splt="val"))


def test_cirr_run_records_missing_images_as_failures(sample_images, tmp_path):
    root = make_cirr(tmp_path / "cirr_dataset", sample_images)
    ds = CirrSplit(root)
    runner = InferenceRunner(SaliencyDetector(), [], {"cirr": CirrBoxesWriter(boxes="detections")}, progress=False)
    summary = runner.run(list(ds), tmp_path / "out")
    assert summary.num_images == 4 and summary.num_ok == 3
    assert [(f["image"], f["stage"], f["reason"]) for f in summary.failures] == [
        (os.path.join(str(root), "./train/34/train-11041-2-img1.png"), "load", "file not found")]
    boxes = json.loads((tmp_path / "out" / "cirr_boxes.json").read_text())
    assert list(boxes) == ["train-9-0-img1", "train-11041-2-img0", "train-2-1-img0"]
    for value in boxes.values():
        assert value and all(len(b) == 4 and all(0.0 <= v <= 1.0 for v in b) for b in value)


# ---------------------------------------------------------------------- COCO
def write_coco(path: Path, images: list[dict], categories: list[dict] | None = None) -> Path:
    path.write_text(json.dumps({"images": images, "annotations": [],
                                "categories": categories if categories is not None else []}))
    return path


def test_coco_images_sorted_by_id_with_meta_and_categories(sample_images, tmp_path):
    ann = write_coco(tmp_path / "instances.json", [
        {"id": 42, "file_name": "coffee.png", "width": 600, "height": 400},
        {"id": 7, "file_name": "astronaut.png", "width": 512, "height": 512},
        {"id": 19, "file_name": "sub/missing.jpg", "width": 10, "height": 20},
    ], [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}, {"id": 18, "name": "dog", "supercategory": "animal"}])
    ds = CocoImages(str(ann), str(sample_images))
    assert [i.meta["image_id"] for i in ds] == [7, 19, 42]
    assert [i.name for i in ds] == ["astronaut.png", "sub/missing.jpg", "coffee.png"]
    assert ds[0].path == os.path.join(str(sample_images), "astronaut.png")
    assert ds[1].rel_path == "sub/missing.jpg"
    assert ds[2].meta == {"image_id": 42, "width": 600, "height": 400}
    assert ds.categories == [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]
    assert ds.label_to_category_id == {0: 1, 1: 3, 2: 18}
    assert ds.category_ids == [1, 3, 18]


def test_coco_images_root_overrides_img_prefix_and_errors(sample_images, tmp_path):
    ann = write_coco(tmp_path / "a.json", [{"id": 1, "file_name": "chelsea.png"}])
    ds = CocoImages(ann, img_prefix=str(tmp_path), root=str(sample_images))
    assert ds.root == str(sample_images) and Path(ds[0].path).is_file()
    assert ds[0].meta == {"image_id": 1, "width": None, "height": None}
    with pytest.raises(ValueError, match="no image folder given"):
        CocoImages(ann)
    with pytest.raises(ValueError, match="image folder not found"):
        CocoImages(ann, tmp_path / "nope")
    with pytest.raises(ValueError, match="annotation file not found"):
        CocoImages(tmp_path / "none.json", sample_images)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match="needs an 'images' list"):
        CocoImages(bad, sample_images)
    write_coco(bad, [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}])
    with pytest.raises(ValueError, match="image id 1 appears twice"):
        CocoImages(bad, sample_images)
    write_coco(bad, [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "./a.png"}])
    with pytest.raises(ValueError, match="same file_name"):
        CocoImages(bad, sample_images)
    write_coco(bad, [{"id": "1", "file_name": "a.png"}])
    with pytest.raises(ValueError, match=r"images\[0\] needs an integer 'id'"):
        CocoImages(bad, sample_images)
    write_coco(bad, [])
    with pytest.raises(ValueError, match="lists no images"):
        CocoImages(bad, sample_images)


# ---------------------------------------------------------------------- image lists
def test_image_list_resolves_against_list_folder_skipping_comments(sample_images, tmp_path):
    folder = tmp_path / "lists"
    shutil.copytree(sample_images, folder / "photos")
    absolute = str(sample_images / "rocket.jpg")
    listing = folder / "images.txt"
    listing.write_text("# my images\n\nphotos/coffee.png\n   photos/./astronaut.png  \n"
                       f"{absolute}\n  # indented comment\nphotos/absent.png\r\n")
    ds = ImageList(str(listing))
    assert [i.rel_path for i in ds] == ["photos/coffee.png", "photos/astronaut.png", absolute, "photos/absent.png"]
    assert ds[0].path == os.path.join(str(folder), "photos/coffee.png") and Path(ds[0].path).is_file()
    assert ds[2].path == absolute
    assert not Path(ds[3].path).exists()  # kept: the runner reports it
    assert ds.root == str(folder)


def test_image_list_root_and_duplicates(sample_images, tmp_path):
    listing = tmp_path / "l.txt"
    listing.write_text("coffee.png\nchelsea.png\n")
    ds = ImageList(listing, root=str(sample_images))
    assert all(Path(i.path).is_file() for i in ds) and ds[1].path == os.path.join(str(sample_images), "chelsea.png")
    listing.write_text("coffee.png\n# c\nchelsea.png\n./sub/../coffee.png\n")
    with pytest.raises(ValueError) as info:
        ImageList(listing, root=sample_images)
    assert "line 4" in str(info.value) and "line 1" in str(info.value) and "./sub/../coffee.png" in str(info.value)
    listing.write_text(f"coffee.png\n{sample_images / 'coffee.png'}\n")
    with pytest.raises(ValueError, match="line 2.*same file as line 1"):
        ImageList(listing, root=sample_images)
    listing.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="names no images"):
        ImageList(listing)
    with pytest.raises(ValueError, match="image list file not found"):
        ImageList(tmp_path / "none.txt")
    with pytest.raises(ValueError, match="image folder not found"):
        ImageList(listing, root=tmp_path / "none")
