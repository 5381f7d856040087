#!/usr/bin/env python
"""End-to-end ``infer`` throughput vs the bare detector forward on the same batches (goal >= 0.95).

Both are measured in this run, on the same images, batch size and detector:

* bare: images decoded beforehand, then only ``detector.detect(batch)`` is timed;
* end to end: the full runner (decode in worker processes, detect, sanitise, the Patch
  Matters selectors, journal, final JSON files).

``--threads`` is ``runtime.threads`` (the thread budget, default ``auto``; ``off`` is the
behaviour before it).  The bare forward runs with torch's default threads (the goal is
measured against it: the budget must not buy its ratio with a slower reference) and, when
the budget gives the detector another count, with that count too.

The sides alternate, bare first and last (B E B E ... B), and each end-to-end run is paired
with the mean of the bare runs just before and after it: on a shared machine the bare
forward alone drifts by 25 % between consecutive runs of a few seconds, so comparing one
side's best with the other's can go either way.  The goal is read off the median of the
paired ratios (their range is printed too); the best-of ratio is printed for comparison.

    python benchmarks/bench_infer_overhead.py [--detector saliency|yolo] [--images 240] [--rounds 5] [--batch-size 4] [--threads auto]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import DETECTORS, bench_config, make_image_folder, yolo_env

from regionkit.inference.job import build_runner, config_fingerprint
from regionkit.io.images import load_rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=sorted(DETECTORS), default="saliency")
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="end-to-end runs, each paired with bare runs")
    parser.add_argument("--threads", default="auto", help="runtime.threads: auto, off or a number")
    args = parser.parse_args()
    for name in ("images", "rounds", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="rk_bench_"))
    yolo_env(tmp)
    folder = make_image_folder(tmp / "images", args.images)
    det_cfg = DETECTORS[args.detector]
    cfg = bench_config(folder, det_cfg, args.batch_size, args.num_workers)
    cfg.runtime.threads = args.threads if args.threads in ("auto", "off") else int(args.threads)
    default_threads = torch.get_num_threads()  # before anything (ultralytics' first predict) changes it
    runner, dataset = build_runner(cfg, progress=False)
    items = list(dataset)

    # the very detector the runner uses: a second instance would have other random weights (yolo11n.yaml),
    # hence other numbers of candidate boxes and another cost of NMS
    detector = runner.detector
    images = [load_rgb(item.path) for item in items]
    batches = [images[i:i + args.batch_size] for i in range(0, len(images), args.batch_size)]
    detector.detect(batches[0])  # warm-up (lazy imports, first-call costs) for both sides

    budget_threads = runner.thread_plan.main_threads if not runner.detects_in_workers else None
    sides = {"default": default_threads}
    if budget_threads is not None and budget_threads != default_threads:
        sides["budget"] = budget_threads
    bare: dict[str, list[float]] = {side: [] for side in sides}
    e2e: list[float] = []

    def time_bare() -> None:
        for side, threads in sides.items():
            torch.set_num_threads(threads)
            t = time.perf_counter()
            for batch in batches:
                detector.detect(batch)
            bare[side].append(time.perf_counter() - t)
        torch.set_num_threads(default_threads)

    time_bare()
    for r in range(args.rounds):
        t = time.perf_counter()
        runner.run(items, tmp / f"out{r}", config=cfg.to_dict(), fingerprint=config_fingerprint(cfg), overwrite=True)
        e2e.append(time.perf_counter() - t)
        time_bare()
    n = len(items)

    def paired(side: str) -> list[float]:
        """end-to-end throughput / bare throughput, each end-to-end run against its neighbouring bare runs"""
        return [(bare[side][r] + bare[side][r + 1]) / 2 / e2e[r] for r in range(args.rounds)]

    print(f"detector={args.detector} images={n} batch_size={args.batch_size} num_workers={args.num_workers} "
          f"threads={args.threads} ({runner.thread_plan.describe()}) load average={os.getloadavg()[0]:.2f}")
    for side, threads in sides.items():
        print(f"bare detector forward : {n / max(bare[side]):6.1f} - {n / min(bare[side]):6.1f} img/s "
              f"({len(bare[side])} runs, {threads} torch thread(s), {side})")
    print(f"end-to-end infer      : {n / max(e2e):6.1f} - {n / min(e2e):6.1f} img/s ({args.rounds} runs)")
    ratios = paired("default")
    print(f"paired ratios end-to-end / bare: {' '.join(f'{x:.3f}' for x in ratios)}")
    print(f"throughput ratio end-to-end / bare = {statistics.median(ratios):.3f} median of {args.rounds} pairs, "
          f"range {min(ratios):.3f}-{max(ratios):.3f}  (goal >= 0.95; bare at torch's default "
          f"{default_threads} thread(s)); best of each side: {min(bare['default']) / min(e2e):.3f}")
    if "budget" in sides:
        print(f"  (vs the bare forward at the budget's {budget_threads} thread(s): median "
              f"{statistics.median(paired('budget')):.3f})")


if __name__ == "__main__":
    main()
