"""Regenerate the BARON parity fixtures by running the ORIGINAL code (wusize/ovdet inside mmdet).

Not a test (no ``test_`` prefix; pytest does not collect it) and not importable from regionkit's
environment: it runs in a separate virtualenv with mmdet/mmcv/ovdet.  It writes, under
``tests/models/baron/fixtures/``:

* ``reference_detections.json``: per image, the detections of ovdet's BARON (OV-COCO R50-FPN,
  config ``baron_kd_faster_rcnn_r50_fpn_syncbn_90kx2.py``, SyncBN -> BN) loaded with the seeded
  random checkpoint from ``regionkit/models/detectors/baron/testing.py`` (seed 0), run through
  mmdet's ``DetInferencer`` exactly as Patch Matters' ``generate_four_box.py`` does (test pipeline
  LoadImageFromFile -> Resize(1333, 800, keep_ratio) -> PackDetInputs; batch size 1), plus
  debugging intermediates (FPN statistics, first RPN proposals, first RoI logits).  The CLIP text
  encoder runs in float32 (mmengine's ``autocast()`` disabled), which is what the native model
  computes on CPU;
* ``reference_detections_cpu_autocast.json``: the same with ovdet left as is, i.e. under
  mmengine's CPU ``autocast()`` (bfloat16) — what ovdet-in-mmdet really outputs on a CPU;
* ``reference_detections_thr.json``: float32 again with ``test_cfg.rcnn.score_thr = 0.6``
  (with 0.01 every image of this seeded model fills the 100-detection cap);
* ``reference_vocab.npy`` / ``reference_vocab.json``: ovdet's ``tools/hand_craft_prompt.py``
  function ``build_text_embedding_coco`` (63 templates, block-12 EOT output) on the seeded text
  encoder for a small class list, with the token ids ovdet's own tokenizer produced.

Images: scikit-image's bundled photos (``skimage/data``) and crops derived from them
(:data:`DERIVED`); the native tests derive the same crops from the same files.

How to rebuild the side environment and rerun (Python 3.11, no internet besides the package index)::

    python3 -m venv /work/side/baron/venv
    /work/side/baron/venv/bin/pip install torch==2.14.1 torchvision==0.29.1 mmengine==0.10.7 \
        ftfy regex six scikit-image "setuptools<80"          # mmengine needs pkg_resources
    /work/side/baron/venv/bin/pip install --find-links /work/shared/wheels mmcv==2.1.0 mmdet==3.3.0
    git clone https://github.com/wusize/ovdet /work/side/baron/ovdet_src   # tested at d74a20c
    cd /work/main && /work/side/baron/venv/bin/python tests/models/baron/make_reference.py \
        --ovdet /work/side/baron/ovdet_src --work /work/side/baron

Run it under ``support.REFERENCE_KERNELS["env"]`` (2 threads, AVX-512) or update that constant
to the kernels recorded in ``meta["kernels"]``: ``exact=True`` is bit for bit only on the same kernels.

``--work`` receives the stub data files ovdet opens at construction (an (80, 512) float16
``.npy`` for ``cls_embeddings_path`` and ``{"images": []}`` for BaronKD's BoxesCache), the
derived PNGs and the seeded checkpoint (~800 MB; delete it afterwards).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
FIXTURES = HERE / "fixtures"
KEYS = FIXTURES / "baron_checkpoint_keys.txt"
GENERATOR = REPO / "regionkit" / "models" / "detectors" / "baron" / "testing.py"
SEED = 0
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "camera.png"]
#: name -> (source photos, recipe); recipes are applied to cv2.IMREAD_COLOR decodes (BGR) and
#: mirrored in tests/models/baron/images.py.
DERIVED = {
    "astronaut_crop_300x97.png": "astronaut.png[100:197, 100:400]",
    "motorcycle_strip_700x64.png": "motorcycle_left.png[200:264, 20:720]",
    "coffee_chelsea_64x700.png": "vstack(coffee.png[:, 300:364], chelsea.png[:, 200:264])",
    "chelsea_tiny_33x17.png": "chelsea.png[100:117, 200:233]",
}
#: a higher test_cfg.rcnn.score_thr, so that detection counts vary from image to image
THR_VARIANT = 0.6
VOCAB_CLASSES = ["person", "dog", "traffic light", "teddy bear", "cup"]
FINGERPRINT_KEYS = ["backbone.conv1.weight", "neck.fpn_convs.0.bn.running_var", "rpn_head.rpn_cls.2.bias",
                    "roi_head.bbox_head.fc_cls.weight", "roi_head.bbox_head.cls_embeddings",
                    "roi_head.clip.text_encoder.token_embedding.weight",
                    "roi_head.clip.text_encoder.transformer.resblocks.11.attn.in_proj_weight"]


def load_generator():
    spec = importlib.util.spec_from_file_location("baron_seeded", GENERATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def skimage_dir() -> Path:
    import skimage.data
    return Path(skimage.data.__file__).parent


def derive_images(work: Path) -> dict[str, Path]:
    """Write the derived crops as PNG (lossless) and return name -> path for all images."""
    import cv2
    src = skimage_dir()
    img = {n: cv2.imread(str(src / n), cv2.IMREAD_COLOR) for n in PHOTOS}
    derived = {
        "astronaut_crop_300x97.png": img["astronaut.png"][100:197, 100:400],
        "motorcycle_strip_700x64.png": img["motorcycle_left.png"][200:264, 20:720],
        "coffee_chelsea_64x700.png": np.vstack([img["coffee.png"][:, 300:364], img["chelsea.png"][:, 200:264]]),
        "chelsea_tiny_33x17.png": img["chelsea.png"][100:117, 200:233],
    }
    out = {n: src / n for n in PHOTOS}
    (work / "images").mkdir(parents=True, exist_ok=True)
    for name, arr in derived.items():
        path = work / "images" / name
        cv2.imwrite(str(path), np.ascontiguousarray(arr))
        assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_COLOR), arr)
        out[name] = path
    return out


def image_sha(path: Path) -> str:
    import cv2
    return hashlib.sha256(np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)).tobytes()).hexdigest()


def make_stubs(work: Path) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    npy = work / "stub_coco_clip_hand_craft_attn12.npy"
    e = np.random.default_rng(0).standard_normal((80, 512)).astype(np.float32)
    np.save(npy, (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float16))
    js = work / "stub_instances_train2017_base.json"
    js.write_text(json.dumps({"images": []}))
    return npy, js


def ovdet_config(ovdet: Path, work: Path):
    from mmengine.config import Config
    npy, js = make_stubs(work)
    cfg = Config.fromfile(str(ovdet / "configs/baron/ov_coco/baron_kd_faster_rcnn_r50_fpn_syncbn_90kx2.py"))
    bn = dict(type="BN", requires_grad=True)
    cfg.model.backbone.norm_cfg = bn           # SyncBN -> BN (single-device CPU inference)
    cfg.model.neck.norm_cfg = bn
    cfg.model.roi_head.bbox_head.cls_embeddings_path = str(npy)
    cfg.model.roi_head.ovd_cfg.baron_kd.boxes_cache.json_path = str(js)
    cfg.model.roi_head.clip_cfg.image_encoder.init_cfg = None
    cfg.model.roi_head.clip_cfg.text_encoder.init_cfg = None
    return cfg


def set_text_autocast(enabled: bool) -> None:
    import ovdet.models.roi_heads.baron_bbox_heads.bbox_head as bh
    from mmengine.runner.amp import autocast
    bh.autocast = autocast if enabled else (lambda *a, **k: contextlib.nullcontext())


def f32(values):
    """Nested lists of floats written with the shortest text that round-trips in float32."""
    if isinstance(values, (list, tuple)):
        return [f32(v) for v in values]
    return float(str(np.float32(values)))


def stats(t) -> dict:
    t = t.float()
    return {"shape": list(t.shape), "mean": float(t.mean()), "std": float(t.std()), "absmax": float(t.abs().max())}


def run_detections(inferencer, images: dict[str, Path], autocast_enabled: bool,
                   score_thr: float = 0.01) -> list[dict]:
    model = inferencer.model
    set_text_autocast(autocast_enabled)
    model.roi_head.test_cfg.score_thr = score_thr
    cap: dict = {}
    h1 = model.neck.register_forward_hook(lambda m, i, o: cap.__setitem__("fpn", [stats(x) for x in o]))
    h2 = model.roi_head.bbox_head.register_forward_hook(
        lambda m, i, o: cap.__setitem__("logits", f32(o[0][:8].tolist())))
    orig_predict = model.roi_head.predict

    def predict(x, rpn_results_list, batch_data_samples, rescale=False):
        props = rpn_results_list[0]
        cap["proposals"] = {"count": len(props), "first": f32(props.bboxes[:20].tolist()),
                            "first_scores": f32(props.scores[:20].tolist())}
        meta = batch_data_samples[0].metainfo
        cap["meta"] = {"img_shape": list(meta["img_shape"]), "scale_factor": list(meta["scale_factor"]),
                       "batch_input_shape": list(meta["batch_input_shape"]), "ori_shape": list(meta["ori_shape"])}
        return orig_predict(x, rpn_results_list, batch_data_samples, rescale=rescale)

    model.roi_head.predict = predict
    out = []
    try:
        for name, path in images.items():
            cap.clear()
            res = inferencer(str(path), return_datasamples=False, no_save_vis=True, no_save_pred=True)
            pred = res["predictions"][0]
            out.append({"name": name, "source": DERIVED.get(name, f"skimage/data/{name}"),
                        "sha256_bgr": image_sha(path), **cap["meta"],
                        "boxes": f32(pred["bboxes"]), "scores": f32(pred["scores"]), "labels": pred["labels"],
                        "debug": {"fpn": cap["fpn"], "proposals": cap["proposals"], "first_logits": cap["logits"]}})
            print(f"{name}: {len(pred['scores'])} detections, top score "
                  f"{pred['scores'][0] if pred['scores'] else None}", flush=True)
    finally:
        model.roi_head.predict = orig_predict
        h1.remove()
        h2.remove()
    return out


def run_vocab(ovdet: Path, state_dict: dict, work: Path) -> tuple[np.ndarray, dict]:
    """ovdet's hand_craft_prompt.build_text_embedding_coco on the seeded text encoder (fp32, CPU)."""
    import ovdet.models.vlms.clip.clip as CLIP
    import torch
    from ovdet.models.vlms.clip.openai_model import build_model
    sys.path.insert(0, str(ovdet / "tools"))
    import hand_craft_prompt
    # OpenAI layout: text keys at the root, the image encoder under visual.* (build_model reads its dims).
    text = "roi_head.clip.text_encoder."
    image = "roi_head.clip.image_encoder."
    clip_sd = {k[len(text):]: v for k, v in state_dict.items() if k.startswith(text)}
    clip_sd.update({"visual." + k[len(image):]: v for k, v in state_dict.items() if k.startswith(image)})
    model = build_model(state_dict=dict(clip_sd), state_file=None, use_image_encoder=False).float()
    missing, _unexpected = model.load_state_dict(clip_sd, strict=False)  # what CLIP.init_weights does
    assert not [k for k in missing if not k.startswith("visual") and k != "logit_scale"], missing
    model.eval()
    # Without an image encoder this CLIP reports dtype float16 (it was meant for fp16 weights on a
    # GPU); run the script's maths in float32 on the CPU instead.
    type(model).dtype = property(lambda self: torch.float32)
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # the script moves token ids to CUDA
    try:
        _, attn12 = hand_craft_prompt.build_text_embedding_coco(VOCAB_CLASSES, model)
    finally:
        torch.Tensor.cuda = cuda
    tokens = {}
    for name in VOCAB_CLASSES:
        texts = [t.format(hand_craft_prompt.processed_name(name, rm_dot=True), article=hand_craft_prompt.article(name))
                 for t in hand_craft_prompt.multiple_templates]
        texts = ["This is " + t if t.startswith("a") or t.startswith("the") else t for t in texts]
        ids = CLIP.tokenize(texts)
        tokens[name] = {"texts": texts, "ids": [row[row > 0].tolist() for row in ids]}
    return attn12.numpy().astype(np.float32), {"classes": VOCAB_CLASSES, "prompts": tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ovdet", type=Path, required=True, help="checkout of wusize/ovdet")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (stubs, PNGs, checkpoint)")
    ap.add_argument("--parts", default="fp32,autocast,thr,vocab",
                    help="comma list of: fp32, autocast (bf16 CPU variant), thr (score_thr variant), vocab")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(args.ovdet))
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    import mmcv
    import mmdet
    import mmengine
    import ovdet  # noqa: F401  registers BARON's modules
    from mmdet.apis import DetInferencer
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)

    gen = load_generator()
    specs = gen.read_key_list(KEYS)
    ckpt = args.work / f"seeded_s{SEED}.pth"
    gen.save_seeded_checkpoint(ckpt, specs, seed=SEED)
    state_dict = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]

    cfg = ovdet_config(args.ovdet, args.work)
    inferencer = DetInferencer(model=cfg, weights=str(ckpt), device="cpu", show_progress=False)
    own = inferencer.model.state_dict()
    assert list(own) == [s.key for s in specs], "ovdet's state_dict differs from the key list fixture"
    images = derive_images(args.work)
    commit = os.popen(f"git -C {args.ovdet} rev-parse HEAD 2>/dev/null").read().strip() or "unknown"
    meta = {"seed": SEED, "generator": gen.GENERATOR_VERSION, "torch": str(torch.__version__),
            "mmdet": mmdet.__version__, "mmcv": mmcv.__version__, "mmengine": mmengine.__version__,
            "ovdet_commit": commit, "python": platform.python_version(),
            "config": "configs/baron/ov_coco/baron_kd_faster_rcnn_r50_fpn_syncbn_90kx2.py (SyncBN->BN)",
            "api": "mmdet.apis.DetInferencer, batch size 1",
            # support.REFERENCE_KERNELS must match these for the bit-for-bit test
            "kernels": {"threads": torch.get_num_threads(), "capability": torch.backends.cpu.get_cpu_capability()},
            "weights_fingerprint": {k: {"sum": float(state_dict[k].double().sum()),
                                        "first": state_dict[k].flatten()[:3].tolist()} for k in FINGERPRINT_KEYS}}
    FIXTURES.mkdir(parents=True, exist_ok=True)
    parts = set(args.parts.split(","))
    if "fp32" in parts:
        dets = run_detections(inferencer, images, autocast_enabled=False)
        (FIXTURES / "reference_detections.json").write_text(json.dumps(
            {"meta": {**meta, "text_encoder_precision": "float32 (mmengine autocast disabled)", "score_thr": 0.01},
             "images": dets}))
    if "thr" in parts:
        dets_thr = run_detections(inferencer, images, autocast_enabled=False, score_thr=THR_VARIANT)
        for d in dets_thr:
            d.pop("debug")
        (FIXTURES / "reference_detections_thr.json").write_text(json.dumps(
            {"meta": {**meta, "text_encoder_precision": "float32 (mmengine autocast disabled)",
                      "score_thr": THR_VARIANT}, "images": dets_thr}))
    if "autocast" in parts:
        dets_bf16 = run_detections(inferencer, images, autocast_enabled=True)
        for d in dets_bf16:
            d.pop("debug")
        (FIXTURES / "reference_detections_cpu_autocast.json").write_text(json.dumps(
            {"meta": {**meta, "text_encoder_precision": "mmengine autocast() on CPU = bfloat16", "score_thr": 0.01},
             "images": dets_bf16}))
    if "vocab" in parts:
        vocab, vocab_meta = run_vocab(args.ovdet, state_dict, args.work)
        np.save(FIXTURES / "reference_vocab.npy", vocab)
        (FIXTURES / "reference_vocab.json").write_text(json.dumps(
            {"meta": {**meta, "script": "tools/hand_craft_prompt.py build_text_embedding_coco (attn12), float32 CPU"},
             **vocab_meta}))
    print("wrote", sorted(p.name for p in FIXTURES.iterdir()))


if __name__ == "__main__":
    main()
