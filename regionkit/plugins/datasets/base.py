"""The item every dataset yields, and a base class for datasets that are a list of items."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

__all__ = ["ImageItem", "ItemListDataset"]


@dataclass(frozen=True)
class ImageItem:
    """One image to process.

    ``path`` is what the file is opened with (the dataset root as given, joined with
    ``rel_path``); ``rel_path`` is unique within the dataset and keys the run's journal;
    ``name`` is the dataset's identifier for the image (defaults to ``rel_path``); ``meta``
    holds extras such as a COCO ``image_id``.
    """

    path: str
    rel_path: str
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.rel_path)



class ItemListDataset:
    """Sized, indexable and iterable over ``self.items`` (subclasses fill it in ``__init__``)."""

    items: list[ImageItem]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ImageItem:
        return self.items[index]

    def __iter__(self) -> Iterator[ImageItem]:
        return iter(self.items)
