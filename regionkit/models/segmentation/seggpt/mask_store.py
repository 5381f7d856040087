"""The masks a SegGPT detector made, kept (bounded) until the ``seggpt_masks`` writer of the same run takes them.

The runner hands a detector pixels and a writer the image's result, and offers no way to pass a
mask from one to the other (boxes are the only region output).  So the detector puts each
image's class map here, keyed by the digest of the image's pixels
(:func:`~regionkit.models.segmentation.seggpt.prompts.pixel_digest`), and the writer, which
sees the same decoded image, takes it back by the same key.  Both live in the process that runs
the detector (SegGPT is not ``parallel_safe``, so it never detects in a worker).  The store
holds at most :data:`MAX_ENTRIES` masks and :data:`MAX_BYTES` of them (class maps are uint8), dropping the
oldest, and a mask is removed when taken.

numpy only; no torch.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = ["StoredMask", "put", "take", "peek", "clear", "MAX_ENTRIES", "MAX_BYTES"]

#: masks kept at most (a run's detector batch is far smaller; older ones are dropped)
MAX_ENTRIES = 256
#: bytes of class maps kept at most (the newest mask is always kept)
MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class StoredMask:
    """One image's segmentation: class ids at the image's size, the names of ids ``1..K``, the palette."""

    class_map: np.ndarray
    class_names: tuple[str, ...]
    palette: np.ndarray


_LOCK = threading.Lock()
_STORE: OrderedDict[str, StoredMask] = OrderedDict()


def put(digest: str, mask: StoredMask) -> None:
    """Keep ``mask`` for the image with pixel digest ``digest`` (replacing an older one)."""
    with _LOCK:
        _STORE[digest] = mask
        _STORE.move_to_end(digest)
        total = sum(m.class_map.nbytes for m in _STORE.values())
        while len(_STORE) > 1 and (len(_STORE) > MAX_ENTRIES or total > MAX_BYTES):
            _, dropped = _STORE.popitem(last=False)
            total -= dropped.class_map.nbytes


def take(digest: str) -> StoredMask | None:
    """The mask kept for ``digest``, removed from the store; ``None`` if there is none."""
    with _LOCK:
        return _STORE.pop(digest, None)


def peek(digest: str) -> StoredMask | None:
    """The mask kept for ``digest``, left in the store."""
    with _LOCK:
        return _STORE.get(digest)


def clear() -> None:
    with _LOCK:
        _STORE.clear()
