"""The box structure every detector returns and every selector and writer consumes.

Conventions (the contract for the whole package):

* ``xyxy`` is an ``(N, 4)`` float64 array of ``[x1, y1, x2, y2]`` in **pixels** of the
  original (EXIF-corrected) image, origin top-left, ``x`` to the right.  There is no
  "+1 pixel" convention: a box's width is ``x2 - x1``.
* ``scores`` is ``(N,)`` float64, ``labels`` is ``(N,)`` int64 and ``label_names`` is a tuple
  of ``N`` strings (one per box, repeated per instance).
* ``image_size`` is ``(width, height)`` in pixels.
* Detectors return boxes sorted by descending score (Patch Matters' top-2 fallback relies
  on that order).

Anything normalised to ``[0, 1]`` by the image size carries ``_norm`` in its name.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from regionkit.structures import box_ops

__all__ = ["Boxes", "SanitizeReport"]


def _as_xyxy(xyxy: object) -> np.ndarray:
    arr = np.array(xyxy, dtype=np.float64)  # a copy: Boxes must not alias the caller's array
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


@dataclass(frozen=True)
class SanitizeReport:
    """What :meth:`Boxes.sanitize` removed or changed (counts of boxes)."""

    non_finite: int = 0
    inverted: int = 0
    outside: int = 0
    clipped: int = 0

    @property
    def dropped(self) -> int:
        return self.non_finite + self.inverted + self.outside

    def __add__(self, other: SanitizeReport) -> SanitizeReport:
        return SanitizeReport(
            self.non_finite + other.non_finite,
            self.inverted + other.inverted,
            self.outside + other.outside,
            self.clipped + other.clipped,
        )

    def describe(self) -> str:
        parts = [f"{n} {what}" for n, what in (
            (self.non_finite, "non-finite"), (self.inverted, "inverted or empty"),
            (self.outside, "outside the image"), (self.clipped, "clipped"),
        ) if n]
        return ", ".join(parts) if parts else "no changes"


@dataclass(frozen=True, eq=False)
class Boxes:
    """An immutable set of scored, labelled boxes on one image.

    Build one with :meth:`create`, which fills default scores (1.0), labels (-1) and
    names (``""``) and checks that every field has ``N`` entries.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        xyxy = _as_xyxy(self.xyxy)
        n = len(xyxy)
        scores = np.array(self.scores, dtype=np.float64).reshape(-1)
        labels = np.array(self.labels, dtype=np.int64).reshape(-1)
        if isinstance(self.label_names, (str, bytes)):
            raise TypeError("label_names must be a sequence of strings (one per box), not a single string")
        names = tuple(str(s) for s in self.label_names)
        if len(scores) != n or len(labels) != n or len(names) != n:
            raise ValueError(
                f"Boxes fields disagree in length: {n} boxes, {len(scores)} scores, "
                f"{len(labels)} labels, {len(names)} label names")
        width, height = (int(v) for v in self.image_size)
        if width <= 0 or height <= 0:
            raise ValueError(f"image_size must be positive (width, height), got {self.image_size}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "label_names", names)
        object.__setattr__(self, "image_size", (width, height))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def create(
        cls,
        xyxy: object,
        image_size: tuple[int, int],
        scores: object | None = None,
        labels: object | None = None,
        label_names: Iterable[str] | None = None,
    ) -> Boxes:
        """Build boxes from array-likes; missing fields get defaults (score 1, label -1, name "")."""
        arr = _as_xyxy(xyxy)
        n = len(arr)
        if isinstance(label_names, (str, bytes)):
            raise TypeError("label_names must be a sequence of strings (one per box), not a single string")
        return cls(
            xyxy=arr,
            scores=np.ones(n) if scores is None else scores,  # type: ignore[arg-type]  # converted in __post_init__
            labels=np.full(n, -1) if labels is None else labels,  # type: ignore[arg-type]
            label_names=("",) * n if label_names is None else tuple(label_names),
            image_size=image_size,
        )

    @classmethod
    def empty(cls, image_size: tuple[int, int]) -> Boxes:
        return cls.create(np.zeros((0, 4)), image_size)

    @classmethod
    def from_normalized(cls, xyxy_norm: object, image_size: tuple[int, int], **fields: object) -> Boxes:
        """Build from boxes normalised to ``[0, 1]`` by ``image_size`` (width, height)."""
        return cls.create(box_ops.denormalize_xyxy(xyxy_norm, image_size), image_size, **fields)  # type: ignore[arg-type]

    @classmethod
    def from_xywh(cls, xywh: object, image_size: tuple[int, int], **fields: object) -> Boxes:
        """Build from ``[x, y, width, height]`` pixel boxes (COCO style)."""
        return cls.create(box_ops.xywh_to_xyxy(xywh), image_size, **fields)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Boxes:
        """Select boxes by a boolean mask, an index array or a slice."""
        if isinstance(index, (bool, np.bool_)):
            raise IndexError("a single bool is not a valid box index; use a boolean mask")
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        elif not isinstance(index, (slice, tuple)) and np.size(index) == 0:
            index = np.zeros(0, dtype=np.int64)  # an empty list/array selects nothing, whatever its dtype
        idx = np.arange(len(self))[index]
        return Boxes(
            xyxy=self.xyxy[idx], scores=self.scores[idx], labels=self.labels[idx],
            label_names=tuple(self.label_names[i] for i in idx), image_size=self.image_size,
        )

    def __repr__(self) -> str:
        return f"Boxes(n={len(self)}, image_size={self.image_size})"

    @property
    def width(self) -> int:
        return self.image_size[0]

    @property
    def height(self) -> int:
        return self.image_size[1]

    @property
    def areas(self) -> np.ndarray:
        """Pixel areas; inverted boxes have area 0."""
        return box_ops.box_area(self.xyxy)

    def to_normalized(self) -> np.ndarray:
        """``xyxy_norm``: coordinates divided by (width, height, width, height)."""
        return box_ops.normalize_xyxy(self.xyxy, self.image_size)

    def to_xywh(self) -> np.ndarray:
        return box_ops.xyxy_to_xywh(self.xyxy)

    def tolist(self) -> list[list[float]]:
        return self.xyxy.tolist()

    def sorted_by_score(self) -> Boxes:
        """Stable sort by descending score."""
        return self[np.argsort(-self.scores, kind="stable")]

    def concat(self, other: Boxes) -> Boxes:
        if other.image_size != self.image_size:
            raise ValueError(f"cannot concatenate boxes of images {self.image_size} and {other.image_size}")
        return Boxes(
            xyxy=np.concatenate([self.xyxy, other.xyxy]),
            scores=np.concatenate([self.scores, other.scores]),
            labels=np.concatenate([self.labels, other.labels]),
            label_names=self.label_names + other.label_names,
            image_size=self.image_size,
        )

    def with_xyxy(self, xyxy: object) -> Boxes:
        """Same scores, labels and names with new coordinates (same N)."""
        return Boxes(xyxy=_as_xyxy(xyxy), scores=self.scores, labels=self.labels,
                     label_names=self.label_names, image_size=self.image_size)

    def clip(self) -> Boxes:
        """Clip coordinates into ``[0, width] x [0, height]``."""
        return self.with_xyxy(box_ops.clip_xyxy(self.xyxy, self.image_size))

    def sanitize(self) -> tuple[Boxes, SanitizeReport]:
        """Remove or repair bad boxes; the report says what happened.

        Documented behaviour, in this order:

        1. boxes with a NaN or infinite coordinate or score are dropped (``non_finite``):
           no writer may ever see a value that strict JSON cannot hold;
        2. boxes with ``x2 <= x1`` or ``y2 <= y1`` (inverted or zero area) are dropped
           (``inverted``): downstream geometry divides by box area;
        3. boxes lying entirely outside the image, or touching it only along an edge, are
           dropped (``outside``);
        4. the remaining boxes that stick out of the image are clipped to it (``clipped``).
        """
        finite = np.isfinite(self.xyxy).all(axis=1) & np.isfinite(self.scores)
        x1, y1, x2, y2 = self.xyxy.T
        with np.errstate(invalid="ignore"):
            proper = finite & (x2 > x1) & (y2 > y1)
            w, h = self.image_size
            inside = proper & (x2 > 0) & (y2 > 0) & (x1 < w) & (y1 < h)
        kept = self[inside]
        clipped = kept.clip()
        n_clipped = int((clipped.xyxy != kept.xyxy).any(axis=1).sum())
        report = SanitizeReport(
            non_finite=int((~finite).sum()),
            inverted=int((finite & ~proper).sum()),
            outside=int((proper & ~inside).sum()),
            clipped=n_clipped,
        )
        return clipped, report

