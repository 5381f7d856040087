"""Writers for Patch Matters' ``four_box.json`` and ``object_box.json`` (original layouts).

Both files are written with ``indent=4`` and ``ensure_ascii=False`` like the original
``divide/generate_four_box.py``; boxes are pixel ``xyxy`` lists of floats.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from regionkit.core.interfaces import BaseWriter, ImageResult
from regionkit.core.io import write_json_dict_atomic, write_json_list_atomic
from regionkit.plugins.writers.common import check_filename, check_region_name
from regionkit.plugins.selectors.patch_matters import WHOLE_IMAGE_LABEL, WHOLE_IMAGE_NAME

__all__ = ["PatchMattersFourBoxWriter", "PatchMattersObjectBoxWriter", "parent_and_name"]


def parent_and_name(path: str) -> str:
    """``"<parent dir name>/<file name>"`` of a ``/``-separated path, as the original built it.

    ``"data/coco/x/0001.jpg"`` gives ``"x/0001.jpg"``; a bare file name is returned as is
    (the original raised ``IndexError`` there).
    """
    parts = path.split("/")
    return "/".join(parts[-2:])


class PatchMattersFourBoxWriter(BaseWriter):
    """Write four_box.json: per image the merged boxes, the four parts and the two parts.

    One record per image, in dataset order::

        {"image": "<parent dir>/<file>", "object_detect_box": [...], "four_box": [...], "two_box": [...]}

    The three box lists come from the region sets named by ``object_boxes``, ``four_box``
    and ``two_box`` (pixel ``xyxy`` floats).  The file is a JSON list (``indent=4``).
    """

    def __init__(self, *, filename: str = "four_box.json", object_boxes: str = "merged",
                 four_box: str = "four_box", two_box: str = "two_box") -> None:
        self.filename = check_filename(filename)
        self.object_boxes = check_region_name("object_boxes", object_boxes)
        self.four_box = check_region_name("four_box", four_box)
        self.two_box = check_region_name("two_box", two_box)

    def required_regions(self) -> set[str]:
        return {self.object_boxes, self.four_box, self.two_box}

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        return {
            "image": parent_and_name(result.path),
            "object_detect_box": result.region(self.object_boxes).tolist(),
            "four_box": result.region(self.four_box).tolist(),
            "two_box": result.region(self.two_box).tolist(),
        }

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        return [write_json_list_atomic(Path(out_dir) / self.filename, records, indent=4)]


class PatchMattersObjectBoxWriter(BaseWriter):
    """Write object_box.json: per image the score-filtered detections, keyed by image path.

    A JSON dict (``indent=4``) keyed by ``ImageResult.path``, one entry per image::

        {"image": path, "bbox": [...], "name": [...], "label": [...]}

    ``bbox`` is the region set named ``boxes`` (pixel ``xyxy`` floats), ``label`` all its
    labels as ints (the whole-image sentinel ``1008611`` included) and ``name`` the label names
    of the boxes whose label is not the sentinel, or ``["None"]`` when there are none.  A
    repeated path keeps its first position and its last record, like the original.
    """

    def __init__(self, *, filename: str = "object_box.json", boxes: str = "kept") -> None:
        self.filename = check_filename(filename)
        self.boxes = check_region_name("boxes", boxes)

    def required_regions(self) -> set[str]:
        return {self.boxes}

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        boxes = result.region(self.boxes)
        labels = [int(v) for v in boxes.labels]
        names = [name for name, label in zip(boxes.label_names, labels) if label != WHOLE_IMAGE_LABEL]
        return {
            "image": result.path,
            "bbox": boxes.tolist(),
            "name": names or [WHOLE_IMAGE_NAME],
            "label": labels,
        }

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        pairs = ((record["image"], record) for record in records)
        return [write_json_dict_atomic(Path(out_dir) / self.filename, pairs, indent=4)]
