"""Detectors: images in, scored boxes out."""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from regionkit.kinds.base import ContractMethod, Kind, Trait

if TYPE_CHECKING:
    import numpy as np

    from regionkit.structures.boxes import Boxes

__all__ = ["BaseDetector", "KIND", "check_detections"]


class BaseDetector(abc.ABC):
    """Turns images into scored boxes.

    ``detect`` receives a batch of RGB ``uint8`` arrays of shape ``(H, W, 3)`` (already
    EXIF-rotated) and returns one :class:`~regionkit.Boxes` per image, with pixel ``xyxy``
    boxes on that image, sorted by descending score, ``image_size == (W, H)``.

    ``parallel_safe = True`` declares a CPU-only detector that is cheap to build and holds
    no shared state: the runner may then build one copy per worker process and detect
    there, in parallel.  Leave it ``False`` for torch/GPU models (they batch in-process).
    """

    parallel_safe: bool = False

    @abc.abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """Detect boxes in each image of the batch."""


def check_detections(out: object, sizes: Sequence[tuple[int, int]], who: str,
                     check_sizes: bool = True) -> list[Boxes]:
    """``out`` as the list of :class:`Boxes` a ``detect`` call on images of ``sizes`` must return.

    ``who`` names the call in the message (``"MyDetector.detect"``).  :class:`~regionkit.errors.ContractError` if
    ``out`` is not a list (or tuple) of one ``Boxes`` per image, or (``check_sizes``) a
    ``Boxes`` whose ``image_size`` is not its image's ``(width, height)``.  The one place the
    detector contract is enforced: the runner, the hybrid detector and the conformance kit
    all call it.
    """
    from regionkit.errors import ContractError
    from regionkit.structures.boxes import Boxes

    if not isinstance(out, (list, tuple)):
        raise ContractError(f"{who} returned {type(out).__name__}; it must return a list with one Boxes per image")
    if len(out) != len(sizes):
        raise ContractError(f"{who} returned {len(out)} results for {len(sizes)} images; it must return exactly "
                            f"one Boxes per image, in order")
    for i, boxes in enumerate(out):
        if not isinstance(boxes, Boxes):
            where = f" for image {i}" if len(out) > 1 else ""
            raise ContractError(f"{who} returned {type(boxes).__name__}{where}, not Boxes (build one with "
                                f"Boxes.create(xyxy, (width, height), scores=..., labels=..., label_names=...))")
    if check_sizes:
        for i, (boxes, size) in enumerate(zip(out, sizes)):
            w, h = size
            if boxes.image_size != (w, h):
                where = f" for image {i}" if len(out) > 1 else ""
                hint = " — that is (height, width); image_size is (width, height)" if boxes.image_size == (h, w) else ""
                raise ContractError(f"{who} returned image_size {boxes.image_size}{where}, expected {(w, h)}{hint}")
    return list(out)


KIND = Kind(
    key="detectors", singular="detector",
    contract="detect(images: list[RGB uint8 HxWx3]) -> list[Boxes], pixel xyxy, score-descending",
    methods=(ContractMethod("detect", 1, "detect(images) -> list[Boxes]"),),
    traits=(Trait("parallel_safe", False, "CPU-only and cheap to build: the runner may detect in worker processes"),),
    base=BaseDetector, conformance="regionkit.devkit.conformance.detectors",
    example_target="my_pkg.detectors:MyDetector",
)
