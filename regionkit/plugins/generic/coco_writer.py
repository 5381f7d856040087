"""Writer for COCO detection results (the list ``COCO.loadRes`` and the evaluation server take), and their reader."""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from regionkit.io.atomic import write_json_list_atomic
from regionkit.io.box_files import BoxEntry, BoxFile, BoxFileError, BoxFormat, boxes_array, read_json
from regionkit.kinds.writers import BaseWriter
from regionkit.params import NonEmpty, OutputName, RegionSetName, checked
from regionkit.structures.results import ImageResult

__all__ = ["CocoResultsWriter", "CocoResultsFormat", "COCO80_CATEGORY_IDS"]

#: COCO category id of each contiguous label 0..79 of the standard 80-class COCO detectors
#: (ids run 1..90 with the gaps 12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO80_CATEGORY_IDS: tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
    46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
    67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class CocoResultsFormat(BoxFormat):
    """COCO detection results: ``[{image_id, category_id, bbox: [x, y, w, h], score}]`` in pixels.

    With an annotation file (``ann_file``), images get their sizes and file names from it and
    images without results are listed too.
    """

    name = "coco_results"
    container = list
    layout = "[{image_id, category_id, bbox: [x, y, w, h], score}] (pixels)"
    takes_ann_file = True

    def entry_matches(self, entry: Any) -> bool:
        return isinstance(entry, dict) and "image_id" in entry and "bbox" in entry

    def read(self, data: Any, path: str, field: str | None, ann_file: str | None) -> BoxFile:
        grouped: dict[Any, list[np.ndarray]] = {}
        scored: dict[Any, list[float]] = {}
        for i, value in enumerate(data):
            image_id = value["image_id"]
            if not (_is_int(image_id) or isinstance(image_id, str)):
                raise BoxFileError(f"{path}: entry {i} has image_id {image_id!r:.60}; COCO image ids are integers")
            grouped.setdefault(image_id, []).append(boxes_array([value["bbox"]], f"{path}: entry {i}", xywh=True))
            score = value.get("score")
            ok = isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)
            scored.setdefault(image_id, []).append(float(score) if ok else math.nan)
        boxes_of = {k: np.concatenate(v) for k, v in grouped.items()}
        scores_of = {k: np.asarray(v, dtype=np.float64) for k, v in scored.items()}
        if ann_file is None:
            entries = [BoxEntry(str(k), v, scores=scores_of[k]) for k, v in boxes_of.items()]
            return BoxFile(path, self.name, False, entries, [
                "COCO results list only images with detections; pass an annotation file (--ann-file) to count "
                "the others"])
        images = _coco_images(ann_file)
        known = {img["id"] for img in images}
        unknown = [k for k in boxes_of if k not in known]
        if unknown:
            raise BoxFileError(f"{path}: image id {unknown[0]!r} is not in {ann_file} ({len(unknown)} unknown id(s))")
        entries = []
        for img in images:
            w, h = img.get("width"), img.get("height")
            size = (w, h) if isinstance(w, int) and isinstance(h, int) and _is_int(w) and _is_int(h) and w > 0 \
                and h > 0 else None
            hint = (str(img["file_name"]),) if img.get("file_name") else ()
            entries.append(BoxEntry(str(img["id"]), boxes_of.get(img["id"], np.zeros((0, 4))), size, hint,
                                    scores=scores_of.get(img["id"], np.zeros(0))))
        return BoxFile(path, self.name, False, entries)


def _coco_images(ann_file: str) -> list[dict[str, Any]]:
    data = read_json(ann_file, "COCO annotation file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise BoxFileError(f"{ann_file} is not a COCO annotation file: it needs an 'images' list")
    images = []
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not _is_int(img.get("id")):
            raise BoxFileError(f"{ann_file}: images[{i}] needs an integer 'id'")
        images.append(img)
    return sorted(images, key=lambda im: im["id"])


class CocoResultsWriter(BaseWriter):
    """Write COCO detection results: a list of {image_id, category_id, bbox: [x, y, w, h], score}.

    One entry per box of the region set ``boxes``, images in dataset order, boxes in their
    order.  ``image_id`` comes from ``result.meta["image_id"]`` (the ``coco_images`` dataset
    sets it); ``bbox`` is pixel ``[x, y, width, height]``.  ``category_id`` is
    ``category_ids[label]`` when ``category_ids`` is given (e.g. ``coco_images``'
    ``category_ids``), else the standard 80-class mapping :data:`COCO80_CATEGORY_IDS`.  A
    label outside the mapping fails that image with a message.  The file is streamed and
    written atomically; ``COCO.loadRes`` reads it as is.
    """

    box_format = CocoResultsFormat()

    @checked
    def __init__(self, *, filename: OutputName = "coco_results.json", boxes: RegionSetName = "detections",
                 category_ids: Annotated[Sequence[int], NonEmpty()] | None = None) -> None:
        self.filename = filename
        self.boxes = boxes
        if category_ids is None:
            ids: tuple[int, ...] = COCO80_CATEGORY_IDS
        else:
            ids = tuple(category_ids)
            if len(set(ids)) != len(ids):
                raise ValueError(f"category_ids must not repeat an id, got {list(ids)!r}")
        self.category_ids = ids

    def required_regions(self) -> set[str]:
        return {self.boxes}

    def _category(self, label: int) -> int:
        if 0 <= label < len(self.category_ids):
            return self.category_ids[label]
        source = "category_ids" if self.category_ids is not COCO80_CATEGORY_IDS else "the 80-class COCO mapping"
        raise ValueError(f"box label {label} has no COCO category id ({source} covers labels "
                         f"0..{len(self.category_ids) - 1}); set the writer's category_ids")

    def make_record(self, result: ImageResult) -> list[dict[str, Any]]:
        image_id = (result.meta or {}).get("image_id")
        if image_id is None:
            raise ValueError(f"coco_results needs a dataset with COCO image ids, e.g. coco_images "
                             f"(image {result.rel_path!r} has no meta['image_id'])")
        boxes = result.region(self.boxes)
        out = []
        for (x1, y1, x2, y2), score, label in zip(boxes.xyxy.tolist(), boxes.scores.tolist(), boxes.labels.tolist()):
            out.append({"image_id": image_id, "category_id": self._category(int(label)),
                        "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
        return out

    @staticmethod
    def _flatten(records: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for record in records:
            yield from record

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        return [write_json_list_atomic(Path(out_dir) / self.filename, self._flatten(records), indent=None)]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        """Per-image lists of results, grouping consecutive entries of one image (images without boxes are absent)."""
        import json

        groups: list[list[dict[str, Any]]] = []
        for entry in json.loads(Path(paths[0]).read_text(encoding="utf-8")):
            if groups and groups[-1][0]["image_id"] == entry["image_id"]:
                groups[-1].append(entry)
            else:
                groups.append([entry])
        return groups
