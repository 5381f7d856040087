"""A folder of image files as a dataset of paths (no decoding)."""
from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import Annotated

from regionkit.kinds.datasets import ImageListDataset
from regionkit.params import MaxLength, NonEmpty, PathText, checked
from regionkit.structures.results import ImageItem

__all__ = ["ImageFolder", "DEFAULT_EXTENSIONS"]

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _normalise_extension(ext: str) -> str:
    ext = ext.strip().lower()
    return ext if ext.startswith(".") else "." + ext


class ImageFolder(ImageListDataset):
    """Images in a folder (recursive: and its sub-folders), sorted by relative path, filtered by extension.

    Extensions compare case-insensitively, with or without the leading dot.  Nothing is
    left out silently: ``skipped`` lists ``(relative path, reason)`` for every entry not
    used: files with other extensions, broken or looping symbolic links, sub-folders that
    cannot be read, and (recursive) links to folders, which are not followed.  File names
    that are not valid UTF-8 are kept as Python spells them (``os.fsdecode``) and round-trip
    through the run's outputs.
    """

    @checked
    def __init__(self, root: PathText | None = None,
                 extensions: Annotated[Sequence[Annotated[str, NonEmpty(), MaxLength(32)]], NonEmpty()] = DEFAULT_EXTENSIONS,
                 recursive: bool = False) -> None:
        if root is None or str(root) == "":
            raise ValueError("no image folder given (set dataset.root or pass --images DIR)")
        root_text = os.fspath(root)
        if not os.path.isdir(root_text):
            what = "is a file, not a folder" if os.path.exists(root_text) else "not found"
            raise ValueError(f"image folder {what}: {root_text}")
        self.root = str(root_text)
        self.extensions = tuple(dict.fromkeys(_normalise_extension(e) for e in extensions))
        self.recursive = recursive
        self.skipped: list[tuple[str, str]] = []
        rels = sorted(self._scan())
        self.items = [ImageItem(os.path.join(self.root, *rel.split("/")), rel) for rel in rels]

    def _scan(self) -> list[str]:
        """Relative ``/``-joined paths of the image files; everything else goes to :attr:`skipped`."""
        found: list[str] = []
        pending = [""]
        while pending:
            rel_dir = pending.pop()
            folder = os.path.join(self.root, *rel_dir.split("/")) if rel_dir else self.root
            try:
                names = os.listdir(folder)
            except OSError as exc:
                self.skipped.append((rel_dir or ".", f"folder cannot be read: {exc.strerror or exc}"))
                continue
            for name in names:
                rel = f"{rel_dir}/{name}" if rel_dir else name
                path = os.path.join(folder, name)
                kind = self._classify(path)
                if kind == "file":
                    if os.path.splitext(name)[1].lower() in self.extensions:
                        found.append(rel)
                    else:
                        self.skipped.append((rel, "not an image extension (" + ", ".join(self.extensions) + ")"))
                elif kind == "dir":
                    if self.recursive:
                        pending.append(rel)
                elif kind == "dir-link":
                    if self.recursive:
                        self.skipped.append((rel, "symbolic link to a folder (not followed)"))
                else:
                    self.skipped.append((rel, kind))
        self.skipped.sort()
        return found

    @staticmethod
    def _classify(path: str) -> str:
        """``file``, ``dir``, ``dir-link`` or the reason the entry cannot be used."""
        try:
            st = os.stat(path)  # follows links
        except OSError as exc:
            if os.path.islink(path):
                if getattr(exc, "errno", None) == 40:  # ELOOP
                    return "symbolic link that loops"
                return "broken symbolic link"
            return f"cannot be read: {exc.strerror or exc}"
        if stat.S_ISDIR(st.st_mode):
            return "dir-link" if os.path.islink(path) else "dir"
        if stat.S_ISREG(st.st_mode):
            return "file"
        return "not a regular file"

    def __repr__(self) -> str:
        return f"ImageFolder(root={self.root!r}, images={len(self.items)}, recursive={self.recursive})"
