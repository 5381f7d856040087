"""Box files read back into per-image entries, through the :class:`BoxFormat` each writer owns.

Every writer that writes a box file declares its format (``box_format``): how to recognise
the parsed JSON and how to read it.  ``regionkit stats``, ``regionkit visualize`` and the
conformance kit read files only through these formats, so a new writer's files are readable
the moment the writer exists, and a format's layout is described in one place: beside the
code that writes it.

Reading is defensive: whatever a file holds (deep nesting, huge numbers, wrong types, bad
UTF-8), the result is a :class:`BoxFile` or a one-line :class:`BoxFileError`.
"""
from __future__ import annotations

import abc
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import numpy as np

from regionkit.errors import RegionkitError, did_you_mean

__all__ = ["BoxFileError", "BoxEntry", "BoxFile", "BoxFormat", "read_json", "boxes_array", "describe_json",
           "read_box_file", "NORM_TOLERANCE"]

#: how far outside [0, 1] a normalised coordinate may stray (float rounding) before a file is refused
NORM_TOLERANCE = 1e-6
#: the largest coordinate magnitude accepted (beyond it areas overflow float64)
_MAX_COORD = 1e150


class BoxFileError(RegionkitError, ValueError):
    """A box file cannot be read, or its format is not one regionkit knows."""


@dataclass
class BoxEntry:
    """One image of a box file.

    ``key`` identifies the image in the file (CIRR name, image path, COCO image id as a
    string); ``xyxy`` is ``(N, 4)`` float64, normalised or in pixels as the file is;
    ``size`` is ``(width, height)`` when the file itself says it (COCO annotations);
    ``hints`` are other names the image file may have (a COCO ``file_name``);
    ``fallback_boxes`` counts Patch Matters' whole-image fallback boxes among ``xyxy``;
    ``scores`` is ``(N,)`` float64 where the format stores box scores (COCO results), else ``None``.
    """

    key: str
    xyxy: np.ndarray
    size: tuple[int, int] | None = None
    hints: tuple[str, ...] = ()
    fallback_boxes: int = 0
    scores: np.ndarray | None = None


@dataclass
class BoxFile:
    """A box file read into per-image entries."""

    path: str
    format: str
    normalized: bool
    entries: list[BoxEntry]
    notes: list[str] = dc_field(default_factory=list)


class BoxFormat(abc.ABC):
    """How one writer's box files are recognised and read.

    ``name`` is the format's name (``cirr``, ``four_box``, ...); ``container`` is the JSON
    type at the top (``dict``: one entry per key; ``list``: one entry per item); ``layout``
    describes the JSON in one line for error messages; ``fields`` lists the box lists a file
    holds per image when there are several (the first is the default); ``takes_ann_file``
    says whether a COCO annotation file adds image sizes and names.
    """

    name: str = ""
    container: type = dict
    layout: str = ""
    fields: tuple[str, ...] = ()
    takes_ann_file: bool = False

    @abc.abstractmethod
    def entry_matches(self, entry: Any) -> bool:
        """Whether one entry (a dict value, or a list item) has this format's shape."""

    @abc.abstractmethod
    def read(self, data: Any, path: str, field: str | None, ann_file: str | None) -> BoxFile:
        """The entries of ``data`` (which :meth:`matches`); :class:`BoxFileError` naming the entry at fault.

        ``field`` is already checked (one of :attr:`fields`, or ``None`` for formats without fields).
        """

    def entries(self, data: Any) -> list[tuple[str, Any]]:
        """``(label, entry)`` pairs of ``data``: dict keys, or ``entry i`` for list items."""
        if isinstance(data, dict):
            return [(f"entry {describe_json(k)}", v) for k, v in data.items()]
        return [(f"entry {i}", v) for i, v in enumerate(data)]

    def matches(self, data: Any) -> bool:
        """Whether parsed JSON ``data`` has this format's shape (every entry, not just the first)."""
        return isinstance(data, self.container) and all(self.entry_matches(e) for _, e in self.entries(data))

    def field_or_default(self, field: str | None, path: str) -> str | None:
        """``field`` checked against :attr:`fields` (``None``: the default)."""
        if field is None:
            return self.fields[0] if self.fields else None
        if field not in self.fields:
            if not self.fields:
                raise BoxFileError(f"--field applies to files with several box lists per image; {path} is a "
                                   f"{self.name} file")
            raise BoxFileError(f"{self.name} files have no field {field!r}{did_you_mean(field, self.fields)}; "
                               f"choose one of {', '.join(self.fields)}")
        return field


def describe_json(value: Any, limit: int = 80) -> str:
    """A short JSON-ish rendering of ``value`` for messages."""
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    except (ValueError, RecursionError, OverflowError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse the JSON file ``path``; :class:`BoxFileError` for anything that is not a readable JSON file."""
    p = Path(path)
    if not p.is_file():
        raise BoxFileError(f"{what} not found: {path}" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise BoxFileError(f"{what} {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BoxFileError(f"{what} {path} is nested too deeply to be a box file") from None
    except UnicodeDecodeError as exc:
        raise BoxFileError(f"{what} {path} is not UTF-8 text: {exc}") from None
    except (OSError, ValueError, MemoryError) as exc:
        raise BoxFileError(f"cannot read {what} {path}: {type(exc).__name__}: {exc}") from None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def boxes_array(value: Any, where: str, xywh: bool = False) -> np.ndarray:
    """``(N, 4)`` float64 from a list of 4-number lists (``xywh``: converted to xyxy); :class:`BoxFileError` if malformed.

    Numbers must be finite and at most 1e150 in magnitude (so areas stay finite).
    """
    if not isinstance(value, list):
        raise BoxFileError(f"{where}: boxes must be a list of [x1, y1, x2, y2] lists, got {describe_json(value)}")
    for row in value:
        if not isinstance(row, list) or len(row) != 4 or not all(_is_number(v) for v in row):
            raise BoxFileError(f"{where}: each box must be 4 numbers, got {describe_json(row)}")
        for v in row:
            try:
                ok = math.isfinite(v) and abs(v) <= _MAX_COORD
            except OverflowError:  # an int too large for a float
                ok = False
            if not ok:
                raise BoxFileError(f"{where}: box {describe_json(row)} has a coordinate that is not a finite number "
                                   f"of reasonable size")
    arr = np.array(value, dtype=np.float64).reshape(-1, 4)
    if xywh:
        arr[:, 2:] += arr[:, :2]
    return arr


def read_box_file(path: str | os.PathLike[str], formats: Sequence[BoxFormat], field: str | None = None,
                  ann_file: str | os.PathLike[str] | None = None) -> BoxFile:
    """Read ``path`` with the first of ``formats`` that recognises it.

    ``field`` picks one of the box lists of formats that hold several per image; ``ann_file``
    (COCO annotations) applies to formats that take one.  An empty ``{}``/``[]`` file is an
    empty box file.  :class:`BoxFileError` if no format matches, naming what was expected and
    showing the entry that fits none.
    """
    data = read_json(path, "box file")
    text_path = str(path)
    if isinstance(data, (dict, list)) and not data:
        if field is not None:
            raise BoxFileError(f"{text_path} is empty; --field has nothing to choose from")
        return BoxFile(text_path, "empty", False, [], ["the file holds no images"])
    for fmt in formats:
        try:
            hit = fmt.matches(data)
        except (RecursionError, TypeError, ValueError):
            hit = False
        if not hit:
            continue
        if ann_file is not None and not fmt.takes_ann_file:
            raise BoxFileError(f"an annotation file applies to COCO results only; {text_path} is a {fmt.name} file")
        chosen = fmt.field_or_default(field, text_path)
        try:
            return fmt.read(data, text_path, chosen, None if ann_file is None else str(ann_file))
        except BoxFileError:
            raise
        except (RecursionError, TypeError, ValueError, KeyError, OverflowError, MemoryError) as exc:
            raise BoxFileError(f"{text_path}: malformed {fmt.name} file: {type(exc).__name__}: {exc}") from None
    raise BoxFileError(f"unknown box file format: {_diagnose(data, formats)}")


def _diagnose(data: Any, formats: Sequence[BoxFormat]) -> str:
    """What was expected and which entry fits no format (the first entry that breaks the format it starts like)."""
    expected = "expected one of: " + ("; ".join(f"{f.name} {f.layout}" for f in formats) or "(no box formats installed)")
    for fmt in formats:
        if not isinstance(data, fmt.container):
            continue
        pairs = fmt.entries(data)
        if pairs and fmt.entry_matches(pairs[0][1]):
            found = next(((lab, e) for lab, e in pairs if not fmt.entry_matches(e)), None)
            if found is None:
                continue
            label, bad = found
            return f"{expected}; it looks like a {fmt.name} file, but its {label} is {describe_json(bad)}"
    if isinstance(data, dict):
        key = next(iter(data))
        return f"{expected}; got a JSON object whose entry {describe_json(key)} is {describe_json(data[key])}"
    if isinstance(data, list):
        return f"{expected}; got a JSON list whose first entry is {describe_json(data[0])}"
    return f"{expected}; got a JSON {type(data).__name__}"
