"""The ``seggpt_masks`` writer: each image's SegGPT class map saved as a PNG in the run folder, plus an index.

The ``seggpt`` detector (``keep_masks=True``) keeps each image's class map, keyed by the image's
pixels (:mod:`regionkit.models.segmentation.seggpt.mask_store`); this writer, which sees the same
decoded image, takes it and saves it at once to ``<out_dir>/<folder>/<png_name(rel_path)>``
(atomically), so memory stays flat and a resumed run keeps the PNGs it already wrote.

``format='index'`` writes 8-bit grey PNGs whose values are the class ids (0 = background, the
box labels); ``'color'`` paints them with the detector's palette (what SegGPT was shown).  The
record is ``{"image": name, "mask": path relative to the run folder, "classes": {name: pixels}}``;
``finalize`` writes them, in dataset order, to ``<folder>/index.json``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from regionkit.io.atomic import write_json_list_atomic
from regionkit.io.pictures import png_name, save_png_atomic
from regionkit.kinds.writers import BaseWriter
from regionkit.params import OutputName, checked
from regionkit.structures.results import ImageResult

__all__ = ["SegGptMaskWriter", "INDEX_FILE"]

INDEX_FILE = "index.json"


class SegGptMaskWriter(BaseWriter):
    """Save the ``seggpt`` detector's mask of each image as a PNG (class ids or colours) and list them in index.json."""

    needs_image = True
    writes_folder = True
    conformance_skip = "writes the masks of the seggpt detector; tests/plugins/detectors/test_seggpt.py covers it"

    @checked
    def __init__(self, *, folder: OutputName = "masks", format: Literal["index", "color"] = "index") -> None:
        self.folder = folder
        self.format = format
        self.filename = folder
        self.out_dir: Path | None = None

    def __repr__(self) -> str:
        return f"SegGptMaskWriter(folder={self.folder!r}, format={self.format!r})"

    def start(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)

    def make_record(self, result: ImageResult) -> dict[str, Any]:
        from PIL import Image

        from regionkit.models.segmentation.seggpt import mask_store
        from regionkit.models.segmentation.seggpt.masks_to_boxes import class_areas
        from regionkit.models.segmentation.seggpt.palette import paint
        from regionkit.models.segmentation.seggpt.prompts import pixel_digest

        if self.out_dir is None:
            raise RuntimeError("SegGptMaskWriter has no output folder: the runner must call start(out_dir) first")
        if result.image is None:
            raise ValueError(f"no decoded image for {result.rel_path!r} (result.image is None)")
        stored = mask_store.take(pixel_digest(result.image))
        if stored is None:
            raise ValueError("no SegGPT mask for this image: the seggpt_masks writer needs detector type 'seggpt' "
                             "with keep_masks=True in the same run")
        ids = stored.class_map.astype(np.uint8)
        picture = Image.fromarray(paint(ids, stored.palette) if self.format == "color" else ids)
        rel = f"{self.folder}/{png_name(result.rel_path)}"
        save_png_atomic(picture, self.out_dir / rel)
        names = stored.class_names
        classes = {(names[c - 1] if c <= len(names) else f"class_{c}"): n for c, n in class_areas(ids).items()}
        return {"image": result.name, "mask": rel, "classes": classes}

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        return [write_json_list_atomic(Path(out_dir) / self.folder / INDEX_FILE, records, indent=2)]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        return list(json.loads(Path(paths[0]).read_text(encoding="utf-8")))
