"""The contracts that detector, box-selector and writer plugins implement.

A plugin does not have to inherit from these classes; anything with the same methods
works.  Inheriting documents intent and gives the defaults below.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from regionkit.core.boxes import Boxes

__all__ = ["BaseDetector", "BaseBoxSelector", "BaseCaptioner", "BaseMatcher", "BaseWriter", "ImageResult"]


class BaseDetector(abc.ABC):
    """Turns images into scored boxes.

    ``detect`` receives a batch of RGB ``uint8`` arrays of shape ``(H, W, 3)`` (already
    EXIF-rotated) and returns one :class:`Boxes` per image, with pixel ``xyxy`` boxes on
    that image, sorted by descending score, ``image_size == (W, H)``.

    ``parallel_safe = True`` declares a CPU-only detector that is cheap to build and holds
    no shared state: the runner may then build one copy per worker process and detect
    there, in parallel.  Leave it ``False`` for torch/GPU models (they batch in-process).
    """

    parallel_safe: bool = False

    @abc.abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """Detect boxes in each image of the batch."""


class BaseBoxSelector(abc.ABC):
    """Maps one box set of an image to another (filter, merge, derive regions).

    Selectors are pure: the output depends only on the input boxes and ``image_size``.
    A selector that must look at pixels (e.g. a captioner-driven main box) sets
    ``needs_image = True``; the runner then calls ``selector(boxes, image=rgb_array)``.
    """

    needs_image: bool = False

    @abc.abstractmethod
    def __call__(self, boxes: Boxes) -> Boxes:
        """Return the selected or derived boxes for the same image."""


class BaseCaptioner(abc.ABC):
    """Describes images in words (e.g. BLIP-2) for caption-driven selectors."""

    @abc.abstractmethod
    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        """One caption per RGB ``uint8`` image."""


class BaseMatcher(abc.ABC):
    """Chooses which detected class names a caption mentions (e.g. an LLM prompt)."""

    @abc.abstractmethod
    def match(self, caption: str, class_names: Sequence[str]) -> list[str]:
        """The subset of ``class_names`` the caption refers to (may be empty)."""


@dataclass
class ImageResult:
    """Everything the runner knows about one image after detection and selection.

    ``path`` is the image path as the dataset built it (folder argument joined with the
    relative name, as the original scripts keyed their JSON); ``rel_path`` is relative to
    the dataset root with ``/`` separators and keys the journal; ``name`` is the dataset's
    identifier for the image (a CIRR image name, a COCO file name; defaults to ``rel_path``);
    ``meta`` holds dataset extras such as a COCO ``image_id``.  ``regions`` maps each selector
    stage's output name to its boxes; ``"detections"`` is the detector's (sanitised) output.
    ``image`` is the decoded RGB array while the image is being processed (writers that
    draw may use it; it is never journaled).
    """

    path: str
    rel_path: str
    image_size: tuple[int, int]
    detections: Boxes
    regions: dict[str, Boxes] = field(default_factory=dict)
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    image: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.rel_path

    def region(self, name: str) -> Boxes:
        if name == "detections":
            return self.detections
        try:
            return self.regions[name]
        except KeyError:
            known = ", ".join(["detections", *self.regions]) or "none"
            raise KeyError(f"no region set named {name!r}; this run produces: {known}") from None


class BaseWriter(abc.ABC):
    """Turns each image's result into a record, then writes output files from all records.

    The runner calls ``make_record`` once per image (lifecycle hooks may then edit the
    record), streams the records to its journal, and at the end calls ``finalize`` with an
    iterator over the records in dataset order, so a writer never holds a whole dataset in
    memory.  Records must be JSON-serialisable.  ``required_regions`` names the region sets
    the writer reads, so a misconfigured pipeline fails before any image is processed.
    """

    #: output file name, relative to the run's output folder
    filename: str = ""
    #: set ``True`` if ``make_record`` reads ``result.image`` (the decoded pixels)
    needs_image: bool = False

    def required_regions(self) -> set[str]:
        return set()

    def start(self, out_dir: Path) -> None:
        """Called once before the first image with the run's output folder (default: nothing)."""

    @abc.abstractmethod
    def make_record(self, result: ImageResult) -> Any:
        """Build this writer's JSON-serialisable record for one image."""

    @abc.abstractmethod
    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        """Write the output files under ``out_dir`` (atomically) and return their paths."""

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        """Read back what ``finalize`` wrote, as the list of records (round-trip check).

        The default reads one JSON file holding a list of records, or a dict whose values
        are the records; writers with other formats override it.
        """
        import json

        data = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
        return list(data.values()) if isinstance(data, dict) else list(data)
