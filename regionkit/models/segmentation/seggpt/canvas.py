"""Prompt masks read from files, images and masks prepared for SegGPT, two images stacked into one canvas.

**Prompt masks come in many forms**, and SegGPT only sees colours, so each file is read into a
class map (``0`` = background, ``1..K`` = classes) and painted with the detector's palette
(:mod:`~regionkit.models.segmentation.seggpt.palette`).  :func:`mask_kind` tells the forms apart
(``mask_mode='auto'``); a mode can also be forced:

``binary``
    Foreground against background: ``{0, 1}``, ``{0, 255}``, any two grey levels ``{0, v}``, a
    1-bit image, or a grey mask saved as JPEG (many levels near 0 and 255; thresholded at 127.5
    so the ringing around edges does not become foreground, the fork's pitfall).  A 0/1 mask is
    *not* "almost black" here (the transformers image processor trap): both 0/1 and 0/255 give
    class 1.
``index``
    Class ids as grey values (or a palette-mode PNG's indices, as in VOC), all below 64; 255 is
    the "void" border of VOC-style masks and counts as background.
``color``
    Each distinct non-black colour (or grey level) is a class, numbered in sorted order over
    *all* prompt masks together, so a colour means the same class in every prompt.  With an
    explicit ``palette`` each pixel takes the nearest palette colour instead (JPEG-safe).

Auto-detection per mask: non-grey RGB -> ``color``; two grey levels (one of them 0), a 1-bit
image or JPEG-like grey noise -> ``binary``; more levels, all below 64 (or 255) -> ``index``; other
grey masks -> ``color``.  Masks of one prompt set must agree (binary ``{0, 1}`` masks are also
valid index maps and join an index set).

**Model inputs.**  Each image (prompt or query) is resized to the model's per-image size
(``config.image_size[0] // 2`` x ``config.image_size[1]``, 448 x 448 for the released weights)
bicubically, masks with nearest neighbour, then divided by 255 and normalised with ImageNet's
mean and std.  :func:`stack` puts two such images on top of each other (the 896 x 448 canvas:
prompt above, query below); :func:`half_mask` is the patch mask of inference and validation.

numpy and Pillow only.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from regionkit.errors import ConfigError
from regionkit.models.segmentation.seggpt.palette import IMAGENET_MEAN, IMAGENET_STD, paint

__all__ = ["MaskMode", "MaskKind", "read_mask_file", "mask_kind", "ClassTable", "to_rgb", "nearest_indices",
           "resize_nearest", "resize_image", "normalize", "prepare_image", "prepare_mask", "stack", "half_mask",
           "MAX_INDEX"]

MaskMode = Literal["auto", "binary", "index", "color"]
MaskKind = Literal["binary", "index", "color"]

#: class ids of ``index`` masks must be below this (255 is VOC's void border, read as background)
MAX_INDEX = 64
_VOID = 255
_JPEG_LEVELS = 8  # a grey mask with more levels than this, mostly near 0 and 255, is a JPEG'd binary mask


def read_mask_file(path: str | os.PathLike[str]) -> np.ndarray:
    """A mask file as ``(H, W)`` (grey, 1-bit, palette indices) or ``(H, W, 3)`` (colour) uint8; EXIF-rotated."""
    from PIL import ImageOps, UnidentifiedImageError

    from regionkit.io.images import pillow_open

    try:
        with pillow_open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode == "1":
                return (np.asarray(im, dtype=bool) * 255).astype(np.uint8)
            if im.mode in ("L", "P"):
                return np.asarray(im, dtype=np.uint8).copy()
            if im.mode.startswith("I") or im.mode == "F":
                arr = np.asarray(im)
                if arr.max() > 255:
                    raise ConfigError(f"prompt mask {path} holds values above 255 ({int(arr.max())}); save class ids "
                                      f"as an 8-bit PNG")
                return arr.astype(np.uint8)
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cannot read prompt mask {path}: {exc}") from None
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0].copy()  # an RGB file holding a grey mask
    return rgb


def _looks_like_jpeg_binary(values: np.ndarray, counts: np.ndarray) -> bool:
    near_ends = counts[(values < 48) | (values > 207)].sum()
    return len(values) > _JPEG_LEVELS and near_ends >= 0.95 * counts.sum()


def mask_kind(raw: np.ndarray) -> MaskKind:
    """The form of one mask (see the module docstring), for ``mask_mode='auto'``."""
    if raw.ndim == 3:
        return "color"
    values, counts = np.unique(raw, return_counts=True)
    if (len(values) <= 2 and values.min() == 0) or len(values) == 1:
        return "binary"
    if _looks_like_jpeg_binary(values, counts):
        return "binary"
    if all(v < MAX_INDEX or v == _VOID for v in values.tolist()):
        return "index"
    return "color"


def _binary_map(raw: np.ndarray) -> np.ndarray:
    grey = raw if raw.ndim == 2 else raw.max(axis=-1)
    values = np.unique(grey)
    if len(values) <= 2:
        return (grey > 0).astype(np.int64) if values.min() == 0 else (grey > values.min()).astype(np.int64)
    return (grey > 127).astype(np.int64)  # JPEG-noisy or many-level masks: the middle of the 8-bit range


def _index_map(raw: np.ndarray, where: str) -> np.ndarray:
    if raw.ndim == 3:
        raise ConfigError(f"prompt mask {where} is a colour image, not class ids; use mask_mode='color' or 'auto'")
    ids = raw.astype(np.int64)
    ids[ids == _VOID] = 0
    if ids.max() >= MAX_INDEX:
        raise ConfigError(f"prompt mask {where} holds value {int(ids.max())}; class-id masks hold ids below "
                          f"{MAX_INDEX} (255 = void); use mask_mode='binary' or 'color' for other masks")
    return ids


@dataclass(frozen=True)
class ClassTable:
    """How the prompt masks' values map to class ids ``1..K`` (one table for a whole prompt set).

    ``kind`` is the mask form; ``num_classes`` is K; ``colours`` lists, for ``color`` masks read
    without a palette, the mask colour (or grey level) of each class id ``1..K``.
    """

    kind: MaskKind
    num_classes: int
    colours: tuple[tuple[int, ...], ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()  # nearest-colour matching of ``color`` masks, if given

    @classmethod
    def from_masks(cls, raws: Sequence[np.ndarray], names: Sequence[str], mode: MaskMode = "auto",
                   palette: np.ndarray | None = None) -> ClassTable:
        """The table covering every mask of ``raws`` (``names`` say which file each came from, for messages)."""
        if not raws:
            raise ConfigError("no prompt masks given")
        kind = mode if mode != "auto" else _common_kind(raws, names)
        if kind == "binary":
            return cls("binary", 1)
        if kind == "index":
            ids = [int(_index_map(r, n).max()) for r, n in zip(raws, names)]
            return cls("index", max(1, max(ids)))
        if palette is not None:
            pal = tuple(tuple(int(v) for v in c) for c in np.asarray(palette))
            return cls("color", len(pal) - 1, palette=pal)  # type: ignore[arg-type]
        found: set[tuple[int, ...]] = set()
        for raw in raws:
            flat = raw.reshape(-1, 3) if raw.ndim == 3 else raw.reshape(-1, 1)
            found.update(tuple(int(v) for v in row) for row in np.unique(flat, axis=0))
        colours = sorted(c for c in found if any(c))
        if len(colours) > MAX_INDEX:
            raise ConfigError(f"the prompt masks hold {len(colours)} distinct colours (JPEG noise?); give the "
                              f"palette they were painted with (detector.palette) or use mask_mode='binary'")
        return cls("color", max(1, len(colours)), colours=tuple(colours))

    def class_map(self, raw: np.ndarray, where: str = "mask") -> np.ndarray:
        """``raw`` (one mask file's pixels) as ``(H, W)`` int64 class ids."""
        if self.kind == "binary":
            return _binary_map(raw)
        if self.kind == "index":
            return _index_map(raw, where)
        flat = raw.reshape(-1, 3) if raw.ndim == 3 else raw.reshape(-1, 1)
        if self.palette:
            pal = np.asarray(self.palette, dtype=np.float32)
            rgb = flat.astype(np.float32) if flat.shape[1] == 3 else np.repeat(flat, 3, axis=1).astype(np.float32)
            return np.argmin(((rgb[:, None, :] - pal[None]) ** 2).sum(-1), axis=1).reshape(raw.shape[:2]).astype(
                np.int64)
        lookup = {c: i + 1 for i, c in enumerate(self.colours)}
        uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
        ids = np.array([lookup.get(tuple(int(v) for v in row), 0) for row in uniq], dtype=np.int64)
        return ids[inverse.reshape(-1)].reshape(raw.shape[:2])


def _common_kind(raws: Sequence[np.ndarray], names: Sequence[str]) -> MaskKind:
    kinds = [mask_kind(r) for r in raws]
    if len(set(kinds)) == 1:
        return kinds[0]
    if set(kinds) == {"binary", "index"} and all(
            k == "index" or set(np.unique(r).tolist()) <= {0, 1} for k, r in zip(kinds, raws)):
        return "index"
    shown = ", ".join(f"{n} looks {k}" for n, k in list(zip(names, kinds))[:4])
    raise ConfigError(f"the prompt masks are of different kinds ({shown}); set detector.mask_mode to "
                      f"'binary', 'index' or 'color'")


# ---------------------------------------------------------------------- model inputs
def to_rgb(image: np.ndarray, where: str = "image") -> np.ndarray:
    """``image`` as ``(H, W, 3)`` uint8: grey repeated, alpha dropped; a one-line error for other inputs."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"{where}: expected dtype uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{where}: expected an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    return arr[:, :, :3]


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` output samples, pixel centres aligned (nearest-neighbour resizing)."""
    return np.minimum(((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64), src - 1)


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` (``(H, W, ...)``) resized to ``size = (height, width)`` by nearest neighbour."""
    h, w = size
    return array[nearest_indices(array.shape[0], h)][:, nearest_indices(array.shape[1], w)]


def resize_image(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 resized bicubically (Pillow) to ``size = (height, width)``."""
    from PIL import Image

    h, w = size
    if rgb.shape[:2] == (h, w):
        return rgb
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((w, h), Image.Resampling.BICUBIC))


def normalize(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float32: /255, then ImageNet mean and std."""
    x = (np.asarray(rgb, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(np.moveaxis(x, -1, 0))


def prepare_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB (or grey/RGBA) uint8 image as the model's normalised ``(3, h, w)`` input."""
    return normalize(resize_image(to_rgb(image), size))


def prepare_mask(class_map: np.ndarray, palette: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Class ids ``(H, W)`` painted with ``palette`` at ``size`` (nearest) as the model's normalised ``(3, h, w)`` input."""
    return normalize(paint(resize_nearest(np.asarray(class_map), size), palette))


def stack(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Two ``(3, h, w)`` (or ``(h, w, ...)``) arrays on top of each other: the prompt-above-query canvas."""
    axis = 1 if top.ndim == 3 and top.shape[0] == 3 else 0
    if top.shape != bottom.shape:
        raise ValueError(f"canvas halves differ in shape: {top.shape} and {bottom.shape}")
    return np.concatenate([top, bottom], axis=axis)


def half_mask(patches_h: int, patches_w: int) -> np.ndarray:
    """``(patches_h * patches_w,)`` bool, True on the bottom (query) half: what inference and validation predict."""
    if patches_h % 2:
        raise ValueError(f"the canvas needs an even number of patch rows, got {patches_h}")
    mask = np.zeros((patches_h, patches_w), dtype=bool)
    mask[patches_h // 2:] = True
    return mask.reshape(-1)
