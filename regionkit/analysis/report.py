"""A static, offline HTML report of a box file (``regionkit report``).

The report is a folder: ``index.html`` (all CSS and JavaScript inline, nothing fetched from
the network), ``thumbs/*.jpg`` (one JPEG thumbnail per image found) and one area histogram
PNG per region set.  Every region set of the file is read (each of the format's ``fields``;
one set for formats without fields) and drawn as an SVG overlay in its own colour, so a
checkbox toggles a set without re-rendering any image.  The page sorts and filters the
cards by box count and box area (fractions of the image) over the region sets shown.

Page state lives in the URL fragment, e.g. ``index.html#hide=four_box,two_box&sort=count&dir=desc``
(keys ``hide``, ``sort`` = order|count|mean_area|max_area, ``dir`` = asc|desc,
``min_count``, ``max_count``, ``min_area``, ``max_area``, ``area`` = mean|max); the page
applies it on load with the same functions its controls call.

Boxes are ``xyxy`` pixels unless a name ends in ``_norm``.
"""
from __future__ import annotations

import html
import json
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from regionkit.errors import RegionkitError
from regionkit.io.atomic import atomic_open
from regionkit.io.box_files import BoxEntry, BoxFile, BoxFileError
from regionkit.io.image_locator import ImageLocator

__all__ = ["RegionSet", "ReportCard", "ReportResult", "load_region_sets", "build_report", "write_report",
           "thumbnail_name", "script_json", "DEFAULT_THUMB_SIZE", "THUMBS_DIR"]

#: the longer side of the JPEG thumbnails, in pixels, unless told otherwise
DEFAULT_THUMB_SIZE = 320
#: folder of the thumbnails inside the report folder
THUMBS_DIR = "thumbs"
_TEMPLATE = "report_template.html"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class RegionSet:
    """One box list per image of a box file: a field of the format (``four_box``), or the file's only list."""

    name: str
    box_file: BoxFile


@dataclass
class ReportCard:
    """One image of the report: its boxes per region set, and its thumbnail or why there is none.

    ``boxes`` holds one ``(N, 4)`` array per region set: pixels of the decoded (EXIF-rotated)
    image, whose size is ``image_size`` (normalised files are scaled to it; when the image is
    missing they stay normalised); ``size`` is the image size the areas are relative to (the
    file's own, else the decoded image's); ``areas`` are fractions of the image area per set
    (``None`` where the size is unknown); ``scores`` are per set where the box file carries them.
    """

    key: str
    boxes: list[np.ndarray]
    areas: list[list[float] | None]
    scores: list[list[float] | None]
    size: tuple[int, int] | None = None
    image_size: tuple[int, int] | None = None
    found: str | None = None
    thumb: str | None = None
    thumb_size: tuple[int, int] | None = None
    problem: str | None = None


@dataclass
class ReportResult:
    """What :func:`write_report` wrote, and the images it could not show (``(key, reason)``)."""

    index: Path
    cards: int
    images_in_file: int
    region_sets: list[str]
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- reading
def load_region_sets(path: str | os.PathLike[str], ann_file: str | os.PathLike[str] | None = None
                     ) -> tuple[list[RegionSet], list[str]]:
    """Every region set of the box file ``path``, and notes about fields that could not be read.

    The file is read through :func:`regionkit.analysis.load_box_file`: once for its default
    field (a :class:`BoxFileError` here is the user's mistake and propagates), then once for
    each other field its format declares; a field missing from some entries is skipped with
    a note.  Formats without fields give one set named after the format.
    """
    from regionkit.analysis import box_formats, load_box_file

    first: BoxFile = load_box_file(path, ann_file=ann_file)
    fmt = next((f for f in box_formats() if f.name == first.format), None)
    fields: tuple[str, ...] = tuple(getattr(fmt, "fields", ()) or ())
    if not fields:
        return [RegionSet(first.format, first)], []
    sets = [RegionSet(fields[0], first)]
    notes: list[str] = []
    for name in fields[1:]:
        try:
            sets.append(RegionSet(name, load_box_file(path, field=name, ann_file=ann_file)))
        except BoxFileError as exc:
            notes.append(f"region set {name} left out: {exc}")
    return sets, notes


def align_entries(sets: Sequence[RegionSet]) -> list[list[BoxEntry | None]]:
    """Per image of the first set, its entry in each set (``None`` where a set lacks the image).

    The sets of one file list the same images in the same order; should they not, entries are
    matched by key (first occurrence).
    """
    base = sets[0].box_file.entries
    columns: list[list[BoxEntry | None]] = []
    for rs in sets:
        entries = rs.box_file.entries
        if len(entries) == len(base) and all(a.key == b.key for a, b in zip(entries, base)):
            columns.append(list(entries))
            continue
        by_key: dict[str, BoxEntry] = {}
        for e in entries:
            by_key.setdefault(e.key, e)
        columns.append([by_key.get(e.key) for e in base])
    return [[col[i] for col in columns] for i in range(len(base))]


# ---------------------------------------------------------------------- images
def thumbnail_name(rel: str) -> str:
    """A flat, collision-free JPEG name for the image path ``rel`` (:func:`~regionkit.io.pictures.png_name` rules)."""
    from regionkit.io.pictures import png_name

    return png_name(rel)[: -len(".png")] + ".jpg"


def save_thumbnail(image: np.ndarray, path: Path, max_side: int) -> tuple[int, int]:
    """Shrink the RGB ``image`` so its longer side is at most ``max_side``, save it as JPEG atomically; its size."""
    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    with atomic_open(path, binary=True) as fh:
        picture.save(fh, format="JPEG", quality=85)
    return picture.size


def box_areas(xyxy: np.ndarray, size: tuple[int, int] | None) -> list[float] | None:
    """Areas of pixel boxes as fractions of an image of ``size`` (``None`` when the size is unknown)."""
    from regionkit.structures.box_ops import box_area

    if size is None:
        return None
    return [float(a) for a in box_area(xyxy) / float(size[0] * size[1])]


def _entry_scores(entry: BoxEntry | None) -> list[float] | None:
    """The entry's box scores, where its format reads them (COCO results), else ``None``."""
    scores = None if entry is None else entry.scores
    if scores is None:
        return None
    values = [float(s) for s in np.asarray(scores, dtype=np.float64).reshape(-1)]
    return values if all(np.isfinite(values)) else None


def make_card(row: Sequence[BoxEntry | None], normalized: Sequence[bool], locator: ImageLocator, out: Path,
              thumb_size: int, used: set[str]) -> ReportCard:
    """One card: locate and decode the image, write its thumbnail, put its boxes in pixels and their areas.

    A missing or unreadable image gives a card with ``problem`` set (never an exception).
    """
    from regionkit.io.images import ImageLoadError, load_rgb

    entry = next(e for e in row if e is not None)
    raw = [e.xyxy if e is not None else np.zeros((0, 4)) for e in row]
    card = ReportCard(entry.key, raw, [None] * len(row), [_entry_scores(e) for e in row], size=entry.size)
    hints = tuple(h for e in row if e is not None for h in e.hints)
    found = locator.locate(entry.key, tuple(dict.fromkeys(hints)))
    image = None
    if found is None:
        card.problem = f"no image file found under {locator.root}"
    else:
        card.found = found.relative_to(locator.root).as_posix()
        try:
            image = load_rgb(found)
        except ImageLoadError as exc:
            card.problem = f"cannot read {card.found}: {exc}"
    if image is not None:
        h, w = image.shape[:2]
        name = thumbnail_name(card.found or entry.key)
        if name in used:  # two keys found the same file: keep both thumbnails apart
            name = thumbnail_name(entry.key)
        n = 1
        while name in used:
            n += 1
            name = thumbnail_name(f"{entry.key}~{n}")
        used.add(name)
        card.thumb_size = save_thumbnail(image, out / THUMBS_DIR / name, thumb_size)
        card.thumb = f"{THUMBS_DIR}/{name}"
        card.image_size = (w, h)
        card.size = card.size or (w, h)
    for i, (xyxy, norm) in enumerate(zip(raw, normalized)):
        if norm:
            card.areas[i] = box_areas(xyxy, (1, 1))
            if card.image_size is not None:
                card.boxes[i] = xyxy * np.array([*card.image_size, *card.image_size], dtype=np.float64)
        else:
            card.areas[i] = box_areas(xyxy, card.size)
    return card


# ---------------------------------------------------------------------- html
def text(value: Any) -> str:
    """``value`` as HTML-escaped text (quotes too); lone surrogates (undecodable file-name bytes) as ``\\uXXXX``."""
    raw = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))
    return html.escape(raw, quote=True)


def script_json(value: Any) -> str:
    """``value`` as JSON that is safe inside ``<script>``: ASCII only, ``<``, ``>``, ``&`` as ``\\u`` escapes.

    So neither ``</script>`` nor ``<!--`` can appear, and the text is still JSON
    (``JSON.parse`` gives ``value`` back).
    """
    dumped = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return dumped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def colour(index: int) -> str:
    """The CSS colour of region set ``index``: the palette ``regionkit visualize`` draws with."""
    from regionkit.io.pictures import PALETTE

    r, g, b = PALETTE[index % len(PALETTE)]
    return f"#{r:02x}{g:02x}{b:02x}"


def _num(value: float) -> str:
    return f"{value:.3g}"


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def svg_overlay(card: ReportCard, set_names: Sequence[str]) -> str:
    """The SVG drawn over a thumbnail: one ``<g class="rs rs-I" data-set=NAME>`` of ``<rect>`` per region set.

    The view box is the decoded image in pixels, so boxes keep their pixel coordinates and the
    overlay scales with the thumbnail.
    """
    assert card.image_size is not None
    w, h = card.image_size
    groups = []
    for i, (name, xyxy) in enumerate(zip(set_names, card.boxes)):
        rects = "".join(
            f'<rect x="{x1:.6g}" y="{y1:.6g}" width="{max(x2 - x1, 0.0):.6g}" height="{max(y2 - y1, 0.0):.6g}"/>'
            for x1, y1, x2, y2 in np.asarray(xyxy, dtype=np.float64).reshape(-1, 4))
        groups.append(f'<g class="rs rs-{i}" data-set="{text(name)}">{rects}</g>')
    return (f'<svg class="overlay" viewBox="0 0 {w} {h}" preserveAspectRatio="none" aria-hidden="true">'
            + "".join(groups) + "</svg>")


def card_html(index: int, card: ReportCard, set_names: Sequence[str]) -> str:
    """One gallery card: thumbnail with overlay (or why there is none), name, boxes per region set, scores."""
    title = text(card.key)
    if card.thumb is not None and card.thumb_size is not None and card.image_size is not None:
        tw, th = card.thumb_size
        src = urllib.parse.quote(card.thumb, safe="/")
        visual = (f'<div class="thumb" style="aspect-ratio:{tw}/{th}">'
                  f'<img class="thumbimg" src="{text(src)}" alt="{title}" width="{tw}" height="{th}">'
                  f"{svg_overlay(card, set_names)}</div>")
    else:
        visual = f'<div class="thumb nothumb"><p class="problem">{text(card.problem or "no image")}</p></div>'
    lines = []
    for i, name in enumerate(set_names):
        n = len(card.boxes[i])
        areas = card.areas[i]
        detail = ""
        if areas:
            detail = f", area mean {_pct(float(np.mean(areas)))}, max {_pct(max(areas))}"
        scores = card.scores[i]
        if scores:
            shown = ", ".join(_num(s) for s in scores[:8]) + (", …" if len(scores) > 8 else "")
            detail += f'<span class="scores">scores {text(shown)}</span>'
        lines.append(f'<li class="rs-{i}"><span class="sw"></span>{text(name)}: '
                     f'<b class="count">{n}</b> box{"" if n == 1 else "es"}{detail}</li>')
    found = ""
    if card.found is not None and card.found != card.key:
        found = f'<div class="file">file: {text(card.found)}</div>'
    size = f'<div class="file">{card.image_size[0]}×{card.image_size[1]} px</div>' if card.image_size else ""
    cls = "card" if card.problem is None else "card missing"
    return (f'<article class="{cls}" id="card-{index}" data-index="{index}">{visual}<div class="meta">'
            f'<h3 class="name" title="{title}">{title}</h3>{found}{size}<ul class="sets">{"".join(lines)}</ul>'
            f"</div></article>")


def stats_html(blocks: Sequence[tuple[str, str, str | None]]) -> str:
    """The statistics section: per region set its ``regionkit stats`` text and histogram image."""
    parts = []
    for i, (name, summary, histogram) in enumerate(blocks):
        img = (f'<img class="histogram" src="{text(urllib.parse.quote(histogram))}" alt="box area histogram of '
               f'{text(name)}">' if histogram else '<p class="note">No boxes with a known image size: no histogram.</p>')
        parts.append(f'<div class="stat"><h3><span class="sw rs-sw-{i}"></span>{text(name)}</h3>'
                     f"<pre>{text(summary)}</pre>{img}</div>")
    return "".join(parts)


def page_html(title: str, header: str, controls: str, cards: str, stats: str, data: dict[str, Any],
              set_css: str, thumb_size: int) -> str:
    """The whole page: the template (``report_template.html``) with its ``{{NAME}}`` slots filled in one pass."""
    template = resources.files("regionkit.analysis").joinpath(_TEMPLATE).read_text(encoding="utf-8")
    slots = {"TITLE": title, "HEADER": header, "CONTROLS": controls, "CARDS": cards, "STATS": stats,
             "DATA": script_json(data), "SET_CSS": set_css, "THUMB": str(thumb_size)}
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: slots[m.group(1)], template)


def _set_css(n_sets: int) -> str:
    """Per-set colour rules: outlines, swatches."""
    rules = []
    for i in range(n_sets):
        c = colour(i)
        rules.append(f".rs-{i} rect{{stroke:{c}}} .rs-{i} .sw,.rs-sw-{i}{{background:{c}}}")
    return "\n".join(rules)


def _controls_html(set_names: Sequence[str]) -> str:
    """The region-set checkboxes (one per set, in its colour)."""
    return "".join(
        f'<label class="toggle"><input type="checkbox" id="toggle-{i}" data-set-index="{i}" checked>'
        f'<span class="sw rs-sw-{i}"></span>{text(name)}</label>' for i, name in enumerate(set_names))


# ---------------------------------------------------------------------- the report
def build_report(sets: Sequence[RegionSet], locator: ImageLocator, out: Path, max_images: int | None = None,
                 thumb_size: int = DEFAULT_THUMB_SIZE, progress: bool = True) -> list[ReportCard]:
    """The cards of the first ``max_images`` images, their thumbnails written into ``out/thumbs``."""
    from tqdm.auto import tqdm

    rows = align_entries(sets)
    rows = rows[:max_images] if max_images else rows
    normalized = [rs.box_file.normalized for rs in sets]
    used: set[str] = set()
    return [make_card(row, normalized, locator, out, thumb_size, used)
            for row in tqdm(rows, unit="img", desc="report", disable=not progress, dynamic_ncols=True)]


def _check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir`` as a Path, created if needed; :class:`RegionkitError` if it is a file or cannot be made."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RegionkitError(f"output folder {out_dir} is a file; give a folder for the report")
    try:
        (out / THUMBS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegionkitError(f"cannot create the report folder {out_dir}: {exc.strerror or exc}") from None
    return out


def _stats_blocks(sets: Sequence[RegionSet], locator: ImageLocator, out: Path
                  ) -> tuple[list[tuple[str, str, str | None]], list[dict[str, Any]]]:
    """Per region set: ``(name, regionkit stats text, histogram file or None)``, and the stats dicts."""
    from regionkit.analysis.stats import compute_stats, format_stats, save_area_histogram

    blocks: list[tuple[str, str, str | None]] = []
    dicts: list[dict[str, Any]] = []
    for i, rs in enumerate(sets):
        result, areas = compute_stats(rs.box_file, locator)
        histogram = None
        if areas.size:
            unit = result["area"]["unit"] if result["area"] else "fraction of image"
            slug = re.sub(r"[^A-Za-z0-9_-]+", "_", rs.name)[:40]
            histogram = f"histogram_{i}_{slug}.png"
            save_area_histogram(areas, out / histogram, unit=unit, title=f"{rs.name} ({areas.size} boxes)")
        blocks.append((rs.name, format_stats(result), histogram))
        dicts.append({"region_set": rs.name, **result})
    return blocks, dicts


def write_report(box_path: str | os.PathLike[str], images: str | os.PathLike[str] | ImageLocator,
                 out_dir: str | os.PathLike[str],
                 ann_file: str | os.PathLike[str] | None = None, max_images: int | None = None,
                 thumb_size: int = DEFAULT_THUMB_SIZE, progress: bool = True) -> ReportResult:
    """Write the report of ``box_path`` into ``out_dir``: ``index.html``, ``thumbs/``, histograms.

    ``images`` is the images folder (or an :class:`ImageLocator` on it).  User mistakes (bad
    ``max_images`` or ``thumb_size``, unreadable box file, missing images folder, ``out_dir``
    a file) raise :class:`RegionkitError` before anything is written, in that order;
    images that cannot be found or decoded get a card that says why.  ``index.html`` is
    written last, atomically.
    """
    if max_images is not None and max_images < 1:
        raise RegionkitError(f"--max-images must be at least 1, got {max_images}")
    if thumb_size < 16:
        raise RegionkitError(f"--thumb-size must be at least 16 pixels, got {thumb_size}")
    sets, notes = load_region_sets(box_path, ann_file=ann_file)
    locator = images if isinstance(images, ImageLocator) else ImageLocator(images)
    out = _check_out_dir(out_dir)
    names = [rs.name for rs in sets]
    try:
        cards = build_report(sets, locator, out, max_images=max_images, thumb_size=thumb_size, progress=progress)
        blocks, stat_dicts = _stats_blocks(sets, locator, out)
        index = out / "index.html"
        with atomic_open(index) as fh:
            fh.write(_page(box_path, sets, cards, blocks, stat_dicts, notes, thumb_size))
    except OSError as exc:
        raise RegionkitError(f"cannot write the report into {out_dir}: {exc}") from None
    failures = [(c.key, c.problem) for c in cards if c.problem is not None]
    return ReportResult(index, len(cards), len(sets[0].box_file.entries), names, failures, notes)


def _page(box_path: str | os.PathLike[str], sets: Sequence[RegionSet], cards: Sequence[ReportCard],
          blocks: Sequence[tuple[str, str, str | None]], stat_dicts: list[dict[str, Any]], notes: Sequence[str],
          thumb_size: int) -> str:
    """The filled-in page for :func:`write_report`."""
    names = [rs.name for rs in sets]
    first = sets[0].box_file
    total = len(first.entries)
    file_name = Path(box_path).name
    failures = [c for c in cards if c.problem is not None]
    shown = f"{len(cards)} of {total}" if len(cards) < total else f"{total}"
    header = [f'<p class="sub">{text(str(box_path))} · format <b>{text(first.format)}</b> · coordinates in '
              f'{"normalised [0, 1]" if first.normalized else "pixels"} · {shown} image(s) in the gallery</p>']
    common = [n for n in first.notes if all(n in rs.box_file.notes for rs in sets)]  # "boxes: FIELD" is per set
    for note in [*notes, *common]:
        header.append(f'<p class="note">Note: {text(note)}</p>')
    if failures:
        items = "".join(f"<li><b>{text(c.key)}</b>: {text(c.problem)}</li>" for c in failures)
        header.append(f'<details class="failures" open><summary>{len(failures)} image(s) could not be shown'
                      f"</summary><ul>{items}</ul></details>")
    data = {
        "sets": [{"name": n, "colour": colour(i)} for i, n in enumerate(names)],
        "cards": [{"key": c.key, "counts": [len(b) for b in c.boxes], "areas": c.areas, "missing": c.problem is not None}
                  for c in cards],
        "stats": stat_dicts,
    }
    return page_html(title=text(f"Box report: {file_name}"), header="".join(header), controls=_controls_html(names),
                     cards="".join(card_html(i, c, names) for i, c in enumerate(cards)), stats=stats_html(blocks),
                     data=data, set_css=_set_css(len(names)), thumb_size=thumb_size)
