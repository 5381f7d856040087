"""The geometry of image preprocessing as axis-aligned affine maps of pixel coordinates.

Every preprocessing step used by SPRC and FG-CLIP maps pixel coordinates as ``x' = sx * x + ox``
(continuous coordinates: ``0`` is the left edge of the image; a box covering pixel columns
``a .. b-1`` has ``x1 = a``, ``x2 = b``):

* ``Pad(left, top, right, bottom)``: ``x' = x + left`` (size grows by ``left + right``);
* ``Resize``: ``x' = x * W' / W`` per axis (PIL and torchvision map the image extent onto the new
  extent); ``Resize(S)`` sets the short side to ``S`` and the long side to
  ``int(S * long / short)`` (torchvision's ``_compute_resized_output_size``);
* ``CenterCrop(S)``: ``x' = x - int(round((W - S) / 2))``, after torchvision's zero padding when
  the image is smaller than ``S``.

Presets reproduce SPRC's ``targetpad_transform(1.25, 224)`` (``TargetPad`` -> ``Resize(224)`` ->
``CenterCrop(224)``), ``squarepad_transform(224)`` (``SquarePad`` -> same), CLIP's
``Resize(224)`` -> ``CenterCrop(224)`` and FG-CLIP's plain ``resize((224, 224))``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

__all__ = ["BoxGeometry", "Preprocess", "Size", "pad_geometry", "resize_geometry", "resize_short_side_geometry",
           "center_crop_geometry", "targetpad_pad", "squarepad_pad", "targetpad_geometry", "squarepad_geometry",
           "plain_resize_geometry", "preprocess_geometry", "checked_size"]

#: the preprocessing pipelines with a preset
Preprocess = Literal["targetpad", "squarepad", "resize", "resize_center_crop"]
#: an image size ``(width, height)`` in pixels
Size = tuple[int, int]


@dataclass(frozen=True)
class BoxGeometry:
    """``x' = sx * x + ox``, ``y' = sy * y + oy`` from an image of ``in_size`` to one of ``out_size`` (both ``(W, H)``)."""

    sx: float
    sy: float
    ox: float
    oy: float
    in_size: Size
    out_size: Size

    def then(self, other: BoxGeometry) -> BoxGeometry:
        """This step followed by ``other`` (whose ``in_size`` must be this ``out_size``)."""
        if other.in_size != self.out_size:
            raise ValueError(f"cannot chain a step from {other.in_size} after one producing {self.out_size}")
        return BoxGeometry(other.sx * self.sx, other.sy * self.sy, other.sx * self.ox + other.ox,
                           other.sy * self.oy + other.oy, self.in_size, other.out_size)

    def apply(self, boxes: Tensor) -> Tensor:
        """Pixel ``xyxy`` (``[..., 4]``) on the input mapped to the output, not clipped."""
        scale = boxes.new_tensor([self.sx, self.sy, self.sx, self.sy])
        offset = boxes.new_tensor([self.ox, self.oy, self.ox, self.oy])
        return boxes * scale + offset


def checked_size(size: Sequence[int]) -> Size:
    """``(width, height)`` as positive ints; ``ValueError`` otherwise."""
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive (width, height), got {tuple(size)}")
    return width, height


def pad_geometry(image_size: Size, left: int, top: int, right: int, bottom: int) -> BoxGeometry:
    """Zero padding by the given pixels (``torchvision.transforms.functional.pad`` with 4 values)."""
    width, height = checked_size(image_size)
    return BoxGeometry(1.0, 1.0, float(left), float(top), (width, height),
                       (width + left + right, height + top + bottom))


def resize_geometry(image_size: Size, new_size: Size) -> BoxGeometry:
    """Resize to ``new_size = (W', H')``."""
    width, height = checked_size(image_size)
    new_w, new_h = checked_size(new_size)
    return BoxGeometry(new_w / width, new_h / height, 0.0, 0.0, (width, height), (new_w, new_h))


def resize_short_side_geometry(image_size: Size, size: int) -> BoxGeometry:
    """``torchvision.transforms.Resize(size)`` with an int: short side ``size``, long side ``int(size * long / short)``."""
    width, height = checked_size(image_size)
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    return resize_geometry((width, height), (new_w, new_h))


def center_crop_geometry(image_size: Size, size: Size) -> BoxGeometry:
    """``torchvision.transforms.CenterCrop(size)`` (``(W, H)``), zero-padding first if the image is smaller."""
    width, height = checked_size(image_size)
    crop_w, crop_h = checked_size(size)
    geometry = BoxGeometry(1.0, 1.0, 0.0, 0.0, (width, height), (width, height))
    if crop_w > width or crop_h > height:
        pad_l = (crop_w - width) // 2 if crop_w > width else 0
        pad_t = (crop_h - height) // 2 if crop_h > height else 0
        pad_r = (crop_w - width + 1) // 2 if crop_w > width else 0
        pad_b = (crop_h - height + 1) // 2 if crop_h > height else 0
        geometry = pad_geometry((width, height), pad_l, pad_t, pad_r, pad_b)
        width, height = geometry.out_size
        if (width, height) == (crop_w, crop_h):
            return geometry
    top = int(round((height - crop_h) / 2.0))  # noqa: RUF046 (torchvision's exact expression)
    left = int(round((width - crop_w) / 2.0))  # noqa: RUF046
    crop = BoxGeometry(1.0, 1.0, float(-left), float(-top), (width, height), (crop_w, crop_h))
    return geometry.then(crop)


def targetpad_pad(image_size: Size, target_ratio: float = 1.25) -> tuple[int, int]:
    """SPRC's ``TargetPad``: the ``(horizontal, vertical)`` zero padding on *each* side.

    No padding when ``max(w, h) / min(w, h) < target_ratio``; otherwise the padding that brings
    the aspect ratio down to ``target_ratio``: ``max(int((max(w, h) / target_ratio - side) / 2), 0)``.
    """
    width, height = checked_size(image_size)
    if max(width, height) / min(width, height) < target_ratio:
        return 0, 0
    scaled = max(width, height) / target_ratio
    return max(int((scaled - width) / 2), 0), max(int((scaled - height) / 2), 0)


def squarepad_pad(image_size: Size) -> tuple[int, int]:
    """SPRC's ``SquarePad``: ``(int((max - w) / 2), int((max - h) / 2))`` on each side (odd gaps lose a pixel)."""
    width, height = checked_size(image_size)
    side = max(width, height)
    return int((side - width) / 2), int((side - height) / 2)


def _pad_resize_crop(image_size: Size, pad: tuple[int, int], size: int) -> BoxGeometry:
    hp, vp = pad
    geometry = pad_geometry(image_size, hp, vp, hp, vp)
    geometry = geometry.then(resize_short_side_geometry(geometry.out_size, size))
    return geometry.then(center_crop_geometry(geometry.out_size, (size, size)))


def targetpad_geometry(image_size: Size, target_ratio: float = 1.25, size: int = 224) -> BoxGeometry:
    """SPRC's ``targetpad_transform(target_ratio, size)``: TargetPad -> Resize(size) -> CenterCrop(size)."""
    if not target_ratio >= 1.0:
        raise ValueError(f"target_ratio must be >= 1, got {target_ratio}")
    return _pad_resize_crop(image_size, targetpad_pad(image_size, target_ratio), size)


def squarepad_geometry(image_size: Size, size: int = 224) -> BoxGeometry:
    """SPRC's ``squarepad_transform(size)``: SquarePad -> Resize(size) -> CenterCrop(size)."""
    return _pad_resize_crop(image_size, squarepad_pad(image_size), size)


def plain_resize_geometry(image_size: Size, size: int | Size = 224) -> BoxGeometry:
    """A plain resize to ``size x size`` (or ``(W, H)``), as FG-CLIP's ``image.resize((224, 224))``."""
    return resize_geometry(image_size, (size, size) if isinstance(size, int) else size)


def preprocess_geometry(image_size: Size, preprocess: Preprocess, *, size: int = 224,
                        target_ratio: float = 1.25) -> BoxGeometry:
    """The geometry of a named pipeline; ``resize_center_crop`` is CLIP's Resize(size) -> CenterCrop(size)."""
    if preprocess == "targetpad":
        return targetpad_geometry(image_size, target_ratio, size)
    if preprocess == "squarepad":
        return squarepad_geometry(image_size, size)
    if preprocess == "resize":
        return plain_resize_geometry(image_size, size)
    if preprocess == "resize_center_crop":
        return _pad_resize_crop(image_size, (0, 0), size)
    raise ValueError(f"preprocess must be one of targetpad, squarepad, resize, resize_center_crop; got {preprocess!r}")
