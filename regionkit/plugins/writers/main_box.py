"""Writer for Patch Matters' ``main_box.json`` (``divide/get_main_box.py`` layout).

A JSON dict keyed by ``ImageResult.path`` (the original keyed by
``os.path.join(image_folder, file)``), one entry per image, in dataset order::

    {"<path>": {"main_box": [x1, y1, x2, y2], "equal_four_box": [[0, 0, W//2, H//2], ...]}}

written with ``indent=4`` and ``ensure_ascii=False``, as the original's final
``json.dump(save_dict, file, ensure_ascii=False, indent=4)``, atomically and streamed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from regionkit.core import box_ops
from regionkit.core.interfaces import BaseWriter, ImageResult
from regionkit.core.io import write_json_dict_atomic
from regionkit.plugins.writers.common import check_filename, check_region_name

__all__ = ["MainBoxWriter", "equal_four_box"]


def equal_four_box(image_size: tuple[int, int]) -> list[list[int]]:
    """The four equal quadrants (ints): top-left, top-right, bottom-left, bottom-right, split at ``W//2, H//2``."""
    w, h = (int(v) for v in image_size)
    hw, hh = w // 2, h // 2
    return [[0, 0, hw, hh], [hw, 0, w, hh], [0, hh, hw, h], [hw, hh, w, h]]


class MainBoxWriter(BaseWriter):
    """Write main_box.json: per image path the main box (floats) and the four equal quadrants (ints).

    ``main_box`` names the region set holding the main box (one box, as
    ``patch_matters_main_box`` or ``main_box_union`` produce).  If the set holds several boxes
    their enclosing box is written; if it is empty, the whole image ``[0, 0, W-1, H-1]``.
    ``equal_four_box`` is ``[[0,0,W//2,H//2],[W//2,0,W,H//2],[0,H//2,W//2,H],[W//2,H//2,W,H]]``.

    Each record is ``{"image": path, "main_box": [...], "equal_four_box": [...]}``; the file
    holds ``{path: {"main_box": ..., "equal_four_box": ...}}`` (``indent=4``).  Paths must be
    unique (the dataset's are).
    """

    def __init__(self, *, filename: str = "main_box.json", main_box: str = "main_box") -> None:
        self.filename = check_filename(filename)
        self.main_box = check_region_name("main_box", main_box)

    def __repr__(self) -> str:
        return f"MainBoxWriter(filename={self.filename!r}, main_box={self.main_box!r})"

    def required_regions(self) -> set[str]:
        return {self.main_box}

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        boxes = result.region(self.main_box)
        w, h = result.image_size
        if len(boxes):
            box = [float(v) for v in box_ops.enclosing_box(boxes.xyxy)]
        else:
            box = [0.0, 0.0, w - 1.0, h - 1.0]
        return {"image": result.path, "main_box": box, "equal_four_box": equal_four_box(result.image_size)}

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        pairs = ((r["image"], {"main_box": r["main_box"], "equal_four_box": r["equal_four_box"]}) for r in records)
        return [write_json_dict_atomic(Path(out_dir) / self.filename, pairs, indent=4)]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        data = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
        return [{"image": key, **value} for key, value in data.items()]
