"""Draw the boxes of a box file on their images (``regionkit visualize``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from regionkit.io.box_files import BoxFile, BoxFileError
from regionkit.io.image_locator import ImageLocator

__all__ = ["RenderReport", "render_box_file"]


@dataclass
class RenderReport:
    """What :func:`render_box_file` did: PNGs written and images it could not draw."""

    written: list[Path]
    failures: list[tuple[str, str]]  # (key, reason)


def render_box_file(box_file: BoxFile, locator: ImageLocator, out_dir: str | os.PathLike[str],
                    max_images: int | None = None, line_width: int = 2, max_size: int | None = 1024,
                    progress: bool = True) -> RenderReport:
    """Draw the boxes of the first ``max_images`` entries on their images and save PNGs in ``out_dir``.

    Each image is found with ``locator``, decoded with EXIF rotation, its boxes (scaled to
    pixels for normalised files) outlined, and saved atomically as
    ``png_name(<image path relative to the images folder>)``.  Images that are missing or
    unreadable are reported, not fatal.
    """
    from tqdm.auto import tqdm

    from regionkit.io.images import ImageLoadError, load_rgb
    from regionkit.io.pictures import draw_boxes, png_name, save_png_atomic

    if max_images is not None and max_images < 1:
        raise BoxFileError(f"max_images must be at least 1, got {max_images}")
    out = Path(out_dir)
    entries = box_file.entries[:max_images] if max_images else box_file.entries
    written: list[Path] = []
    failures: list[tuple[str, str]] = []
    used: set[str] = set()
    for entry in tqdm(entries, unit="img", desc="visualize", disable=not progress, dynamic_ncols=True):
        found = locator.locate(entry.key, entry.hints)
        if found is None:
            failures.append((entry.key, f"no image file found under {locator.root}"))
            continue
        try:
            image = load_rgb(found)
        except ImageLoadError as exc:
            failures.append((entry.key, f"{found}: {exc}"))
            continue
        h, w = image.shape[:2]
        xyxy = entry.xyxy * np.array([w, h, w, h], dtype=np.float64) if box_file.normalized else entry.xyxy
        picture = draw_boxes(image, [xyxy], line_width=line_width, max_size=max_size)
        name = png_name(found.relative_to(locator.root).as_posix())
        if name in used:  # two keys found the same file: keep both drawings apart
            name = png_name(entry.key)
        used.add(name)
        written.append(save_png_atomic(picture, out / name))
    return RenderReport(written, failures)
