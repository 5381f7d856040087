"""Gallery features for retrieval evaluation: computed once, in batches, split across ranks, and cached.

SPRC's index side runs every gallery image through the frozen ViT, ``ln_vision`` and the
Q-Former, and composes each query from the *cached* ViT output of its reference image (the
references are gallery images on CIRR).  Here:

* :class:`RetrievalAdapter` is what the evaluation needs from a model (SPRC's methods:
  ``encode_vit``, ``embed_vit_tokens``, ``target_features``, ``compose_query``, ``score``).
* :class:`GalleryFeatureCache` keeps the ViT tokens of every image it has seen, keyed by
  image name, on the CPU (fp16 when the ViT ran in fp16 on a GPU, which loses nothing).
  It stays valid while the ViT's weights are unchanged (a frozen ViT: SPRC's setting), so
  during training each validation after the first runs only ``ln_vision`` and the Q-Former;
  a trainable ViT is re-encoded every time.
* Work is split across ranks: each encodes a contiguous share of the missing images and the
  shares are all-gathered in fixed-size pieces, so every rank ends with the same full
  tensors in gallery order and memory stays bounded.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from regionkit.errors import ConfigError

__all__ = ["RetrievalAdapter", "GalleryFeatureCache", "shard_bounds", "gather_rows", "sharded_map"]

CacheDtype = Literal["auto", "float16", "bfloat16", "float32"]
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def _dist() -> tuple[int, int]:
    from mmengine.dist import get_dist_info

    rank, world = get_dist_info()
    return int(rank), int(world)


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int, int]:
    """``(start, stop, chunk)``: rank ``rank``'s contiguous share of ``n`` rows (every share padded to ``chunk``)."""
    chunk = max(1, math.ceil(n / max(1, world)))
    start = min(n, rank * chunk)
    return start, min(n, start + chunk), chunk


def gather_rows(local: Tensor, n: int, chunk: int, piece: int = 64) -> Tensor:
    """All ranks' shares (each ``local`` holds up to ``chunk`` rows) as one ``[n, ...]`` tensor on every rank.

    Gathered ``piece`` rows at a time so no rank ever holds more than ``world * piece`` extra
    rows; single-process runs return ``local`` as it is.
    """
    _rank, world = _dist()
    if world == 1:
        return local
    from mmengine.dist import all_gather

    tail = tuple(local.shape[1:])
    out = local.new_empty((world * chunk, *tail))
    for start in range(0, chunk, piece):
        stop = min(chunk, start + piece)
        part = local.new_zeros((stop - start, *tail))
        mine = local[start:stop]
        part[:mine.shape[0]] = mine
        for r, gathered in enumerate(all_gather(part)):
            out[r * chunk + start:r * chunk + stop] = gathered.to(out.device)
    return out[:n]


def sharded_map(fn: Callable[[int, int], Tensor], n: int, batch_size: int) -> Tensor:
    """``fn(start, stop)`` over this rank's share of ``n`` rows in batches, gathered into ``[n, ...]`` on every rank."""
    rank, world = _dist()
    start, stop, chunk = shard_bounds(n, rank, world)
    parts = [fn(i, min(stop, i + batch_size)) for i in range(start, stop, batch_size)]
    if parts:
        local = torch.cat(parts)
    else:  # this rank has no share (more ranks than rows): an empty tensor of the right shape
        probe = fn(0, 1)
        local = probe.new_zeros((0, *probe.shape[1:]))
    return gather_rows(local, n, chunk)


class RetrievalAdapter:
    """What evaluation needs from a retrieval model, for SPRC-like models (see the module docstring)."""

    REQUIRED = ("encode_vit", "embed_vit_tokens", "target_features", "compose_query", "score")

    def __init__(self, model: nn.Module) -> None:
        missing = [m for m in self.REQUIRED if not callable(getattr(model, m, None))]
        if missing:
            raise ConfigError(f"{type(model).__name__} cannot be evaluated for retrieval: it has no "
                              f"{', '.join(missing)} (the methods of regionkit's sprc model)")
        self.model: Any = model  # SPRC-like: the methods of REQUIRED

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def image_tokens(self, images: Tensor) -> Tensor:
        return self.model.encode_vit(images.to(self.device))

    def gallery_features(self, tokens: Tensor) -> Tensor:
        model = self.model
        return model.target_features(model.embed_vit_tokens(tokens.to(self.device).float()))

    def query_features(self, ref_tokens: Tensor, captions: Sequence[str]) -> Tensor:
        model = self.model
        return model.compose_query(model.embed_vit_tokens(ref_tokens.to(self.device).float()), list(captions))

    def score(self, queries: Tensor, gallery: Tensor) -> Tensor:
        return self.model.score(queries, gallery)

    def cache_key(self) -> tuple[Any, ...] | None:
        """A key that changes whenever the image encoder's weights do; ``None`` when it is trainable (never cached)."""
        vit = getattr(self.model, "visual_encoder", None)
        if not isinstance(vit, nn.Module):
            return None
        params = list(vit.parameters())
        if any(p.requires_grad for p in params):
            return None
        return tuple((p.data_ptr(), p._version, p.dtype, str(p.device)) for p in params)


class _Images(Dataset):
    """The images ``names`` of a retrieval dataset as tensors (for a DataLoader)."""

    def __init__(self, dataset: Any, names: Sequence[str]) -> None:
        self.dataset = dataset
        self.names = list(names)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Tensor:
        return self.dataset.load(self.names[index]).image


class GalleryFeatureCache:
    """ViT tokens of images by name (module docstring).  ``dtype``: how they are stored (``auto``: fp16 after a GPU run)."""

    def __init__(self, dtype: CacheDtype = "auto") -> None:
        if dtype not in ("auto", *_DTYPES):
            raise ConfigError(f"cache dtype must be one of auto, {', '.join(_DTYPES)}; got {dtype!r}")
        self.dtype: CacheDtype = dtype
        self.rows: dict[str, int] = {}
        self.tokens: Tensor | None = None
        self.key: tuple[Any, ...] | None = None
        self.encoded = 0  # images encoded so far (tests and logs)

    def clear(self) -> None:
        self.rows, self.tokens, self.key = {}, None, None

    def __len__(self) -> int:
        return len(self.rows)

    def _store_dtype(self, device: torch.device) -> torch.dtype:
        if self.dtype == "auto":
            return torch.float16 if device.type == "cuda" else torch.float32
        return _DTYPES[self.dtype]

    def ensure(self, adapter: RetrievalAdapter, dataset: Any, names: Sequence[str], *, batch_size: int = 32,
               num_workers: int = 0) -> None:
        """Encode the images of ``names`` not cached yet (all ranks must call this with the same ``names``)."""
        key = adapter.cache_key()
        if key is None or key != self.key:
            self.clear()
        missing = [n for n in dict.fromkeys(names) if n not in self.rows]
        if missing:
            rank, world = _dist()
            start, stop, chunk = shard_bounds(len(missing), rank, world)
            loader = DataLoader(_Images(dataset, missing[start:stop]), batch_size=batch_size, shuffle=False,
                                num_workers=num_workers)
            store = self._store_dtype(adapter.device)
            parts = []
            with torch.no_grad():
                for images in loader:
                    parts.append(adapter.image_tokens(images).to("cpu", store))
            if parts:
                local = torch.cat(parts)
            else:
                with torch.no_grad():
                    probe = adapter.image_tokens(dataset.load(missing[0]).image[None])
                local = probe.new_zeros((0, *probe.shape[1:])).to("cpu", store)
            new = gather_rows(local, len(missing), chunk)
            base = 0 if self.tokens is None else self.tokens.shape[0]
            self.tokens = new if self.tokens is None else torch.cat([self.tokens, new.to(self.tokens.dtype)])
            self.rows.update({n: base + i for i, n in enumerate(missing)})
            self.encoded += len(missing)
        self.key = adapter.cache_key()

    def get(self, names: Sequence[str]) -> Tensor:
        """The cached tokens of ``names`` ``[len(names), N, D]`` (CPU)."""
        if self.tokens is None:
            raise ConfigError("the gallery cache is empty; call ensure() first")
        try:
            index = torch.tensor([self.rows[n] for n in names], dtype=torch.long)
        except KeyError as exc:
            raise ConfigError(f"image {exc.args[0]!r} was never encoded into the gallery cache") from None
        return self.tokens.index_select(0, index)
