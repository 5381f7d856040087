#!/usr/bin/env python
"""End-to-end ``infer`` throughput vs the bare detector forward on the same batches (goal >= 0.95).

Both are measured in this run, on the same images, batch size and detector:

* bare: images decoded beforehand, then only ``detector.detect(batch)`` is timed;
* end to end: the full runner (decode in worker processes, detect, sanitise, the Patch
  Matters selectors, journal, final JSON files).

    python benchmarks/bench_infer_overhead.py [--detector saliency|yolo] [--images 60] [--batch-size 4]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import DETECTORS, bench_config, make_image_folder, yolo_env

from regionkit.inference.job import build_runner, config_fingerprint
from regionkit.io.images import load_rgb
from regionkit.registry import DETECTORS as REGISTRY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="saliency")
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each side")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rk_bench_"))
    yolo_env(tmp)
    folder = make_image_folder(tmp / "images", args.images)
    det_cfg = DETECTORS[args.detector]
    cfg = bench_config(folder, det_cfg, args.batch_size, args.num_workers)
    runner, dataset = build_runner(cfg, progress=False)
    items = list(dataset)

    detector = REGISTRY.build(dict(det_cfg))
    images = [load_rgb(item.path) for item in items]
    batches = [images[i:i + args.batch_size] for i in range(0, len(images), args.batch_size)]
    detector.detect(batches[0])  # warm-up (lazy imports, first-call costs) for both sides
    runner.detector.detect(batches[0])

    bare, e2e = [], []
    for r in range(args.repeats):
        t = time.perf_counter()
        for batch in batches:
            detector.detect(batch)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        runner.run(items, tmp / f"out{r}", config=cfg.to_dict(), fingerprint=config_fingerprint(cfg), overwrite=True)
        e2e.append(time.perf_counter() - t)
    n = len(items)
    print(f"detector={args.detector} images={n} batch_size={args.batch_size} num_workers={args.num_workers}")
    print(f"bare detector forward : {n / min(bare):8.1f} img/s (best of {args.repeats})")
    print(f"end-to-end infer      : {n / min(e2e):8.1f} img/s (best of {args.repeats})")
    print(f"throughput ratio end-to-end / bare = {min(bare) / min(e2e):.3f}  (goal >= 0.95)")


if __name__ == "__main__":
    main()
