"""Images named one per line in a text file."""
from __future__ import annotations

import os
import posixpath
from pathlib import Path

from regionkit.kinds.datasets import ImageListDataset
from regionkit.params import PathText, checked
from regionkit.structures.results import ImageItem

__all__ = ["ImageList"]


class ImageList(ImageListDataset):
    """Images named one path per line in a text file, in file order (blank lines and # comments skipped).

    Relative paths are resolved against ``root`` when given (``--images DIR`` sets it), else
    against the folder holding ``list_file``.  Leading and trailing whitespace is stripped
    from each line; a line whose first non-blank character is ``#`` is a comment.

    Each item has ``path`` = the base folder joined with the line (an absolute line is used
    as is) and ``rel_path`` = the line, normalised.  Two lines naming the same file are an
    error that names both lines.  Files missing on disk are kept, so the runner reports
    them as failures.
    """

    @checked
    def __init__(self, list_file: PathText | None = None, root: PathText | None = None) -> None:
        if list_file is None or str(list_file) == "":
            raise ValueError("list_file must name a text file with one image path per line")
        list_path = Path(list_file)
        if not list_path.is_file():
            raise ValueError(f"image list file not found: {list_file}")
        if root is not None and str(root) != "":
            if not Path(root).is_dir():
                raise ValueError(f"image folder not found: {root}")
            base = str(root)
        else:
            base = str(list_path.parent)
        self.list_file = str(list_file)
        self.root = base
        self.skipped: list[tuple[str, str]] = []
        self.items = self._read(list_path, base)

    def _read(self, list_path: Path, base: str) -> list[ImageItem]:
        try:
            text = list_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read image list {list_path}: {exc}") from None
        items: list[ImageItem] = []
        first_line: dict[str, int] = {}
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            path = os.path.join(base, line)  # an absolute line replaces the base
            key = os.path.normcase(os.path.normpath(os.path.abspath(path)))
            if key in first_line:
                raise ValueError(f"{list_path} line {lineno}: {line!r} names the same file as line "
                                 f"{first_line[key]}; each image may be listed once")
            first_line[key] = lineno
            rel = posixpath.normpath(Path(line).as_posix())
            items.append(ImageItem(path=path, rel_path=rel))
        if not items:
            raise ValueError(f"image list {list_path} names no images (only blank lines or comments)")
        return items

    def __repr__(self) -> str:
        return f"ImageList(list_file={self.list_file!r}, root={self.root!r}, images={len(self.items)})"
