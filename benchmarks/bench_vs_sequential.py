#!/usr/bin/env python
"""regionkit ``infer`` vs a per-image sequential loop like the seed scripts (goal >= 1.5x on 2 cores).

The baseline does what ``generate_four_box.py`` / ``generate_cirr_boxes.py`` do: for each
image, load it, predict one image, post-process (here: the same Patch Matters selectors),
append to an in-memory list, and dump JSON at the end.  regionkit runs the same detector and
selectors with batching, worker-process decoding and its journal.  Both run in this process,
one after the other, on the same images.

    python benchmarks/bench_vs_sequential.py [--detector saliency|yolo] [--images 120]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DETECTORS, bench_config, make_image_folder, yolo_env
from PIL import Image

from regionkit.inference.job import build_runner, config_fingerprint
from regionkit.registry import BOX_SELECTORS
from regionkit.registry import DETECTORS as REGISTRY


def sequential_loop(paths: list[Path], det_cfg: dict, out: Path) -> None:
    detector = REGISTRY.build(dict(det_cfg))
    keep = BOX_SELECTORS.build(dict(type="patch_matters_score_filter"))
    merge = BOX_SELECTORS.build(dict(type="neighbor_rpn_merge"))
    four = BOX_SELECTORS.build(dict(type="n_part_regions", n=4))
    results = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        boxes, _ = detector.detect([image])[0].sanitize()
        merged = merge(keep(boxes))
        results.append({"image": str(path), "object_detect_box": merged.tolist(), "four_box": four(merged).tolist()})
    out.write_text(json.dumps(results, indent=4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="saliency")
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rk_bench_"))
    yolo_env(tmp)
    folder = make_image_folder(tmp / "images", args.images)
    det_cfg = DETECTORS[args.detector]
    paths = sorted(folder.glob("*.jpg"))

    cfg = bench_config(folder, det_cfg, args.batch_size, args.num_workers)
    sequential_loop(paths[:2], det_cfg, tmp / "warmup.json")  # first-call imports for both sides

    t = time.perf_counter()
    sequential_loop(paths, det_cfg, tmp / "sequential.json")
    seq = time.perf_counter() - t
    t = time.perf_counter()
    runner, dataset = build_runner(cfg, progress=False)
    runner.run(list(dataset), tmp / "regionkit", config=cfg.to_dict(), fingerprint=config_fingerprint(cfg))
    ours = time.perf_counter() - t
    n = len(paths)
    print(f"detector={args.detector} images={n} batch_size={args.batch_size} num_workers={args.num_workers}")
    print(f"sequential per-image loop : {n / seq:8.1f} img/s")
    print(f"regionkit infer           : {n / ours:8.1f} img/s (includes building the detector)")
    print(f"speed-up regionkit / sequential = {seq / ours:.2f}x  (goal >= 1.5x)")


if __name__ == "__main__":
    main()
