"""Deterministic test inputs for the spectral-residual saliency port.

Real photographs from scikit-image's bundled data files, at native size and
as crops / Pillow resizes to many sizes and aspect ratios.  Only Pillow and
numpy are used (the data files are read from the installed scikit-image
package directory, or from a directory you pass / set in
``SKIMAGE_DATA_DIR``; scikit-image itself is never imported), so CI can
regenerate the exact input pixels without OpenCV.

Every case is ``(case_id, spec)``; ``build_case(spec)`` returns an RGB uint8
(H, W, 3) array.  A spec is ``(file, crop, size, resample)``:

* ``crop``: ``None`` or a box ``(l, t, r, b)`` in the original image,
* ``size``: ``None`` (keep) or target ``(W, H)`` for ``Image.resize``,
* ``resample``: a Pillow filter name ("lanczos", "bilinear", "bicubic",
  "box", "nearest").

The image is opened with Pillow, converted with ``.convert("RGB")`` (grey
and palette files replicate to 3 channels, RGBA drops alpha - what
``cv2.imread(IMREAD_COLOR)`` does), cropped, then resized.
``input_digest(rgb)`` is a short sha256 of shape+pixels stored with the
reference so a Pillow/decoder drift is detected instead of silently testing
different pixels.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os

import numpy as np
from PIL import Image

Spec = tuple[str, tuple[int, int, int, int] | None, tuple[int, int] | None, str]

_RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}

PHOTOS = [
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
    "chessboard_RGB.png", "clock_motion.png", "coffee.png", "coins.png",
    "color.png", "grass.png", "gravel.png", "horse.png", "hubble_deep_field.jpg",
    "ihc.png", "logo.png", "microaneurysms.png", "moon.png",
    "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png",
]

# (file, crop, size, resample) - used while developing the port
_TUNING: list[tuple[str, Spec]] = [(f"native/{p.rsplit('.', 1)[0]}", (p, None, None, "lanczos"))
                                   for p in PHOTOS]
_TUNING += [
    ("astronaut/37x500", ("astronaut.png", None, (37, 500), "lanczos")),
    ("astronaut/500x37", ("astronaut.png", None, (500, 37), "lanczos")),
    ("astronaut/1x1", ("astronaut.png", None, (1, 1), "box")),
    ("coffee/3x200", ("coffee.png", None, (3, 200), "lanczos")),
    ("coffee/200x3", ("coffee.png", None, (200, 3), "lanczos")),
    ("chelsea/640x427", ("chelsea.png", None, (640, 427), "bicubic")),
    ("motorcycle/1023x767", ("motorcycle_left.png", None, (1023, 767), "bicubic")),
    ("rocket/2000x300", ("rocket.jpg", None, (2000, 300), "lanczos")),
    ("hubble/300x2000", ("hubble_deep_field.jpg", None, (300, 2000), "lanczos")),
    ("camera/8x8", ("camera.png", None, (8, 8), "lanczos")),
    ("coins/2x2", ("coins.png", None, (2, 2), "box")),
    ("text/1x100", ("text.png", None, (1, 100), "lanczos")),
    ("page/100x1", ("page.png", None, (100, 1), "lanczos")),
    ("ihc/31x33", ("ihc.png", None, (31, 33), "lanczos")),
    ("astronaut/129x127", ("astronaut.png", None, (129, 127), "bilinear")),
    ("chelsea/64x64", ("chelsea.png", None, (64, 64), "lanczos")),
    ("coffee/128x128", ("coffee.png", None, (128, 128), "lanczos")),
    ("rocket/32x32", ("rocket.jpg", None, (32, 32), "lanczos")),
    ("retina/2000x1500", ("retina.jpg", None, (2000, 1500), "bicubic")),
    ("coffee/crop_cup", ("coffee.png", (150, 50, 470, 330), None, "lanczos")),
    ("astronaut/crop_face", ("astronaut.png", (140, 20, 320, 230), None, "lanczos")),
    ("motorcycle/crop_wide", ("motorcycle_left.png", (0, 180, 741, 330), None, "lanczos")),
    ("chelsea/crop_tall", ("chelsea.png", (100, 0, 180, 300), None, "lanczos")),
    ("hubble/crop_odd", ("hubble_deep_field.jpg", (13, 27, 410, 318), None, "lanczos")),
    ("camera/4x600", ("camera.png", None, (600, 4), "lanczos")),
    ("coins/7x5", ("coins.png", None, (7, 5), "lanczos")),
    ("moon/65x63", ("moon.png", None, (65, 63), "bilinear")),
    ("rocket/999x1", ("rocket.jpg", None, (999, 1), "bilinear")),
]

# held out: never looked at while tuning the port
_HELDOUT: list[tuple[str, Spec]] = [
    ("ho/astronaut_crop_rocket", ("astronaut.png", (380, 0, 512, 300), None, "lanczos")),
    ("ho/chelsea_1200x800", ("chelsea.png", None, (1200, 800), "bicubic")),
    ("ho/coffee_crop_61x400", ("coffee.png", (500, 0, 561, 400), None, "lanczos")),
    ("ho/rocket_427x64", ("rocket.jpg", None, (427, 64), "lanczos")),
    ("ho/motorcycle_right", ("motorcycle_right.png", None, None, "lanczos")),
    ("ho/motorcycle_right_333x1000", ("motorcycle_right.png", None, (333, 1000), "bicubic")),
    ("ho/camera_crop_man", ("camera.png", (150, 40, 360, 420), None, "lanczos")),
    ("ho/coins_1500x1183", ("coins.png", None, (1500, 1183), "bicubic")),
    ("ho/page_17x91", ("page.png", None, (17, 91), "lanczos")),
    ("ho/text_5x5", ("text.png", None, (5, 5), "lanczos")),
    ("ho/hubble_4000x3000", ("hubble_deep_field.jpg", None, (4000, 3000), "bilinear")),
    ("ho/ihc_crop_250x97", ("ihc.png", (200, 300, 450, 397), None, "lanczos")),
    ("ho/retina_crop_center", ("retina.jpg", (400, 400, 1000, 900), None, "lanczos")),
    ("ho/moon_2x300", ("moon.png", None, (2, 300), "bilinear")),
    ("ho/cell_1x1", ("cell.png", None, (1, 1), "box")),
    ("ho/gravel_96x96", ("gravel.png", None, (96, 96), "lanczos")),
    ("ho/grass_crop_300x120", ("grass.png", (100, 300, 400, 420), None, "lanczos")),
    ("ho/color_160x90", ("color.png", None, (160, 90), "lanczos")),
    ("ho/horse_crop", ("horse.png", (30, 20, 370, 300), None, "lanczos")),
    ("ho/logo_250x250", ("logo.png", None, (250, 250), "bilinear")),
    ("ho/brick_crop_33x257", ("brick.png", (0, 100, 33, 357), None, "lanczos")),
    ("ho/clock_800x600", ("clock_motion.png", None, (800, 600), "bicubic")),
    ("ho/astronaut_60000x4", ("astronaut.png", None, (60000, 4), "bilinear")),
    ("ho/chessboard_101x99", ("chessboard_RGB.png", None, (101, 99), "lanczos")),
    ("ho/microaneurysms_crop", ("microaneurysms.png", (10, 20, 90, 70), None, "lanczos")),
    ("ho/rocket_crop_sky", ("rocket.jpg", (0, 0, 427, 200), None, "lanczos")),
]


def tuning_cases() -> list[tuple[str, Spec]]:
    """Cases used while developing the port."""
    return list(_TUNING)


def heldout_cases() -> list[tuple[str, Spec]]:
    """Cases not used while developing the port."""
    return list(_HELDOUT)


def all_cases() -> list[tuple[str, Spec]]:
    return tuning_cases() + heldout_cases()


def skimage_data_dir(data_dir: str | None = None) -> str:
    """Directory with scikit-image's data files (without importing skimage)."""
    if data_dir:
        return data_dir
    env = os.environ.get("SKIMAGE_DATA_DIR")
    if env:
        return env
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image data files not found; set SKIMAGE_DATA_DIR")
    return os.path.join(next(iter(spec.submodule_search_locations)), "data")


def build_case(spec: Spec, data_dir: str | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) array for one case spec."""
    fname, crop, size, resample = spec
    with Image.open(os.path.join(skimage_data_dir(data_dir), fname)) as im:
        im = im.convert("RGB")
        if crop is not None:
            im = im.crop(crop)
        if size is not None:
            im = im.resize(size, _RESAMPLE[resample])
        return np.array(im, dtype=np.uint8)


def input_digest(rgb: np.ndarray) -> str:
    """16 hex digits of sha256 over shape and pixels."""
    h = hashlib.sha256(repr(rgb.shape).encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()[:16]


def mask_digest(mask: np.ndarray) -> str:
    """16 hex digits of sha256 over the shape and the packed boolean mask."""
    h = hashlib.sha256(repr(mask.shape).encode())
    h.update(np.packbits(np.asarray(mask, dtype=bool), axis=None).tobytes())
    return h.hexdigest()[:16]
