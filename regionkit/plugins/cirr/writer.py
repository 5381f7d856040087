"""Writer for CIRR box files: ``{image_name: [[x1, y1, x2, y2], ...]}`` normalised to [0, 1], and their reader.

This is the layout of ``generate_cirr_boxes.py`` (the SPRC RoI-Align fork) that its
training code reads with ``--box-file``: one key per CIRR image name, a list of
``xyxy_norm`` boxes (possibly empty), ``indent=2``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from regionkit.errors import ConfigError
from regionkit.io.atomic import write_json_dict_atomic
from regionkit.io.box_files import NORM_TOLERANCE, BoxEntry, BoxFile, BoxFileError, BoxFormat, boxes_array
from regionkit.kinds.writers import BaseWriter
from regionkit.params import OutputName, Range, RegionSetName, checked
from regionkit.plugins.cirr.arithmetic import DEFAULT_ARITHMETIC, Arithmetic, cirr_xyxyn
from regionkit.structures.results import ImageResult

__all__ = ["CirrBoxesWriter", "CirrBoxFormat"]


class CirrBoxFormat(BoxFormat):
    """CIRR box files: ``{image_name: [[x1, y1, x2, y2], ...]}``, coordinates normalised to [0, 1]."""

    name = "cirr"
    container = dict
    layout = "{name: [[x1, y1, x2, y2], ...]} (normalised)"

    def entry_matches(self, entry: Any) -> bool:
        return isinstance(entry, list)

    def read(self, data: Any, path: str, field: str | None, ann_file: str | None) -> BoxFile:
        entries = []
        for key, value in data.items():
            arr = boxes_array(value, f"{path}: image {key!r}")
            if arr.size and (arr.min() < -NORM_TOLERANCE or arr.max() > 1 + NORM_TOLERANCE):
                raise BoxFileError(f"{path}: image {key!r} has coordinates outside [0, 1]; CIRR box files hold "
                                   f"normalised boxes")
            entries.append(BoxEntry(str(key), arr))
        return BoxFile(path, self.name, True, entries)


class CirrBoxesWriter(BaseWriter):
    """Write a CIRR box file: {image_name: [[x1, y1, x2, y2], ...]} normalised to [0, 1].

    Keys are ``ImageResult.name`` (the CIRR image name with the ``cirr_split`` dataset), in
    dataset order; values are the region set ``boxes`` normalised by the image size with
    :func:`~regionkit.plugins.cirr.arithmetic.cirr_xyxyn`.  ``arithmetic=None`` (default)
    follows the ``cirr_box_filter`` stage that produces ``boxes`` (its ``arithmetic`` and
    ``float64_labels``, through its ``normalized``), so the saliency recipe's Python-float
    values, the YOLO recipe's float32 values and the hybrid recipe's mix all come out as the
    original wrote them; with no such stage it is ``float32_div``.  An explicit value that
    contradicts the filter's is a config error.  Images without boxes get an empty list.  The JSON is
    streamed with ``indent`` (2, like the original) and written atomically.  A name seen
    twice is an error.
    """

    box_format = CirrBoxFormat()

    @checked
    def __init__(self, *, filename: OutputName = "cirr_boxes.json", boxes: RegionSetName = "cirr",
                 indent: Annotated[int, Range(0, 16)] | None = 2, arithmetic: Arithmetic | None = None) -> None:
        self.filename = filename
        self.boxes = boxes
        self.indent = indent
        self.requested_arithmetic = arithmetic
        self.arithmetic: str = arithmetic or DEFAULT_ARITHMETIC
        self._filter: Any = None  # the CIRR filter producing ``boxes``, once bound

    def __repr__(self) -> str:
        return (f"CirrBoxesWriter(filename={self.filename!r}, boxes={self.boxes!r}, indent={self.indent}, "
                f"arithmetic={self.arithmetic!r})")

    def required_regions(self) -> set[str]:
        return {self.boxes}

    def bind(self, producers: Mapping[str, Any]) -> None:
        """Adopt the arithmetic of the CIRR filter that produces ``boxes`` (see the class docstring)."""
        from regionkit.plugins.cirr.box_filter import CirrBoxFilter

        producer = producers.get(self.boxes)
        if not isinstance(producer, CirrBoxFilter):
            return
        if self.requested_arithmetic is not None and self.requested_arithmetic != producer.arithmetic:
            raise ConfigError(f"writer 'cirr_boxes' has arithmetic={self.requested_arithmetic!r} but the "
                              f"cirr_box_filter producing '{self.boxes}' uses {producer.arithmetic!r}; the file "
                              f"would not hold the recipe's values. Drop the writer's arithmetic (it follows "
                              f"the filter) or make them equal")
        self.arithmetic = producer.arithmetic
        self._filter = producer

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        boxes = result.region(self.boxes)
        values = self._filter.normalized(boxes) if self._filter is not None else cirr_xyxyn(boxes, self.arithmetic)
        return {"image": result.name, "boxes": values}

    def _pairs(self, records: Iterable[Any]) -> Iterable[tuple[str, Any]]:
        seen: set[str] = set()  # names only (a few MB for 100k images), never the boxes
        for record in records:
            name = record["image"]
            if name in seen:
                raise ValueError(f"image name {name!r} occurs twice; CIRR box files need unique image names")
            seen.add(name)
            yield name, record["boxes"]

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        return [write_json_dict_atomic(Path(out_dir) / self.filename, self._pairs(records), indent=self.indent)]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        import json

        data = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
        return [{"image": name, "boxes": boxes} for name, boxes in data.items()]
