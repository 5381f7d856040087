#!/usr/bin/env python
"""Sharded ``infer``: N ranks under ``torchrun`` vs one process on the same images (saliency; goal >= 1.7x for 2 ranks on 2 cores).

Both sides run in this benchmark, one after the other, as the commands a user types:

* one process: ``regionkit infer configs/saliency_four_box.py --images DIR``;
* N ranks:     ``torchrun --standalone --nproc-per-node N tools/infer.py configs/saliency_four_box.py --images DIR``;

with ``runtime.num_workers=0`` by default, so the one process uses one core and each rank one
core (``--num-workers`` changes it for both sides).  The final files of both must be
byte-identical.  Reported: wall time of each command (Python's start-up, torch's import in
torchrun and in every rank, the gloo rendezvous and the merge included), the run as the
summary line times it (rendezvous and merge included, start-up and imports not), the work
itself (the slowest rank's per-rank line), and each rank's resident memory (RSS) sampled
every 50 images by a lifecycle hook.

``--shards-images 20000`` adds the WebDataset case: that many synthetic images (made from
the sample photos, resized to 256 px) written as tar shards of ``--per-shard`` images, run
with the ``shard_jsonl`` writer by 1 and by N ranks; it prints throughput and the RSS curve
of every rank (flat: a rank holds one shard at a time).  The default (0) skips it; 2000 runs
in a few minutes here.

    python benchmarks/bench_sharded.py [--images 240] [--ranks 2] [--num-workers 0] [--shards-images 2000]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, make_image_folder
from PIL import Image

BIN = Path(sys.executable).parent
RSS_HOOK = '''
import os
from regionkit import hookimpl

_count = [0]

def _rss_mib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

@hookimpl
def regionkit_after_detections(result):
    _count[0] += 1
    if _count[0] == 1 or _count[0] % 50 == 0:
        rank = os.environ.get("RANK", "0")
        with open(os.path.join(os.environ["RK_RSS_DIR"], f"rank{rank}.txt"), "a") as fh:
            fh.write(f"{_count[0]} {_rss_mib():.1f}\\n")
'''
WDS_CONFIG = """
_base_ = ['{base}']
dataset = dict(_delete_=True, type='webdataset', root=None)
writers = [dict(type='shard_jsonl', filename='regions', regions=['kept', 'four_box'])]
"""


def _site(tmp: Path) -> Path:
    """A site folder with the RSS hook, installed as a lifecycle plugin for the commands it starts."""
    sys.path.insert(0, str(REPO))
    from tests.conftest import write_distribution

    site = tmp / "site"
    write_distribution(site, "rk-bench-rss", "1.0", {"regionkit.lifecycle": ["rss = rk_bench_rss"]},
                       {"rk_bench_rss.py": RSS_HOOK})
    return site


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def _run_rate(stdout: str, images: int) -> float:
    """Images per second of the whole run inside the process (the summary line: from the start of the run,
    the rendezvous of the ranks included, to the last final file; Python's start-up and imports excluded)."""
    found = re.search(r"Processed \d+/\d+ images.* in ([\d.]+)s", stdout)
    return images / float(found.group(1)) if found else float("nan")


def _work_rate(stdout: str, images: int) -> float:
    """Images per second of the work itself: per-rank lines (the slowest rank), else the summary line."""
    ranks = [float(s) for s in re.findall(r"^rank \d+/\d+: .*?, ([\d.]+)s, ", stdout, re.M)]
    if ranks:
        return images / max(ranks)
    return _run_rate(stdout, images)


def _rss(folder: Path) -> dict[str, tuple[float, float, float, int]]:
    """Per rank: (first, max, last) RSS in MiB and the number of samples."""
    out = {}
    for path in sorted(folder.glob("rank*.txt")):
        values = [float(line.split()[1]) for line in path.read_text().splitlines() if line.strip()]
        out[path.stem] = (values[0], max(values), values[-1], len(values))
    return out


def _compare(label: str, tmp: Path, images: str, config: Path, ranks: int, extra: list[str], env: dict[str, str],
             files: list[str], count: int) -> None:
    results = {}
    for n in (1, ranks):
        out = tmp / f"{label}_{n}"
        rss_dir = tmp / f"{label}_rss_{n}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(rss_dir, ignore_errors=True)
        rss_dir.mkdir(parents=True)
        run_env = {**env, "RK_RSS_DIR": str(rss_dir)}
        common = [str(config), "--images", images, "--out-dir", str(out), "--no-progress", *extra]
        if n == 1:
            cmd = [str(BIN / "regionkit"), "infer", *common]
        else:
            cmd = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", str(n), str(REPO / "tools" / "infer.py"),
                   *common]
        wall, stdout = _run(cmd, run_env)
        results[n] = (wall, _work_rate(stdout, count), _rss(rss_dir), out, _run_rate(stdout, count))
    names = sorted({str(p.relative_to(results[1][3])) for pattern in files for p in results[1][3].glob(pattern)})
    same = bool(names) and all((results[1][3] / f).read_bytes() == (results[ranks][3] / f).read_bytes() for f in names)
    (w1, r1, rss1, _, u1), (wn, rn, rssn, _, un) = results[1], results[ranks]
    print(f"[{label}] images={count}  byte-identical outputs: {same}")
    print(f"  1 process : {w1:7.1f} s wall, {count / w1:7.1f} img/s wall, {u1:7.1f} img/s run, {r1:7.1f} img/s work")
    print(f"  {ranks} ranks   : {wn:7.1f} s wall, {count / wn:7.1f} img/s wall, {un:7.1f} img/s run, {rn:7.1f} img/s work")
    print(f"  speed-up {ranks} ranks / 1 process: {w1 / wn:.2f}x wall, {un / u1:.2f}x run, {rn / r1:.2f}x work  "
          f"(goal >= 1.7x for 2 ranks)")
    for n, rss in ((1, rss1), (ranks, rssn)):
        for rank, (first, peak, last, samples) in rss.items():
            print(f"  RSS {n} rank(s) {rank}: first {first:.0f} MiB, max {peak:.0f} MiB, last {last:.0f} MiB "
                  f"({samples} samples, every 50 images)")


def _write_synthetic_shards(folder: Path, count: int, per_shard: int) -> str:
    """``count`` JPEGs (the sample photos at 256 px, rotated through) in tar shards; returns the brace pattern."""
    import webdataset as wds

    from regionkit.io.samples import write_sample_images

    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "_src"
    blobs = []
    for path in write_sample_images(src):
        im = Image.open(path).convert("RGB")
        for angle in (0, 90, 180, 270):
            buf = io.BytesIO()
            im.rotate(angle).resize((256, 256)).save(buf, format="JPEG", quality=85)
            blobs.append(buf.getvalue())
    shutil.rmtree(src)
    shards = (count + per_shard - 1) // per_shard
    for s in range(shards):
        with wds.TarWriter(str(folder / f"synth-{s:06d}.tar")) as sink:
            for j in range(s * per_shard, min(count, (s + 1) * per_shard)):
                sink.write({"__key__": f"{j:08d}", "jpg": blobs[j % len(blobs)]})
    return str(folder / f"synth-{{000000..{shards - 1:06d}}}.tar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240, help="photos in the folder case")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=0, help="runtime.num_workers of every process")
    parser.add_argument("--shards-images", type=int, default=0, help="also run the WebDataset case (e.g. 20000)")
    parser.add_argument("--per-shard", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rk_bench_sharded_"))
    site = _site(tmp)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    extra = ["-o", f"runtime.num_workers={args.num_workers}"]
    print(f"cores={len(os.sched_getaffinity(0))} load average={os.getloadavg()[0]:.2f} num_workers={args.num_workers}")
    folder = make_image_folder(tmp / "images", args.images)
    _compare("folder", tmp, str(folder), REPO / "configs" / "saliency_four_box.py", args.ranks, extra, env,
             ["four_box.json", "object_box.json"], args.images)
    if args.shards_images:
        pattern = _write_synthetic_shards(tmp / "shards", args.shards_images, args.per_shard)
        config = tmp / "saliency_webdataset.py"
        config.write_text(WDS_CONFIG.format(base=REPO / "configs" / "saliency_four_box.py"))
        _compare("webdataset", tmp, pattern, config, args.ranks, extra, env, ["regions/*"], args.shards_images)
        manifest = json.loads((tmp / f"webdataset_{args.ranks}" / "regions" / "manifest.json").read_text())
        size = sum(p.stat().st_size for p in (tmp / f"webdataset_{args.ranks}" / "regions").iterdir())
        print(f"  outputs: {len(manifest['shards'])} shard files + manifest, {size / 1e6:.1f} MB "
              f"({size / args.shards_images:.0f} bytes per image)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
