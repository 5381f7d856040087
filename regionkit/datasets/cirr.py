"""CIRR for training and evaluation: triplets of a split (``relative``) and its gallery (``classic``).

Layout (SPRC's ``cirr_dataset`` folder, the same the ``cirr_split`` box-generation dataset reads)::

    <data_root>/cirr/captions/cap.rc2.<split>.json      [{pairid, reference, target_hard, caption, img_set: {members}}, ...]
    <data_root>/cirr/image_splits/split.rc2.<split>.json {name: "./train/34/name.png", ...}
    <data_root>/train/, dev/, test1/                       the images (CIRR's img_raw contents)

As SPRC's ``CIRRDataset``: a ``train`` triplet is (reference image, ``target_hard`` image,
caption); ``val`` gives names, caption and the image set's ``members``; ``test1`` has no
target (the metric writes the evaluation server's submission files instead).  The gallery
(``classic`` mode) is every image of the split file, reference images included, in file
order.  ``box_file`` attaches a box file of the split (``regionkit infer
configs/cirr_boxes_*.py`` writes one per split) to every image it names.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from regionkit.datasets.base import Mode, RetrievalDataset, Triplet
from regionkit.datasets.transforms import SprcTransform
from regionkit.errors import ConfigError
from regionkit.params import MaxLength, NonEmpty, PathText, checked

__all__ = ["CirrDataset", "cirr_paths", "CIRR_LAYOUT"]

CIRR_LAYOUT = ("<root>/cirr/captions/cap.rc2.<split>.json and <root>/cirr/image_splits/split.rc2.<split>.json "
               "next to the image folders <root>/train/, <root>/dev/, <root>/test1/")


def cirr_paths(root: str | os.PathLike[str], split: str) -> tuple[Path, Path]:
    """``(captions file, image list file)`` of a CIRR split under ``root``."""
    base = Path(root) / "cirr"
    return base / "captions" / f"cap.rc2.{split}.json", base / "image_splits" / f"split.rc2.{split}.json"


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"CIRR {what} not found: {path}; expected layout: {CIRR_LAYOUT}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read CIRR {what} {path}: {type(exc).__name__}: {exc}") from None


def _triplet(entry: Any, index: int, path: Path) -> Triplet:
    where = f"CIRR captions {path}: entry {index}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object, got {type(entry).__name__}")
    for key in ("pairid", "reference", "caption"):
        if key not in entry:
            raise ConfigError(f"{where} has no {key!r}")
    target = entry.get("target_hard")
    members = entry.get("img_set", {}).get("members", []) if isinstance(entry.get("img_set"), dict) else []
    if not isinstance(entry["caption"], str) or not isinstance(entry["reference"], str):
        raise ConfigError(f"{where}: 'reference' and 'caption' must be strings")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"{where}: 'target_hard' must be an image name, got {target!r:.60}")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ConfigError(f"{where}: 'img_set.members' must be a list of image names")
    return Triplet(pair_id=entry["pairid"], reference=entry["reference"], target=target,
                   captions=(entry["caption"],), members=tuple(members))


class CirrDataset(RetrievalDataset):
    """CIRR triplets (``mode="relative"``) or gallery images (``mode="classic"``) of one split; see the module docstring.

    ``data_root``: the CIRR folder; ``split``: ``train``, ``val`` or ``test1``; ``transform``:
    :class:`~regionkit.datasets.transforms.SprcTransform` parameters (SPRC's TargetPad 1.25 at
    224 px by default); ``box_file``: a box file of this split; ``load_images``: return image
    tensors with each triplet (default: only for ``train``); ``check_images``: check every
    image file exists when the dataset is built; ``cache_images``: keep transformed images
    in memory (small datasets); ``max_triplets``: use the first N triplets only.
    """

    @checked
    def __init__(self, data_root: PathText, split: Annotated[str, NonEmpty(), MaxLength(64)] = "train",
                 mode: Mode = "relative", transform: SprcTransform | dict | None = None,
                 box_file: PathText | None = None, load_images: bool | None = None, check_images: bool = True,
                 cache_images: bool = False, max_triplets: int | None = None) -> None:
        if "/" in split or "\\" in split:
            raise ConfigError(f"split must be a CIRR split name such as 'train', 'val' or 'test1', got {split!r}")
        self.data_root = str(data_root)
        self.split = split
        self.label = f"CIRR split {split!r}"
        captions_file, images_file = cirr_paths(data_root, split)
        image_list = _read_json(images_file, "image list")
        if not isinstance(image_list, dict) or not image_list:
            raise ConfigError(f"CIRR image list {images_file} must be a non-empty JSON object {{name: relpath}}")
        paths = {str(name): os.path.join(self.data_root, str(rel)) for name, rel in image_list.items()}
        captions = _read_json(captions_file, "captions")
        if not isinstance(captions, list):
            raise ConfigError(f"CIRR captions {captions_file} must be a JSON list of triplets")
        triplets = [_triplet(entry, i, captions_file) for i, entry in enumerate(captions)]
        if max_triplets is not None:
            triplets = triplets[:max(0, int(max_triplets))]
        self._setup(triplets=triplets, image_paths=paths, galleries={"all": list(paths)}, mode=mode,
                    load_images=load_images, transform=transform, box_file=box_file, check_images=check_images,
                    cache_images=cache_images, default_load=split == "train",
                    layout_hint=f" (under {self.data_root}; expected layout: {CIRR_LAYOUT})")
