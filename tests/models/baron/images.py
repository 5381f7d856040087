"""Test photographs: scikit-image's bundled photos and crops derived from them.

The recipes mirror ``make_reference.py`` (``DERIVED``): decode with ``cv2.IMREAD_COLOR`` (what
mmdet's ``LoadImageFromFile`` does, BGR), crop, then convert to RGB for the native model.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "camera.png")


def skimage_data_dir() -> Path:
    skimage_data = pytest.importorskip("skimage.data", reason="the parity photos ship with scikit-image")
    return Path(skimage_data.__file__).parent


def _bgr(name: str) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    path = skimage_data_dir() / name
    if not path.is_file():
        pytest.skip(f"scikit-image does not ship {name}")
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def load_bgr(name: str) -> np.ndarray:
    """An image of the reference set as mmdet sees it (H x W x 3 BGR uint8)."""
    if name in PHOTOS:
        return _bgr(name)
    if name == "astronaut_crop_300x97.png":
        return _bgr("astronaut.png")[100:197, 100:400]
    if name == "motorcycle_strip_700x64.png":
        return _bgr("motorcycle_left.png")[200:264, 20:720]
    if name == "coffee_chelsea_64x700.png":
        return np.vstack([_bgr("coffee.png")[:, 300:364], _bgr("chelsea.png")[:, 200:264]])
    if name == "chelsea_tiny_33x17.png":
        return _bgr("chelsea.png")[100:117, 200:233]
    raise KeyError(name)


def load_rgb(name: str) -> np.ndarray:
    """The same image as RGB, contiguous (what :meth:`BaronDetectorModel.predict` takes)."""
    return np.ascontiguousarray(load_bgr(name)[:, :, ::-1])


def sha256_bgr(image_bgr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image_bgr).tobytes()).hexdigest()
