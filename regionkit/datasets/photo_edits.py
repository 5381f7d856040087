"""A small composed-retrieval task made of real photographs, in CIRR's layout: learning you can watch on a CPU.

The photographs are the ones scikit-image ships in its wheel (no download).  Each is cut
into a few crops of varied aspect ratio (the *base* images); each base image is then edited
in known ways, and the edit is said in words:

============== ===========================
edit           caption
============== ===========================
``hflip``      "flipped left to right"
``vflip``      "turned upside down"
``rot90``      "rotated a quarter turn"
``gray``       "in black and white"
``left_half``  "only the left half"
``invert``     "with the colors inverted"
``zoom``       "zoomed in on the center"
``dark``       "much darker"
============== ===========================

A triplet is (base image, caption, edited image).  The gallery of a split is every base and
edited image in it, and a query's CIRR image set (``members``, for the subset recall) is the
reference, the target and four other edits of the same base image.  Photographs are split
between ``train`` and ``val`` (no photograph is in both), so validation measures whether the
edits were learnt, not the images.  Each split gets a box file: two boxes per base image,
carried through every edit's geometry (mirrored, rotated, cut at the half, zoomed), written
as ``cirr_boxes`` files.

:func:`build_photo_edits` writes the task (``<root>/cirr/{captions,image_splits}``,
``<root>/train/``, ``<root>/dev/``, ``<root>/boxes/``) once; :class:`PhotoEditsDataset` is a
:class:`~regionkit.datasets.cirr.CirrDataset` that builds it first when it is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from regionkit.datasets.base import Mode
from regionkit.datasets.cirr import CirrDataset
from regionkit.datasets.transforms import SprcTransform
from regionkit.errors import ConfigError
from regionkit.params import PathText, Range, checked

__all__ = ["EDITS", "TRAIN_PHOTOS", "VAL_PHOTOS", "build_photo_edits", "PhotoEditsDataset", "TASK_VERSION"]

#: bumped whenever the generated files change
TASK_VERSION = "1"

#: edit name -> caption
EDITS: dict[str, str] = {
    "hflip": "flipped left to right",
    "vflip": "turned upside down",
    "rot90": "rotated a quarter turn",
    "gray": "in black and white",
    "left_half": "only the left half",
    "invert": "with the colors inverted",
    "zoom": "zoomed in on the center",
    "dark": "much darker",
}
#: scikit-image photographs of each split (no photograph is in both)
TRAIN_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "clock_motion.png", "coffee.png", "grass.png",
                "gravel.png", "hubble_deep_field.jpg", "motorcycle_left.png", "motorcycle_right.png", "page.png",
                "retina.jpg", "text.png")
VAL_PHOTOS = ("chelsea.png", "coins.png", "ihc.png", "moon.png", "rocket.jpg")
_ASPECTS = (1.0, 1.33, 0.75, 1.6, 0.625)
_MEMBERS = 6  # CIRR image sets: the reference and five others


# ---------------------------------------------------------------------- edits (image, boxes in pixels)
def _flip_x(boxes: np.ndarray, w: int) -> np.ndarray:
    return np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)


def _edit(name: str, image: Image.Image, boxes: np.ndarray) -> tuple[Image.Image, np.ndarray]:
    """The edited image and the boxes (pixels ``xyxy``) carried through the edit's geometry."""
    w, h = image.size
    if name == "hflip":
        return ImageOps.mirror(image), _flip_x(boxes, w)
    if name == "vflip":
        return ImageOps.flip(image), np.stack([boxes[:, 0], h - boxes[:, 3], boxes[:, 2], h - boxes[:, 1]], 1)
    if name == "rot90":  # counter-clockwise: (x, y) -> (y, w - x)
        return image.transpose(Image.Transpose.ROTATE_90), \
            np.stack([boxes[:, 1], w - boxes[:, 2], boxes[:, 3], w - boxes[:, 0]], 1)
    if name == "gray":
        return ImageOps.grayscale(image).convert("RGB"), boxes
    if name == "invert":
        return ImageOps.invert(image), boxes
    if name == "dark":
        return ImageEnhance.Brightness(image).enhance(0.35), boxes
    if name == "left_half":
        half = max(1, w // 2)
        clipped = boxes.copy()
        clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, half)
        return image.crop((0, 0, half, h)), clipped
    if name == "zoom":  # the central half of each side, scaled back to the full size
        left, top = w // 4, h // 4
        crop_w, crop_h = max(1, w - 2 * left), max(1, h - 2 * top)
        zoomed = image.crop((left, top, left + crop_w, top + crop_h)).resize((w, h), Image.Resampling.BICUBIC)
        scale = np.array([w / crop_w, h / crop_h, w / crop_w, h / crop_h])
        moved = (boxes - np.array([left, top, left, top])) * scale
        moved[:, [0, 2]] = np.clip(moved[:, [0, 2]], 0, w)
        moved[:, [1, 3]] = np.clip(moved[:, [1, 3]], 0, h)
        return zoomed, moved
    raise ConfigError(f"unknown edit {name!r}; edits: {', '.join(EDITS)}")


def _normalised(boxes: np.ndarray, size: tuple[int, int], min_side: float = 2.0) -> list[list[float]]:
    """Boxes with both sides above ``min_side`` pixels, normalised by the image size, largest first."""
    w, h = size
    keep = ((boxes[:, 2] - boxes[:, 0]) > min_side) & ((boxes[:, 3] - boxes[:, 1]) > min_side)
    kept = boxes[keep] / np.array([w, h, w, h], dtype=np.float64)
    order = np.argsort(-(kept[:, 2] - kept[:, 0]) * (kept[:, 3] - kept[:, 1]), kind="stable")
    return [[round(float(v), 6) for v in row] for row in np.clip(kept[order], 0, 1)]


# ---------------------------------------------------------------------- base images
def _photo_dir() -> Path:
    try:
        import skimage.data
    except ImportError:
        raise ConfigError("the photo-edits task is made of scikit-image's photographs; install it with: "
                          "pip install 'regionkit[samples]'") from None
    return Path(skimage.data.__file__).parent


def _crops(photo: Image.Image, count: int, side: int, rng: random.Random) -> list[tuple[Image.Image, np.ndarray]]:
    """``count`` crops of varied aspect ratio, each resized so its long side is ``side``, with two boxes each."""
    out = []
    w, h = photo.size
    for i in range(count):
        aspect = _ASPECTS[(i + rng.randrange(len(_ASPECTS))) % len(_ASPECTS)]
        frac = rng.uniform(0.55, 0.85)
        cw = min(w, round(frac * min(w, h) * (aspect if aspect >= 1 else 1.0)))
        ch = min(h, round(frac * min(w, h) / (aspect if aspect < 1 else 1.0)))
        x0, y0 = rng.randrange(0, w - cw + 1), rng.randrange(0, h - ch + 1)
        crop = photo.crop((x0, y0, x0 + cw, y0 + ch))
        scale = side / max(cw, ch)
        size = (max(8, round(cw * scale)), max(8, round(ch * scale)))
        crop = crop.resize(size, Image.Resampling.BICUBIC)
        boxes = []
        for _ in range(2):
            bw, bh = rng.uniform(0.25, 0.6) * size[0], rng.uniform(0.25, 0.6) * size[1]
            bx, by = rng.uniform(0, size[0] - bw), rng.uniform(0, size[1] - bh)
            boxes.append([bx, by, bx + bw, by + bh])
        out.append((crop, np.array(boxes, dtype=np.float64)))
    return out


def _split_files(photos: Sequence[str], folder: str, crops_per_photo: int, side: int, seed: int, root: Path
                 ) -> tuple[list[dict], dict[str, str], dict[str, list[list[float]]]]:
    source = _photo_dir()
    edits = list(EDITS)
    captions: list[dict] = []
    image_split: dict[str, str] = {}
    boxes_out: dict[str, list[list[float]]] = {}
    (root / folder).mkdir(parents=True, exist_ok=True)
    prefix = "train" if folder == "train" else "dev"
    for photo_name in photos:
        path = source / photo_name
        if not path.is_file():
            raise ConfigError(f"scikit-image does not ship {photo_name} (in {source}); the photo-edits task needs it")
        stem = photo_name.rsplit(".", 1)[0].replace("_", "")
        rng = random.Random(f"{seed}/{photo_name}")
        with Image.open(path) as opened:
            photo = opened.convert("RGB")
        for c, (base, base_boxes) in enumerate(_crops(photo, crops_per_photo, side, rng)):
            base_name = f"{prefix}-{stem}-c{c}"
            variants = {base_name: (base, base_boxes)}
            for edit in edits:
                variants[f"{base_name}-{edit}"] = _edit(edit, base, base_boxes)
            for name, (image, boxes) in variants.items():
                image.save(root / folder / f"{name}.png")
                image_split[name] = f"./{folder}/{name}.png"
                boxes_out[name] = _normalised(boxes, image.size)
            for e, edit in enumerate(edits):
                others = [edits[(e + k) % len(edits)] for k in range(1, _MEMBERS - 1)]
                members = [base_name, f"{base_name}-{edit}", *[f"{base_name}-{o}" for o in others]]
                captions.append({"pairid": len(captions), "reference": base_name, "target_hard": f"{base_name}-{edit}",
                                 "target_soft": {f"{base_name}-{edit}": 1.0}, "caption": EDITS[edit],
                                 "img_set": {"id": len(captions) // len(edits), "members": members,
                                             "reference_rank": 0, "target_rank": 1}})
    return captions, image_split, boxes_out


def _fingerprint(crops_per_photo: int, side: int, seed: int) -> str:
    spec = json.dumps({"version": TASK_VERSION, "edits": EDITS, "train": TRAIN_PHOTOS, "val": VAL_PHOTOS,
                       "crops": crops_per_photo, "side": side, "seed": seed}, sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def build_photo_edits(root: str | os.PathLike[str], *, crops_per_photo: int = 3, image_side: int = 160,
                      seed: int = 0) -> Path:
    """Write the task under ``root`` (see the module docstring) unless an identical one is there; returns ``root``.

    The files are written to a temporary folder beside ``root`` and moved into place at once,
    so processes building it at the same time (several ranks) never see half a task.
    """
    root = Path(root)
    marker = root / "photo_edits.json"
    wanted = _fingerprint(crops_per_photo, image_side, seed)
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == wanted:
                return root
        except (OSError, ValueError):
            pass
        raise ConfigError(f"{root} holds a different photo-edits task (other parameters or version); delete it or "
                          f"choose another data_root")
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} exists and is not a photo-edits task folder; choose another data_root")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        (staging / "cirr" / "captions").mkdir(parents=True)
        (staging / "cirr" / "image_splits").mkdir(parents=True)
        (staging / "boxes").mkdir()
        for split, photos, folder in (("train", TRAIN_PHOTOS, "train"), ("val", VAL_PHOTOS, "dev")):
            captions, image_split, boxes = _split_files(photos, folder, crops_per_photo, image_side, seed, staging)
            (staging / "cirr" / "captions" / f"cap.rc2.{split}.json").write_text(json.dumps(captions, indent=1))
            (staging / "cirr" / "image_splits" / f"split.rc2.{split}.json").write_text(json.dumps(image_split,
                                                                                                  indent=1))
            (staging / "boxes" / f"cirr_boxes_{split}.json").write_text(json.dumps(boxes, indent=2))
        (staging / "photo_edits.json").write_text(json.dumps({"fingerprint": wanted, "version": TASK_VERSION,
                                                               "edits": EDITS}, indent=1))
        if root.exists():
            root.rmdir()  # empty (checked above); another process may fill it first
        os.rename(staging, root)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if marker.is_file():  # another process finished first
            return root
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


class PhotoEditsDataset(CirrDataset):
    """The photo-edits task (module docstring) as a CIRR dataset, built under ``data_root`` on first use.

    ``box_file="auto"`` (default) attaches the task's own box file of the split; ``None`` no
    boxes; a path another box file (e.g. one ``regionkit infer configs/cirr_boxes_saliency.py``
    wrote for the task's images).  ``crops_per_photo``, ``image_side`` and ``seed`` shape the
    generated task; the other parameters are :class:`~regionkit.datasets.cirr.CirrDataset`'s.
    """

    @checked
    def __init__(self, data_root: PathText = "work_dirs/photo_edits", split: str = "train", mode: Mode = "relative",
                 transform: SprcTransform | dict | None = None, box_file: PathText | None = "auto",
                 load_images: bool | None = None, check_images: bool = True, cache_images: bool = True,
                 crops_per_photo: Annotated[int, Range(1, 20)] = 3, image_side: Annotated[int, Range(32, 1024)] = 160,
                 seed: int = 0) -> None:
        if split not in ("train", "val"):
            raise ConfigError(f"the photo-edits task has the splits 'train' and 'val', not {split!r}")
        build_photo_edits(data_root, crops_per_photo=crops_per_photo, image_side=image_side, seed=seed)
        if box_file == "auto":
            box_file = str(Path(data_root) / "boxes" / f"cirr_boxes_{split}.json")
        super().__init__(data_root, split=split, mode=mode, transform=transform, box_file=box_file,
                         load_images=load_images, check_images=check_images, cache_images=cache_images)


def edit_functions() -> dict[str, Callable[[Image.Image, np.ndarray], tuple[Image.Image, np.ndarray]]]:
    """Each edit as a function ``(image, boxes in pixels) -> (edited image, boxes)`` (for tests and tools)."""
    def bound(name: str) -> Callable[[Image.Image, np.ndarray], tuple[Image.Image, np.ndarray]]:
        return lambda image, boxes: _edit(name, image, boxes)

    return {name: bound(name) for name in EDITS}
