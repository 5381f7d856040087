"""Pure functions the SegGPT fine-tuning recipe (mmengine Runner, ``tools/train.py``) calls: what the fine-tuners found.

* :func:`random_palette` / :func:`repaint_pair`: every sample's labels repainted with random
  colours, shared by the prompt and the query of the pair.  Fixed black/white targets made
  training collapse to all-black predictions.  The background is random too by default
  (upstream), or black (the fork, whose inference prompts are black/white), or a given colour.
* :func:`random_patch_mask`: ``int(num_patches * mask_ratio)`` patches masked, drawn uniformly
  over both halves of the canvas (0.75 worked; half masks only, or 0.4, did not);
  :func:`training_patch_mask` adds upstream's rule of half masks for same-class pairs.
* :func:`make_pair`: prompt and query images and their colour labels as the two stacked canvases.
* :func:`masked_smooth_l1`: smooth-L1 with beta 0.01 over the masked patches only (what
  transformers' ``SegGptLoss`` computes when given ``labels`` and ``bool_masked_pos``).
* :func:`foreground_iou_counts` / :func:`class_iou_counts` / :func:`iou`: the validation metric.
  The prediction is decoded by the sample's own palette (nearest colour), then foreground (any
  class) is compared with the ground truth.  By default only the query half is scored: the
  prompt half is visible to the model and would inflate the score (the fork's IoU counted it).
  Counts are returned, not ratios, so batches and ranks sum before dividing (a per-class mean
  excludes the background, upstream's own bug fixed).
Upstream's learning-rate schedule (a warm-up at every restart, cosine cycles, peaks halved) is
the ``CosineWarmupRestartsLR`` parameter scheduler in :mod:`regionkit.engine.schedulers`.

numpy for colours, masks and metrics; torch for the loss.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from regionkit.models.segmentation.seggpt.canvas import normalize, resize_image, resize_nearest, stack, to_rgb
from regionkit.models.segmentation.seggpt.palette import decode, paint, unnormalize

if TYPE_CHECKING:
    import torch

__all__ = ["random_palette", "repaint_pair", "random_patch_mask", "training_patch_mask", "make_pair",
           "masked_smooth_l1", "foreground_iou_counts", "class_iou_counts", "iou",
           "Background"]

Background = Literal["random", "black"] | tuple[int, int, int]


def random_palette(num_classes: int, rng: np.random.Generator, background: Background = "random",
                   min_distance: float = 30.0, tries: int = 100) -> np.ndarray:
    """``(num_classes + 1, 3)`` uint8 random colours, background first.

    ``background``: ``'random'`` (upstream), ``'black'`` (the fork) or an RGB triple.  Colours
    closer than ``min_distance`` to an earlier one are drawn again (up to ``tries`` times), so a
    sample never asks the model to tell two near-identical colours apart; 0 draws exactly as
    upstream did.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if isinstance(background, str):
        if background not in ("random", "black"):
            raise ValueError(f"background must be 'random', 'black' or an RGB triple, got {background!r}")
        first = rng.integers(0, 256, 3) if background == "random" else np.zeros(3, dtype=np.int64)
    else:
        first = np.asarray(background, dtype=np.int64).reshape(3)
    colours = [first]
    for _ in range(num_classes):
        colour = rng.integers(0, 256, 3)
        for _ in range(tries):
            if min(np.linalg.norm(colour - c) for c in colours) >= min_distance:
                break
            colour = rng.integers(0, 256, 3)
        colours.append(colour)
    return np.stack(colours).astype(np.uint8)


def repaint_pair(prompt_label: np.ndarray, query_label: np.ndarray, num_classes: int, rng: np.random.Generator,
                 background: Background = "random", min_distance: float = 30.0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both class maps painted with one fresh random palette: ``(prompt RGB, query RGB, palette)``."""
    top = max(int(np.max(prompt_label)), int(np.max(query_label)))
    if top > num_classes:
        raise ValueError(f"labels hold class id {top} but num_classes is {num_classes}")
    palette = random_palette(num_classes, rng, background, min_distance)
    return paint(prompt_label, palette), paint(query_label, palette), palette


def random_patch_mask(num_patches: int, mask_ratio: float, rng: np.random.Generator) -> np.ndarray:
    """``(num_patches,)`` bool with exactly ``int(num_patches * mask_ratio)`` True, spread over the whole canvas."""
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1], got {mask_ratio}")
    mask = np.zeros(num_patches, dtype=bool)
    mask[rng.permutation(num_patches)[: int(num_patches * mask_ratio)]] = True
    return mask


def training_patch_mask(grid: tuple[int, int], mask_ratio: float, rng: np.random.Generator,
                        same_class: bool = False, half_for_same_class: bool = False) -> np.ndarray:
    """The patch mask of one training pair: random (``mask_ratio``), or the query half for same-class pairs if asked.

    ``grid`` is the canvas's ``(patch rows, patch cols)``; upstream masked the query half of
    pairs whose images hold the same classes (``half_for_same_class=True``) and a random
    ``mask_ratio`` of patches otherwise; the fork always used the random mask.
    """
    rows, cols = grid
    if same_class and half_for_same_class:
        mask = np.zeros((rows, cols), dtype=bool)
        mask[rows // 2:] = True
        return mask.reshape(-1)
    return random_patch_mask(rows * cols, mask_ratio, rng)


def make_pair(prompt_image: np.ndarray, prompt_colours: np.ndarray, query_image: np.ndarray,
              query_colours: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(image canvas, label canvas)``, each ``(3, 2h, w)`` normalised: prompt on top, query below, ``size = (h, w)``.

    Images are resized bicubically, colour labels by nearest neighbour (no new colours appear).
    """
    def image(x: np.ndarray) -> np.ndarray:
        return normalize(resize_image(to_rgb(x), size))

    def label(x: np.ndarray) -> np.ndarray:
        return normalize(resize_nearest(to_rgb(x), size))

    return (stack(image(prompt_image), image(query_image)),
            stack(label(prompt_colours), label(query_colours)))


def masked_smooth_l1(pred: torch.Tensor, target: torch.Tensor, patch_mask: torch.Tensor, patch_size: int,
                     beta: float = 0.01, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean smooth-L1 (``beta``) over the pixels of masked patches (and ``valid`` pixels, if given).

    ``pred`` and ``target`` are ``(B, 3, H, W)`` canvases; ``patch_mask`` is ``(B, (H/p) * (W/p))``
    bool, row-major over the patch grid, True = masked (predicted).
    """
    import torch.nn.functional as F

    b, _, h, w = pred.shape
    rows, cols = h // patch_size, w // patch_size
    pixels = patch_mask.reshape(b, 1, rows, 1, cols, 1).expand(b, 1, rows, patch_size, cols, patch_size)
    weight = pixels.reshape(b, 1, h, w).to(pred.dtype)
    if valid is not None:
        weight = weight * valid.reshape(b, -1, h, w).to(pred.dtype)
    loss = F.smooth_l1_loss(pred, target, reduction="none", beta=beta) * weight
    return loss.sum() / (weight.expand_as(loss).sum()).clamp_min(1.0)


def _decoded(pred: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return decode(unnormalize(pred), palette)[0]


def _region(arr: np.ndarray, exclude_prompt: bool) -> np.ndarray:
    return arr[arr.shape[0] // 2:] if exclude_prompt else arr


def foreground_iou_counts(pred: np.ndarray, gt_label: np.ndarray, palette: np.ndarray,
                          exclude_prompt: bool = True) -> tuple[int, int]:
    """``(intersection, union)`` of predicted and true foreground on one canvas.

    ``pred`` is the model's normalised ``(3, 2h, w)`` canvas, ``gt_label`` the ``(2h, w)`` class
    ids it was painted from, ``palette`` that sample's colours.  Foreground = any class but 0.
    ``exclude_prompt`` scores the query (bottom) half only.
    """
    ids = _region(_decoded(pred, palette), exclude_prompt)
    gt = _region(np.asarray(gt_label), exclude_prompt)
    if ids.shape != gt.shape:
        raise ValueError(f"prediction {ids.shape} and ground truth {gt.shape} differ in size")
    p, g = ids != 0, gt != 0
    return int((p & g).sum()), int((p | g).sum())


def class_iou_counts(pred: np.ndarray, gt_label: np.ndarray, palette: np.ndarray, num_classes: int,
                     exclude_prompt: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-class ``(intersections, unions)`` arrays of length ``num_classes + 1`` (index 0 = background)."""
    ids = _region(_decoded(pred, palette), exclude_prompt)
    gt = _region(np.asarray(gt_label), exclude_prompt)
    inter = np.zeros(num_classes + 1, dtype=np.int64)
    union = np.zeros(num_classes + 1, dtype=np.int64)
    for c in range(num_classes + 1):
        p, g = ids == c, gt == c
        inter[c], union[c] = int((p & g).sum()), int((p | g).sum())
    return inter, union


def iou(intersection: float | np.ndarray, union: float | np.ndarray, skip_background: bool = True) -> float:
    """IoU from summed counts: a scalar pair, or per-class arrays averaged over present classes (without class 0)."""
    inter, uni = np.asarray(intersection, dtype=np.float64), np.asarray(union, dtype=np.float64)
    if inter.ndim == 0:
        return float(inter / uni) if uni > 0 else float("nan")
    if skip_background:
        inter, uni = inter[1:], uni[1:]
    present = uni > 0
    return float((inter[present] / uni[present]).mean()) if present.any() else float("nan")

