"""Batch retrieval items (:class:`~regionkit.datasets.base.RetrievalDataset`) into the model's input dict.

``retrieval_collate(items)`` returns ``{"inputs": {...}, "data_samples": [...]}``, the form
mmengine's ``BaseModel.train_step`` passes on as ``model(**batch, mode=...)``:

* ``inputs``: ``ref_images`` / ``tgt_images`` ``[B, 3, S, S]`` (stacked), ``captions`` (list of
  strings), ``ref_boxes`` / ``tgt_boxes`` (a list of ``[K_i, 4]`` tensors: box counts vary per
  image, also 0; only when the dataset attaches a box file), for gallery items ``images`` and
  ``boxes``;
* ``data_samples``: one dict per item with everything else (names, pair id, members, group,
  original image sizes).

Boxes are already mapped onto the model input by the dataset's transform, so no image sizes
are passed to the model.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from regionkit.errors import ConfigError

__all__ = ["retrieval_collate"]

_STACKED = {"ref_image": "ref_images", "tgt_image": "tgt_images", "image": "images"}
_LISTED = {"ref_boxes": "ref_boxes", "tgt_boxes": "tgt_boxes", "boxes": "boxes", "caption": "captions"}


def retrieval_collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"inputs": ..., "data_samples": ...}`` from dataset items (see the module docstring)."""
    if not items:
        raise ConfigError("cannot collate an empty batch")
    keys = set(items[0])
    for i, item in enumerate(items[1:], start=1):
        if set(item) & (set(_STACKED) | set(_LISTED)) != keys & (set(_STACKED) | set(_LISTED)):
            raise ConfigError(f"batch items differ in their fields (item 0 has {sorted(keys)}, item {i} has "
                              f"{sorted(item)}); a dataset must give every item the same fields")
    inputs: dict[str, Any] = {}
    for key, out in _STACKED.items():
        if key in keys:
            inputs[out] = torch.stack([item[key] for item in items])
    for key, out in _LISTED.items():
        if key in keys:
            inputs[out] = [item[key] for item in items]
    samples = [{k: v for k, v in item.items() if (k not in _STACKED and k not in _LISTED) or k == "caption"}
               for item in items]
    return {"inputs": inputs, "data_samples": samples}
