"""Captioners: images in, one caption each (for caption-driven selectors such as Patch Matters' main box)."""
from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from regionkit.kinds.base import ContractMethod, Kind

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BaseCaptioner", "KIND"]


class BaseCaptioner(abc.ABC):
    """Describes images in words (e.g. BLIP-2) for caption-driven selectors."""

    @abc.abstractmethod
    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        """One caption per RGB ``uint8`` image."""


KIND = Kind(
    key="captioners", singular="captioner",
    contract="caption(images: list[RGB uint8 HxWx3]) -> list[str]",
    methods=(ContractMethod("caption", 1, "caption(images) -> list[str]"),),
    base=BaseCaptioner, conformance="regionkit.devkit.conformance.language",
    example_target="my_pkg.captioners:MyCaptioner",
)
