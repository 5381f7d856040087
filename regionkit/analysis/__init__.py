"""Tools that look at finished box files: statistics, histograms, drawings (``regionkit stats`` / ``visualize``).

Box files are read only through the formats their writers own (:func:`box_formats`).
"""
from __future__ import annotations

from typing import Any

__all__ = ["box_formats", "load_box_file"]


def box_formats() -> list[Any]:
    """The box formats of every installed writer (each writer's ``box_format``), built-ins first.

    Loading a writer imports its module; a third-party writer that fails to load is skipped
    (``regionkit plugins`` reports it).
    """
    from regionkit.errors import RegionkitError
    from regionkit.registry import WRITERS

    formats: list[Any] = []
    seen: set[str] = set()
    for cand in WRITERS.candidates():
        try:
            writer_cls = WRITERS.load(cand)
        except RegionkitError:
            continue
        fmt = getattr(writer_cls, "box_format", None)
        if fmt is not None and fmt.name not in seen:
            seen.add(fmt.name)
            formats.append(fmt)
    return formats


def load_box_file(path: Any, field: str | None = None, ann_file: Any = None) -> Any:
    """Read a box file of any format an installed writer writes (:func:`regionkit.io.box_files.read_box_file`)."""
    from regionkit.io.box_files import read_box_file

    return read_box_file(path, box_formats(), field=field, ann_file=ann_file)
