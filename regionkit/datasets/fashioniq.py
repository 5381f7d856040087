"""FashionIQ for training and evaluation (dress, shirt, toptee), as SPRC's ``FashionIQDataset``.

Layout (SPRC's ``fashionIQ_dataset`` folder)::

    <data_root>/captions/cap.<category>.<split>.json       [{candidate, target, captions: [c1, c2]}, ...]
    <data_root>/image_splits/split.<category>.<split>.json [name, ...]     (the gallery of the category)
    <data_root>/images/<name>.png                           opened as .png, as the original code does

Captions: each triplet has two relative captions.  For training SPRC picks, per triplet and
each time it is read, one of four combinations with equal probability: ``"C1 and c2"``,
``"C2 and c1"``, ``"C1"`` or ``"C2"`` (the first caption of a combination stripped of
``.?, `` at both ends and capitalised, the second only stripped); validation always uses
``"C1 and c2"``.  ``caption_mode`` picks ``"random"``, ``"joined"`` or ``"auto"`` (random for
``train``, joined otherwise).  Each category is its own gallery: a query is ranked against the
images of its category's split file only, and the reference is not removed (SPRC's protocol).
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from regionkit.datasets.base import Mode, RetrievalDataset, Triplet
from regionkit.datasets.transforms import SprcTransform
from regionkit.errors import ConfigError
from regionkit.params import MaxLength, NonEmpty, PathText, checked

__all__ = ["FashionIQDataset", "FIQ_CATEGORIES", "FIQ_LAYOUT", "join_captions", "random_caption"]

Category = Literal["dress", "shirt", "toptee"]
FIQ_CATEGORIES: tuple[Category, ...] = ("dress", "shirt", "toptee")
FIQ_LAYOUT = ("<root>/captions/cap.<category>.<split>.json, <root>/image_splits/split.<category>.<split>.json "
              "and <root>/images/<name>.png")

_STRIP = ".?, "


def join_captions(first: str, second: str) -> str:
    """``"<First> and <second>"``: SPRC's validation caption (and one of the four training ones)."""
    return f"{first.strip(_STRIP).capitalize()} and {second.strip(_STRIP)}"


def random_caption(captions: Sequence[str], rng: random.Random | None = None) -> str:
    """One of SPRC's four training combinations of two captions, each with probability 1/4."""
    c1, c2 = captions[0], captions[1]
    draw = (rng or random).random()
    if draw < 0.25:
        return join_captions(c1, c2)
    if draw < 0.5:
        return join_captions(c2, c1)
    if draw < 0.75:
        return c1.strip(_STRIP).capitalize()
    return c2.strip(_STRIP).capitalize()


def _read(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"FashionIQ {what} not found: {path}; expected layout: {FIQ_LAYOUT}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read FashionIQ {what} {path}: {type(exc).__name__}: {exc}") from None


def _triplet(entry: Any, index: int, category: str, path: Path) -> Triplet:
    where = f"FashionIQ captions {path}: entry {index}"
    if not isinstance(entry, dict) or "candidate" not in entry or "captions" not in entry:
        raise ConfigError(f"{where} must be an object with 'candidate', 'target' and 'captions'")
    caps = entry["captions"]
    if not isinstance(caps, list) or len(caps) != 2 or not all(isinstance(c, str) for c in caps):
        raise ConfigError(f"{where}: 'captions' must be a list of two strings")
    target = entry.get("target")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"{where}: 'target' must be an image name")
    return Triplet(pair_id=f"{category}/{index}", reference=str(entry["candidate"]), target=target,
                   captions=(caps[0], caps[1]), group=category)


class FashionIQDataset(RetrievalDataset):
    """FashionIQ triplets (``mode="relative"``) or gallery images (``mode="classic"``) of one split; see the module docstring.

    ``categories``: any of ``dress``, ``shirt``, ``toptee`` (SPRC trains on all three at once and
    validates each); ``box_file``: one box file keyed by image name, for every category;
    the other parameters as :class:`~regionkit.datasets.cirr.CirrDataset`.
    """

    @checked
    def __init__(self, data_root: PathText, split: Annotated[str, NonEmpty(), MaxLength(64)] = "train",
                 categories: Sequence[Category] = FIQ_CATEGORIES, mode: Mode = "relative",
                 caption_mode: Literal["auto", "random", "joined"] = "auto",
                 transform: SprcTransform | dict | None = None, box_file: PathText | None = None,
                 load_images: bool | None = None, check_images: bool = True, cache_images: bool = False,
                 image_extension: Annotated[str, MaxLength(16)] = ".png") -> None:
        if not categories:
            raise ConfigError("categories must name at least one of dress, shirt, toptee")
        self.data_root = str(data_root)
        self.split = split
        self.categories = tuple(dict.fromkeys(categories))
        self.label = f"FashionIQ {'/'.join(self.categories)} split {split!r}"
        self.caption_mode = ("random" if split == "train" else "joined") if caption_mode == "auto" else caption_mode
        root = Path(self.data_root)
        triplets: list[Triplet] = []
        galleries: dict[str, list[str]] = {}
        for category in self.categories:
            cap_file = root / "captions" / f"cap.{category}.{split}.json"
            entries = _read(cap_file, "captions")
            if not isinstance(entries, list):
                raise ConfigError(f"FashionIQ captions {cap_file} must be a JSON list")
            triplets += [_triplet(e, i, category, cap_file) for i, e in enumerate(entries)]
            split_file = root / "image_splits" / f"split.{category}.{split}.json"
            names = _read(split_file, "image list")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"FashionIQ image list {split_file} must be a JSON list of image names")
            galleries[category] = list(dict.fromkeys(names))
        every = {n for names in galleries.values() for n in names}
        every |= {n for t in triplets for n in (t.reference, t.target) if n is not None}
        paths = {n: os.path.join(self.data_root, "images", f"{n}{image_extension}") for n in sorted(every)}
        self._setup(triplets=triplets, image_paths=paths, galleries=galleries, mode=mode, load_images=load_images,
                    transform=transform, box_file=box_file, check_images=check_images, cache_images=cache_images,
                    default_load=split == "train", layout_hint=f" (expected layout: {FIQ_LAYOUT})")

    def caption(self, triplet: Triplet, index: int) -> str:
        if self.caption_mode == "random":
            return random_caption(triplet.captions)
        return join_captions(*triplet.captions[:2])
