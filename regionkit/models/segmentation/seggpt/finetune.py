"""SegGPT fine-tuning on mmengine's Runner: the ``seggpt_pairs`` dataset, the ``seggpt`` model, the ``seggpt_iou`` metric.

The recipe is SegGPT-FineTune's (spec section 4), built from the tested functions of
:mod:`~regionkit.models.segmentation.seggpt.training`:

* **Data** (:class:`SegGptPairs`): ``<data_root>/<split>/images/<name>`` with the same-named
  class-id (or 0/255) label in ``<data_root>/<split>/labels/`` (or ``<stem>.png``).  Every
  ordered pair of two different images is a sample (training: a random pair order per draw, as
  upstream's random swap; validation: pairs whose images hold the same classes, at most
  ``max_pairs``).  Images and labels are preloaded at ``image_size`` (bicubic / nearest).  Per
  draw: both images flipped alike, labels repainted with one fresh random palette (background
  random by default), a random ``mask_ratio`` patch mask over the whole canvas (validation,
  and with ``half_mask_same_class`` upstream's rule for pairs holding the same classes: the
  query half).  Validation draws are fixed by ``seed`` and the index.
* **Model** (:class:`SegGptFineTune`): transformers' ``SegGptForImageSegmentation`` from local
  weights (a transformers folder or a Painter ``.pth``; nothing is downloaded) or, with
  ``config=dict(...)``, a random model of that configuration (tests, tiny runs).  ``loss``
  mode: smooth-L1 (``beta`` 0.01) over the masked patches; ``predict`` mode: the predicted canvas
  per sample for the metric.  The type token is ``semantic`` (upstream trains with
  ``seg_type=0``), so ``embedding_type='auto'`` of the detector picks it for these checkpoints.
* **Metric** (:class:`SegGptIoU`): foreground IoU with each sample's own palette decoding,
  counts summed over the whole validation set before dividing, the query half only
  (``exclude_prompt=True``; the fork's IoU also scored the visible prompt half), plus the
  per-class mean without the background, and the pixel accuracy (``acc``) of the decoded classes.

torch, mmengine and transformers are imported when this module is.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel

from regionkit.errors import ConfigError
from regionkit.models.segmentation.seggpt.canvas import (
    ClassTable,
    half_mask,
    normalize,
    read_mask_file,
    resize_image,
    resize_nearest,
    stack,
)
from regionkit.models.segmentation.seggpt.palette import paint
from regionkit.models.segmentation.seggpt.training import (
    class_iou_counts,
    foreground_iou_counts,
    iou,
    masked_smooth_l1,
    random_palette,
    random_patch_mask,
)
from regionkit.params import NonEmpty, PathText, Range, UnitInterval, WeightsFile, checked

__all__ = ["SegGptPairs", "SegGptFineTune", "SegGptIoU"]

_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_HELP = ("a transformers SegGPT folder or Painter's seggpt_vit_large.pth on this machine (regionkit never downloads "
         "weights); or config=dict(...) for a randomly initialised model")


# ---------------------------------------------------------------------- data
def _label_for(image: Path, labels: Path) -> Path | None:
    for name in (image.name, f"{image.stem}.png"):
        if (labels / name).is_file():
            return labels / name
    return None


class SegGptPairs:
    """Pairs of images with class-id labels from ``<data_root>/<split>/{images,labels}`` (module docstring)."""

    conformance_skip = "needs a folder of images and labels; tests/models/seggpt/test_finetune.py trains on one"

    @checked
    def __init__(self, *, data_root: PathText, split: Annotated[str, NonEmpty()] = "train",
                 num_classes: Annotated[int, Range(1, 63)] = 1, image_size: Annotated[int, Range(16, 2048)] = 448,
                 mask_ratio: UnitInterval = 0.75, background: Literal["random", "black"] = "random",
                 flip: bool = True, max_pairs: Annotated[int, Range(1)] | None = None,
                 same_class_only: bool | None = None, half_mask_same_class: bool = False, seed: int = 0,
                 test_mode: bool = False,
                 patch_size: Annotated[int, Range(1, 64)] = 16) -> None:
        root = Path(os.fspath(data_root)).expanduser() / split
        images_dir, labels_dir = root / "images", root / "labels"
        if not images_dir.is_dir() or not labels_dir.is_dir():
            raise ConfigError(f"SegGPT training data: {root} must hold images/ and labels/ (same file names)")
        if image_size % patch_size:
            raise ConfigError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
        files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in _SUFFIXES)
        found = [(p, _label_for(p, labels_dir)) for p in files]
        missing = [p.name for p, lab in found if lab is None]
        if missing:
            raise ConfigError(f"{len(missing)} image(s) in {images_dir} have no label in {labels_dir}: "
                              f"{', '.join(missing[:3])}")
        if len(found) < 2:
            raise ConfigError(f"SegGPT training data: {images_dir} needs at least two images (samples are pairs)")
        size = (image_size, image_size)
        raws = [read_mask_file(lab) for _, lab in found]  # type: ignore[arg-type]
        table = ClassTable.from_masks(raws, [str(lab) for _, lab in found],
                                      "binary" if num_classes == 1 else "index")
        from regionkit.io.images import load_rgb

        self.images = [resize_image(load_rgb(p), size) for p, _ in found]
        self.labels = [resize_nearest(table.class_map(r, str(lab)), size) for r, (_, lab) in zip(raws, found)]
        top = max(int(lab.max()) for lab in self.labels)
        if top > num_classes:
            raise ConfigError(f"the labels in {labels_dir} hold class id {top} but num_classes is {num_classes}")
        self.names = [p.name for p, _ in found]
        self.split, self.num_classes, self.mask_ratio = split, num_classes, mask_ratio
        self.background, self.flip, self.seed, self.patch_size = background, flip, seed, patch_size
        self.half_mask_same_class = half_mask_same_class
        self.train = not test_mode and split == "train"
        same = (not self.train) if same_class_only is None else same_class_only
        classes = [frozenset(np.unique(lab).tolist()) for lab in self.labels]
        pairs = [(a, b) for a, b in itertools.permutations(range(len(self.labels)), 2)
                 if not same or classes[a] == classes[b]]
        if self.train:  # unordered pairs; the order is drawn per sample (upstream's random swap)
            pairs = [(a, b) for a, b in pairs if a < b]
        if not pairs:
            raise ConfigError(f"SegGPT {split} data in {root}: no pair of images with the same classes")
        self.pairs = pairs[:max_pairs] if max_pairs is not None else pairs
        self.same_class = [classes[a] == classes[b] for a, b in self.pairs]
        self.metainfo = dict(num_classes=num_classes, names=self.names)

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"SegGptPairs(split={self.split!r}, images={len(self.images)}, pairs={len(self)})"

    def _rng(self, index: int) -> np.random.Generator:
        if self.train:  # torch's generator: seeded by the Runner, per worker and per epoch
            return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        return np.random.default_rng((self.seed, index))

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        a, b = self.pairs[index]
        if self.train and rng.random() < 0.5:
            a, b = b, a
        ims, labs = [self.images[a], self.images[b]], [self.labels[a], self.labels[b]]
        if self.train and self.flip:
            for axis in (1, 0):
                if rng.random() < 0.5:
                    ims = [np.flip(x, axis) for x in ims]
                    labs = [np.flip(x, axis) for x in labs]
        palette = random_palette(self.num_classes, rng, self.background)
        h = ims[0].shape[0]
        rows, cols = 2 * h // self.patch_size, ims[0].shape[1] // self.patch_size
        if self.train and not (self.half_mask_same_class and self.same_class[index]):
            mask = random_patch_mask(rows * cols, self.mask_ratio, rng)
        else:
            mask = half_mask(rows, cols)
        gt = np.concatenate(labs, axis=0)
        return dict(
            inputs=dict(images=torch.from_numpy(stack(normalize(ims[0]), normalize(ims[1]))),
                        labels=torch.from_numpy(stack(normalize(paint(labs[0], palette)),
                                                      normalize(paint(labs[1], palette)))),
                        mask=torch.from_numpy(mask)),
            data_samples=dict(gt=torch.from_numpy(gt.astype(np.int64)), palette=torch.from_numpy(palette),
                              index=index))


# ---------------------------------------------------------------------- model
class SegGptFineTune(BaseModel):
    """SegGPT for fine-tuning on the Runner: smooth-L1 (beta) on masked patches as the loss, canvases as predictions.

    ``model``: local weights (transformers folder, Painter or fine-tuned ``.pth``); ``config``:
    ``SegGptConfig`` fields for a random model instead (or overriding a Painter file's shapes).
    """

    conformance_skip = "needs SegGPT weights or a config; tests/models/seggpt/test_finetune.py trains a tiny one"

    @checked
    def __init__(self, *, model: Annotated[PathText, WeightsFile("SegGPT weights", _HELP, format="torch",
                                                                 suffixes=(".pth", ".pt"))] | None = None,
                 config: Mapping[str, Any] | None = None, beta: Annotated[float, Range(0.0)] = 0.01,
                 embedding_type: Literal["semantic", "instance"] = "semantic",
                 losses: Sequence[Any] | None = None, data_preprocessor: Mapping[str, Any] | None = None,
                 init_cfg: Mapping[str, Any] | None = None) -> None:
        super().__init__(data_preprocessor=dict(data_preprocessor) if data_preprocessor else None,
                         init_cfg=dict(init_cfg) if init_cfg else None)
        if losses:
            raise ConfigError("the seggpt model has one built-in loss (smooth-L1 on masked patches, beta=...); "
                              "not yet supported: losses=[...] for it")
        if model is not None:
            from regionkit.models.segmentation.seggpt.model import load_seggpt

            text = os.fspath(model)
            if "://" in text:
                raise ConfigError(f"SegGPT weights must be a local path, not a URL ({text!r}); {_HELP}")
            if not Path(text).expanduser().exists():
                raise ConfigError(f"SegGPT weights not found: {text}; {_HELP}")
            self.net = load_seggpt(text, dict(config) if config else None).net
        elif config is not None:
            from transformers import SegGptConfig, SegGptForImageSegmentation

            self.net = SegGptForImageSegmentation(SegGptConfig(**dict(config)))
        else:
            raise ConfigError(f"the seggpt model needs model=PATH or config=dict(...): {_HELP}")
        self.net.train()
        self.beta, self.embedding_type = beta, embedding_type
        self.patch_size = int(self.net.config.patch_size)

    def forward(self, inputs: Mapping[str, Any], data_samples: Any = None, mode: str = "tensor") -> Any:
        images, labels, mask = inputs["images"], inputs["labels"], inputs["mask"].bool()
        h = images.shape[2] // 2
        out = self.net(pixel_values=images[:, :, h:], prompt_pixel_values=images[:, :, :h],
                       prompt_masks=labels[:, :, :h], labels=labels[:, :, h:], bool_masked_pos=mask,
                       embedding_type=self.embedding_type).pred_masks
        if mode == "loss":
            return {"loss": masked_smooth_l1(out.float(), labels.float(), mask, self.patch_size, beta=self.beta)}
        if mode == "predict":
            preds = out.detach().float().cpu()
            samples = data_samples or {}
            gts, palettes = samples.get("gt"), samples.get("palette")
            return [dict(pred=preds[i], gt=None if gts is None else gts[i],
                         palette=None if palettes is None else palettes[i]) for i in range(len(preds))]
        if mode == "tensor":
            return out
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")


# ---------------------------------------------------------------------- metric
class SegGptIoU(BaseMetric):
    """Foreground IoU (and the per-class mean without background) of palette-decoded predictions (module docstring)."""

    conformance_skip = "scores the seggpt model's predictions; tests/models/seggpt/test_finetune.py covers it"
    default_prefix = "seggpt"

    @checked
    def __init__(self, *, num_classes: Annotated[int, Range(1, 63)] = 1, exclude_prompt: bool = True,
                 collect_device: Literal["cpu", "gpu"] = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes, self.exclude_prompt = num_classes, exclude_prompt

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        for sample in data_samples:
            if sample.get("gt") is None or sample.get("palette") is None:
                raise ValueError("seggpt_iou needs the dataset's gt and palette in each prediction (seggpt_pairs)")
            pred = np.asarray(sample["pred"], dtype=np.float32)
            gt, palette = np.asarray(sample["gt"]), np.asarray(sample["palette"], dtype=np.uint8)
            fg = foreground_iou_counts(pred, gt, palette, self.exclude_prompt)
            inter, union = class_iou_counts(pred, gt, palette, self.num_classes, self.exclude_prompt)
            self.results.append((fg, inter, union))

    def compute_metrics(self, results: list) -> dict[str, float]:
        fg_i = sum(r[0][0] for r in results)
        fg_u = sum(r[0][1] for r in results)
        inter = np.sum([r[1] for r in results], axis=0)
        union = np.sum([r[2] for r in results], axis=0)
        # every pixel is in exactly one class's prediction and one class's truth, so the per-class
        # intersections sum to the correct pixels and intersections + unions to twice the pixels
        correct, total = int(inter.sum()), int(inter.sum() + union.sum()) // 2
        return {"fg_iou": iou(fg_i, fg_u), "miou": iou(inter, union, skip_background=True),
                "acc": correct / total if total else 0.0}
