"""Draw region sets on the images as PNG files (a writer), plus the drawing helpers ``regionkit visualize`` uses.

No text is rendered (no fonts are needed): each region set gets its own colour from
:data:`PALETTE`, in the order the sets are named.
"""
from __future__ import annotations

import hashlib
import os
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from regionkit.core.interfaces import BaseWriter, ImageResult
from regionkit.core.io import atomic_open
from regionkit.plugins.writers.common import check_filename, check_region_name

__all__ = ["BoxVisualizer", "PALETTE", "draw_boxes", "png_name", "save_png_atomic"]

#: outline colours (RGB), one per region set in order; repeats after ten sets
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
)

_MAX_NAME_BYTES = 200  # file systems allow 255; leave room for the temporary-file prefix and suffix


def png_name(key: str) -> str:
    """A flat, collision-free PNG file name for an image key such as ``train/34/x.png``.

    The key is percent-encoded (``/`` becomes ``%2F``, ``%`` becomes ``%25``; letters,
    digits and ``_.-~`` stay), so distinct keys never share a file and
    ``urllib.parse.unquote`` gives the key back; ``.png`` is appended.  Very long keys are
    shortened and made unique with a hash of the full key.
    """
    encoded = urllib.parse.quote(str(key), safe="")
    if len(encoded) > _MAX_NAME_BYTES:
        digest = hashlib.sha1(str(key).encode("utf-8")).hexdigest()[:16]
        encoded = f"{encoded[:_MAX_NAME_BYTES - 20]}-{digest}"
    return encoded + ".png"


def draw_boxes(image: np.ndarray, box_sets: Sequence[Any], line_width: int = 2,
               max_size: int | None = 1024) -> "Any":
    """The RGB ``image`` as a PIL image with each set of pixel ``xyxy`` boxes outlined in its colour.

    ``box_sets`` holds ``(N, 4)`` array-likes of pixel boxes on ``image`` (set ``i`` uses
    ``PALETTE[i % 10]``).  The image is first shrunk so its longer side is at most
    ``max_size`` (``None``: never), and the boxes with it.  Boxes are clipped to the image;
    non-finite or empty ones are skipped.
    """
    from PIL import Image, ImageDraw

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"draw_boxes needs an RGB uint8 (H, W, 3) image, got {arr.dtype} {arr.shape}")
    h, w = arr.shape[:2]
    canvas = Image.fromarray(arr)
    scale = 1.0
    if max_size is not None and max(w, h) > max_size:
        scale = max_size / max(w, h)
        canvas = canvas.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    cw, ch = canvas.size
    draw = ImageDraw.Draw(canvas)
    for i, boxes in enumerate(box_sets):
        colour = PALETTE[i % len(PALETTE)]
        xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale
        for x1, y1, x2, y2 in xyxy:
            if not np.isfinite([x1, y1, x2, y2]).all():
                continue
            x1, x2 = min(max(x1, 0.0), cw - 1.0), min(max(x2, 0.0), cw - 1.0)
            y1, y2 = min(max(y1, 0.0), ch - 1.0), min(max(y2, 0.0), ch - 1.0)
            if x2 <= x1 or y2 <= y1:
                continue
            draw.rectangle((x1, y1, x2, y2), outline=colour, width=line_width)
    return canvas


def save_png_atomic(picture: Any, path: str | os.PathLike[str]) -> Path:
    """Save a PIL image as PNG at ``path`` through a temporary file and an atomic rename."""
    with atomic_open(path, binary=True) as fh:
        picture.save(fh, format="PNG")
    return Path(path)


class BoxVisualizer(BaseWriter):
    """Draw region sets on each image and save it as a PNG (no text, one colour per set).

    For every image, the region sets named in ``regions`` are outlined (``line_width``
    pixels, colours from :data:`PALETTE` in that order) on the decoded image, shrunk so its
    longer side is at most ``max_size`` (``None`` keeps the full size).  The PNG is saved at
    once to ``<out_dir>/<folder>/<png_name(rel_path)>`` (atomically), so memory stays flat.
    The record is that file's path relative to the output folder; ``finalize`` writes
    nothing more and returns the PNG paths.

    The runner tells the writer its output folder by calling ``start(out_dir)`` before the
    first image.  ``needs_image = True`` makes the runner keep the decoded pixels for it.
    """

    needs_image = True

    def __init__(self, *, folder: str = "vis", regions: Sequence[str] | str = ("detections",), line_width: int = 2,
                 max_size: int | None = 1024) -> None:
        self.folder = check_filename(folder)
        names = (regions,) if isinstance(regions, str) else regions
        if not isinstance(names, (list, tuple)) or not names:
            raise ValueError(f"regions must be a non-empty list of region-set names, got {regions!r}")
        self.regions = tuple(check_region_name("regions", r) for r in names)
        if len(set(self.regions)) != len(self.regions):
            raise ValueError(f"regions names a region set twice: {list(self.regions)!r}")
        if not isinstance(line_width, int) or isinstance(line_width, bool) or line_width < 1:
            raise ValueError(f"line_width must be a positive integer, got {line_width!r}")
        if max_size is not None and (not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1):
            raise ValueError(f"max_size must be a positive integer (pixels) or None, got {max_size!r}")
        self.line_width = line_width
        self.max_size = max_size
        self.filename = self.folder
        self.out_dir: Path | None = None

    def required_regions(self) -> set[str]:
        return set(self.regions)

    def start(self, out_dir: str | os.PathLike[str]) -> None:
        """Set the run's output folder; PNGs go to ``<out_dir>/<folder>/``."""
        self.out_dir = Path(out_dir)

    def make_record(self, result: ImageResult) -> str:
        if self.out_dir is None:
            raise RuntimeError("BoxVisualizer has no output folder: the runner must call start(out_dir) "
                               "before the first image")
        if result.image is None:
            raise ValueError(f"no decoded image to draw on for {result.rel_path!r} (result.image is None)")
        picture = draw_boxes(result.image, [result.region(r).xyxy for r in self.regions],
                             line_width=self.line_width, max_size=self.max_size)
        rel = f"{self.folder.rstrip('/')}/{png_name(result.rel_path)}"
        save_png_atomic(picture, self.out_dir / rel)
        return rel

    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        return [Path(out_dir) / record for record in records]

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        """The records back from the PNG paths ``finalize`` returned (relative to their output folder)."""
        return [f"{self.folder.rstrip('/')}/{Path(path).name}" for path in paths]
