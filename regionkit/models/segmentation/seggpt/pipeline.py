"""One query image through SegGPT: prompts chosen, painted, predicted (tiled), decoded by nearest palette colour.

:class:`SegGptSegmenter` ties the parts together; the ``seggpt`` detector plugin builds it from
its parameters and turns each :class:`Segmentation` into boxes
(:func:`~regionkit.models.segmentation.seggpt.masks_to_boxes.masks_to_boxes`).

Decoding happens on the working canvas (the model's resolution times ``split``), and the class
map and margins are then resized to the original image by nearest neighbour: the same result as
resizing the colour map first and decoding after (what transformers' post-processing does), at a
fraction of the memory.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regionkit.models.segmentation.seggpt.canvas import ClassTable, resize_nearest, to_rgb
from regionkit.models.segmentation.seggpt.model import SegGptNet
from regionkit.models.segmentation.seggpt.palette import decode, unnormalize
from regionkit.models.segmentation.seggpt.prompts import PromptLibrary, PromptPair
from regionkit.models.segmentation.seggpt.tiling import PromptBatch, predict_tiled, prepare_prompts

__all__ = ["Segmentation", "SegGptSegmenter"]


@dataclass(frozen=True)
class Segmentation:
    """One image's result: class ids and decoding margins at the image's size, and the prompts used (names)."""

    class_map: np.ndarray
    margin: np.ndarray
    prompts: tuple[str, ...]


class SegGptSegmenter:
    """Segments query images with prompts from ``selection`` (anything with ``select(image, digest) -> [PromptPair]``)."""

    def __init__(self, net: SegGptNet, library: PromptLibrary, selection: Any, table: ClassTable,
                 palette: np.ndarray, *, split: int = 1, seam_pass: bool = True, stitch_width: int = 4,
                 tile_prompts: bool = True, cache_size: int = 8) -> None:
        self.net, self.library, self.selection = net, library, selection
        self.table, self.palette = table, np.asarray(palette, dtype=np.uint8)
        self.split, self.seam_pass, self.stitch_width, self.tile_prompts = split, seam_pass, stitch_width, tile_prompts
        self._batches: OrderedDict[tuple[str, ...], PromptBatch] = OrderedDict()
        self._maps: dict[str, np.ndarray] = {}
        self.cache_size = cache_size

    def class_map(self, pair: PromptPair) -> np.ndarray:
        """The prompt's mask as class ids (read once)."""
        if pair.name not in self._maps:
            raw = self.library.load(pair)[1]
            self._maps[pair.name] = self.table.class_map(raw, str(pair.mask))
        return self._maps[pair.name]

    def prompt_batch(self, pairs: Sequence[PromptPair]) -> PromptBatch:
        key = tuple(p.name for p in pairs)
        if key in self._batches:
            self._batches.move_to_end(key)
            return self._batches[key]
        images = [self.library.load(p)[0] for p in pairs]
        maps = [self.class_map(p) for p in pairs]
        batch = prepare_prompts(images, maps, self.palette, self.net.image_size, self.split, self.tile_prompts)
        self._batches[key] = batch
        while len(self._batches) > self.cache_size:
            self._batches.popitem(last=False)
        return batch

    def colours(self, image: np.ndarray, pairs: Sequence[PromptPair]) -> np.ndarray:
        """The predicted colour map ``(split * h, split * w, 3)`` on the 0..255 scale."""
        canvas = predict_tiled(self.net, image, self.prompt_batch(pairs), self.split, self.stitch_width,
                               self.seam_pass and self.split > 1)
        return unnormalize(canvas)

    def segment(self, image: np.ndarray, digest: str) -> Segmentation:
        """Class ids and margins of one RGB (or grey/RGBA) uint8 image at its own size."""
        rgb = to_rgb(image)
        pairs = self.selection.select(rgb, digest)
        ids, margin = decode(self.colours(rgb, pairs), self.palette)
        h, w = rgb.shape[:2]
        return Segmentation(resize_nearest(ids.astype(np.uint8), (h, w)), resize_nearest(margin, (h, w)),
                            tuple(p.name for p in pairs))
