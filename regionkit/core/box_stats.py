"""Read box files of any regionkit output format and summarise them (``regionkit stats`` / ``visualize``).

Formats, detected from the JSON's shape (:func:`detect_format`):

* ``cirr``: ``{image_name: [[x1, y1, x2, y2], ...]}``, normalised to ``[0, 1]``;
* ``object_box``: Patch Matters' ``{path: {"image", "bbox": [[...]], "name", "label"}}``, pixels;
* ``four_box``: Patch Matters' ``[{"image", "object_detect_box", "four_box", "two_box"}]``, pixels;
* ``coco_results``: ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``, pixels.

Pixel boxes become fractions of the image area when the image sizes are known: from an
images folder (sizes read from the file headers with PIL, EXIF rotation applied, nothing
decoded) or, for COCO results, from the annotation file.  Otherwise areas are reported
in pixels.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from regionkit.core.io import atomic_open
from regionkit.registry.errors import RegionkitError

__all__ = ["BoxFileError", "BoxEntry", "BoxFile", "FORMATS", "FOUR_BOX_FIELDS", "detect_format", "load_box_file",
           "ImageLocator", "image_size", "compute_stats", "format_stats", "save_area_histogram",
           "AREA_QUANTILES", "COUNT_BINS", "RenderReport", "render_box_file"]

FORMATS = ("cirr", "object_box", "four_box", "coco_results")
FOUR_BOX_FIELDS = ("object_detect_box", "four_box", "two_box")
#: quantiles of the box areas that :func:`compute_stats` reports (numpy's default linear method)
AREA_QUANTILES = {"p10": 0.10, "p25": 0.25, "median": 0.50, "p75": 0.75, "p90": 0.90}
#: boxes-per-image histogram bins: 0..4 and "5+"
COUNT_BINS = ("0", "1", "2", "3", "4", "5+")
_NORM_TOLERANCE = 1e-6
_WHOLE_IMAGE_LABEL = 1008611  # Patch Matters' whole-image fallback box (selectors.patch_matters.WHOLE_IMAGE_LABEL)


class BoxFileError(RegionkitError, ValueError):
    """A box file cannot be read, or its format is not one regionkit knows."""


@dataclass
class BoxEntry:
    """One image of a box file.

    ``key`` identifies the image in the file (CIRR name, image path, COCO image id as a
    string); ``xyxy`` is ``(N, 4)`` float64, normalised or in pixels as the file is;
    ``size`` is ``(width, height)`` when the file itself says it (COCO annotations);
    ``hints`` are other names the image file may have (a COCO ``file_name``).
    """

    key: str
    xyxy: np.ndarray
    size: tuple[int, int] | None = None
    hints: tuple[str, ...] = ()
    fallback_boxes: int = 0


@dataclass
class BoxFile:
    """A box file read into per-image entries (see the module docstring for the formats)."""

    path: str
    format: str
    normalized: bool
    entries: list[BoxEntry]
    notes: list[str] = dc_field(default_factory=list)


# ---------------------------------------------------------------------- reading
def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def detect_format(data: Any) -> str:
    """The format name of parsed box-file JSON, ``"empty"`` for ``{}``/``[]``; :class:`BoxFileError` if unknown."""
    known = ("expected a CIRR box file {name: [[x1,y1,x2,y2], ...]}, a Patch Matters object_box.json "
             "{path: {bbox, ...}}, a four_box.json [{image, object_detect_box, ...}] or COCO results "
             "[{image_id, category_id, bbox, score}]")
    if isinstance(data, dict):
        if not data:
            return "empty"
        if all(isinstance(v, list) for v in data.values()):
            return "cirr"
        if all(isinstance(v, dict) and "bbox" in v for v in data.values()):
            return "object_box"
        first = next(iter(data.values()))
        if isinstance(first, list):
            key = next(k for k, v in data.items() if not isinstance(v, list))
        elif isinstance(first, dict) and "bbox" in first:
            key = next(k for k, v in data.items() if not (isinstance(v, dict) and "bbox" in v))
        else:
            key = next(iter(data))
        raise BoxFileError(f"unknown box file format: {known}; got a JSON object whose entry {key!r} "
                           f"is {_describe(data[key])}")
    if isinstance(data, list):
        if not data:
            return "empty"
        if all(isinstance(v, dict) and "image" in v and "object_detect_box" in v for v in data):
            return "four_box"
        if all(isinstance(v, dict) and "image_id" in v and "bbox" in v for v in data):
            return "coco_results"
        if all(isinstance(v, dict) and "image" in v and "object_detect_box" in v for v in data[:1]):
            bad = next(v for v in data if not (isinstance(v, dict) and "image" in v and "object_detect_box" in v))
        elif all(isinstance(v, dict) and "image_id" in v and "bbox" in v for v in data[:1]):
            bad = next(v for v in data if not (isinstance(v, dict) and "image_id" in v and "bbox" in v))
        else:
            bad = data[0]
        raise BoxFileError(f"unknown box file format: {known}; got a JSON list whose entry is {_describe(bad)}")
    raise BoxFileError(f"unknown box file format: {known}; got a JSON {type(data).__name__}")


def _boxes(value: Any, where: str, xywh: bool = False) -> np.ndarray:
    """``(N, 4)`` float64 from a list of 4-number lists (``xywh``: converted to xyxy); :class:`BoxFileError` if malformed."""
    if not isinstance(value, list):
        raise BoxFileError(f"{where}: boxes must be a list of [x1, y1, x2, y2] lists, got {_describe(value)}")
    rows = value
    for row in rows:
        if not isinstance(row, list) or len(row) != 4 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise BoxFileError(f"{where}: each box must be 4 numbers, got {_describe(row)}")
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(arr).all():
        raise BoxFileError(f"{where}: a box has a non-finite coordinate")
    if xywh:
        arr[:, 2:] += arr[:, :2]
    return arr


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise BoxFileError(f"{what} not found: {path}")
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise BoxFileError(f"{what} {path} is not valid JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoxFileError(f"cannot read {what} {path}: {exc}") from None


def _coco_images(ann_file: str | os.PathLike[str]) -> list[dict[str, Any]]:
    data = _read_json(ann_file, "COCO annotation file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise BoxFileError(f"{ann_file} is not a COCO annotation file: it needs an 'images' list")
    images = []
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not isinstance(img.get("id"), int):
            raise BoxFileError(f"{ann_file}: images[{i}] needs an integer 'id'")
        images.append(img)
    return sorted(images, key=lambda im: im["id"])


def load_box_file(path: str | os.PathLike[str], field: str | None = None,
                  ann_file: str | os.PathLike[str] | None = None) -> BoxFile:
    """Read a box file of any known format into a :class:`BoxFile`.

    ``field`` picks the boxes of a four_box.json (``object_detect_box`` by default,
    ``four_box`` or ``two_box``).  ``ann_file`` (a COCO annotation JSON) gives COCO results
    their image sizes and file names, and lists the images that have no results.
    """
    data = _read_json(path, "box file")
    fmt = detect_format(data)
    if field is not None and fmt != "four_box":
        raise BoxFileError(f"field={field!r} applies to four_box.json files only; {path} is a {fmt} file")
    if ann_file is not None and fmt not in ("coco_results", "empty"):
        raise BoxFileError(f"an annotation file applies to COCO results only; {path} is a {fmt} file")
    entries: list[BoxEntry] = []
    notes: list[str] = []
    normalized = fmt == "cirr"
    if fmt == "cirr":
        for key, value in data.items():
            arr = _boxes(value, f"{path}: image {key!r}")
            if arr.size and (arr.min() < -_NORM_TOLERANCE or arr.max() > 1 + _NORM_TOLERANCE):
                raise BoxFileError(f"{path}: image {key!r} has coordinates outside [0, 1] "
                                   f"({_describe(value)}); CIRR box files hold normalised boxes")
            entries.append(BoxEntry(str(key), arr))
    elif fmt == "object_box":
        for key, value in data.items():
            labels = value.get("label") or []
            fallback = sum(1 for v in labels if v == _WHOLE_IMAGE_LABEL) if isinstance(labels, list) else 0
            entries.append(BoxEntry(str(key), _boxes(value["bbox"], f"{path}: image {key!r}"),
                                    hints=(str(value.get("image", "")),) if value.get("image") else (),
                                    fallback_boxes=fallback))
        if any(e.fallback_boxes for e in entries):
            n = sum(1 for e in entries if e.fallback_boxes)
            notes.append(f"{n} image(s) have Patch Matters' whole-image fallback box (label {_WHOLE_IMAGE_LABEL}); "
                         f"it is counted as a box")
    elif fmt == "four_box":
        name = field or "object_detect_box"
        if name not in FOUR_BOX_FIELDS:
            raise BoxFileError(f"unknown four_box field {name!r}; choose one of {', '.join(FOUR_BOX_FIELDS)}")
        for i, value in enumerate(data):
            if name not in value:
                raise BoxFileError(f"{path}: entry {i} ({value.get('image')!r}) has no {name!r}")
            entries.append(BoxEntry(str(value["image"]), _boxes(value[name], f"{path}: entry {i} {name}")))
        notes.append(f"boxes: {name}")
    elif fmt == "coco_results":
        grouped: dict[Any, list[np.ndarray]] = {}
        for i, value in enumerate(data):
            grouped.setdefault(value["image_id"], []).append(_boxes([value["bbox"]], f"{path}: entry {i}", xywh=True))
        boxes_of = {k: np.concatenate(v) for k, v in grouped.items()}
        if ann_file is not None:
            images = _coco_images(ann_file)
            known = {img["id"] for img in images}
            unknown = [k for k in boxes_of if k not in known]
            if unknown:
                raise BoxFileError(f"{path}: image id {unknown[0]!r} is not in {ann_file} "
                                   f"({len(unknown)} unknown id(s))")
            for img in images:
                w, h = img.get("width"), img.get("height")
                size = (int(w), int(h)) if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0 else None
                hint = (str(img["file_name"]),) if img.get("file_name") else ()
                entries.append(BoxEntry(str(img["id"]), boxes_of.get(img["id"], np.zeros((0, 4))), size, hint))
        else:
            entries = [BoxEntry(str(k), v) for k, v in boxes_of.items()]
            notes.append("COCO results list only images with detections; pass an annotation file "
                         "(--ann-file) to count the others")
    return BoxFile(str(path), fmt, normalized, entries, notes)


# ---------------------------------------------------------------------- images
def image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` after EXIF rotation, read from the file header (no decoding); ``None`` if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # a broken EXIF block must not hide the size
                orientation = 1
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


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


# ---------------------------------------------------------------------- statistics
def _areas(xyxy: np.ndarray) -> np.ndarray:
    wh = np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None)
    return wh[:, 0] * wh[:, 1]


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
        chunks = [_areas(e.xyxy) for e in entries]
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
            chunks = [_areas(e.xyxy) for e in entries]
        else:
            for e, size in zip(entries, sizes):
                if size is None:
                    missing_size += 1
                    continue
                chunks.append(_areas(e.xyxy) / float(size[0] * size[1]))
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
    if unit == "fraction of image":
        top = max(1.0, float(values.max())) if values.size else 1.0
        bins: Any = np.linspace(0.0, top, int(round(20 * top)) + 1)
    else:
        bins = 30
    ax.hist(values, bins=bins, color="#4878a8", edgecolor="white")
    ax.set_xlabel(f"box area ({unit})")
    ax.set_ylabel("boxes")
    ax.set_title(title or f"{values.size} boxes")
    fig.tight_layout()
    with atomic_open(path, binary=True) as fh:
        fig.savefig(fh, format="png")
    return Path(path)


# ---------------------------------------------------------------------- drawing
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

    from regionkit.core.images import ImageLoadError, load_rgb
    from regionkit.plugins.writers.visualize import draw_boxes, png_name, save_png_atomic

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
