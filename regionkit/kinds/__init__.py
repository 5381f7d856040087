"""The kinds of components regionkit knows: one module per kind, each declaring its :class:`Kind` and base class.

:data:`KINDS` maps each kind's key (``detectors``, ``box_selectors``, ...) to its
:class:`Kind`.  Importing this package imports only these small modules (no numpy,
mmengine or torch).
"""
from __future__ import annotations

from regionkit.kinds import (
    box_selectors,
    captioners,
    datasets,
    detectors,
    hooks,
    losses,
    matchers,
    metrics,
    models,
    writers,
)
from regionkit.kinds.base import ENTRY_POINT_PREFIX, LIFECYCLE_GROUP, ContractMethod, Kind, Trait
from regionkit.kinds.box_selectors import BaseBoxSelector
from regionkit.kinds.captioners import BaseCaptioner
from regionkit.kinds.datasets import ImageListDataset
from regionkit.kinds.detectors import BaseDetector
from regionkit.kinds.matchers import BaseMatcher
from regionkit.kinds.writers import BaseWriter

__all__ = ["Kind", "ContractMethod", "Trait", "KINDS", "ENTRY_POINT_PREFIX", "LIFECYCLE_GROUP", "normalize_kind",
           "DETECTOR", "BOX_SELECTOR", "WRITER", "CAPTIONER", "MATCHER", "DATASET", "LOSS",
           "BaseDetector", "BaseBoxSelector", "BaseWriter", "BaseCaptioner", "BaseMatcher", "ImageListDataset"]

DETECTOR: Kind = detectors.KIND
BOX_SELECTOR: Kind = box_selectors.KIND
WRITER: Kind = writers.KIND
CAPTIONER: Kind = captioners.KIND
MATCHER: Kind = matchers.KIND
DATASET: Kind = datasets.KIND
LOSS: Kind = losses.KIND

#: every kind, in the order ``regionkit list`` shows them
KINDS: dict[str, Kind] = {k.key: k for k in (
    detectors.KIND, box_selectors.KIND, losses.KIND, models.KIND, datasets.KIND, writers.KIND, metrics.KIND,
    hooks.KIND, captioners.KIND, matchers.KIND,
)}

_ALIASES = {k.label: k.key for k in KINDS.values()}
_ALIASES.update({alias.replace("-", "_"): k.key for k in KINDS.values() for alias in k.aliases})


def normalize_kind(name: str) -> str | None:
    """Map ``detector``/``detectors``/``selectors``/... to a key of :data:`KINDS`, else ``None``."""
    key = name.strip().lower().replace("-", "_")
    if key in KINDS:
        return key
    return _ALIASES.get(key)
