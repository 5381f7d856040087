"""What flows through a run: the image to process (:class:`ImageItem`) and what is known about it (:class:`ImageResult`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from regionkit.structures.boxes import Boxes

__all__ = ["ImageItem", "ImageResult"]


@dataclass(frozen=True)
class ImageItem:
    """One image a dataset yields.

    ``path`` is what the file is opened with (the dataset root as given, joined with the
    relative name, as the original scripts keyed their JSON); ``rel_path`` is unique within
    the dataset, uses ``/`` separators and keys the run's journal; ``name`` is the dataset's
    identifier for the image (a CIRR image name, a COCO file name; defaults to
    ``rel_path``); ``meta`` holds extras such as a COCO ``image_id``.
    """

    path: str
    rel_path: str
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.rel_path)


@dataclass
class ImageResult:
    """Everything the runner knows about one image after detection and selection.

    ``item`` is the dataset's :class:`ImageItem` (``path``, ``rel_path``, ``name`` and
    ``meta`` read through to it).  ``image_size`` is ``(width, height)`` in pixels;
    ``detections`` is the detector's sanitised output; ``regions`` maps each selector stage's
    output name to its boxes.  ``image`` is the decoded RGB array while the image is being
    processed (writers that draw may use it; it is never journaled).
    """

    item: ImageItem
    image_size: tuple[int, int]
    detections: Boxes
    regions: dict[str, Boxes] = field(default_factory=dict)
    image: np.ndarray | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return self.item.path

    @property
    def rel_path(self) -> str:
        return self.item.rel_path

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def meta(self) -> dict[str, Any]:
        return self.item.meta

    def region(self, name: str) -> Boxes:
        """The region set ``name`` (``"detections"`` is the detector's output); ``KeyError`` listing the known sets."""
        if name == "detections":
            return self.detections
        try:
            return self.regions[name]
        except KeyError:
            known = ", ".join(["detections", *self.regions]) or "none"
            raise KeyError(f"no region set named {name!r}; this run produces: {known}") from None
