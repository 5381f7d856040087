"""Pictures of boxes: outlines drawn on an image, saved as PNG files with collision-free names.

No text is rendered (no fonts are needed): each region set gets its own colour from
:data:`PALETTE`, in the order the sets are named.  Used by the ``visualize_png`` writer and
``regionkit visualize``.
"""
from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from regionkit.io.atomic import atomic_open

__all__ = ["PALETTE", "draw_boxes", "png_name", "save_png_atomic"]

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
    encoded = urllib.parse.quote(str(key), safe="", errors="surrogateescape")  # non-UTF-8 bytes: %XX
    if len(encoded) > _MAX_NAME_BYTES:
        digest = hashlib.sha1(str(key).encode("utf-8", "surrogateescape")).hexdigest()[:16]
        encoded = f"{encoded[:_MAX_NAME_BYTES - 20]}-{digest}"
    return encoded + ".png"


def draw_boxes(image: np.ndarray, box_sets: Sequence[Any], line_width: int = 2,
               max_size: int | None = 1024) -> Any:
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
        canvas = canvas.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
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
