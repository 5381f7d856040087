"""Box files attached to training images: ``{image_name: [[x1, y1, x2, y2], ...]}`` normalised on the original image.

This is the file the ``cirr_boxes`` writer writes (``regionkit infer configs/cirr_boxes_*.py``)
and SPRC's RoI-Align fork reads.  An image the file has no entry for gets no boxes (an empty
``[0, 4]`` list; a region loss then uses its whole-image box); how many images that is, with
a few names, is reported once when the dataset is built.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from regionkit.errors import ConfigError
from regionkit.io.box_files import NORM_TOLERANCE, BoxFileError, boxes_array, read_json

__all__ = ["BoxLookup", "read_normalised_box_file"]


_EMPTY = np.zeros((0, 4), dtype=np.float64)


def read_normalised_box_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``{name: [K, 4] float64}`` from a CIRR-style box file; a malformed file is a one-line ``ConfigError``."""
    try:
        data = read_json(path, "box file")
        if not isinstance(data, dict):
            raise BoxFileError(f"box file {path} must be a JSON object {{image_name: [[x1, y1, x2, y2], ...]}}, "
                               f"got a {type(data).__name__}")
        out = {}
        for key, value in data.items():
            arr = boxes_array(value, f"box file {path}: image {key!r}")
            if arr.size and (arr.min() < -NORM_TOLERANCE or arr.max() > 1 + NORM_TOLERANCE):
                raise BoxFileError(f"box file {path}: image {key!r} has coordinates outside [0, 1]; the boxes must be "
                                   f"normalised (x / width, y / height)")
            out[str(key)] = np.clip(arr, 0.0, 1.0)
    except BoxFileError as exc:
        raise ConfigError(str(exc)) from None
    return out


@dataclass
class BoxLookup:
    """The boxes of each image name, from one box file (or none: every image gets no boxes).

    ``missing`` lists the names asked for at :meth:`attach` time that the file does not have.
    """

    path: str | None
    boxes: dict[str, np.ndarray] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str] | None) -> BoxLookup:
        if path is None or str(path) == "":
            return cls(None)
        return cls(str(path), read_normalised_box_file(path))

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def attach(self, names: Iterable[str], what: str = "images") -> None:
        """Record which of ``names`` have no entry, and report it once (a warning with the count and a few names)."""
        if not self.enabled:
            return
        wanted = list(dict.fromkeys(names))
        self.missing = [n for n in wanted if n not in self.boxes]
        if self.missing:
            shown = ", ".join(self.missing[:3]) + (", ..." if len(self.missing) > 3 else "")
            from mmengine.logging import print_log

            print_log(f"box file {self.path} has no entry for {len(self.missing)} of {len(wanted)} {what} ({shown}); "
                      f"they get no boxes", logger="current", level=logging.WARNING)

    def get(self, name: str) -> np.ndarray | None:
        """``[K, 4]`` boxes of ``name`` (empty when the file has none for it); ``None`` when no box file is used."""
        if not self.enabled:
            return None
        return self.boxes.get(name, _EMPTY)
