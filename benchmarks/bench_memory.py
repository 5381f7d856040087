#!/usr/bin/env python
"""Peak RSS of ``regionkit infer`` at 1k vs 10k images (goal: flat, < 50 MB apart).

Each size runs ``regionkit infer`` in a fresh child process on small real JPEGs; the peak
resident set size of the largest process of that run (main or decode worker) is read from
``getrusage(RUSAGE_CHILDREN)`` of a wrapper process, so the two numbers are comparable.

    python benchmarks/bench_memory.py [--small 1000] [--large 10000]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import make_image_folder

REPO = Path(__file__).resolve().parents[1]
REGIONKIT = Path(sys.executable).with_name("regionkit")

_WRAPPER = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)   # KiB on Linux
sys.exit(rc)
"""


def peak_rss_mib(folder: Path, out: Path) -> float:
    cmd = [sys.executable, "-c", _WRAPPER, str(REGIONKIT), "infer", str(REPO / "configs" / "saliency_four_box.py"),
           "--images", str(folder), "--out-dir", str(out), "--no-progress", "--overwrite",
           "-o", "runtime.batch_size=8", "-o", "runtime.num_workers=2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return int(proc.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--size", type=int, default=96, help="image width in pixels (small keeps it quick)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rk_bench_mem_"))
    results = {}
    for n in (args.small, args.large):
        folder = make_image_folder(tmp / f"images_{n}", n, size=args.size)
        results[n] = peak_rss_mib(folder, tmp / f"out_{n}")
        print(f"{n:>6} images: peak RSS {results[n]:7.1f} MiB", flush=True)
    diff = results[args.large] - results[args.small]
    print(f"difference {args.large} vs {args.small} images = {diff:+.1f} MiB  (goal: < 50 MiB)")


if __name__ == "__main__":
    main()
