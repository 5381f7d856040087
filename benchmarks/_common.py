"""Shared helpers for the benchmark scripts: image folders of real photos and detector configs."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

from regionkit.config.loader import load_config
from regionkit.io.samples import write_sample_images

REPO = Path(__file__).resolve().parents[1]

#: detector configs the benchmarks can run; yolo needs the [yolo] extra (random weights, no download)
DETECTORS = {
    "saliency": dict(type="saliency"),
    "yolo": dict(type="yolo", model="yolo11n.yaml", conf=0.25, imgsz=640),
}


def make_image_folder(folder: Path, count: int, size: int | None = None) -> Path:
    """``count`` JPEGs cycling through the real sample photos (optionally resized to ``size`` wide)."""
    folder = Path(folder)
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    samples = folder / "_src"
    sources = []
    for path in write_sample_images(samples):
        im = Image.open(path).convert("RGB")
        if size:
            im = im.resize((size, max(1, round(im.height * size / im.width))))
        sources.append(im)
    shutil.rmtree(samples)
    first = folder / "img_000000.jpg"
    for i in range(count):
        target = folder / f"img_{i:06d}.jpg"
        if i < len(sources):
            sources[i].save(target, quality=90)
        else:  # hard links keep 10k-image folders cheap on disk and fast to create
            os.link(folder / f"img_{i % len(sources):06d}.jpg", target)
    assert first.exists()
    return folder


def yolo_env(tmp: Path) -> None:
    """Keep ultralytics offline and its settings inside ``tmp``."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp / "yolo_config"))


def bench_config(folder: Path, detector: dict, batch_size: int, num_workers: int):
    """The saliency four-box config on ``folder`` with another detector and runtime settings."""
    cfg = load_config(REPO / "configs" / "saliency_four_box.py",
                      [f"dataset.root={str(folder)!r}", f"runtime.batch_size={batch_size}",
                       f"runtime.num_workers={num_workers}"])
    cfg.detector = detector
    return cfg
