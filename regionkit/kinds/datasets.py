"""Datasets: sized, indexable collections (of :class:`~regionkit.ImageItem` for inference)."""
from __future__ import annotations

from collections.abc import Iterator

from regionkit.kinds.base import ContractMethod, Kind
from regionkit.structures.results import ImageItem

__all__ = ["ImageListDataset", "KIND"]


class ImageListDataset:
    """A dataset of images that is a list of :class:`~regionkit.ImageItem` (subclasses fill ``self.items``).

    Sized, indexable and iterable, in the order the images are to be processed.  ``skipped``
    lists ``(path, reason)`` for files the dataset left out (wrong extension, unreadable
    folder, broken link); the CLI reports them.
    """

    items: list[ImageItem]
    skipped: list[tuple[str, str]]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ImageItem:
        return self.items[index]

    def __iter__(self) -> Iterator[ImageItem]:
        return iter(self.items)


KIND = Kind(
    key="datasets", singular="dataset",
    contract="a sized, indexable collection of samples (ImageItem for inference)",
    methods=(ContractMethod("__len__", 0, "__len__() -> int"),
             ContractMethod("__getitem__", 1, "__getitem__(index) -> sample")),
    mmengine_parent="DATASETS",
    example_target="my_pkg.datasets:MyDataset",
)
