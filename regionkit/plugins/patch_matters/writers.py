"""Writers (and readers) for Patch Matters' ``four_box.json``, ``object_box.json`` and ``main_box.json``.

The layouts are the originals' (``divide/generate_four_box.py`` and ``divide/get_main_box.py``):
``indent=4``, ``ensure_ascii=False``, pixel ``xyxy`` boxes as lists of floats::

    four_box.json    [{"image": "<parent dir>/<file>", "object_detect_box": [...], "four_box": [...],
                       "two_box": [...]}, ...]
    object_box.json  {"<path>": {"image": "<path>", "bbox": [...], "name": [...], "label": [...]}, ...}
    main_box.json    {"<path>": {"main_box": [x1, y1, x2, y2], "equal_four_box": [[0, 0, W//2, H//2], ...]}, ...}

Each file is streamed (memory stays flat) and written atomically.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from regionkit.io.atomic import write_json_dict_atomic, write_json_list_atomic
from regionkit.io.box_files import BoxEntry, BoxFile, BoxFileError, BoxFormat, boxes_array
from regionkit.kinds.writers import BaseWriter
from regionkit.params import OutputName, RegionSetName, checked
from regionkit.plugins.patch_matters.geometry import image_to_n_part
from regionkit.plugins.patch_matters.whole_image import WHOLE_IMAGE_LABEL, WHOLE_IMAGE_NAME, whole_image_xyxy
from regionkit.structures import box_ops
from regionkit.structures.results import ImageResult

__all__ = ["PatchMattersFourBoxWriter", "PatchMattersObjectBoxWriter", "MainBoxWriter", "FourBoxFormat",
           "ObjectBoxFormat", "MainBoxFormat", "parent_and_name"]


def parent_and_name(path: str) -> str:
    """``"<parent dir name>/<file name>"`` of a ``/``-separated path, as the original built it.

    ``"data/coco/x/0001.jpg"`` gives ``"x/0001.jpg"``; a bare file name is returned as is
    (the original raised ``IndexError`` there).
    """
    parts = path.split("/")
    return "/".join(parts[-2:])


# ---------------------------------------------------------------------- four_box.json
class FourBoxFormat(BoxFormat):
    """``four_box.json``: a list of ``{image, object_detect_box, four_box, two_box}``, pixel boxes."""

    name = "four_box"
    container = list
    layout = "[{image, object_detect_box, four_box, two_box}] (pixels)"
    fields = ("object_detect_box", "four_box", "two_box")

    def entry_matches(self, entry: Any) -> bool:
        return isinstance(entry, dict) and "image" in entry and "object_detect_box" in entry

    def read(self, data: Any, path: str, field: str | None, ann_file: str | None) -> BoxFile:
        name = field or self.fields[0]
        entries = []
        for i, value in enumerate(data):
            if name not in value:
                raise BoxFileError(f"{path}: entry {i} ({value.get('image')!r:.80}) has no {name!r}")
            entries.append(BoxEntry(str(value["image"]), boxes_array(value[name], f"{path}: entry {i} {name}")))
        return BoxFile(path, self.name, False, entries, [f"boxes: {name}"])


class PatchMattersFourBoxWriter(BaseWriter):
    """Write four_box.json: per image the merged boxes, the four parts and the two parts.

    One record per image, in dataset order::

        {"image": "<parent dir>/<file>", "object_detect_box": [...], "four_box": [...], "two_box": [...]}

    The three box lists come from the region sets named by ``object_boxes``, ``four_box``
    and ``two_box`` (pixel ``xyxy`` floats).  The file is a JSON list (``indent=4``).
    """

    box_format = FourBoxFormat()

    @checked
    def __init__(self, *, filename: OutputName = "four_box.json", object_boxes: RegionSetName = "merged",
                 four_box: RegionSetName = "four_box", two_box: RegionSetName = "two_box") -> None:
        self.filename = filename
        self.object_boxes = object_boxes
        self.four_box = four_box
        self.two_box = two_box

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


# ---------------------------------------------------------------------- object_box.json
class ObjectBoxFormat(BoxFormat):
    """``object_box.json``: ``{path: {image, bbox, name, label}}``, pixel boxes."""

    name = "object_box"
    container = dict
    layout = "{path: {bbox, name, label}} (pixels)"

    def entry_matches(self, entry: Any) -> bool:
        return isinstance(entry, dict) and "bbox" in entry

    def read(self, data: Any, path: str, field: str | None, ann_file: str | None) -> BoxFile:
        entries = []
        for key, value in data.items():
            labels = value.get("label") or []
            fallback = sum(1 for v in labels if v == WHOLE_IMAGE_LABEL) if isinstance(labels, list) else 0
            image = value.get("image")
            entries.append(BoxEntry(str(key), boxes_array(value["bbox"], f"{path}: image {key!r}"),
                                    hints=(image,) if isinstance(image, str) and image else (),
                                    fallback_boxes=fallback))
        notes = []
        n = sum(1 for e in entries if e.fallback_boxes)
        if n:
            notes.append(f"{n} image(s) have Patch Matters' whole-image fallback box (label {WHOLE_IMAGE_LABEL}); "
                         f"it is counted as a box")
        return BoxFile(path, self.name, False, entries, notes)


class PatchMattersObjectBoxWriter(BaseWriter):
    """Write object_box.json: per image the score-filtered detections, keyed by image path.

    A JSON dict (``indent=4``) keyed by ``ImageResult.path``, one entry per image::

        {"image": path, "bbox": [...], "name": [...], "label": [...]}

    ``bbox`` is the region set named ``boxes`` (pixel ``xyxy`` floats), ``label`` all its
    labels as ints (the whole-image sentinel ``1008611`` included) and ``name`` the label names
    of the boxes whose label is not the sentinel, or ``["None"]`` when there are none.  A
    repeated path keeps its first position and its last record, like the original.
    """

    box_format = ObjectBoxFormat()

    @checked
    def __init__(self, *, filename: OutputName = "object_box.json", boxes: RegionSetName = "kept") -> None:
        self.filename = filename
        self.boxes = boxes

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


# ---------------------------------------------------------------------- main_box.json
class MainBoxFormat(BoxFormat):
    """``main_box.json``: ``{path: {main_box: [x1, y1, x2, y2], equal_four_box: [[...] x 4]}}``, pixel boxes."""

    name = "main_box"
    container = dict
    layout = "{path: {main_box, equal_four_box}} (pixels)"
    fields = ("main_box", "equal_four_box")

    def entry_matches(self, entry: Any) -> bool:
        return isinstance(entry, dict) and "main_box" in entry

    def read(self, data: Any, path: str, field: str | None, ann_file: str | None) -> BoxFile:
        name = field or self.fields[0]
        entries = []
        for key, value in data.items():
            if name not in value:
                raise BoxFileError(f"{path}: image {key!r} has no {name!r}")
            boxes = value[name]
            if name == "main_box":
                boxes = [boxes]  # one box per image
            entries.append(BoxEntry(str(key), boxes_array(boxes, f"{path}: image {key!r} {name}"), hints=(str(key),)))
        return BoxFile(path, self.name, False, entries, [f"boxes: {name}"])


class MainBoxWriter(BaseWriter):
    """Write main_box.json: per image path the main box (floats) and the four equal quadrants (ints).

    ``main_box`` names the region set holding the main box (one box, as
    ``patch_matters_main_box`` or ``main_box_union`` produce).  If the set holds several boxes
    their enclosing box is written; if it is empty, the whole image ``[0, 0, W-1, H-1]``.
    ``equal_four_box`` is ``[[0,0,W//2,H//2],[W//2,0,W,H//2],[0,H//2,W//2,H],[W//2,H//2,W,H]]``
    (the same quadrants the four-box parts start from).

    Each record is ``{"image": path, "main_box": [...], "equal_four_box": [...]}``; the file
    holds ``{path: {"main_box": ..., "equal_four_box": ...}}`` (``indent=4``).  Paths must be
    unique (the dataset's are).
    """

    box_format = MainBoxFormat()

    @checked
    def __init__(self, *, filename: OutputName = "main_box.json", main_box: RegionSetName = "main_box") -> None:
        self.filename = filename
        self.main_box = main_box

    def __repr__(self) -> str:
        return f"MainBoxWriter(filename={self.filename!r}, main_box={self.main_box!r})"

    def required_regions(self) -> set[str]:
        return {self.main_box}

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        boxes = result.region(self.main_box)
        if len(boxes):
            box = [float(v) for v in box_ops.enclosing_box(boxes.xyxy)]
        else:
            box = whole_image_xyxy(result.image_size)
        return {"image": result.path, "main_box": box, "equal_four_box": image_to_n_part(result.image_size, 4)}

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        pairs = ((r["image"], {"main_box": r["main_box"], "equal_four_box": r["equal_four_box"]}) for r in records)
        return [write_json_dict_atomic(Path(out_dir) / self.filename, pairs, indent=4)]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        import json

        data = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
        return [{"image": key, **value} for key, value in data.items()]
