"""Reference saliency boxes from the real OpenCV-contrib, for the numpy port.

Runs the CIRR box recipe (aizhao/SPRC- roi_align_integration/tools/
generate_cirr_boxes.py, ``detect_with_saliency``, default num_regions=3) with
``cv2.saliency.StaticSaliencySpectralResidual`` on every case of
``saliency_opencv_cases.all_cases()`` and writes ``fixtures/saliency_opencv_reference.json``::

    {"_meta": {...},
     case_id: {"size": [W, H], "boxes": [[x1, y1, x2, y2], ...],   # pixels, x2 = x + w
               "digest": <input sha256[:16]>, "fg": <foreground pixels>,
               "ncontours": <external contours>, "mask": <binary-mask sha256[:16]>,
               "top": [[contourArea, x, y, w, h] of the 8 largest contours],
               "set": "tuning" | "heldout"}}

The image fed to OpenCV is the Pillow-built RGB case flipped to BGR (what
``cv2.imread`` of the same pixels gives).  Boxes are kept with the script's
own filter ``(x2/W - x1/W) * (y2/H - y1/H) > 0.01`` on Python floats.

Rebuild the side virtualenv and regenerate, from the repository root (never install
opencv-contrib into the project's venv: it would replace the cv2 folder ultralytics uses)::

    python3 -m venv /tmp/saliency-ref
    /tmp/saliency-ref/bin/pip install numpy scipy pillow scikit-image opencv-contrib-python-headless==5.0.0.93
    /tmp/saliency-ref/bin/python -c "import cv2; assert hasattr(cv2, 'saliency')"
    /tmp/saliency-ref/bin/python tests/plugins/detectors/make_saliency_opencv_reference.py            # writes the JSON
    /tmp/saliency-ref/bin/python tests/plugins/detectors/make_saliency_opencv_reference.py --compare  # and runs
                                                 # the numpy port beside it, reporting map / box differences

Options: ``--set tuning|heldout`` restricts the cases (and does not write);
``--no-write``; ``--out PATH``.  To check another OpenCV build, make another
venv (``opencv-contrib-python-headless==4.14.0.94``; for 4.9 / 4.6 also
``"numpy<2"``), point ``SKIMAGE_DATA_DIR`` at a scikit-image ``data`` folder
if scikit-image is not installed there, and run with ``--out`` elsewhere.

The committed JSON was made with opencv-contrib-python-headless 5.0.0.93 on
x86-64 (Intel IPP HAL, AVX-512/FMA CPU).  4.14.0.94, 4.9.0.80 and 4.6.0.66
give an identical JSON (4.9/4.6 maps differ from 5.0 by ~1 ulp, masks and
boxes do not).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(HERE))))  # the repository root

from tests.plugins.detectors.saliency_opencv_cases import (  # noqa: E402
    all_cases,
    build_case,
    heldout_cases,
    input_digest,
    mask_digest,
)

TOP_CONTOURS = 8


def cv2_recipe(bgr: np.ndarray, num_regions: int = 3):
    """detect_with_saliency, minus imread.

    Returns (pixel boxes, saliency map, binary map, number of external
    contours, [contourArea, x, y, w, h] of the TOP_CONTOURS largest)."""
    import cv2

    h, w = bgr.shape[:2]
    saliency = cv2.saliency.StaticSaliencySpectralResidual_create()
    success, saliency_map = saliency.computeSaliency(bgr)
    if not success:
        return [], None, None, 0, []
    _, binary_map = cv2.threshold((saliency_map * 255).astype(np.uint8), 127, 255,
                                  cv2.THRESH_BINARY)
    contours, _ = cv2.findContours(binary_map, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    n = len(contours)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)
    top = [[float(cv2.contourArea(c))] + [int(v) for v in cv2.boundingRect(c)]
           for c in contours[:TOP_CONTOURS]]
    boxes = []
    for contour in contours[:num_regions]:
        x, y, bw, bh = cv2.boundingRect(contour)
        x1, y1, x2, y2 = x / w, y / h, (x + bw) / w, (y + bh) / h
        if (x2 - x1) * (y2 - y1) > 0.01:
            boxes.append([int(x), int(y), int(x + bw), int(y + bh)])
    return boxes, saliency_map, binary_map, n, top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "fixtures", "saliency_opencv_reference.json"))
    ap.add_argument("--compare", action="store_true",
                    help="also run regionkit's port and report differences")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--set", choices=["all", "tuning", "heldout"], default="all",
                    help="which cases (anything but 'all' implies --no-write)")
    args = ap.parse_args()

    import cv2

    held = {cid for cid, _ in heldout_cases()}
    ref: dict = {"_meta": {
        "opencv": cv2.__version__,
        "recipe": "aizhao/SPRC- generate_cirr_boxes.py detect_with_saliency, num_regions=3",
        "boxes": "pixel [x, y, x + w, y + h] from cv2.boundingRect, recipe order",
        "input": "saliency_opencv_cases.build_case (Pillow), RGB flipped to BGR for OpenCV",
    }}
    if args.compare:
        from regionkit.plugins.detectors import saliency_opencv as port
    worst = 0
    bad_cases = []
    for cid, spec in all_cases():
        if args.set != "all" and (cid in held) != (args.set == "heldout"):
            continue
        rgb = build_case(spec)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        boxes, m, binary, n, top = cv2_recipe(bgr)
        H, W = rgb.shape[:2]
        ref[cid] = {"size": [W, H], "boxes": boxes, "digest": input_digest(rgb),
                    "fg": int(np.count_nonzero(binary)), "ncontours": n,
                    "mask": mask_digest(binary > 0), "top": top,
                    "set": "heldout" if cid in held else "tuning"}
        if args.compare:
            t = time.perf_counter()
            mine = [list(b) for b in port.opencv_saliency_boxes(rgb)]
            dt = time.perf_counter() - t
            pm = port.opencv_saliency_map(rgb)
            same_map = bool(np.array_equal(pm, m, equal_nan=True))
            fg_diff = int(np.count_nonzero((pm * np.float32(255) >= 128) != (binary > 0)))
            if len(mine) != len(boxes):
                diff = None
            else:
                diff = max([abs(a - b) for p, q in zip(mine, boxes) for a, b in zip(p, q)],
                           default=0)
            ok = diff is not None and diff <= 1
            if not ok:
                bad_cases.append(cid)
            else:
                worst = max(worst, diff)
            print(f"{cid:34s} {W:5d}x{H:<5d} boxes={len(boxes)} map_exact={same_map} "
                  f"fg_diff={fg_diff} box_diff={diff} {dt * 1e3:7.1f} ms")
    if args.compare:
        print(f"cases={len(ref) - 1} max_box_diff={worst} mismatching={bad_cases}")
    if not args.no_write and args.set == "all":
        with open(args.out, "w") as f:
            json.dump(ref, f, separators=(",", ":"))
            f.write("\n")
        print("wrote", args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
