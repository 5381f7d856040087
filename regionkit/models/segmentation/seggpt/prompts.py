"""Which prompts SegGPT gets for a query: a fixed set, a mapping file, or the top-k most similar pool images.

**Prompt pairs.**  A prompt is an image and its mask.  The pool is built from ``prompts`` (each
an image path, or an ``[image, mask]`` pair) and ``prompt_dir`` (a folder in the forks' layout,
``images/`` beside ``labels/``, every image with a mask).  An image's mask is found
(:func:`find_mask`) in ``label_dir`` (same file name, or the same stem with ``.png``), else in a
``labels`` folder beside its ``images`` folder, else as ``<stem>_mask.png`` beside it.  A prompt's
*name* is its path relative to ``prompt_dir/images`` or, for listed prompts, its file name
(its path as given when two listed prompts share a file name).

**Selection** (``select=``):

``fixed``
    every prompt of the pool, for every query, in the order given.
``mapping``
    a JSON file ``{query: [prompt, ...]}``, best first, as the fine-tuners used (hand-made, or
    the OEM repository's CLIP top-10), cut to ``top_k``.  Prompt entries are pool names, or paths
    (absolute, or relative to the mapping file's folder).  Query keys are paths relative to
    ``query_root`` (or bare file names found in it), or ``sha256:...`` pixel keys.  A query the
    mapping does not list fails with a one-line reason.
``similarity``
    the ``top_k`` pool prompts whose image features are most cosine-similar to the query's
    (any :class:`~regionkit.models.segmentation.seggpt.encoders.ImageEncoder`), ties in pool
    order; a pool image with the query's exact pixels never prompts itself.  The choices are
    written to ``mapping_out`` in the mapping format (an existing file is merged into, so a
    resumed run keeps the earlier entries), ready to be reused with ``select='mapping'``.

**Query names.**  A detector sees pixels, not file names, so a query is recognised by a digest
of its decoded pixels (:func:`pixel_digest`): the files under ``query_root`` are indexed by their
header size first and decoded (with the same decoder the run uses) only when a query of the same
size arrives.  Without ``query_root`` the mapping written out is keyed by ``sha256:`` pixel keys,
which ``select='mapping'`` reads back as well.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from regionkit.errors import ConfigError

__all__ = ["PromptPair", "IMAGE_SUFFIXES", "find_mask", "prompt_pool", "PromptLibrary", "pixel_digest",
           "read_mapping", "write_mapping", "cosine_top_k", "QueryNames", "FixedSelection", "MappingSelection",
           "SimilaritySelection", "DIGEST_PREFIX"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True)
class PromptPair:
    """One prompt: its name (the key mappings use), image file and mask file."""

    name: str
    image: Path
    mask: Path


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def find_mask(image: Path, label_dir: Path | None = None) -> Path:
    """The mask file of prompt ``image`` by the rules in the module docstring; a one-line ConfigError if none."""
    names = [image.name] + ([f"{image.stem}.png"] if image.suffix.lower() != ".png" else [])
    tried: list[Path] = []
    if label_dir is not None:
        tried += [label_dir / n for n in names]
    if image.parent.name == "images":
        tried += [image.parent.parent / "labels" / n for n in names]
    tried.append(image.with_name(f"{image.stem}_mask.png"))
    for path in tried:
        if path.is_file() and path.resolve() != image.resolve():
            return path
    shown = ", ".join(str(t) for t in tried[:4])
    raise ConfigError(f"no mask for prompt image {image} (looked for {shown}); give it as [image, mask] or set "
                      f"detector.prompt_label_dir")


def _listed_pairs(entries: Sequence[Any], label_dir: Path | None) -> list[tuple[Path, Path, str]]:
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, (str, os.PathLike)):
            text = os.fspath(entry)
            if text.startswith("[") and text.endswith("]"):
                raise ConfigError(f"prompts[{i}] is the text {text!r}; write a list with quoted paths, e.g. "
                                  f"-o \"detector.prompts=['a.png','b.png']\"")
            image = Path(text).expanduser()
            mask = None
        else:
            if len(entry) != 2:
                raise ConfigError(f"prompts[{i}] must be an image path or an [image, mask] pair, got {len(entry)} items")
            image, mask = Path(os.fspath(entry[0])).expanduser(), Path(os.fspath(entry[1])).expanduser()
        if not image.is_file():
            raise ConfigError(f"prompt image not found: {image}" + ("" if image.is_absolute() else
                                                                   f" (resolved to {image.resolve()})"))
        if mask is None:
            mask = find_mask(image, label_dir)
        elif not mask.is_file():
            raise ConfigError(f"prompt mask not found: {mask} (for prompt image {image})")
        out.append((image, mask, str(entry if isinstance(entry, (str, os.PathLike)) else entry[0])))
    return out


def prompt_pool(entries: Sequence[Any] = (), label_dir: str | os.PathLike[str] | None = None,
                prompt_dir: str | os.PathLike[str] | None = None) -> list[PromptPair]:
    """The prompt pool: listed prompts first, then every image of ``prompt_dir`` that has a mask."""
    labels = None if label_dir is None else Path(label_dir).expanduser()
    if labels is not None and not labels.is_dir():
        raise ConfigError(f"prompt_label_dir is not a folder: {labels}")
    listed = _listed_pairs(entries, labels)
    basenames = [image.name for image, _, _ in listed]
    pool = [PromptPair(image.name if basenames.count(image.name) == 1 else given, image, mask)
            for image, mask, given in listed]
    if prompt_dir is not None:
        root = Path(prompt_dir).expanduser()
        if not root.is_dir():
            raise ConfigError(f"prompt_dir is not a folder: {root}")
        images = root / "images" if (root / "images").is_dir() else root
        found = sorted(p for p in images.rglob("*") if p.is_file() and _is_image(p)
                       and not p.stem.endswith("_mask") and "labels" not in p.relative_to(images).parts)
        taken = {p.name for p in pool}
        for image in found:
            try:
                mask = find_mask(image, labels)
            except ConfigError:
                continue  # an image without a mask is not a prompt
            name = image.relative_to(images).as_posix()
            if name not in taken:
                pool.append(PromptPair(name, image, mask))
                taken.add(name)
        if len(pool) == len(listed):
            raise ConfigError(f"prompt_dir {root} holds no image with a mask (expected images/ and labels/ with the "
                              f"same file names)")
    return pool


class PromptLibrary:
    """The pool by name, with its files read on demand (a small cache of decoded pairs)."""

    def __init__(self, pool: Sequence[PromptPair], cache_size: int = 64) -> None:
        self.pairs = list(pool)
        self.by_name = {p.name: p for p in self.pairs}
        self._by_base: dict[str, list[PromptPair]] = {}
        for p in self.pairs:
            self._by_base.setdefault(p.image.name, []).append(p)
        self._cache: OrderedDict[Path, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.cache_size = cache_size

    def __len__(self) -> int:
        return len(self.pairs)

    def resolve(self, entry: str, base: Path | None = None, label_dir: Path | None = None) -> PromptPair:
        """A mapping's prompt entry as a pair: a pool name, a unique pool file name, or a path to an image."""
        if entry in self.by_name:
            return self.by_name[entry]
        same = self._by_base.get(Path(entry).name, [])
        if len(same) == 1 and "/" not in entry:
            return same[0]
        for candidate in ([base / entry] if base is not None else []) + [Path(entry).expanduser()]:
            if candidate.is_file():
                pair = PromptPair(entry, candidate, find_mask(candidate, label_dir))
                self.by_name[entry] = pair
                return pair
        raise ConfigError(f"mapping names prompt {entry!r}, which is neither in the prompt pool nor a file"
                          + (f" (looked in {base})" if base is not None else ""))

    def load(self, pair: PromptPair) -> tuple[np.ndarray, np.ndarray]:
        """``(RGB uint8 image, raw mask pixels)`` of ``pair``; a one-line ConfigError for unreadable files."""
        from regionkit.io.images import ImageLoadError, load_rgb
        from regionkit.models.segmentation.seggpt.canvas import read_mask_file

        if pair.image in self._cache:
            self._cache.move_to_end(pair.image)
            return self._cache[pair.image]
        try:
            image = load_rgb(pair.image)
        except ImageLoadError as exc:
            raise ConfigError(f"cannot read prompt image {pair.image}: {exc}") from None
        raw = read_mask_file(pair.mask)
        if raw.shape[:2] != image.shape[:2]:
            raise ConfigError(f"prompt mask {pair.mask} is {raw.shape[1]}x{raw.shape[0]} but its image {pair.image} "
                              f"is {image.shape[1]}x{image.shape[0]}")
        self._cache[pair.image] = (image, raw)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return image, raw


def pixel_digest(image: np.ndarray) -> str:
    """``sha256:<hex>`` of an image's decoded pixels and shape (how a query is recognised without its file name)."""
    arr = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{arr.shape}{arr.dtype}".encode())
    digest.update(arr.tobytes())
    return DIGEST_PREFIX + digest.hexdigest()


# ---------------------------------------------------------------------- mapping files
def read_mapping(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """A mapping file ``{query: [prompt, ...]}``; one-line ConfigErrors for anything else."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"prompt mapping file not found: {p}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read prompt mapping {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"prompt mapping {p} must be a JSON object {{query: [prompt, ...]}}, got a {type(data).__name__}")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"prompt mapping {p}: the entry for {key!r} must be a non-empty list of prompt names")
        out[str(key)] = list(value)
    return out


def write_mapping(path: str | os.PathLike[str], mapping: Mapping[str, Sequence[str]]) -> Path:
    """Write ``mapping`` atomically as indented JSON (keys in the given order, lists best first)."""
    from regionkit.io.atomic import atomic_open

    p = Path(path).expanduser()
    with atomic_open(p) as fh:
        fh.write(json.dumps({k: list(v) for k, v in mapping.items()}, indent=2, ensure_ascii=False) + "\n")
    return p


def cosine_top_k(query: np.ndarray, pool: np.ndarray, k: int, exclude: Iterable[int] = ()) -> list[int]:
    """Indices of the ``k`` rows of ``pool`` most cosine-similar to ``query``, best first; ties in pool order."""
    q = np.asarray(query, dtype=np.float64).reshape(-1)
    m = np.asarray(pool, dtype=np.float64).reshape(len(pool), -1)
    sims = (m @ q) / np.maximum(np.linalg.norm(m, axis=1) * np.linalg.norm(q), 1e-12)
    sims = np.round(sims, 12)  # equal features tie exactly, whatever the summation order
    skip = set(exclude)
    order = [int(i) for i in np.argsort(-sims, kind="stable") if int(i) not in skip]
    return order[:k]


# ---------------------------------------------------------------------- query names
class QueryNames:
    """Recognises query images by their pixels among the files under ``root`` (see the module docstring).

    ``keys`` limits the index to those relative paths (or bare file names); ``None`` indexes
    every image file under ``root``.
    """

    def __init__(self, root: str | os.PathLike[str] | None, keys: Iterable[str] | None = None) -> None:
        self.root = None if root is None else Path(root).expanduser()
        if self.root is not None and not self.root.is_dir():
            raise ConfigError(f"query_root is not a folder: {self.root}")
        self.keys = None if keys is None else [k for k in keys if not k.startswith(DIGEST_PREFIX)]
        self._by_size: dict[tuple[int, int], list[str]] | None = None
        self._by_digest: dict[str, str] = {}
        self._done: set[str] = set()

    def _files(self) -> list[str]:
        assert self.root is not None
        if self.keys is None:
            return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                          if p.is_file() and _is_image(p))
        out = []
        for key in self.keys:
            if (self.root / key).is_file():
                out.append(key)
            else:
                out.extend(p.relative_to(self.root).as_posix() for p in self.root.rglob(Path(key).name)
                           if p.is_file())
        return out

    def _index(self) -> dict[tuple[int, int], list[str]]:
        from regionkit.io.images import image_size

        if self._by_size is None:
            self._by_size = {}
            if self.root is not None:
                for rel in self._files():
                    size = image_size(self.root / rel)
                    if size is not None:
                        self._by_size.setdefault(size, []).append(rel)
        return self._by_size

    def name_of(self, image: np.ndarray, digest: str | None = None) -> str | None:
        """The relative path of the file under ``root`` holding exactly these pixels, or ``None``."""
        from regionkit.io.images import ImageLoadError, load_rgb

        digest = digest or pixel_digest(image)
        if digest in self._by_digest or self.root is None:
            return self._by_digest.get(digest)
        for rel in self._index().get((int(image.shape[1]), int(image.shape[0])), []):
            if rel in self._done:
                continue
            self._done.add(rel)
            try:
                self._by_digest.setdefault(pixel_digest(load_rgb(self.root / rel)), rel)
            except ImageLoadError:
                continue
            if digest in self._by_digest:
                return self._by_digest[digest]
        return None


# ---------------------------------------------------------------------- selections
class FixedSelection:
    """Every pool prompt for every query."""

    def __init__(self, library: PromptLibrary) -> None:
        if not len(library):
            raise ConfigError("no prompts: give detector.prompts (image paths or [image, mask] pairs) or "
                              "detector.prompt_dir")
        self.library = library

    def select(self, image: np.ndarray, digest: str) -> list[PromptPair]:
        return list(self.library.pairs)


class MappingSelection:
    """The mapping file's prompts for the query, best first, cut to ``top_k``."""

    def __init__(self, library: PromptLibrary, mapping_path: str | os.PathLike[str], top_k: int,
                 query_root: str | os.PathLike[str] | None, label_dir: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(mapping_path).expanduser()
        self.mapping = read_mapping(self.path)
        self.library, self.top_k = library, top_k
        self.label_dir = None if label_dir is None else Path(label_dir).expanduser()
        by_name = {k: v for k, v in self.mapping.items() if not k.startswith(DIGEST_PREFIX)}
        if by_name and query_root is None:
            raise ConfigError(f"prompt mapping {self.path} is keyed by file names: set detector.query_root to the "
                              f"folder of the query images (usually the same as --images)")
        self.names = QueryNames(query_root, by_name)
        self._base = {Path(k).name: k for k in by_name}

    def select(self, image: np.ndarray, digest: str) -> list[PromptPair]:
        key = digest if digest in self.mapping else self.names.name_of(image, digest)
        if key is not None and key not in self.mapping:
            key = self._base.get(Path(key).name, key)
        if key is None or key not in self.mapping:
            raise ValueError(f"the query is not in the prompt mapping {self.path.name}"
                             + (f" ({key})" if key else " (no file under query_root has these pixels)"))
        return [self.library.resolve(e, self.path.parent, self.label_dir) for e in self.mapping[key][:self.top_k]]


class SimilaritySelection:
    """The ``top_k`` most similar pool prompts by image-feature cosine similarity; the choices written out."""

    def __init__(self, library: PromptLibrary, encoder: Any, top_k: int,
                 query_root: str | os.PathLike[str] | None = None,
                 mapping_out: str | os.PathLike[str] | None = None, flush_seconds: float = 5.0) -> None:
        if not len(library):
            raise ConfigError("select='similarity' needs a prompt pool: detector.prompts or detector.prompt_dir")
        self.library, self.encoder, self.top_k = library, encoder, top_k
        self.names = QueryNames(query_root) if query_root is not None else None
        self.mapping_out = None if mapping_out is None else Path(mapping_out).expanduser()
        self.written: dict[str, list[str]] = {}
        if self.mapping_out is not None and self.mapping_out.is_file():
            self.written = read_mapping(self.mapping_out)
        self.flush_seconds = flush_seconds
        self._last_flush = 0.0
        self._dirty = False
        self._features: np.ndarray | None = None
        self._digests: list[str] = []

    def _pool_features(self) -> np.ndarray:
        if self._features is None:
            images = [self.library.load(p)[0] for p in self.library.pairs]
            self._digests = [pixel_digest(im) for im in images]
            self._features = np.asarray(self.encoder.encode_images(images), dtype=np.float64)
            if self._features.shape[0] != len(images):
                raise ValueError(f"the image encoder returned {self._features.shape[0]} feature rows for "
                                 f"{len(images)} images")
        return self._features

    def select(self, image: np.ndarray, digest: str) -> list[PromptPair]:
        pool = self._pool_features()
        query = np.asarray(self.encoder.encode_images([image]), dtype=np.float64)[0]
        own = [i for i, d in enumerate(self._digests) if d == digest]
        chosen = [self.library.pairs[i] for i in cosine_top_k(query, pool, self.top_k, exclude=own)]
        if not chosen:
            raise ValueError("no prompt left to choose: the only pool image is the query itself")
        if self.mapping_out is not None:
            name = self.names.name_of(image, digest) if self.names is not None else None
            self.written[name or digest] = [p.name for p in chosen]
            self._dirty = True
            if time.monotonic() - self._last_flush >= self.flush_seconds:
                self.flush()
        return chosen

    def flush(self) -> None:
        """Write the mapping chosen so far to ``mapping_out`` (atomically) if anything changed."""
        if self.mapping_out is not None and self._dirty:
            write_mapping(self.mapping_out, self.written)
            self._dirty = False
            self._last_flush = time.monotonic()
