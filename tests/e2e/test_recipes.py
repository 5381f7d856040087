"""Every seed recipe in configs/ runs from its config file on real photographs, offline.

YOLO configs point at a local ``.pt`` file by default; here ``-o detector.model=yolo11n.yaml``
builds a randomly initialised model instead (nothing is downloaded).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

REGIONKIT = shutil.which("regionkit", path=os.path.dirname(sys.executable))
YAML_MODEL = "detector.model='yolo11n.yaml'"


@pytest.fixture(scope="module")
def yolo_env(tmp_path_factory):
    pytest.importorskip("ultralytics")
    return {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp_path_factory.mktemp("yolo_cfg"))}


@pytest.fixture(scope="module")
def cirr_root(sample_images, tmp_path_factory) -> Path:
    """A miniature CIRR layout: image_splits JSON files naming real photos, as the dataset ships."""
    root = tmp_path_factory.mktemp("cirr_dataset")
    photos = sorted(sample_images.iterdir())
    splits = {"train": photos[:4], "val": photos[4:]}
    (root / "cirr" / "image_splits").mkdir(parents=True)
    for split, files in splits.items():
        mapping = {}
        for i, photo in enumerate(files):
            rel = f"./{split}/{i}/{split}-{i}-img0{photo.suffix}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, root / rel)
            mapping[f"{split}-{i}-img0"] = rel
        (root / "cirr" / "image_splits" / f"split.rc2.{split}.json").write_text(json.dumps(mapping))
    return root


def _infer(config: str, out: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([REGIONKIT, "infer", str(REPO / "configs" / config), "--out-dir", str(out), "--no-progress",
                           *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("config", ["cirr_boxes_yolo.py", "cirr_boxes_saliency.py", "cirr_boxes_hybrid.py"])
def test_cirr_recipes_write_normalised_box_files_for_both_splits(config, cirr_root, yolo_env, tmp_path):
    out = tmp_path / "out"
    extra = ["-o", YAML_MODEL] if config == "cirr_boxes_yolo.py" else []
    if config == "cirr_boxes_hybrid.py":
        extra = ["-o", "detector.detectors.0.model='yolo11n.yaml'"]
    _infer(config, out, yolo_env, "-o", f"dataset.root={str(cirr_root)!r}", "--all-splits", *extra)
    for split, count in (("train", 4), ("val", 2)):
        boxes = json.loads((out / split / "cirr_boxes.json").read_text())
        assert list(boxes) == [f"{split}-{i}-img0" for i in range(count)]
        for per_image in boxes.values():
            assert len(per_image) <= 5
            areas = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in per_image]
            assert areas == sorted(areas, reverse=True) and all(a >= 0.01 for a in areas)
            assert all(0.0 <= v <= 1.0 for box in per_image for v in box)
    if config != "cirr_boxes_yolo.py":  # saliency (alone or as fallback) finds regions in these photos
        assert sum(len(v) for v in json.loads((out / "train" / "cirr_boxes.json").read_text()).values()) > 0


def test_cirr_max_images_and_single_split(cirr_root, yolo_env, tmp_path):
    out = tmp_path / "out"
    _infer("cirr_boxes_saliency.py", out, yolo_env, "-o", f"dataset.root={str(cirr_root)!r}", "--split", "val",
           "--max-images", "1")
    assert list(json.loads((out / "cirr_boxes.json").read_text())) == ["val-0-img0"]


def test_yolo_four_box_recipe(sample_images, yolo_env, tmp_path):
    out = tmp_path / "out"
    _infer("yolo_four_box.py", out, yolo_env, "--images", str(sample_images), "-o", YAML_MODEL)
    four = json.loads((out / "four_box.json").read_text())
    assert len(four) == len(list(sample_images.iterdir())) and all(len(r["four_box"]) == 4 for r in four)


def test_main_box_recipe(sample_images, yolo_env, tmp_path):
    out = tmp_path / "out"
    _infer("main_box.py", out, yolo_env, "--images", str(sample_images), "-o", YAML_MODEL)
    main = json.loads((out / "main_box.json").read_text())
    assert list(main) == [os.path.join(str(sample_images), p.name) for p in sorted(sample_images.iterdir())]
    for record in main.values():
        assert list(record) == ["main_box", "equal_four_box"] and len(record["main_box"]) == 4


def test_yolo_config_without_weights_says_where_to_get_them(sample_images, yolo_env, tmp_path):
    proc = subprocess.run([REGIONKIT, "infer", str(REPO / "configs" / "yolo_four_box.py"), "--images",
                           str(sample_images), "--out-dir", str(tmp_path)], capture_output=True, text=True,
                          env=yolo_env, cwd=tmp_path)
    assert proc.returncode == 2
    assert "checkpoints/yolov8n.pt" in proc.stderr and "Traceback" not in proc.stderr


def test_all_splits_builds_the_detector_once(cirr_root, tmp_path, monkeypatch):
    from regionkit.inference import job

    built = []
    real = job.build_detector

    def counting(cfg):
        built.append(cfg["type"])
        return real(cfg)

    monkeypatch.setattr(job, "build_detector", counting)
    runs = job.run_infer(REPO / "configs" / "cirr_boxes_saliency.py", out_dir=tmp_path / "out", progress=False,
                         all_splits=True, cfg_options=[f"dataset.root={str(cirr_root)!r}", "runtime.num_workers=0"])
    assert [r.split for r in runs] == ["train", "val"] and all(r.summary.ok for r in runs)
    assert built == ["saliency"]


def test_stats_and_visualize_read_every_format_the_writers_write(sample_images, yolo_env, tmp_path):
    """main_box.json included (it used to fail): each writer's own box_format reads its files."""
    out = tmp_path / "out"
    _infer("main_box.py", out, yolo_env, "--images", str(sample_images), "-o", YAML_MODEL)
    _infer("saliency_four_box.py", out / "pm", yolo_env, "--images", str(sample_images))
    n = len(list(sample_images.iterdir()))
    for path, fmt, extra in ((out / "main_box.json", "main_box", []),
                             (out / "main_box.json", "main_box", ["--field", "equal_four_box"]),
                             (out / "pm" / "four_box.json", "four_box", ["--field", "two_box"]),
                             (out / "pm" / "object_box.json", "object_box", [])):
        stats = subprocess.run([REGIONKIT, "stats", str(path), "--images", str(sample_images), "--json", *extra],
                               capture_output=True, text=True)
        assert stats.returncode == 0, stats.stderr
        result = json.loads(stats.stdout)
        assert result["format"] == fmt and result["images"] == n
        if extra == ["--field", "equal_four_box"]:
            assert result["boxes"] == 4 * n and abs(result["area"]["mean"] - 0.25) < 0.02
        vis = subprocess.run([REGIONKIT, "visualize", str(path), "--images", str(sample_images), "--out",
                              str(tmp_path / f"vis_{fmt}"), "--no-progress", *extra], capture_output=True, text=True)
        assert vis.returncode == 0, vis.stderr
        assert len(list((tmp_path / f"vis_{fmt}").glob("*.png"))) == n
