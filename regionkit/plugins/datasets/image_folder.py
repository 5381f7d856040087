"""A folder of image files as a dataset of paths (no decoding)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from regionkit.plugins.datasets.base import ImageItem, ItemListDataset

__all__ = ["ImageFolder", "ImageItem", "DEFAULT_EXTENSIONS"]

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ImageFolder(ItemListDataset):
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
