"""Worker for ``bench_baron.py``: the ORIGINAL BARON (wusize/ovdet inside mmdet) timed on request.

Runs in the side interpreter that has mmdet / mmcv / ovdet (see
``tests/models/baron/make_reference.py`` for how that environment is built), never in
regionkit's.  The model is built exactly as ``make_reference.py`` builds it (its
``ovdet_config`` and ``set_text_autocast`` are reused): OV-COCO R50-FPN config, SyncBN -> BN,
mmdet's ``DetInferencer`` on the CPU, loaded with the seeded checkpoint the parent wrote.

Protocol: the parent writes one JSON object per line on stdin, ``{"batch_size": B, "count": N}``;
the worker runs ``DetInferencer`` over the first N images (BGR arrays from ``--images``) and
answers one line ``@@RESULT {...}`` on stdout (wall and CPU seconds, detections per image).
Other stdout lines (mmdet's prints) are ignored by the parent.  ``{"quit": true}`` or EOF ends it.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
MAKE_REFERENCE = REPO / "tests" / "models" / "baron" / "make_reference.py"


def _load_make_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("baron_make_reference", MAKE_REFERENCE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _reply(tag: str, payload: dict) -> None:
    sys.stdout.write(f"@@{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ovdet", type=Path, required=True, help="checkout of wusize/ovdet")
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--images", type=Path, required=True, help=".npz of BGR uint8 arrays, keys img_000..")
    ap.add_argument("--work", type=Path, required=True, help="folder for ovdet's stub data files")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--score-thr", type=float, default=0.01)
    ap.add_argument("--bf16", action="store_true", help="leave mmengine's CPU autocast (bfloat16) on")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(args.ovdet))
    import mmdet
    import numpy as np
    import ovdet  # type: ignore[import-not-found]  # noqa: F401  registers BARON's modules
    import torch
    from mmdet.apis import DetInferencer
    from mmdet.utils import register_all_modules

    torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=True)
    ref = _load_make_reference()
    cfg = ref.ovdet_config(args.ovdet, args.work)
    inferencer = DetInferencer(model=cfg, weights=str(args.checkpoint), device="cpu", show_progress=False)
    ref.set_text_autocast(args.bf16)
    inferencer.model.roi_head.test_cfg.score_thr = args.score_thr
    with np.load(args.images) as data:
        images = [data[k] for k in sorted(data.files)]
    _reply("READY", {"mmdet": mmdet.__version__, "torch": str(torch.__version__), "threads": torch.get_num_threads(),
                     "images": len(images)})
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        batch = images[: int(req["count"])]
        wall, cpu = time.perf_counter(), time.process_time()
        res = inferencer(batch, batch_size=int(req["batch_size"]), return_datasamples=False,
                         no_save_vis=True, no_save_pred=True)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        dets = [{"boxes": p["bboxes"], "scores": p["scores"], "labels": p["labels"]} for p in res["predictions"]]
        _reply("RESULT", {"wall": wall, "cpu": cpu, "detections": dets})


if __name__ == "__main__":
    main()
