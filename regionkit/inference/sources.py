"""Where an image's bytes come from: a file (``ImageItem.path``) or a member of a tar shard.

A dataset that reads images out of tar archives (``webdataset``) puts a :class:`TarMember`
in ``ImageItem.meta["tar_member"]``: the archive, the byte offset and size of the member's
data, and its name.  Workers then read exactly those bytes (one seek, one read: no scan of
the archive) and decode them with the same rules as :func:`~regionkit.io.images.load_rgb`.
An item's identity (what a resume compares) is ``(size, mtime_ns)`` of its file, or, for a
tar member, ``(member size, mtime_ns of the archive)``: a rewritten shard is noticed.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from regionkit.inference.journal import ImageId, image_id
from regionkit.io.images import ImageLoadError, load_rgb

__all__ = ["TarMember", "Source", "source_of", "source_id", "load_source", "load_rgb_bytes", "TAR_MEMBER_KEY"]

#: the ``ImageItem.meta`` key holding a :class:`TarMember`
TAR_MEMBER_KEY = "tar_member"


@dataclass(frozen=True)
class TarMember:
    """The data of one member of an uncompressed tar archive: ``size`` bytes at ``offset`` of ``tar``.

    ``error`` set: the archive could not be read (this stands for what is missing); reading it fails with the reason.
    """

    tar: str
    offset: int
    size: int
    name: str
    error: str | None = None

    def read(self) -> bytes:
        if self.error is not None:
            raise ImageLoadError(self.error)
        with open(self.tar, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(self.size)
        if len(data) != self.size:
            raise ImageLoadError(f"truncated shard: {self.tar} ends inside member {self.name}")
        return data


#: what a worker is given to read one image: a file path or a tar member
Source = str | TarMember


def source_of(item: Any) -> Source:
    """The :data:`Source` of an :class:`~regionkit.ImageItem`."""
    member = (getattr(item, "meta", None) or {}).get(TAR_MEMBER_KEY)
    return member if isinstance(member, TarMember) else str(item.path)


def source_id(source: Source) -> ImageId:
    """The identity a journal records for ``source`` (``None`` if it cannot be stat'ed)."""
    if isinstance(source, TarMember):
        archive = image_id(source.tar)
        return None if archive is None else (int(source.size), archive[1])
    return image_id(source)


def load_source(source: Source) -> np.ndarray:
    """Decode ``source`` as :func:`~regionkit.io.images.load_rgb` does; :class:`ImageLoadError` with a reason."""
    if isinstance(source, TarMember):
        try:
            data = source.read()
        except FileNotFoundError:
            raise ImageLoadError(f"shard not found: {source.tar}") from None
        except OSError as exc:
            raise ImageLoadError(f"cannot read shard {source.tar}: {exc.strerror or exc}") from None
        return load_rgb_bytes(data)
    return load_rgb(source)


def load_rgb_bytes(data: bytes) -> np.ndarray:
    """:func:`~regionkit.io.images.load_rgb` for an image held in memory (same conversions, guards and reasons)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from regionkit.io import images as _images

    if not data:
        raise ImageLoadError("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _images.pillow_open(io.BytesIO(data)) as im:  # type: ignore[arg-type]
                _images._check_dimensions(im.size)
                im.load()
                im = ImageOps.exif_transpose(im) or im
                return _images._to_rgb_array(im)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError("not an image PIL can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"too many pixels (decompression-bomb guard): {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageLoadError(f"cannot decode: {exc}") from None
    except MemoryError:
        raise ImageLoadError("not enough memory to decode") from None
    except Exception as exc:
        raise ImageLoadError(f"cannot decode: {type(exc).__name__}: {exc}") from None


def describe_source(source: Source) -> str:
    """``path`` or ``archive.tar:member`` for messages."""
    return f"{source.tar}:{source.name}" if isinstance(source, TarMember) else os.fspath(source)
