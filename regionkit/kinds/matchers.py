"""Matchers: which detected class names does a caption mention?"""
from __future__ import annotations

import abc
from collections.abc import Sequence

from regionkit.kinds.base import ContractMethod, Kind

__all__ = ["BaseMatcher", "KIND"]


class BaseMatcher(abc.ABC):
    """Chooses which detected class names a caption mentions (e.g. an LLM prompt)."""

    @abc.abstractmethod
    def match(self, caption: str, class_names: Sequence[str]) -> list[str]:
        """The subset of ``class_names`` the caption refers to (may be empty)."""


KIND = Kind(
    key="matchers", singular="matcher",
    contract="match(caption: str, class_names: list[str]) -> list[str]",
    methods=(ContractMethod("match", 2, "match(caption, class_names) -> list[str]"),),
    base=BaseMatcher, conformance="regionkit.devkit.conformance.language",
    example_target="my_pkg.matchers:MyMatcher",
)
