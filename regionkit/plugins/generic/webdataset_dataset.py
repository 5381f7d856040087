"""WebDataset tar shards as a dataset: images read straight out of local ``.tar`` files, shard by shard.

``root`` names the shards the way WebDataset does: a brace pattern
(``data/train-{000000..000999}.tar``), several patterns joined with ``::``, a glob
(``data/*.tar``), a folder (every ``.tar`` in it) or one ``.tar`` file.  Patterns are
expanded with the ``webdataset`` package (:func:`webdataset.shardlists.expand_urls`), and
members are grouped into samples by WebDataset's key rule (everything before the first dot
of the file name, :func:`webdataset.tariterators.base_plus_ext`); each sample's image is its
member with the first extension of ``image_keys`` it has.

Shards are the unit of work: a sharded run (``torchrun ... tools/infer.py``) hands whole
shards to ranks, journals and resumes shard by shard, and the ``shard_jsonl`` writer writes
one output per shard.  A shard is scanned (member headers only, nothing decoded) when its
images are first needed, so a rank reads only the shards it works on.  Workers read an image
by its byte offset in the archive: shards must be plain, uncompressed tar files (WebDataset's
usual format); ``.tar.gz`` shards are refused with a message.
"""
from __future__ import annotations

import glob
import os
import tarfile
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from regionkit.errors import ConfigError
from regionkit.inference.sources import TAR_MEMBER_KEY, TarMember
from regionkit.params import MaxLength, NonEmpty, PathText, checked
from regionkit.structures.results import ImageItem

__all__ = ["WebDatasetShards", "ShardError", "DEFAULT_IMAGE_KEYS", "expand_shards"]

#: sample extensions taken as the image, in order of preference (WebDataset's usual names)
DEFAULT_IMAGE_KEYS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff")
_REMOTE = ("http://", "https://", "pipe:", "s3://", "gs://", "ais://")
_GLOB_CHARS = set("*?[")


class ShardError(ConfigError):
    """A shard cannot be read (compressed, not a tar file, unreadable); the message names it."""


def _check_uncompressed(path: str) -> None:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise ShardError(f"cannot read shard {path}: {exc.strerror or exc}") from None
    if magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic[:6] == b"\xfd7zXZ\x00" or magic[:4] == b"\x28\xb5\x2f\xfd":
        raise ShardError(f"shard {path} is compressed; the webdataset dataset reads plain (uncompressed) .tar "
                         f"shards, whose images it reads by offset: decompress them first (e.g. gunzip)")


def _shard_name(path: str) -> str:
    name = os.path.basename(path)
    return name[:-4] if name.lower().endswith(".tar") else name


def expand_shards(root: str) -> list[str]:
    """The shard files ``root`` names (see the module docstring); ``ValueError`` with a one-line reason."""
    from webdataset.shardlists import expand_urls  # type: ignore[import-untyped]

    text = os.fspath(root)
    if any(text.startswith(p) for p in _REMOTE) or any(f"::{p}" in text for p in _REMOTE):
        raise ValueError(f"dataset.root {text!r} is a remote or piped URL; the webdataset dataset reads local tar "
                         f"shards only (copy or mount them first)")
    if os.path.isdir(text):
        found = sorted(os.path.join(text, n) for n in os.listdir(text) if n.lower().endswith(".tar"))
        if not found:
            raise ValueError(f"the shard folder {text} holds no .tar file")
        return found
    paths: list[str] = []
    names = expand_urls(text)
    for name in names:
        if _GLOB_CHARS & set(name):
            paths.extend(sorted(p for p in glob.glob(name) if os.path.isfile(p)))
        else:
            paths.append(name)
    missing = [p for p in paths if not os.path.isfile(p)]
    if not paths or len(missing) == len(paths):
        example = f" (e.g. {names[0]})" if names and names[0] != text else ""
        raise ValueError(f"the shard pattern {text!r} matches no file{example}; check the path and the brace range "
                         f"such as data-{{000000..000009}}.tar")
    if missing:
        raise ValueError(f"{len(missing)} of the {len(paths)} shards {text!r} names do not exist (e.g. {missing[0]}); "
                         f"fix the pattern so that it names only existing shards")
    seen: dict[str, str] = {}
    for path in paths:
        name = _shard_name(path)
        if name in seen and os.path.realpath(seen[name]) == os.path.realpath(path):
            raise ValueError(f"the shard {path} is named twice by {text!r}")
        if name in seen:
            raise ValueError(f"shards {seen[name]} and {path} have the same name '{name}'; per-shard outputs and "
                             f"journals are named after shards, so shard file names must be unique")
        seen[name] = path
    return paths


class WebDatasetShards:
    """Images in WebDataset tar shards (see the module docstring), in shard order, then sample order.

    Each image is an :class:`~regionkit.ImageItem` with ``path`` ``<shard.tar>/<member>``,
    ``rel_path`` ``<shard>/<member>``, ``name`` the sample key and ``meta`` holding
    ``shard``, ``key`` and the member's location.  ``skipped`` lists ``(shard/key, reason)``
    for samples without an image member and duplicate members, for the shards scanned so
    far in this process.
    """

    @checked
    def __init__(self, root: PathText | None = None,
                 image_keys: Annotated[Sequence[Annotated[str, NonEmpty(), MaxLength(32)]], NonEmpty()]
                 = DEFAULT_IMAGE_KEYS) -> None:
        if root is None or str(root) == "":
            raise ValueError("no shards given (set dataset.root to a pattern such as data/train-{000000..000009}.tar, "
                             "or pass --images PATTERN)")
        self.root = os.fspath(root)
        self.image_keys = tuple(dict.fromkeys(k.strip().lower().lstrip(".") for k in image_keys))
        self.paths = expand_shards(self.root)
        self.names = [_shard_name(p) for p in self.paths]
        _check_uncompressed(self.paths[0])  # the usual mistake shows before any work
        self._skips: dict[int, list[tuple[str, str]]] = {}
        self._scanned: dict[int, list[ImageItem]] = {}
        self._all: list[ImageItem] | None = None

    # ------------------------------------------------------------------ the sharded-dataset protocol
    def shard_names(self) -> list[str]:
        """The shards, in order (the units of a sharded run)."""
        return list(self.names)

    def shard_identity(self, index: int) -> tuple[int, int] | None:
        """``(size, mtime_ns)`` of shard ``index``'s file: a resumed run rescans a shard only if it changed."""
        from regionkit.inference.journal import image_id

        return image_id(self.paths[index])

    def shard_items(self, index: int) -> list[ImageItem]:
        """The images of shard ``index``, in the order of its samples (scanned on first use, then cached
        while it is the last shard asked for)."""
        cached = self._scanned.get(index)
        if cached is not None:
            return cached
        items = self._scan(index)
        self._scanned = {index: items}  # keep one shard: a rank's memory stays flat over thousands of shards
        return items

    def _scan(self, index: int) -> list[ImageItem]:
        from webdataset.tariterators import base_plus_ext  # type: ignore[import-untyped]

        path, shard = self.paths[index], self.names[index]
        samples: dict[str, dict[str, tarfile.TarInfo]] = {}
        seen: set[str] = set()
        skips: list[tuple[str, str]] = []
        broken: str | None = None
        try:
            _check_uncompressed(path)
            with tarfile.open(path, mode="r:") as tar:
                for info in tar:
                    if not info.isfile():
                        continue
                    if info.name in seen:
                        skips.append((f"{shard}/{info.name}", "duplicate member name in the shard (the first "
                                                                     "is used)"))
                        continue
                    seen.add(info.name)
                    key, ext = base_plus_ext(info.name)
                    if key is None or os.path.basename(info.name).startswith("."):
                        continue
                    samples.setdefault(key, {})[str(ext).lower()] = info
        except ShardError as exc:
            broken = str(exc)
        except (tarfile.TarError, OSError, EOFError) as exc:
            broken = f"shard {path} is not a readable tar file ({exc})"
        items: list[ImageItem] = []
        for key, members in samples.items():
            ext = next((k for k in self.image_keys if k in members), None)
            if ext is None:
                skips.append((f"{shard}/{key}", "sample without an image member (" + ", ".join(self.image_keys)
                                     + ")"))
                continue
            info = members[ext]
            member = TarMember(path, int(info.offset_data), int(info.size), info.name)
            items.append(ImageItem(os.path.join(path, info.name), f"{shard}/{info.name}", key,
                                   {TAR_MEMBER_KEY: member, "shard": shard, "key": key}))
        if broken is not None:  # one failure record stands for what could not be read; the run goes on
            note = f"; {len(items)} image(s) before the damage were read" if items else ""
            member = TarMember(path, 0, 0, "<unreadable>", error=f"{broken}{note}; fix the shard and rerun with --resume")
            items.append(ImageItem(os.path.join(path, "<unreadable>"), f"{shard}/<unreadable>", f"{shard}/<unreadable>",
                                   {TAR_MEMBER_KEY: member, "shard": shard, "key": None}))
        self._skips[index] = skips
        return items

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """``(shard/key, reason)`` of the samples left out, in the shards scanned so far in this process."""
        return [entry for i in sorted(self._skips) for entry in self._skips[i]]

    # ------------------------------------------------------------------ the dataset contract (every shard)
    @property
    def items(self) -> list[ImageItem]:
        """Every image of every shard (scans them all once; a sharded run reads only its own shards instead)."""
        if self._all is None:
            self._all = [item for i in range(len(self.paths)) for item in self._scan(i)]
        return self._all

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> ImageItem:
        return self.items[index]

    def __iter__(self) -> Iterator[ImageItem]:
        for i in range(len(self.paths)):
            yield from self.shard_items(i)

    def __repr__(self) -> str:
        return f"WebDatasetShards(root={self.root!r}, shards={len(self.paths)})"

    def __getstate__(self) -> dict[str, Any]:  # workers never need the scanned shards
        state = dict(self.__dict__)
        state["_scanned"], state["_all"] = {}, None
        return state
