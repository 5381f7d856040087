"""Test-time image preprocessing of mmdet's BARON pipeline, for RGB uint8 arrays.

mmdet's ``Resize(scale=(1333, 800), keep_ratio=True)`` -> ``DetDataPreprocessor``:

1. scale factor ``min(1333 / max(h, w), 800 / min(h, w))`` (mmcv ``rescale_size``), new size
   ``(int(w * f + 0.5), int(h * f + 0.5))``, resized with OpenCV bilinear (``cv2.INTER_LINEAR``,
   mmcv's backend; torchvision/PIL bilinear give different pixels).  Boxes are mapped back by
   ``(new_w / w, new_h / h)``, mmdet's ``scale_factor``, not by ``f``;
2. float32, ``(x - mean) / std`` per RGB channel with ImageNet mean/std in 0..255 units;
3. zero padding at the bottom/right up to a multiple of 32.

A grey image (H x W or H x W x 1) is replicated to three channels, which is what
``cv2.imread(..., IMREAD_COLOR)`` does to a grey file.  OpenCV is imported lazily.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["MEAN", "STD", "PreparedImage", "as_rgb_uint8", "rescale_size", "padded_input_shape", "prepare_image",
           "pad_batch"]

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class PreparedImage:
    """A normalised, resized (not yet padded) image (3, h', w') and its geometry."""

    tensor: torch.Tensor
    ori_shape: tuple[int, int]      # (H, W) of the input
    img_shape: tuple[int, int]      # (h', w') after resizing
    scale_factor: tuple[float, float]  # (w'/W, h'/H)

    def padded_shape(self, divisor: int = 32) -> tuple[int, int]:
        h, w = self.img_shape
        return math.ceil(h / divisor) * divisor, math.ceil(w / divisor) * divisor


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate an RGB ``uint8`` image (H x W x 3); a grey H x W / H x W x 1 image becomes 3 channels."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB (or H x W grey) image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"empty image of shape {image.shape}")
    return image


def rescale_size(width: int, height: int, scale: Sequence[int] = (1333, 800)) -> tuple[tuple[int, int], float]:
    """``((new_w, new_h), factor)`` exactly as mmcv's ``rescale_size`` for a ``(long, short)`` bound."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return (int(width * float(factor) + 0.5), int(height * float(factor) + 0.5)), factor


def padded_input_shape(height: int, width: int, scale: Sequence[int] = (1333, 800),
                       divisor: int = 32) -> tuple[int, int]:
    """``(H, W)`` of the padded network input for an image of ``height x width`` pixels."""
    (new_w, new_h), _ = rescale_size(width, height, scale)
    return math.ceil(new_h / divisor) * divisor, math.ceil(new_w / divisor) * divisor


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("BARON preprocessing resizes with OpenCV like mmdet: "
                          "pip install opencv-python-headless (or the regionkit[baron] extra)") from exc
    return cv2


def prepare_image(image: np.ndarray, scale: Sequence[int] = (1333, 800),
                  device: torch.device | str = "cpu") -> PreparedImage:
    """Resize and normalise one RGB uint8 image (see the module docstring)."""
    image = as_rgb_uint8(image)
    h, w = image.shape[:2]
    (new_w, new_h), _ = rescale_size(w, h, scale)
    if new_w < 1 or new_h < 1:
        raise ValueError(f"image of {w}x{h} pixels is too elongated: resizing it to fit {tuple(scale)} "
                         f"gives {new_w}x{new_h}")
    cv2 = _cv2()
    resized = cv2.resize(np.ascontiguousarray(image), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if resized.ndim == 2:  # cv2 drops a singleton channel axis; not expected for 3 channels
        resized = resized[:, :, None]
    rh, rw = resized.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1))).to(device)
    x = x.float()
    mean = torch.tensor(MEAN, device=device).view(-1, 1, 1)
    std = torch.tensor(STD, device=device).view(-1, 1, 1)
    x = (x - mean) / std
    return PreparedImage(x, (h, w), (rh, rw), (rw / w, rh / h))


def pad_batch(images: Sequence[PreparedImage], divisor: int = 32) -> torch.Tensor:
    """Stack images zero-padded at the bottom/right to the largest size rounded up to ``divisor``."""
    max_h = max(math.ceil(p.img_shape[0] / divisor) * divisor for p in images)
    max_w = max(math.ceil(p.img_shape[1] / divisor) * divisor for p in images)
    return torch.stack([F.pad(p.tensor, (0, max_w - p.img_shape[1], 0, max_h - p.img_shape[0]), value=0.0)
                        for p in images])
