"""SPRC's image preprocessing with the boxes mapped through it, as one transform.

SPRC (``data_utils.py``) preprocesses every image with ``targetpad_transform(1.25, 224)``:
``TargetPad`` (zero padding that brings the aspect ratio down to 1.25 when it is above it),
``Resize(224, bicubic)`` of the short side, ``CenterCrop(224)``, then ``ToTensor`` and CLIP's
``Normalize``; ``squarepad_transform`` pads to a square instead.  :class:`SprcTransform` does
the same with torchvision's functional ops (so the pixels are torchvision's), and maps boxes
normalised on the original image into the model input through the same geometry
(:mod:`regionkit.models.region_features.geometry`): boxes cropped away are dropped, the rest
clipped, so a box file written on the original images lines up with the RoI grid.

Images are decoded with :func:`regionkit.io.images.load_rgb` (grey, palette, RGBA, 16-bit
converted; EXIF orientation applied, as the box-generation runs that wrote the box files did).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import InterpolationMode  # type: ignore[import-untyped]
from torchvision.transforms import functional as TF

from regionkit.errors import ConfigError
from regionkit.io.images import ImageLoadError, load_rgb
from regionkit.models.region_features.box_mapping import map_boxes_norm
from regionkit.models.region_features.geometry import BoxGeometry, preprocess_geometry, squarepad_pad, targetpad_pad
from regionkit.params import Range, checked

__all__ = ["CLIP_MEAN", "CLIP_STD", "SprcTransform", "TransformedImage", "open_image", "build_transform"]

#: CLIP's normalisation, as SPRC's ``targetpad_transform`` uses it
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

Pipeline = Literal["targetpad", "squarepad", "resize_center_crop", "resize"]


@dataclass(frozen=True)
class TransformedImage:
    """An image ready for the model: ``image`` ``[3, S, S]`` float32, ``boxes`` ``[K, 4]`` normalised on it
    (``None`` when no boxes were given), ``size`` ``(w, h)`` of the original."""

    image: Tensor
    boxes: Tensor | None
    size: tuple[int, int]


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """An RGB PIL image; a missing or undecodable file is a ``ConfigError`` naming it and why."""
    try:
        return Image.fromarray(load_rgb(path))
    except ImageLoadError as exc:
        raise ConfigError(f"cannot read image {path}: {exc}") from None


class SprcTransform:
    """``pipeline`` ``"targetpad"`` (SPRC's default, ``target_ratio`` 1.25), ``"squarepad"``, CLIP's ``"resize_center_crop"`` or a plain ``"resize"`` to ``size``.

    ``__call__(image, boxes=None)`` takes a PIL image and boxes normalised on it (``[K, 4]``
    ``xyxy``) and returns a :class:`TransformedImage`.
    """

    @checked
    def __init__(self, pipeline: Pipeline = "targetpad", target_ratio: Annotated[float, Range(1.0, 100.0)] = 1.25,
                 size: Annotated[int, Range(14, 4096)] = 224, mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD, min_box_size: Annotated[float, Range(0.0, 4096.0)] = 0.0) -> None:
        if len(mean) != 3 or len(std) != 3 or not all(s > 0 for s in std):
            raise ConfigError(f"mean and std must be 3 numbers each (std > 0), got {mean!r} and {std!r}")
        self.pipeline: Pipeline = pipeline
        self.target_ratio = float(target_ratio)
        self.size = int(size)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        self.min_box_size = float(min_box_size)

    def __repr__(self) -> str:
        return f"SprcTransform(pipeline={self.pipeline!r}, target_ratio={self.target_ratio}, size={self.size})"

    def pixels(self, image: Image.Image) -> Image.Image:
        """The geometric part: pad, resize, crop (a PIL image of ``size x size``)."""
        size = self.size
        if self.pipeline == "resize":
            return TF.resize(image, [size, size], interpolation=InterpolationMode.BICUBIC)
        if self.pipeline in ("targetpad", "squarepad"):
            hp, vp = (targetpad_pad(image.size, self.target_ratio) if self.pipeline == "targetpad"
                      else squarepad_pad(image.size))
            if hp or vp:
                image = TF.pad(image, [hp, vp, hp, vp], fill=0, padding_mode="constant")
        image = TF.resize(image, size, interpolation=InterpolationMode.BICUBIC)
        return TF.center_crop(image, [size, size])

    def image_tensor(self, image: Image.Image) -> Tensor:
        """``ToTensor`` then ``Normalize`` of the geometric result: ``[3, size, size]`` float32."""
        return TF.normalize(TF.to_tensor(self.pixels(image)), self.mean, self.std)

    def map_boxes(self, boxes: np.ndarray | Tensor | Sequence[Sequence[float]] | None,
                  image_size: tuple[int, int]) -> Tensor:
        """Boxes normalised on the original image -> normalised on the model input; boxes that end up empty are dropped."""
        if boxes is None:
            return torch.zeros(0, 4)
        tensor = torch.as_tensor(np.asarray(boxes, dtype=np.float64)).reshape(-1, 4)
        if tensor.shape[0] == 0:
            return torch.zeros(0, 4)
        mapped = map_boxes_norm(tensor, image_size, self.pipeline, size=self.size, target_ratio=self.target_ratio,
                                min_size=self.min_box_size)
        return mapped.boxes_norm[mapped.valid].to(torch.float32)

    def geometry(self, image_size: tuple[int, int]) -> BoxGeometry:
        """The affine map of pixel coordinates this transform applies to an image of ``image_size``."""
        return preprocess_geometry(image_size, self.pipeline, size=self.size, target_ratio=self.target_ratio)

    def __call__(self, image: Image.Image, boxes: np.ndarray | Tensor | Sequence[Sequence[float]] | None = None
                 ) -> TransformedImage:
        size = (int(image.size[0]), int(image.size[1]))
        mapped = None if boxes is None else self.map_boxes(boxes, size)
        return TransformedImage(self.image_tensor(image), mapped, size)


def build_transform(cfg: SprcTransform | dict | None) -> SprcTransform:
    """A transform from a config dict (``SprcTransform``'s parameters), an instance, or ``None`` (SPRC's default)."""
    if cfg is None:
        return SprcTransform()
    if isinstance(cfg, SprcTransform):
        return cfg
    if not hasattr(cfg, "items"):
        raise ConfigError(f"transform must be a dict of SprcTransform parameters, got {cfg!r:.100}")
    params = dict(cfg)
    params.pop("type", None)
    try:
        return SprcTransform(**params)
    except TypeError as exc:
        raise ConfigError(f"transform: {exc}") from None
