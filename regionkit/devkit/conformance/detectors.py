"""Conformance checks for detectors: structure, sizes, boxes inside the image, order, determinism, batching, odd inputs."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from regionkit.devkit.conformance.framework import Check, CheckContext, ConformanceError, call_component
from regionkit.devkit.conformance.inputs import PHOTOS, SampleImage, difference, fresh, tolerance, validate_boxes
from regionkit.errors import ContractError
from regionkit.kinds.detectors import check_detections

if TYPE_CHECKING:  # pragma: no cover
    from regionkit.structures.boxes import Boxes

__all__ = ["CHECKS"]


def _detect(det: Any, images: Sequence[SampleImage], what: str, check_sizes: bool = False) -> list[Boxes]:
    """``det.detect`` on ``images``, its result checked against the detector contract (the runner's own check)."""
    arrays = [im.array for im in images]
    where = f"detect() on {what}"
    out = call_component(where, det.detect, arrays)
    try:
        return check_detections(out, [im.size for im in images], where, check_sizes=check_sizes)
    except ContractError as exc:
        raise ConformanceError(str(exc)) from None


def _check_sizes(results: Sequence[Boxes], images: Sequence[SampleImage]) -> None:
    for boxes, image in zip(results, images):
        try:
            check_detections([boxes], [image.size], f"detect() on {image.describe()}")
        except ContractError as exc:
            raise ConformanceError(str(exc)) from None


def _check_outputs(results: Sequence[Boxes], images: Sequence[SampleImage]) -> None:
    _check_sizes(results, images)
    for boxes, image in zip(results, images):
        validate_boxes(boxes, image.size, f"detect() on {image.describe()}", strict=True, sorted_scores=True)



def _det_structure(det: Any, ctx: CheckContext) -> None:
    _detect(det, fresh(*PHOTOS), "a batch of 3 photos")
    single = _detect(det, fresh("square"), "a batch of 1 photo")
    if len(single) != 1:  # pragma: no cover - _detect already checks
        raise ConformanceError("detect() on one image must return one Boxes")


def _det_sizes(det: Any, ctx: CheckContext) -> None:
    images = fresh(*PHOTOS, "tiny", "wide", "tall")
    for image in images:
        _check_sizes(_detect(det, [image], image.describe()), [image])


def _det_inside(det: Any, ctx: CheckContext) -> None:
    images = fresh(*PHOTOS)
    results = _detect(det, images, "a batch of 3 photos")
    _check_sizes(results, images)
    for boxes, image in zip(results, images):
        validate_boxes(boxes, image.size, f"detect() on {image.describe()}", strict=True, sorted_scores=False)


def _det_sorted(det: Any, ctx: CheckContext) -> None:
    images = fresh(*PHOTOS, "greyscale")
    for boxes, image in zip(_detect(det, images, "a batch of 4 photos"), images):
        validate_boxes(boxes, image.size, f"detect() on {image.describe()}", strict=False, sorted_scores=True,
                        slack=math.inf)


def _det_deterministic(det: Any, ctx: CheckContext) -> None:
    images = fresh(*PHOTOS)
    first = _detect(det, images, "a batch of 3 photos (first call)")
    second = _detect(det, fresh(*PHOTOS), "the same batch (second call)")
    tol = tolerance(det)
    for a, b, image in zip(first, second, images):
        diff = difference(a, b, tol)
        if diff:
            raise ConformanceError(f"two detect() calls on {image.describe()} disagree: {diff}; detectors must "
                                   f"be deterministic (seed any randomness, keep no state between calls)")


def _det_batch(det: Any, ctx: CheckContext) -> None:
    images = fresh(*PHOTOS)
    batch = _detect(det, images, "a batch of 3 photos of different sizes")
    tol = tolerance(det)
    for i, image in enumerate(images):
        (alone,) = _detect(det, fresh(("square", "landscape", "portrait")[i]), image.describe())
        diff = difference(batch[i], alone, tol)
        if diff:
            raise ConformanceError(f"{image.describe()} at position {i} of a 3-image batch gives different boxes "
                                   f"than alone: {diff}; each image's boxes must not depend on the other images "
                                   f"in the batch (the runner batches images of different sizes and retries "
                                   f"failed batches one image at a time)")


def _det_grey_rgba(det: Any, ctx: CheckContext) -> None:
    images = fresh("greyscale", "rgba")
    for image in images:
        _check_outputs(_detect(det, [image], image.describe()), [image])
    _check_outputs(_detect(det, images, "a batch of a greyscale and an RGBA-derived image"), images)


def _det_edge_cases(det: Any, ctx: CheckContext) -> None:
    for image in fresh("tiny", "wide", "tall", "flat"):
        _check_outputs(_detect(det, [image], image.describe()), [image])


def _det_input(det: Any, ctx: CheckContext) -> None:
    import numpy as np

    images = fresh(*PHOTOS, "greyscale")
    before = [im.array.copy() for im in images]
    _detect(det, images, "a batch of 4 images")
    for image, original in zip(images, before):
        if not np.array_equal(image.array, original):
            raise ConformanceError(f"detect() modified the input array of {image.describe()} in place; the runner "
                                   f"passes the same array on to selectors and writers, so copy before changing it")


#: the checks of this kind, in the order they run
CHECKS = (
    Check("returns_one_boxes_per_image", "detectors", _det_structure, "detect(images) returns a list with one Boxes per image"),
    Check("image_size_matches", "detectors", _det_sizes, "each Boxes has image_size == (width, height) of its image"),
    Check("boxes_finite_and_inside_image", "detectors", _det_inside, "boxes are finite, non-empty and inside the image"),
    Check("scores_descending", "detectors", _det_sorted, "boxes are sorted by descending score"),
    Check("deterministic", "detectors", _det_deterministic, "two calls on the same images give the same boxes"),
    Check("batch_equals_single", "detectors", _det_batch, "a batch of 3 mixed-size images gives what 3 single calls give"),
    Check("greyscale_and_rgba_inputs", "detectors", _det_grey_rgba, "greyscale-content and RGBA-cut-out RGB images work"),
    Check("tiny_thin_and_flat_images", "detectors", _det_edge_cases, "16x16, 300x20, 20x300 and constant-colour images work"),
    Check("does_not_modify_input", "detectors", _det_input, "detect() leaves the input arrays unchanged"),
)
