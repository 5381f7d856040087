"""SPRC's image transforms (``src/data_utils.py`` at chunmeifeng/SPRC ``2935a53``), re-implemented for the tests.

``TargetPad`` and ``SquarePad`` follow SPRC's definitions exactly (same integer arithmetic, zero
padding of ``[hp, vp, hp, vp]`` with ``torchvision.transforms.functional.pad``); the pipelines
are SPRC's ``targetpad_transform`` / ``squarepad_transform`` up to (not including) ``ToTensor``
and ``Normalize``, which do not move pixels.
"""
from __future__ import annotations

import PIL.Image
import torchvision.transforms.functional as TF
from torchvision.transforms import CenterCrop, Compose, Resize


class TargetPad:
    """Zero-pad an image whose aspect ratio is at least ``target_ratio`` down to that ratio."""

    def __init__(self, target_ratio: float, size: int) -> None:
        self.target_ratio = target_ratio
        self.size = size

    def __call__(self, image: PIL.Image.Image) -> PIL.Image.Image:
        w, h = image.size
        if max(w, h) / min(w, h) < self.target_ratio:
            return image
        scaled = max(w, h) / self.target_ratio
        hp = max(int((scaled - w) / 2), 0)
        vp = max(int((scaled - h) / 2), 0)
        return TF.pad(image, [hp, vp, hp, vp], 0, "constant")


class SquarePad:
    """Zero-pad an image to (about) a square: ``int((max - side) / 2)`` on each side."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: PIL.Image.Image) -> PIL.Image.Image:
        w, h = image.size
        side = max(w, h)
        hp, vp = int((side - w) / 2), int((side - h) / 2)
        return TF.pad(image, [hp, vp, hp, vp], 0, "constant")


def targetpad_pipeline(target_ratio: float = 1.25, size: int = 224) -> Compose:
    return Compose([TargetPad(target_ratio, size), Resize(size, interpolation=PIL.Image.BICUBIC), CenterCrop(size)])


def squarepad_pipeline(size: int = 224) -> Compose:
    return Compose([SquarePad(size), Resize(size, interpolation=PIL.Image.BICUBIC), CenterCrop(size)])


def plain_resize_pipeline(size: int = 224) -> Compose:
    """FG-CLIP's ``image.resize((224, 224))`` (here through torchvision, bicubic)."""
    return Compose([Resize((size, size), interpolation=PIL.Image.BICUBIC)])
