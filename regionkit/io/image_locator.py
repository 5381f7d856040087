"""Find the image file a box-file key names, under an images folder (for ``regionkit stats`` / ``visualize``)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from regionkit.io.box_files import BoxFileError

__all__ = ["ImageLocator"]


class ImageLocator:
    """Find the image file of a box-file key under a folder.

    A key (or hint) such as ``work_dirs/samples/x.jpg`` is tried as ``<root>/work_dirs/samples/x.jpg``,
    then ``<root>/samples/x.jpg``, then ``<root>/x.jpg``.  Failing that, a one-time scan of
    the folder tree matches the file name, then the name without extension (CIRR image
    names), then a COCO-style zero-padded id (``000000397133``).  Names found twice in the
    tree are not matched by the scan.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise BoxFileError(f"image folder not found: {root}")
        self._by_name: dict[str, Path | None] | None = None
        self._by_stem: dict[str, Path | None] = {}

    def _scan(self) -> None:
        by_name: dict[str, Path | None] = {}
        by_stem: dict[str, Path | None] = {}
        for folder, _dirs, files in os.walk(self.root):
            for f in files:
                p = Path(folder, f)
                by_name[f] = None if f in by_name else p
                stem = os.path.splitext(f)[0]
                by_stem[stem] = None if stem in by_stem else p
        self._by_name, self._by_stem = by_name, by_stem

    def locate(self, key: str, hints: Sequence[str] = ()) -> Path | None:
        """The file for ``key`` (or one of ``hints``), or ``None``."""
        names = [str(k) for k in (key, *hints) if k]
        for name in names:
            parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
            if ".." in parts:  # only what follows the last ".." can lie under the root
                parts = parts[len(parts) - parts[::-1].index(".."):]
            for i in range(len(parts)):
                candidate = self.root.joinpath(*parts[i:])
                if candidate.is_file():
                    return candidate
        if self._by_name is None:
            self._scan()
        assert self._by_name is not None
        for name in names:
            base = name.replace("\\", "/").rsplit("/", 1)[-1]
            for table, look in ((self._by_name, base), (self._by_stem, base), (self._by_stem, os.path.splitext(base)[0])):
                hit = table.get(look)
                if hit is not None:
                    return hit
            if base.isdigit():
                hit = self._by_stem.get(f"{int(base):012d}")
                if hit is not None:
                    return hit
        return None
