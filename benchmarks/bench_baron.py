#!/usr/bin/env python
"""Native BARON vs the original ovdet-in-mmdet on a CPU: images/s, ratio, identical detections.

Both run the OV-COCO R50-FPN BARON on the same seeded random checkpoint
(``regionkit/models/detectors/baron/testing.py``, seed 0, inference keys only) and the same
real photos the parity tests use (``tests/models/baron/images.py``: scikit-image's bundled
photos, decoded by OpenCV as BGR; the native model gets the same pixels as RGB).  The photos
are ordered so that consecutive pairs have the same padded input size (800 x 800, then
800 x 1216), so batch size 2 batches them in both implementations without changing any
detection.  Timed: one ``predict`` / ``DetInferencer`` call over the decoded images (resize,
normalise, network, post-processing; decoding excluded on both sides).

ovdet runs in its own interpreter (``--ovdet-python``, a virtualenv with mmdet / mmcv / ovdet
built as ``tests/models/baron/make_reference.py`` describes) as a long-lived subprocess
(``benchmarks/_baron_ovdet_worker.py``), so the two are measured side by side: after one
warm-up image each, every round runs native then ovdet (A B A B ...) for each batch size, and
the ratio native/ovdet is taken per round, from wall-clock time and from process CPU time
(steadier when other jobs share the cores).  Every ovdet pass is checked against the native
pass of the same round: same counts and labels, scores within 1e-4, box IoU >= 0.99 (the
parity tests' rule).  Without ``--ovdet-python`` the current interpreter is used when it can
import mmdet; otherwise only native BARON is measured (and the table says so).

Float32 by default (ovdet's mmengine ``autocast()`` disabled, as in the parity fixtures);
``--bf16`` compares native ``amp="bf16"`` with ovdet as it really runs on a CPU (bfloat16).
Run::

    nice python benchmarks/bench_baron.py [--images 6] [--rounds 2] [--batch-sizes 1,2] [--threads 1] \\
        [--ovdet-python /work/side/baron/venv/bin/python --ovdet /work/side/baron/ovdet_src] [--profile]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "_baron_ovdet_worker.py"
#: consecutive pairs share a padded input size (800x800, 800x1216, 800x1216)
ORDER = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")


def _photos(count: int) -> tuple[list[str], list[np.ndarray]]:
    """The first ``count`` parity photos as BGR arrays, checked against the parity fixture's hashes."""
    sys.path.insert(0, str(REPO))
    from tests.models.baron.images import load_bgr, sha256_bgr
    from tests.models.baron.support import reference

    expected = {item["name"]: item["sha256_bgr"] for item in reference()["images"]}
    names = list(ORDER[:count])
    images = [np.ascontiguousarray(load_bgr(n)) for n in names]
    for name, img in zip(names, images):
        if sha256_bgr(img) != expected.get(name):
            print(f"warning: {name} differs from the photo the parity fixtures used")
    return names, images


def _checkpoint(work: Path) -> Path:
    from regionkit.models.detectors.baron import testing

    keys = REPO / "tests" / "models" / "baron" / "fixtures" / "baron_checkpoint_keys.txt"
    return testing.save_seeded_checkpoint(work / "seeded_s0_inference.pth", testing.read_key_list(keys), seed=0,
                                          exclude_prefixes=testing.INFERENCE_ONLY_EXCLUDE)


class OvdetWorker:
    """The ovdet-in-mmdet worker subprocess: one timed ``DetInferencer`` pass per request."""

    def __init__(self, python: str, ovdet: Path, checkpoint: Path, images: list[np.ndarray], work: Path,
                 threads: int, score_thr: float, bf16: bool) -> None:
        npz = work / "images_bgr.npz"
        arrays: dict[str, Any] = {f"img_{i:03d}": img for i, img in enumerate(images)}
        np.savez(npz, **arrays)
        self.log = work / "ovdet_worker.log"
        cmd = [python, str(WORKER), "--ovdet", str(ovdet), "--checkpoint", str(checkpoint), "--images", str(npz),
               "--work", str(work / "ovdet_stubs"), "--threads", str(threads), "--score-thr", str(score_thr)]
        self._log_fh = self.log.open("w")
        self.proc = subprocess.Popen(cmd + (["--bf16"] if bf16 else []), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log_fh, text=True, cwd=REPO)
        self.info = self._read("READY")

    def _read(self, tag: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(f"@@{tag} "):
                return json.loads(line[len(tag) + 3:])
        tail = self.log.read_text()[-3000:]
        sys.exit(f"the ovdet worker exited ({self.proc.wait()}); its log ({self.log}) ends with:\n{tail}")

    def run(self, batch_size: int, count: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"batch_size": batch_size, "count": count}) + "\n")
        self.proc.stdin.flush()
        return self._read("RESULT")

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log_fh.close()


def _native_pass(model: Any, rgb: list[np.ndarray], batch_size: int) -> dict[str, Any]:
    model.batch_size = batch_size
    wall, cpu = time.perf_counter(), time.process_time()
    dets = model.predict(rgb)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu,
            "detections": [{"boxes": d.boxes, "scores": d.scores, "labels": d.labels} for d in dets]}


def _mismatches(names: list[str], native: list[dict], ovdet: list[dict]) -> tuple[list[str], float]:
    """Per-image disagreements (parity rule of the tests) and the largest score difference."""
    from tests.models.baron.support import compare

    problems, worst = [], 0.0
    for name, a, b in zip(names, native, ovdet):
        ref = {"name": name, "boxes": b["boxes"], "scores": b["scores"], "labels": b["labels"]}
        try:
            worst = max(worst, compare(ref, a["boxes"], a["scores"], a["labels"])["max_score_diff"])
        except AssertionError as exc:
            problems.append(str(exc))
    return problems, worst


def _profile(model: Any, rgb: list[np.ndarray], top: int) -> None:
    """torch.profiler over one native pass at batch size 1: the operators that take the time."""
    from torch.profiler import ProfilerActivity, profile, record_function

    model.batch_size = 1
    with profile(activities=[ProfilerActivity.CPU]) as prof, record_function("native_predict"):
        model.predict(rgb)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def _resolve_ovdet(args: argparse.Namespace) -> tuple[str | None, Path | None, str]:
    """(python, ovdet source, why not) for the ovdet side."""
    if args.ovdet_python:
        if not Path(args.ovdet_python).exists():
            sys.exit(f"--ovdet-python {args.ovdet_python}: no such interpreter")
        if args.ovdet is None or not (args.ovdet / "ovdet").is_dir():
            sys.exit("--ovdet must name a checkout of wusize/ovdet (a folder holding ovdet/ and configs/)")
        return args.ovdet_python, args.ovdet, ""
    if importlib.util.find_spec("mmdet") is None:
        return None, None, "mmdet is not importable here and --ovdet-python was not given"
    src = args.ovdet
    if src is None:
        spec = importlib.util.find_spec("ovdet")
        if spec is None or spec.origin is None:
            return None, None, "mmdet is importable but ovdet is not; pass --ovdet SRC"
        src = Path(spec.origin).resolve().parents[1]
    return sys.executable, src, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6, choices=range(1, len(ORDER) + 1), metavar="1..6",
                        help="how many of the parity photos (in pairs of equal padded size)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (A B per batch size) after the warm-up")
    parser.add_argument("--batch-sizes", default="1,2")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same on both sides")
    parser.add_argument("--score-thr", type=float, default=0.01)
    parser.add_argument("--bf16", action="store_true", help="native amp='bf16' vs ovdet under CPU autocast")
    parser.add_argument("--ovdet-python", help="interpreter with mmdet, mmcv and ovdet's requirements")
    parser.add_argument("--ovdet", type=Path, help="checkout of wusize/ovdet")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed at exit)")
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="after timing, profile one native pass and print the TOP operators")
    args = parser.parse_args()
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        sys.exit(f"--batch-sizes must be a comma list of integers, got {args.batch_sizes!r}")
    if args.rounds < 1 or min(batch_sizes) < 1:
        sys.exit("--rounds and --batch-sizes must be >= 1")
    python, ovdet_src, why_not = _resolve_ovdet(args)
    torch.set_num_threads(args.threads)
    from regionkit.models.detectors.baron.model import BaronDetectorModel

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_baron_"))
    work.mkdir(parents=True, exist_ok=True)
    worker: OvdetWorker | None = None
    try:
        names, bgr = _photos(args.images)
        rgb = [np.ascontiguousarray(img[:, :, ::-1]) for img in bgr]
        t = time.perf_counter()
        ckpt = _checkpoint(work)
        model = BaronDetectorModel.from_checkpoint(ckpt, score_thr=args.score_thr,
                                                   amp="bf16" if args.bf16 else "auto")
        print(f"seeded checkpoint + native model: {time.perf_counter() - t:.1f} s")
        if python is not None and ovdet_src is not None:
            t = time.perf_counter()
            worker = OvdetWorker(python, ovdet_src, ckpt, bgr, work, args.threads, args.score_thr, args.bf16)
            print(f"ovdet-in-mmdet worker ready: {time.perf_counter() - t:.1f} s "
                  f"(mmdet {worker.info['mmdet']}, torch {worker.info['torch']}, {worker.info['threads']} thread(s))")
        precision = "bfloat16 text encoder (autocast)" if args.bf16 else "float32"
        print(f"BARON R50-FPN, CPU {precision}, {len(names)} photos ({', '.join(names)}), torch threads "
              f"{args.threads}, warm-up + {args.rounds} round(s) interleaved native/ovdet per batch size")
        times: dict[tuple[str, str, int], list[float]] = {}  # (clock, impl, batch) -> seconds per pass
        problems: list[str] = []
        worst = 0.0
        for rnd in range(args.rounds + 1):  # round 0 is the warm-up: the first photo, batch size 1
            for b in batch_sizes[:1] if rnd == 0 else batch_sizes:
                count = 1 if rnd == 0 else len(names)
                a = _native_pass(model, rgb[:count], 1 if rnd == 0 else b)
                o = worker.run(1 if rnd == 0 else b, count) if worker else None
                if o is not None:
                    bad, diff = _mismatches(names, a["detections"], o["detections"])
                    problems += [f"batch {b}, round {rnd}: {p}" for p in bad]
                    worst = max(worst, diff)
                if rnd == 0:
                    print(f"  warm-up ({names[0]}): native {a['wall']:.1f} s"
                          + (f", ovdet {o['wall']:.1f} s" if o is not None else ""), flush=True)
                    continue
                line = f"  round {rnd} batch {b}:"
                for clock in ("wall", "cpu"):
                    times.setdefault((clock, "native", b), []).append(a[clock])
                    line += f"  {clock} native {len(names) / a[clock]:.3f} img/s"
                    if o is not None:
                        times.setdefault((clock, "ovdet", b), []).append(o[clock])
                        line += f", ovdet {len(names) / o[clock]:.3f} img/s ({o[clock] / a[clock]:.2f}x)"
                print(line, flush=True)
        print(f"\n{'implementation':20s} {'batch':>5s} {'wall img/s: median':>19s} {'min..max':>14s}"
              f"   {'CPU img/s: median':>18s} {'min..max':>14s}")
        for impl in ("native", "ovdet"):
            for b in batch_sizes:
                if ("wall", impl, b) not in times:
                    continue
                label = "native (regionkit)" if impl == "native" else "ovdet-in-mmdet"
                cells = []
                for clock in ("wall", "cpu"):
                    rates = [len(names) / t for t in times[(clock, impl, b)]]
                    cells.append(f"{statistics.median(rates):12.3f} {min(rates):9.3f}..{max(rates):<7.3f}")
                print(f"{label:20s} {b:5d}    {cells[0]}    {cells[1]}")
        if worker is None:
            print(f"ovdet was not measured: {why_not}")
        else:
            for b in batch_sizes:
                for clock in ("wall", "cpu"):
                    rs = [o / a for o, a in zip(times[(clock, "ovdet", b)], times[(clock, "native", b)])]
                    print(f"ratio native/ovdet, batch {b}, {clock:4s} time: median {statistics.median(rs):.2f}x "
                          f"(rounds {min(rs):.2f}..{max(rs):.2f}x; goal >= 1.2x)")
            if problems:
                print(f"detections DIFFER ({len(problems)} image passes):")
                for p in problems[:10]:
                    print("  " + p)
            else:
                print(f"detections identical in every pass (counts, labels, scores within 1e-4 - largest "
                      f"difference {worst:.2e} - and box IoU >= 0.99) on all {len(names)} photos")
        if args.profile:
            _profile(model, rgb, args.profile)
    finally:
        if worker is not None:
            worker.close()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            (work / "seeded_s0_inference.pth").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
