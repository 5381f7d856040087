"""Palettes for SegGPT's colour masks and nearest-colour decoding of its predicted colour maps.

SegGPT never outputs class ids: it paints the query the way the prompt mask is painted.  Every
class of a prompt mask is therefore given a colour (index 0 is the background), the model is
shown the painted mask, and its prediction is turned back into class ids by taking, for each
pixel, the palette colour nearest in RGB (L2 distance), as the fine-tuners' ``cmap_to_lbl`` and
transformers' post-processing do.

**Colours far apart.**  :func:`build_palette` picks colours greedily, each as far (in RGB) from
the ones already taken as the candidate lattice allows, starting from the background colour:
one class on black gets white, the next ones pure primaries and secondaries, then finer
lattices.  transformers' ``build_palette(2)`` gives (0,0,0), (255,255,255), (255,255,127):
two near-identical colours, so a model that paints "a bit less white" flips the class.
:func:`min_separation` measures that; :func:`check_palette` refuses palettes closer than a limit.

**Confidence.**  :func:`decode` also returns, per pixel, the *margin*: the distance to the
second-nearest colour minus the distance to the nearest, divided by the distance between those
two palette colours.  By the triangle inequality it lies in [0, 1]: 1 means the pixel is exactly
(or beyond) its class colour, 0 that it sits on the boundary between two classes.  Box scores are
built from it (:mod:`~regionkit.models.segmentation.seggpt.masks_to_boxes`).

numpy only.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from regionkit.errors import ConfigError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "build_palette", "as_palette", "min_separation", "check_palette",
           "paint", "decode", "unnormalize", "MIN_SEPARATION"]

#: ImageNet statistics SegGPT normalises images and colour masks with (0..1 scale)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

#: the smallest RGB distance between two palette colours :func:`check_palette` accepts by default
MIN_SEPARATION = 60.0

# the first candidates, in the order ties are broken: the corners of the RGB cube
_CORNERS = ((255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255),
            (0, 0, 0))


def _candidates(count: int) -> np.ndarray:
    """A lattice of RGB colours with at least ``count`` points, cube corners first."""
    levels = 2
    while levels**3 < count:
        levels += 1
    values = np.linspace(0, 255, levels).round().astype(np.int64)
    lattice = [tuple(int(v) for v in c) for c in itertools.product(values, repeat=3)]
    ordered = [c for c in _CORNERS if c in lattice] + [c for c in lattice if c not in _CORNERS]
    return np.array(ordered, dtype=np.float64)


def build_palette(num_classes: int, background: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """``(num_classes + 1, 3)`` uint8 colours: ``background`` first, then each class as far from the others as possible.

    Greedy farthest-point choice over an RGB lattice (deterministic; ties go to the earlier
    candidate, cube corners first): one class on black is white; up to seven classes get the
    cube's corners (pairwise distance >= 255).
    """
    if num_classes < 1:
        raise ConfigError(f"a palette needs at least one class besides the background, got {num_classes}")
    bg = np.asarray(background, dtype=np.float64).reshape(3)
    cands = _candidates(num_classes + 1)
    chosen = [bg]
    nearest = np.linalg.norm(cands - bg, axis=1)
    for _ in range(num_classes):
        pick = int(np.argmax(nearest))  # argmax returns the first of equal values: the tie rule
        chosen.append(cands[pick])
        nearest = np.minimum(nearest, np.linalg.norm(cands - cands[pick], axis=1))
    return np.array(chosen).round().astype(np.uint8)


def as_palette(colours: object, num_classes: int | None = None) -> np.ndarray:
    """``colours`` (background first) as a checked ``(C, 3)`` uint8 palette; ``num_classes`` + 1 rows if given."""
    arr = np.asarray(colours)
    if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) < 2:
        raise ConfigError(f"a palette is a list of at least two RGB colours (background first), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or arr.min() < 0 or arr.max() > 255:
        raise ConfigError("palette colours must be RGB triples of integers in [0, 255]")
    if num_classes is not None and len(arr) != num_classes + 1:
        raise ConfigError(f"the palette has {len(arr)} colours but there are {num_classes} classes plus the "
                          f"background ({num_classes + 1} colours needed, background first)")
    return arr.astype(np.uint8)


def min_separation(palette: np.ndarray) -> float:
    """The smallest RGB distance between two colours of ``palette``."""
    p = np.asarray(palette, dtype=np.float64)
    d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=-1)
    d[np.diag_indices(len(p))] = np.inf
    return float(d.min())


def check_palette(palette: np.ndarray, minimum: float = MIN_SEPARATION) -> np.ndarray:
    """``palette`` unchanged if its colours are at least ``minimum`` apart; a one-line ConfigError naming the pair if not."""
    p = np.asarray(palette, dtype=np.float64)
    d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=-1)
    d[np.diag_indices(len(p))] = np.inf
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    if d[i, j] < minimum:
        raise ConfigError(f"palette colours {i} {tuple(int(v) for v in p[i])} and {j} {tuple(int(v) for v in p[j])} "
                          f"are only {d[i, j]:.0f} apart in RGB (at least {minimum:.0f} needed): SegGPT's predicted "
                          f"colours would be decoded to the wrong class; use colours further apart")
    return palette


def paint(class_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """``(H, W)`` class ids -> ``(H, W, 3)`` uint8 RGB with ``palette[id]``."""
    ids = np.asarray(class_map)
    if ids.size and (ids.min() < 0 or ids.max() >= len(palette)):
        raise ValueError(f"class ids {int(ids.min())}..{int(ids.max())} do not fit a palette of {len(palette)} colours")
    return np.asarray(palette, dtype=np.uint8)[ids]


def unnormalize(pred: np.ndarray) -> np.ndarray:
    """A normalised ``(3, H, W)`` or ``(H, W, 3)`` prediction back to RGB 0..255 float32, clipped (channels last)."""
    arr = np.asarray(pred, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = np.moveaxis(arr, 0, -1)
    return np.clip((arr * IMAGENET_STD + IMAGENET_MEAN) * 255.0, 0.0, 255.0)


def decode(colours: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette colour per pixel: ``(class ids (H, W) int64, margin (H, W) float32 in [0, 1])``.

    ``colours`` is ``(H, W, 3)`` RGB on the 0..255 scale (:func:`unnormalize` of the model's
    output).  Ties go to the lower class id.  The margin is described in the module docstring.
    """
    x = np.asarray(colours, dtype=np.float32)
    p = np.asarray(palette, dtype=np.float32)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"decode expects an (H, W, 3) colour map, got shape {x.shape}")
    dist = np.empty(x.shape[:2] + (len(p),), dtype=np.float32)  # squared distances, H x W x C
    for c, colour in enumerate(p):
        diff = x - colour
        np.einsum("hwk,hwk->hw", diff, diff, out=dist[..., c])
    first = np.argmin(dist, axis=-1)  # the first of equal values: the lower class id
    d1 = np.take_along_axis(dist, first[..., None], -1)[..., 0]
    np.put_along_axis(dist, first[..., None], np.inf, -1)
    second = np.argmin(dist, axis=-1)
    d2 = np.take_along_axis(dist, second[..., None], -1)[..., 0]
    d1, d2 = np.sqrt(d1), np.sqrt(d2)
    gap = np.linalg.norm(p[first] - p[second], axis=-1)
    margin = np.where(gap > 0, (d2 - d1) / np.maximum(gap, 1e-6), 0.0)
    return first.astype(np.int64), np.clip(margin, 0.0, 1.0).astype(np.float32)
