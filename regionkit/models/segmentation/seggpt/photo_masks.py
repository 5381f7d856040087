"""A small SegGPT fine-tuning folder made from real photographs that ship with scikit-image: learning shown on a CPU.

Each photo gives ``crops`` square crops (evenly spaced along its longer side), resized to
``side`` pixels; each crop's label is :func:`brighter_half`, a 0/255 mask computed from the crop
itself, so the folder needs no annotation and every mask is a function of its image that a model
can learn.  Training and validation use different photos (:data:`TRAIN_PHOTOS`,
:data:`VAL_PHOTOS`): the validation IoU measures what carries over to unseen pictures.

Layout: ``<root>/{train,val}/{images,labels}/<photo>_<k>.png``, as ``seggpt_pairs`` reads it.
Needs scikit-image (its ``data`` photos) and SciPy; both are imported when a function runs.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from regionkit.errors import ConfigError

__all__ = ["TRAIN_PHOTOS", "VAL_PHOTOS", "brighter_half", "photo", "write_photo_masks"]

#: scikit-image photos for training (colour and grey, natural and microscopy/text)
TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry", "brick", "coins",
                "grass", "gravel", "page", "text", "moon", "cell", "clock")
#: held-out photos for validation (a deep-sky photograph and a retina scan)
VAL_PHOTOS = ("hubble_deep_field", "retina")


def photo(name: str) -> np.ndarray:
    """scikit-image's photo ``name`` as ``(H, W, 3)`` RGB ``uint8`` (grey photos repeated over 3 channels)."""
    try:
        from skimage import data
    except ImportError:
        raise ConfigError("the photo-mask folder is made from scikit-image's photos: pip install scikit-image") from None
    loader = getattr(data, name, None)
    if loader is None:
        raise ConfigError(f"scikit-image has no photo {name!r}")
    image = np.asarray(loader())
    if image.dtype != np.uint8:
        raise ConfigError(f"scikit-image's {name!r} is not an 8-bit photo ({image.dtype})")
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else np.ascontiguousarray(image[:, :, :3])


def brighter_half(image: np.ndarray) -> np.ndarray:
    """A 0/255 ``uint8`` mask: the grey level blurred (sigma = 1/12 of the longer side) above its own median."""
    from scipy import ndimage

    grey = ndimage.gaussian_filter(image.astype(np.float64).mean(axis=2), sigma=max(image.shape[:2]) / 12)
    return np.where(grey > np.median(grey), 255, 0).astype(np.uint8)


def write_photo_masks(root: str | Path, *, train: tuple[str, ...] = TRAIN_PHOTOS, val: tuple[str, ...] = VAL_PHOTOS,
                      crops: int = 3, side: int = 96,
                      mask_of: Callable[[np.ndarray], np.ndarray] = brighter_half) -> Path:
    """Write the folder (module docstring) under ``root``; returns ``root``.  Existing files are overwritten.

    ``mask_of(crop)`` makes each label from its ``(side, side, 3)`` crop (a 0/255 ``uint8`` mask).
    """
    from PIL import Image

    if crops < 1 or side < 8:
        raise ConfigError(f"crops must be >= 1 and side >= 8, got crops={crops}, side={side}")
    root = Path(root)
    for split, names in (("train", train), ("val", val)):
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        for name in names:
            image = photo(name)
            h, w = image.shape[:2]
            s = min(h, w)
            for k in range(crops):
                y, x = (h - s) * k // max(crops - 1, 1), (w - s) * k // max(crops - 1, 1)
                crop = Image.fromarray(image[y:y + s, x:x + s]).resize((side, side), Image.Resampling.BICUBIC)
                crop.save(root / split / "images" / f"{name}_{k}.png")
                Image.fromarray(mask_of(np.asarray(crop))).save(root / split / "labels" / f"{name}_{k}.png")
    return root
