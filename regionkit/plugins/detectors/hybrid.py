"""Compose several detectors: fall back to the next one, or take the union with NMS.

The CIRR region-box recipe's "hybrid" method runs YOLO (boxes with confidence >= 0.3) and,
for images where YOLO finds nothing, spectral-residual saliency with 2 regions.  As a config::

    detector = dict(
        type='hybrid', mode='fallback',
        detectors=[
            dict(type='yolo', model='/models/yolov8n.pt', conf=0.3),
            dict(type='saliency', max_regions=2),
        ])

Modes:

``fallback``
    Detector 0 runs on the whole batch; detector ``k + 1`` runs, in one call, only on the
    images for which detectors ``0..k`` found no box.  An image keeps the boxes of the first
    detector that found any; if none did, it gets empty boxes.  Later detectors never see
    the images an earlier one answered, so the cost of a fallback is paid only where needed.
``union``
    Every detector runs on the whole batch; each image's boxes are concatenated in
    detector order and reduced by class-agnostic non-maximum suppression at ``nms_iou``
    (:func:`regionkit.structures.box_ops.nms`: a box is dropped when its IoU with a
    higher-scoring kept box is above ``nms_iou``; on equal scores the earlier detector wins).

In both modes boxes scoring below ``min_score`` are dropped from every detector's output
first (in ``fallback`` mode an image whose boxes were all dropped counts as empty).  Output
boxes are sorted by descending score (stable).  Scores of different detectors are compared
as they are, so in ``union`` mode they should be on comparable scales.  Labels and label
names are those of the detector that produced each box; label *ids* of different detectors
may coincide (YOLO's class 0 and saliency's label 0), the names tell them apart.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np

from regionkit.kinds import DETECTOR
from regionkit.kinds.detectors import BaseDetector, check_detections
from regionkit.params import Component, NonEmpty, UnitInterval, checked
from regionkit.structures import box_ops
from regionkit.structures.boxes import Boxes

__all__ = ["HybridDetector"]


def _build(index: int, cfg: Any) -> Any:
    """Build ``detectors[index]`` from its config dict; built detector objects pass through."""
    if not isinstance(cfg, Mapping):
        if callable(getattr(cfg, "detect", None)):
            return cfg
        raise ValueError(f"detectors[{index}] must be a detector config dict with a 'type' key, got {cfg!r}")
    from regionkit.errors import ConfigError, RegionkitError
    from regionkit.registry import DETECTORS

    try:
        return DETECTORS.build(dict(cfg))
    except RegionkitError as exc:  # unknown name, bad parameter, plugin that fails to load
        raise ConfigError(f"detectors[{index}]: {exc}") from exc


def _name(detector: Any) -> str:
    return type(detector).__name__


class HybridDetector(BaseDetector):
    """Several detectors as one: fallback to the next where one finds nothing, or union + NMS.

    Parameters (keyword only):

    detectors:
        A non-empty list of detector configs (``dict(type=..., **params)``, built with
        ``regionkit.registry.DETECTORS``), in priority order.  Already built detectors
        (anything with a ``detect`` method) are accepted too.
    mode:
        ``'fallback'`` (default) or ``'union'``; see the module docstring.
    min_score:
        Boxes scoring below this are dropped from every detector's output (default 0.0).
    nms_iou:
        IoU threshold of the class-agnostic NMS in ``'union'`` mode, in ``[0, 1]``
        (unused in ``'fallback'`` mode).

    The built detectors are :attr:`detectors`.  The hybrid is ``parallel_safe`` (the runner
    may build a copy per worker process) when all of them are.
    """

    #: parameter sets for regionkit's conformance suite (``pytest --regionkit-conformance=regionkit``)
    conformance_params = [
        dict(detectors=[dict(type="saliency", max_regions=3), dict(type="saliency", threshold=0.3)]),
        dict(mode="union", detectors=[dict(type="saliency"), dict(type="saliency", threshold=0.6)]),
    ]

    @checked
    def __init__(
        self,
        *,
        detectors: Annotated[Sequence[Annotated[Any, Component("detectors")]], NonEmpty(
            "list at least one detector config, e.g. [dict(type='yolo', model='yolov8n.pt', conf=0.3), "
            "dict(type='saliency', max_regions=2)]")],
        mode: Literal["fallback", "union"] = "fallback",
        min_score: float = 0.0,
        nms_iou: UnitInterval = 0.5,
    ) -> None:
        self.mode = mode
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.detectors = [_build(i, cfg) for i, cfg in enumerate(detectors)]
        #: the runner may detect in worker processes only if every inner detector allows it
        self.parallel_safe = all(DETECTOR.trait(d, "parallel_safe") for d in self.detectors)

    def __repr__(self) -> str:
        inner = ", ".join(repr(d) for d in self.detectors)
        return (f"HybridDetector(mode={self.mode!r}, min_score={self.min_score}, nms_iou={self.nms_iou}, "
                f"detectors=[{inner}])")

    # ------------------------------------------------------------------ public API
    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """Boxes of each image from the composed detectors, best first."""
        if isinstance(images, np.ndarray) and images.ndim < 4:
            raise ValueError(
                f"detect expects a sequence of images, got a single array of shape {images.shape}; "
                "wrap one image in a list")
        images = list(images)
        if not images:
            return []
        sizes = [_image_size(image, i) for i, image in enumerate(images)]
        if self.mode == "fallback":
            return self._fallback(images, sizes)
        return self._union(images, sizes)

    # ------------------------------------------------------------------ internals
    def _run(self, k: int, images: list[np.ndarray], sizes: list[tuple[int, int]]) -> list[Boxes]:
        """Detector ``k`` on ``images``: contract checked, ``min_score`` applied."""
        detector = self.detectors[k]
        found = check_detections(detector.detect(images), sizes, f"detectors[{k}] ({_name(detector)}).detect")
        return [boxes[boxes.scores >= self.min_score] if len(boxes) else boxes for boxes in found]

    def _fallback(self, images: list[np.ndarray], sizes: list[tuple[int, int]]) -> list[Boxes]:
        results: list[Boxes | None] = [None] * len(images)
        pending = list(range(len(images)))
        for k in range(len(self.detectors)):
            if not pending:
                break
            found = self._run(k, [images[i] for i in pending], [sizes[i] for i in pending])
            still_empty = []
            for i, boxes in zip(pending, found):
                if len(boxes):
                    results[i] = boxes.sorted_by_score()
                else:
                    still_empty.append(i)
            pending = still_empty
        return [Boxes.empty(size) if boxes is None else boxes for boxes, size in zip(results, sizes)]

    def _union(self, images: list[np.ndarray], sizes: list[tuple[int, int]]) -> list[Boxes]:
        per_detector = [self._run(k, images, sizes) for k in range(len(self.detectors))]
        merged = []
        for i, size in enumerate(sizes):
            boxes = Boxes.empty(size)
            for found in per_detector:
                boxes = boxes.concat(found[i])
            keep = box_ops.nms(boxes.xyxy, boxes.scores, self.nms_iou)
            merged.append(boxes[keep])  # nms returns indices by descending score (stable)
        return merged


def _image_size(image: object, index: int) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.ndim < 2 or image.shape[0] == 0 or image.shape[1] == 0:
        what = image.shape if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image {index}: expected an (H, W, 3) array, got {what}")
    return int(image.shape[1]), int(image.shape[0])
