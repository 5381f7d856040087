"""Summaries of box files: images, boxes per image, box areas, and an area histogram (``regionkit stats``).

Pixel boxes become fractions of the image area when the image sizes are known: from an
images folder (sizes read from the file headers, EXIF rotation applied, nothing decoded) or,
for COCO results, from the annotation file.  Otherwise areas are reported in square pixels.
Every number in the summary is finite (strict JSON).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from regionkit.io.atomic import atomic_open
from regionkit.io.box_files import BoxFile
from regionkit.io.image_locator import ImageLocator
from regionkit.io.images import image_size
from regionkit.structures.box_ops import box_area

__all__ = ["compute_stats", "format_stats", "save_area_histogram", "AREA_QUANTILES", "COUNT_BINS"]

#: quantiles of the box areas that :func:`compute_stats` reports (numpy's default linear method)
AREA_QUANTILES = {"p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90}
#: boxes-per-image histogram bins: 0..4 and "5+"
COUNT_BINS = ("0", "1", "2", "3", "4", "5+")


def compute_stats(box_file: BoxFile, locator: ImageLocator | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """``(stats, areas)``: the summary dict and the box areas it was computed from.

    Areas are fractions of the image area for normalised files and for pixel files whose
    image sizes are known (from the entries or from ``locator``); the boxes of images of
    unknown size are then left out of the area figures and counted in
    ``images_without_size``.  With no sizes at all, areas are in square pixels.
    """
    entries = box_file.entries
    counts = np.array([len(e.xyxy) for e in entries], dtype=np.int64)
    n_images = len(entries)
    dist = {b: int((counts == int(b)).sum()) for b in COUNT_BINS[:-1]}
    dist[COUNT_BINS[-1]] = int((counts >= 5).sum())
    unit = "fraction of image"
    missing_size = 0
    chunks: list[np.ndarray] = []
    if box_file.normalized:
        chunks = [box_area(e.xyxy) for e in entries]
    else:
        sizes: list[tuple[int, int] | None] = []
        for e in entries:
            size = e.size
            if size is None and locator is not None:
                found = locator.locate(e.key, e.hints)
                size = image_size(found) if found is not None else None
            sizes.append(size)
        if all(s is None for s in sizes) and locator is None:
            unit = "pixels"
            chunks = [box_area(e.xyxy) for e in entries]
        else:
            for e, size in zip(entries, sizes):
                if size is None:
                    missing_size += 1
                    continue
                chunks.append(box_area(e.xyxy) / float(size[0] * size[1]))
    areas = np.concatenate(chunks) if chunks else np.zeros(0)
    with_boxes = int((counts > 0).sum())
    stats: dict[str, Any] = {
        "file": box_file.path,
        "format": box_file.format,
        "coordinates": "normalized" if box_file.normalized else "pixels",
        "images": n_images,
        "images_with_boxes": with_boxes,
        "pct_with_boxes": 100.0 * with_boxes / n_images if n_images else None,
        "boxes": int(counts.sum()),
        "boxes_per_image": {
            "mean": float(counts.mean()) if n_images else None,
            "median": float(np.median(counts)) if n_images else None,
            "max": int(counts.max()) if n_images else None,
            "distribution": dist,
        },
        "area": None,
        "notes": list(box_file.notes),
    }
    if not box_file.normalized and unit != "pixels":
        stats["images_without_size"] = missing_size
        if missing_size:
            stats["notes"].append(f"{missing_size} image(s) not found or unreadable under the images folder; "
                                  f"their boxes are left out of the area figures")
    if areas.size:
        q = np.quantile(areas, list(AREA_QUANTILES.values()))
        stats["area"] = {"unit": unit, "boxes": int(areas.size), "mean": float(areas.mean()),
                         "min": float(areas.min()), **{k: float(v) for k, v in zip(AREA_QUANTILES, q)},
                         "max": float(areas.max())}
    return stats, areas


def _num(value: Any, digits: int = 4) -> str:
    """Compact number text: ints as is, floats with ``digits`` decimals (trailing zeros cut)."""
    if value is None:
        return "-"
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value) or value == 0:
        return str(value) if value else "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) < 10 ** -(digits - 1):
        return f"{value:.3g}"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def format_stats(stats: dict[str, Any]) -> str:
    """A short human-readable report of :func:`compute_stats`' dict."""
    per = stats["boxes_per_image"]
    pct = stats["pct_with_boxes"]
    lines = [
        f"Box file:         {stats['file']} ({stats['format']}, coordinates in {stats['coordinates']})",
        f"Images:           {stats['images']}",
        f"With >= 1 box:    {stats['images_with_boxes']}" + (f" ({pct:.1f}%)" if pct is not None else ""),
        f"Boxes:            {stats['boxes']}",
        f"Boxes per image:  mean {_num(per['mean'], 3)}, median {_num(per['median'], 3)}, max {_num(per['max'])}",
        "  distribution:   " + "  ".join(f"{k}: {v}" for k, v in per["distribution"].items()),
    ]
    area = stats.get("area")
    if area:
        lines.append(f"Box area ({area['unit']}, {area['boxes']} boxes):")
        lines.append("  " + "  ".join(f"{k} {_num(area[k])}" for k in ("min", *AREA_QUANTILES, "max", "mean")))
    else:
        lines.append("Box area:         - (no boxes with a known image size)")
    if "images_without_size" in stats:
        lines.append(f"Images of unknown size: {stats['images_without_size']}")
    for note in stats.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines)


def save_area_histogram(areas: Iterable[float], path: str | os.PathLike[str], unit: str = "fraction of image",
                        title: str = "") -> Path:
    """Save a histogram of box areas as a PNG (matplotlib's Agg canvas, no display), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.asarray(list(areas) if not isinstance(areas, np.ndarray) else areas, dtype=np.float64)
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if unit == "fraction of image" and (not values.size or float(values.max()) <= 1.0):
        bins: Any = np.linspace(0.0, 1.0, 21)  # 5 % steps of the image area
    else:  # square pixels, or boxes larger than their image (a folder of other images): plain bins
        bins = 30
    ax.hist(values, bins=bins, color="#4878a8", edgecolor="white")
    ax.set_xlabel(f"box area ({unit})")
    ax.set_ylabel("boxes")
    ax.set_title(title or f"{values.size} boxes")
    fig.tight_layout()
    with atomic_open(path, binary=True) as fh:
        fig.savefig(fh, format="png")
    return Path(path)


