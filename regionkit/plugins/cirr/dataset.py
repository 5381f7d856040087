"""CIRR images listed by a split file (``cirr/image_splits/split.rc2.<split>.json``).

CIRR's image lists map each image *name* to a path relative to the dataset root, for
example ``"train-11041-2-img0": "./train/34/train-11041-2-img0.png"``.  SPRC and the
``generate_cirr_boxes.py`` script read them from ``<root>/cirr/image_splits/`` and open
``<root>/<relpath>``; this dataset does the same, keeps the file order (so
``--max-images N`` takes the first N names, like the original ``--max-images``) and names
each item by its CIRR image name, which is what CIRR box files are keyed by.
"""
from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Annotated

from regionkit.kinds.datasets import ImageListDataset
from regionkit.params import MaxLength, NonEmpty, PathText, checked
from regionkit.structures.results import ImageItem

__all__ = ["CirrSplit", "split_file"]

_LAYOUT = ("<root>/cirr/image_splits/split.rc2.<split>.json next to the image folders "
           "<root>/train/, <root>/dev/, <root>/test1/ (the CIRR 'img_raw' contents)")


def split_file(root: str | os.PathLike[str], split: str) -> Path:
    """Where CIRR keeps the image list of ``split`` under ``root``."""
    return Path(root) / "cirr" / "image_splits" / f"split.rc2.{split}.json"


def _normalise_relpath(relpath: str) -> str:
    """``"./train/34/x.png"`` → ``"train/34/x.png"`` (``/`` separators, no ``.`` parts)."""
    return posixpath.normpath(relpath.replace("\\", "/"))


class CirrSplit(ImageListDataset):
    """CIRR images of one split (train, val, test1), in split-file order, named by CIRR image name.

    ``root`` is the CIRR dataset folder (SPRC's ``cirr_dataset``): it holds
    ``cirr/image_splits/split.rc2.<split>.json`` and the image folders.  ``image_splits``
    names another ``{name: relpath}`` JSON file to read instead of the split's.

    Each item has ``path = os.path.join(root, relpath)`` (exactly as the original scripts
    build it), ``rel_path`` = the normalised relpath (``train/34/x.png``) and ``name`` = the
    CIRR image name.  Images listed but missing on disk are kept: the runner records them as
    "file not found" failures instead of silently dropping them.
    """

    #: the splits ``--all-splits`` runs (the original ``--all-splits`` does train and val only)
    ALL_SPLITS = ("train", "val")

    @checked
    def __init__(self, root: PathText | None = None, split: Annotated[str, NonEmpty(), MaxLength(64)] = "train",
                 image_splits: PathText | None = None) -> None:
        if root is None or str(root) == "":
            raise ValueError("no CIRR root given (set dataset.root or pass --images DIR); expected layout: "
                             + _LAYOUT)
        if not isinstance(split, str) or not split or "/" in split or "\\" in split:
            raise ValueError(f"split must be a split name such as 'train', 'val' or 'test1', got {split!r}")
        self.root = str(root)
        self.split = split
        self.skipped: list[tuple[str, str]] = []
        if image_splits is not None and str(image_splits) != "":
            source = Path(image_splits)
            if not source.is_file():
                raise ValueError(f"CIRR image list not found: {source}")
        else:
            source = split_file(root, split)
            if not source.is_file():
                raise ValueError(f"CIRR split file not found: {source}; expected layout: {_LAYOUT}"
                                 + self._available_hint(root))
        self.image_splits = str(source)
        self.items = self._read(source)

    @staticmethod
    def _available_hint(root: str | os.PathLike[str]) -> str:
        folder = Path(root) / "cirr" / "image_splits"
        if not folder.is_dir():
            return ""
        found = sorted(p.name[len("split.rc2."):-len(".json")] for p in folder.glob("split.rc2.*.json"))
        return f" (splits present: {', '.join(found)})" if found else ""

    def _read(self, source: Path) -> list[ImageItem]:
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read CIRR image list {source}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"CIRR image list {source} must be a JSON object {{name: relpath}}, "
                             f"got a {type(data).__name__}")
        if not data:
            raise ValueError(f"CIRR image list {source} lists no images")
        items: list[ImageItem] = []
        seen: dict[str, str] = {}
        for name, relpath in data.items():
            if not isinstance(relpath, str) or not relpath:
                raise ValueError(f"CIRR image list {source}: image {name!r} has no relative path (got {relpath!r})")
            rel = _normalise_relpath(relpath)
            if rel in seen:
                raise ValueError(f"CIRR image list {source}: images {seen[rel]!r} and {name!r} "
                                 f"both point to {relpath!r}")
            seen[rel] = name
            items.append(ImageItem(path=os.path.join(self.root, relpath), rel_path=rel, name=name))
        return items

    def __repr__(self) -> str:
        return f"CirrSplit(root={self.root!r}, split={self.split!r}, images={len(self.items)})"

    @property
    def names(self) -> list[str]:
        """The CIRR image names, in file order."""
        return [item.name for item in self.items]
