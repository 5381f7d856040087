"""Writer for CIRR box files: ``{image_name: [[x1, y1, x2, y2], ...]}`` normalised to [0, 1].

This is the layout of ``generate_cirr_boxes.py`` (the SPRC RoI-Align fork) that its
training code reads with ``--box-file``: one key per CIRR image name, a list of
``xyxy_norm`` boxes (possibly empty), ``indent=2``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from regionkit.core.boxes import Boxes
from regionkit.core.interfaces import BaseWriter, ImageResult
from regionkit.core.io import write_json_dict_atomic
from regionkit.plugins.writers.common import check_filename, check_region_name

__all__ = ["CirrBoxesWriter", "normalized_boxes"]


def normalized_boxes(boxes: Boxes | Any, image_size: tuple[int, int] | None = None, *,
                     reciprocal: bool = False) -> list[list[float]]:
    """Pixel ``xyxy`` boxes as ``[0, 1]``-normalised lists, bit-identical to ultralytics' ``xyxyn``.

    ultralytics keeps boxes as float32 tensors and divides them by the original width and
    height in float32; the original script then calls ``.tolist()``.  This does the same:
    ``float32(xyxy) / float32([w, h, w, h])`` computed in float32 (one correctly rounded
    IEEE division per coordinate), then each float32 converted exactly to a Python float.

    ``boxes`` is a :class:`~regionkit.core.boxes.Boxes` (its ``image_size`` is used) or an
    ``(N, 4)`` array-like of pixel boxes together with ``image_size=(width, height)``.

    ``reciprocal=True`` multiplies by ``float32(1) / float32(size)`` instead.  That is what
    PyTorch's CUDA kernel does when a tensor is divided by a Python number (ultralytics'
    ``xyxy[..., [0, 2]] /= width`` on a GPU); on the CPU PyTorch divides, as the default
    here does.  The two differ in the last bit for roughly one coordinate in five.
    """
    if isinstance(boxes, Boxes):
        xyxy, size = boxes.xyxy, boxes.image_size if image_size is None else image_size
    else:
        if image_size is None:
            raise ValueError("normalized_boxes needs image_size=(width, height) for a plain array of boxes")
        xyxy, size = boxes, image_size
    w, h = size
    pixels = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    scale = np.array([w, h, w, h], dtype=np.float32)
    if reciprocal:
        return (pixels * (np.float32(1.0) / scale)).tolist()
    return (pixels / scale).tolist()


class CirrBoxesWriter(BaseWriter):
    """Write a CIRR box file: {image_name: [[x1, y1, x2, y2], ...]} normalised to [0, 1].

    Keys are ``ImageResult.name`` (the CIRR image name with the ``cirr_split`` dataset), in
    dataset order; values are the region set ``boxes`` normalised by the image size with
    :func:`normalized_boxes` (float32 arithmetic, as ultralytics' ``xyxyn``).  Images
    without boxes get an empty list.  The JSON is streamed with ``indent`` (2, like the
    original) and written atomically.  A name seen twice is an error.
    """

    def __init__(self, *, filename: str = "cirr_boxes.json", boxes: str = "cirr", indent: int | None = 2) -> None:
        self.filename = check_filename(filename)
        self.boxes = check_region_name("boxes", boxes)
        if indent is not None and (not isinstance(indent, int) or isinstance(indent, bool) or indent < 0):
            raise ValueError(f"indent must be a non-negative integer or None, got {indent!r}")
        self.indent = indent

    def required_regions(self) -> set[str]:
        return {self.boxes}

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        return {"image": result.name, "boxes": normalized_boxes(result.region(self.boxes))}

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
