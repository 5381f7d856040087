"""The ``visualize_png`` writer: draw region sets on each image and save PNGs (drawing in :mod:`regionkit.io.pictures`)."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

from regionkit.io.pictures import draw_boxes, png_name, save_png_atomic
from regionkit.kinds.writers import BaseWriter
from regionkit.params import NonEmpty, OutputName, Range, RegionSetName, checked
from regionkit.structures.results import ImageResult

__all__ = ["BoxVisualizer"]


class BoxVisualizer(BaseWriter):
    """Draw region sets on each image and save it as a PNG (no text, one colour per set).

    For every image, the region sets named in ``regions`` are outlined (``line_width``
    pixels, colours from :data:`regionkit.io.pictures.PALETTE` in that order) on the decoded image, shrunk so its
    longer side is at most ``max_size`` (``None`` keeps the full size).  The PNG is saved at
    once to ``<out_dir>/<folder>/<png_name(rel_path)>`` (atomically), so memory stays flat.
    The record is that file's path relative to the output folder; ``finalize`` writes
    nothing more and returns the PNG paths.

    The runner tells the writer its output folder by calling ``start(out_dir)`` before the
    first image.  ``needs_image = True`` makes the runner keep the decoded pixels for it.
    """

    needs_image = True
    writes_folder = True

    @checked
    def __init__(self, *, folder: OutputName = "vis",
                 regions: RegionSetName | Annotated[Sequence[RegionSetName], NonEmpty()] = ("detections",),
                 line_width: Annotated[int, Range(1, 100)] = 2,
                 max_size: Annotated[int, Range(16, 65536)] | None = 1024) -> None:
        self.folder = folder
        self.regions = (regions,) if isinstance(regions, str) else tuple(regions)
        if len(set(self.regions)) != len(self.regions):
            raise ValueError(f"regions names a region set twice: {list(self.regions)!r}")
        self.line_width = line_width
        self.max_size = max_size
        self.filename = self.folder
        self.out_dir: Path | None = None

    def required_regions(self) -> set[str]:
        return set(self.regions)

    def start(self, out_dir: str | os.PathLike[str]) -> None:
        """Set the run's output folder; PNGs go to ``<out_dir>/<folder>/``."""
        self.out_dir = Path(out_dir)

    def make_record(self, result: ImageResult) -> str:
        if self.out_dir is None:
            raise RuntimeError("BoxVisualizer has no output folder: the runner must call start(out_dir) "
                               "before the first image")
        if result.image is None:
            raise ValueError(f"no decoded image to draw on for {result.rel_path!r} (result.image is None)")
        picture = draw_boxes(result.image, [result.region(r).xyxy for r in self.regions],
                             line_width=self.line_width, max_size=self.max_size)
        rel = f"{self.folder}/{png_name(result.rel_path)}"
        save_png_atomic(picture, self.out_dir / rel)
        return rel

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        return [Path(out_dir) / record for record in records]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        """The records back from the PNG paths ``finalize`` returned (relative to their output folder)."""
        return [f"{self.folder}/{Path(path).name}" for path in paths]
