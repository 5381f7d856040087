"""The images of a COCO-style annotation file, with their COCO image ids.

Only the ``images`` and ``categories`` lists of the JSON file are used (plain ``json``
parsing; pycocotools is not needed).  Each item carries ``meta = {"image_id", "width",
"height"}`` so writers such as ``coco_results`` can emit COCO detection results.
"""
from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Any

from regionkit.kinds.datasets import ImageListDataset
from regionkit.params import PathText, checked
from regionkit.structures.results import ImageItem

__all__ = ["CocoImages"]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class CocoImages(ImageListDataset):
    """Images listed in a COCO annotation JSON, sorted by image id, with their ids in meta.

    ``ann_file`` is the annotation JSON (e.g. ``instances_val2017.json``) and ``img_prefix``
    the folder its ``file_name`` entries are relative to.  ``root`` is the same folder under
    the name ``--images DIR`` sets; when given it takes precedence over ``img_prefix``.

    Each item has ``path = os.path.join(folder, file_name)``, ``rel_path`` = the normalised
    ``file_name``, ``name = file_name`` and ``meta = {"image_id": id, "width": w, "height": h}``
    (``None`` where the file has no size).  Images missing on disk are kept, so the runner
    reports them as failures.

    ``categories`` is the ``[{"id", "name"}, ...]`` list sorted by id, and
    ``label_to_category_id`` maps contiguous labels ``0..K-1`` (that order) to category ids,
    the convention of detectors trained on this file (mmdet, torchvision).
    """

    @checked
    def __init__(self, ann_file: PathText | None = None, img_prefix: PathText | None = None,
                 root: PathText | None = None) -> None:
        if ann_file is None or str(ann_file) == "":
            raise ValueError("ann_file must name a COCO annotation JSON file")
        folder = root if root is not None and str(root) != "" else img_prefix
        if folder is None or str(folder) == "":
            raise ValueError("no image folder given: set img_prefix (the folder the COCO file_name entries "
                             "are relative to) or pass --images DIR")
        if not Path(folder).is_dir():
            raise ValueError(f"image folder not found: {folder}")
        ann_path = Path(ann_file)
        if not ann_path.is_file():
            raise ValueError(f"COCO annotation file not found: {ann_file}")
        self.ann_file = str(ann_file)
        self.root = str(folder)
        self.img_prefix = self.root
        self.skipped: list[tuple[str, str]] = []
        data = self._load(ann_path)
        self.items = self._images(data["images"])
        self.categories = self._categories(data.get("categories", []))
        #: contiguous label (0..K-1, categories sorted by id) -> COCO category id
        self.label_to_category_id = {i: c["id"] for i, c in enumerate(self.categories)}

    def _load(self, ann_path: Path) -> dict[str, Any]:
        try:
            with open(ann_path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read COCO annotation file {ann_path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise ValueError(f"{ann_path} is not a COCO annotation file: it needs an 'images' list")
        return data

    def _images(self, images: list[Any]) -> list[ImageItem]:
        where = self.ann_file
        parsed = []
        for i, img in enumerate(images):
            if not isinstance(img, dict) or not _is_int(img.get("id")) or not isinstance(img.get("file_name"), str) \
                    or not img["file_name"]:
                raise ValueError(f"{where}: images[{i}] needs an integer 'id' and a 'file_name', got {img!r:.200}")
            parsed.append(img)
        if not parsed:
            raise ValueError(f"{where} lists no images")
        parsed.sort(key=lambda im: im["id"])
        items: list[ImageItem] = []
        ids: set[int] = set()
        rels: dict[str, int] = {}
        for img in parsed:
            image_id, file_name = img["id"], img["file_name"]
            if image_id in ids:
                raise ValueError(f"{where}: image id {image_id} appears twice")
            ids.add(image_id)
            rel = posixpath.normpath(file_name.replace("\\", "/"))
            if rel in rels:
                raise ValueError(f"{where}: images {rels[rel]} and {image_id} have the same file_name {file_name!r}")
            rels[rel] = image_id
            meta = {"image_id": image_id, "width": img.get("width"), "height": img.get("height")}
            items.append(ImageItem(path=os.path.join(self.root, file_name), rel_path=rel, name=file_name, meta=meta))
        return items

    def _categories(self, categories: Any) -> list[dict[str, Any]]:
        if not isinstance(categories, list):
            raise ValueError(f"{self.ann_file}: 'categories' must be a list")
        out = []
        for i, cat in enumerate(categories):
            if not isinstance(cat, dict) or not _is_int(cat.get("id")):
                raise ValueError(f"{self.ann_file}: categories[{i}] needs an integer 'id', got {cat!r:.200}")
            out.append({"id": cat["id"], "name": str(cat.get("name", ""))})
        out.sort(key=lambda c: c["id"])
        ids = [c["id"] for c in out]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.ann_file}: a category id appears twice")
        return out

    @property
    def category_ids(self) -> list[int]:
        """Category ids indexed by contiguous label (pass as ``coco_results``' ``category_ids``)."""
        return [c["id"] for c in self.categories]

    def __repr__(self) -> str:
        return f"CocoImages(ann_file={self.ann_file!r}, root={self.root!r}, images={len(self.items)})"
