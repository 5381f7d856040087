"""CIRR and FashionIQ training datasets: layouts, box files, missing images, captions, transforms and collate."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from regionkit.datasets.cirr import CirrDataset
from regionkit.datasets.collate import retrieval_collate
from regionkit.datasets.fashioniq import FashionIQDataset, join_captions, random_caption
from regionkit.datasets.transforms import SprcTransform
from regionkit.errors import ConfigError

SMALL = dict(pipeline="targetpad", size=28)


def write_image(path: Path, size: tuple[int, int], value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 255 - value, 7)).save(path)


def make_cirr(root: Path, split: str = "val", names: int = 8, sizes: dict[str, tuple[int, int]] | None = None) -> Path:
    """A CIRR split of ``names`` images and one triplet per image (target: the next image)."""
    folder = {"train": "train/0", "val": "dev", "test1": "test1"}[split]
    image_split, captions = {}, []
    all_names = [f"{split}-img{i}" for i in range(names)]
    for i, name in enumerate(all_names):
        rel = f"./{folder}/{name}.png"
        image_split[name] = rel
        write_image(root / rel, (sizes or {}).get(name, (40, 30)), 20 * i)
    for i, name in enumerate(all_names):
        entry = {"pairid": 100 + i, "reference": name, "caption": f"caption {i}",
                 "img_set": {"id": i, "members": [name, *[all_names[(i + k) % names] for k in range(1, 6)]]}}
        if split != "test1":
            entry["target_hard"] = all_names[(i + 1) % names]
        captions.append(entry)
    (root / "cirr" / "captions").mkdir(parents=True, exist_ok=True)
    (root / "cirr" / "image_splits").mkdir(parents=True, exist_ok=True)
    (root / "cirr" / "captions" / f"cap.rc2.{split}.json").write_text(json.dumps(captions))
    (root / "cirr" / "image_splits" / f"split.rc2.{split}.json").write_text(json.dumps(image_split))
    return root


def test_cirr_val_gives_names_and_members_and_a_gallery_with_the_references(tmp_path):
    make_cirr(tmp_path, "val")
    ds = CirrDataset(tmp_path, split="val", transform=SMALL)
    assert len(ds) == 8
    item = ds[2]
    assert (item["pair_id"], item["reference"], item["target"]) == (102, "val-img2", "val-img3")
    assert item["caption"] == "caption 2" and len(item["members"]) == 6
    assert "ref_image" not in item  # validation reads images through the gallery
    gallery = ds.gallery()
    assert gallery == {"all": [f"val-img{i}" for i in range(8)]}  # every image, references included, file order
    classic = ds.gallery_dataset()
    assert len(classic) == 8 and classic[5]["name"] == "val-img5"
    assert classic[5]["image"].shape == (3, 28, 28)


def test_cirr_train_loads_both_images_and_test1_has_no_target(tmp_path):
    make_cirr(tmp_path, "train")
    make_cirr(tmp_path, "test1")
    item = CirrDataset(tmp_path, split="train", transform=SMALL)[0]
    assert item["ref_image"].shape == item["tgt_image"].shape == (3, 28, 28)
    assert not torch.equal(item["ref_image"], item["tgt_image"])
    test = CirrDataset(tmp_path, split="test1", transform=SMALL)[3]
    assert test["target"] is None and test["pair_id"] == 103


def test_box_file_is_attached_and_images_without_an_entry_are_counted(tmp_path):
    make_cirr(tmp_path, "train", names=6, sizes={"train-img0": (40, 40)})
    boxes = {"train-img0": [[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 1.0, 1.0]], "train-img1": [[0.1, 0.1, 0.9, 0.9]]}
    box_file = tmp_path / "cirr_boxes.json"
    box_file.write_text(json.dumps(boxes))
    ds = CirrDataset(tmp_path, split="train", transform=SMALL, box_file=box_file)
    assert sorted(ds.boxes.missing) == ["train-img2", "train-img3", "train-img4", "train-img5"]
    item = ds[0]  # reference img0 (square, so targetpad changes nothing), target img1
    assert torch.allclose(item["ref_boxes"], torch.tensor(boxes["train-img0"]), atol=1e-5)
    assert item["tgt_boxes"].shape == (1, 4)
    assert ds[2]["ref_boxes"].shape == (0, 4)  # no entry: no boxes
    batch = retrieval_collate([ds[0], ds[2]])
    assert [b.shape[0] for b in batch["inputs"]["ref_boxes"]] == [2, 0]  # variable counts survive the batch
    assert batch["inputs"]["ref_images"].shape == (2, 3, 28, 28)
    assert batch["inputs"]["captions"] == ["caption 0", "caption 2"]
    assert [s["pair_id"] for s in batch["data_samples"]] == [100, 102]


def test_a_box_file_with_pixel_coordinates_is_refused(tmp_path):
    make_cirr(tmp_path, "train", names=6)
    box_file = tmp_path / "boxes.json"
    box_file.write_text(json.dumps({"train-img0": [[3, 4, 30, 20]]}))
    with pytest.raises(ConfigError, match="must be normalised"):
        CirrDataset(tmp_path, split="train", box_file=box_file)


def test_missing_images_are_one_error_with_the_count_and_the_first_few(tmp_path):
    make_cirr(tmp_path, "train", names=7)
    for i in (1, 3, 4, 6):
        (tmp_path / "train" / "0" / f"train-img{i}.png").unlink()
    with pytest.raises(ConfigError) as info:
        CirrDataset(tmp_path, split="train")
    message = str(info.value)
    assert "\n" not in message
    assert "4 of 7 images are missing" in message
    assert "train-img1.png" in message and "train-img4.png" in message and "train-img6.png" not in message
    assert "expected layout" in message


def test_missing_cirr_files_name_the_layout(tmp_path):
    with pytest.raises(ConfigError, match=r"CIRR image list not found: .*split\.rc2\.val\.json; expected layout"):
        CirrDataset(tmp_path, split="val")


def test_targetpad_maps_boxes_through_the_padding(tmp_path):
    # 60 x 30 (ratio 2 >= 1.25): padded to 60 x 48 (9 px above and below), resized and cropped to a square
    transform = SprcTransform(pipeline="targetpad", target_ratio=1.25, size=48)
    image = Image.new("RGB", (60, 30))
    out = transform(image, np.array([[0.0, 0.0, 1.0, 1.0]]))
    assert out.image.shape == (3, 48, 48)
    # after the pad: y from 9 to 39 of 48; resize to short side 48 (x 60 -> 60), centre crop of x by 6 px each side
    expected = torch.tensor([[0.0, 9 / 48, 1.0, 39 / 48]])
    assert torch.allclose(out.boxes, expected, atol=0.03)
    square = transform(Image.new("RGB", (50, 50)), np.array([[0.2, 0.3, 0.6, 0.9]]))
    assert torch.allclose(square.boxes, torch.tensor([[0.2, 0.3, 0.6, 0.9]]), atol=1e-5)


def make_fiq(root: Path, split: str = "val") -> Path:
    images = root / "images"
    names = {"dress": ["d0", "d1", "d2"], "shirt": ["s0", "s1"], "toptee": ["t0", "t1"]}
    for cat, cat_names in names.items():
        for i, name in enumerate(cat_names):
            write_image(images / f"{name}.png", (30, 40), 30 * i)
        (root / "captions").mkdir(parents=True, exist_ok=True)
        (root / "image_splits").mkdir(parents=True, exist_ok=True)
        triplets = [{"candidate": cat_names[0], "target": cat_names[1], "captions": ["is red.", "has no sleeves "]}]
        (root / "captions" / f"cap.{cat}.{split}.json").write_text(json.dumps(triplets))
        (root / "image_splits" / f"split.{cat}.{split}.json").write_text(json.dumps(cat_names))
    return root


def test_fashioniq_galleries_are_per_category_and_validation_joins_the_captions(tmp_path):
    make_fiq(tmp_path, "val")
    ds = FashionIQDataset(tmp_path, split="val", transform=SMALL)
    assert ds.gallery() == {"dress": ["d0", "d1", "d2"], "shirt": ["s0", "s1"], "toptee": ["t0", "t1"]}
    assert [ds[i]["group"] for i in range(3)] == ["dress", "shirt", "toptee"]
    assert ds[0]["caption"] == "Is red and has no sleeves"
    one = FashionIQDataset(tmp_path, split="val", categories=["shirt"], transform=SMALL)
    assert len(one) == 1 and one.gallery() == {"shirt": ["s0", "s1"]}


def test_fashioniq_training_captions_are_sprcs_four_combinations():
    seen = {random_caption(["is red.", "has no sleeves "], random.Random(i)) for i in range(200)}
    assert seen == {"Is red and has no sleeves", "Has no sleeves and is red", "Is red", "Has no sleeves"}
    assert join_captions("a", "b") == "A and b"


def test_fashioniq_missing_png_is_reported(tmp_path):
    make_fiq(tmp_path, "val")
    (tmp_path / "images" / "s1.png").unlink()
    with pytest.raises(ConfigError, match=r"1 of 7 images is missing: .*s1\.png"):
        FashionIQDataset(tmp_path, split="val")
