"""The data structures every layer shares: :class:`Boxes`, box operations, and the items and results of a run.

Nothing here imports mmengine, torch or plugin code; names load on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from regionkit.structures.boxes import Boxes, SanitizeReport
    from regionkit.structures.results import ImageItem, ImageResult

__all__ = ["Boxes", "SanitizeReport", "ImageItem", "ImageResult"]

_WHERE = {"Boxes": "boxes", "SanitizeReport": "boxes", "ImageItem": "results", "ImageResult": "results"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"regionkit.structures.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'regionkit.structures' has no attribute {name!r}")
