"""A folder of image files as a dataset of paths (no decoding)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["ImageFolder", "ImageItem", "DEFAULT_EXTENSIONS"]

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageItem:
    """One image to process.

    ``path`` is what the file is opened with (the dataset root as given, joined with
    ``rel_path``); ``rel_path`` is unique within the dataset and keys the run's journal;
    ``name`` is the dataset's identifier for the image (defaults to ``rel_path``); ``meta``
    holds extras such as a COCO ``image_id``.
    """

    path: str
    rel_path: str
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.rel_path)


class ImageFolder:
    """Images in a folder, sorted by relative path, filtered by extension (case-insensitive)."""

    def __init__(self, root: str | os.PathLike[str], extensions: Sequence[str] = DEFAULT_EXTENSIONS,
                 recursive: bool = False) -> None:
        if root is None or str(root) == "":
            raise ValueError("no image folder given (set dataset.root or pass --images DIR)")
        root_path = Path(root)
        if not root_path.is_dir():
            raise ValueError(f"image folder not found: {root}")
        self.root = str(root)
        self.extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        if not self.extensions:
            raise ValueError("extensions must name at least one file extension")
        pattern = "**/*" if recursive else "*"
        files = [p for p in root_path.glob(pattern) if p.is_file()]
        rels = sorted(p.relative_to(root_path).as_posix() for p in files)
        self.items = [ImageItem(os.path.join(self.root, *rel.split("/")), rel)
                      for rel in rels if os.path.splitext(rel)[1].lower() in self.extensions]
        #: files present but skipped because of their extension
        self.skipped = [rel for rel in rels if os.path.splitext(rel)[1].lower() not in self.extensions]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ImageItem:
        return self.items[index]
