"""The shared machinery of composed-retrieval datasets: triplets, galleries, image loading, boxes.

A composed-retrieval split is a list of :class:`Triplet` s (reference image, caption(s),
target image, and for CIRR the image set the subset metric ranks within) and one or more
*galleries* (the images a query is ranked against; FashionIQ has one per category).
:class:`RetrievalDataset` serves it in two modes, as SPRC's datasets do:

* ``mode="relative"``: one item per triplet.  With ``load_images`` (the default for a
  training split) the item holds ``ref_image`` / ``tgt_image`` tensors and their boxes;
  otherwise only names and the caption (validation: the images come from the gallery
  features, see :mod:`regionkit.evaluation.gallery`).
* ``mode="classic"``: one item per gallery image (``name``, ``image``, ``boxes``), every
  gallery concatenated, in file order.  For CIRR the gallery holds the reference images too.

Every image a split refers to is checked when the dataset is built: missing files are one
``ConfigError`` that gives the count and the first few paths, before any training starts.
Items are plain dicts; :func:`~regionkit.datasets.collate.retrieval_collate` batches them.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch.utils.data import Dataset

from regionkit.datasets.boxes import BoxLookup
from regionkit.datasets.transforms import SprcTransform, TransformedImage, build_transform, open_image
from regionkit.errors import ConfigError

__all__ = ["Triplet", "RetrievalDataset", "Mode", "missing_files_message"]

Mode = Literal["relative", "classic"]


@dataclass(frozen=True)
class Triplet:
    """One query: ``reference`` and ``target`` image names (``target`` ``None`` on a test split without answers),
    the raw ``captions`` (CIRR: one; FashionIQ: two), ``members`` (CIRR's image set, for the subset metric),
    ``group`` (the gallery it is ranked in) and ``pair_id``."""

    pair_id: int | str
    reference: str
    target: str | None
    captions: tuple[str, ...]
    members: tuple[str, ...] = ()
    group: str = "all"


def missing_files_message(missing: Sequence[str], total: int, what: str, hint: str = "", shown: int = 3) -> str:
    """``N of M <what> are missing: a, b, c, ...<hint>`` (one line)."""
    head = ", ".join(str(m) for m in missing[:shown]) + (", ..." if len(missing) > shown else "")
    return f"{len(missing)} of {total} {what} {'is' if len(missing) == 1 else 'are'} missing: {head}{hint}"


class RetrievalDataset(Dataset):
    """Base class (see the module docstring); subclasses call :meth:`_setup` with the parsed split."""

    #: what the dataset is, for messages (``"CIRR split 'val'"``)
    label: str = "dataset"

    triplets: list[Triplet]
    image_paths: dict[str, str]
    galleries: dict[str, list[str]]

    def _setup(self, *, triplets: list[Triplet], image_paths: dict[str, str], galleries: dict[str, list[str]],
               mode: Mode, load_images: bool | None, transform: SprcTransform | dict | None,
               box_file: str | os.PathLike[str] | None, check_images: bool, cache_images: bool,
               default_load: bool, layout_hint: str = "") -> None:
        if mode not in ("relative", "classic"):
            raise ConfigError(f"{self.label}: mode must be 'relative' (triplets) or 'classic' (gallery images), "
                              f"got {mode!r}")
        self.mode: Mode = mode
        self.triplets = triplets
        self.image_paths = image_paths
        self.galleries = galleries
        self.load_images = default_load if load_images is None else bool(load_images)
        self.transform = build_transform(transform)
        self.cache_images = bool(cache_images)
        self._cache: dict[str, TransformedImage] = {}
        self._gallery_index = [(group, name) for group, names in galleries.items() for name in names]
        self._check_names()
        if check_images:
            self.check_images(layout_hint)
        self.boxes = BoxLookup.from_file(box_file)
        self.boxes.attach(self.used_images(), what=f"images of the {self.label}")

    # ------------------------------------------------------------------ checks
    def _check_names(self) -> None:
        unknown = sorted({n for t in self.triplets for n in (t.reference, t.target, *t.members)
                          if n is not None and n not in self.image_paths})
        if unknown:
            raise ConfigError(f"{self.label}: {len(unknown)} image name(s) in the captions are not in the image "
                              f"list, e.g. {', '.join(unknown[:3])}")
        for group, names in self.galleries.items():
            absent = [n for n in names if n not in self.image_paths]
            if absent:
                raise ConfigError(f"{self.label}: gallery {group!r} names unknown images, e.g. {', '.join(absent[:3])}")

    def used_images(self) -> list[str]:
        """Every image name this dataset reads in its mode (the gallery, plus references and targets), in order."""
        names: dict[str, None] = {}
        if self.mode == "classic" or not self.load_images:
            names.update((n, None) for _, n in self._gallery_index)
        if self.mode == "relative":
            for t in self.triplets:
                names[t.reference] = None
                if t.target is not None:
                    names[t.target] = None
        return list(names)

    def check_images(self, hint: str = "") -> None:
        """Raise one ``ConfigError`` naming the first few missing image files and their count."""
        used = self.used_images()
        missing = [self.image_paths[n] for n in used if not os.path.isfile(self.image_paths[n])]
        if missing:
            raise ConfigError(f"{self.label}: " + missing_files_message(missing, len(used), "images", hint))

    # ------------------------------------------------------------------ images
    def load(self, name: str) -> TransformedImage:
        """The transformed image ``name`` with its boxes mapped onto the model input."""
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        image = open_image(self.image_paths[name])
        out = self.transform(image, self.boxes.get(name))
        if self.cache_images:
            self._cache[name] = out
        return out

    def caption(self, triplet: Triplet, index: int) -> str:
        """The caption of a triplet as the model sees it (subclasses: FashionIQ joins two)."""
        return triplet.captions[0]

    # ------------------------------------------------------------------ gallery
    def gallery(self) -> dict[str, list[str]]:
        """``{group: [image names]}``: what each query is ranked against (CIRR: one group with every image of the split)."""
        return {group: list(names) for group, names in self.galleries.items()}

    def gallery_dataset(self) -> RetrievalDataset:
        """The same split in ``classic`` mode (one item per gallery image), sharing the parsed files and the cache."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.mode = "classic"
        return view

    @property
    def metainfo(self) -> dict[str, Any]:
        """What mmengine stores in checkpoints as ``dataset_meta`` (plain values only)."""
        return {"dataset": type(self).__name__, "label": self.label, "triplets": len(self.triplets),
                "gallery_images": len(self._gallery_index)}

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self.triplets) if self.mode == "relative" else len(self._gallery_index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.mode == "classic":
            group, name = self._gallery_index[index]
            image = self.load(name)
            out = {"name": name, "group": group, "image": image.image, "image_size": image.size}
            if image.boxes is not None:
                out["boxes"] = image.boxes
            return out
        triplet = self.triplets[index]
        item: dict[str, Any] = {"pair_id": triplet.pair_id, "reference": triplet.reference, "target": triplet.target,
                                "caption": self.caption(triplet, index), "members": list(triplet.members),
                                "group": triplet.group}
        if self.load_images:
            sides = [("ref", triplet.reference)] + ([("tgt", triplet.target)] if triplet.target is not None else [])
            for side, name in sides:
                image = self.load(name)
                item[f"{side}_image"] = image.image
                item[f"{side}_image_size"] = image.size
                if image.boxes is not None:
                    item[f"{side}_boxes"] = image.boxes
        return item

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label}, mode={self.mode!r}, items={len(self)})"
