"""Decode image files into RGB ``uint8`` arrays, turning every failure into a reason string."""
from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageLoadError", "load_rgb", "pillow_open", "image_size", "MAX_IMAGE_SIDE"]

#: the longest image side regionkit decodes, in pixels: the decompression-bomb guard covers
#: dimensions as well as Pillow's pixel count (a 1 x 80-million-pixel strip passes the count)
MAX_IMAGE_SIDE = 65536


class ImageLoadError(Exception):
    """An image file could not be decoded; ``str(error)`` is a short human reason."""


def pillow_open(path: str | os.PathLike[str]) -> Image.Image:
    """Pillow's own ``Image.open``, even if another library monkey-patched it.

    ultralytics replaces ``PIL.Image.open`` process-wide with a wrapper that, on a file Pillow
    cannot identify, tries to ``pip install pi-heif`` at run time.  A corrupt image in a
    regionkit run must give a failure record, not a package install, so the original
    function is looked up in the wrapper's module globals.
    """
    return _pillow_open_function()(path)


def _pillow_open_function() -> Any:
    """``PIL.Image.open`` as Pillow defines it, found behind up to a few stacked wrappers.

    A wrapper keeps the function it replaced in its module globals or its closure (that is
    how it calls through); follow callables named ``*open*`` from there until one is
    Pillow's own.
    """
    frontier = [Image.open]
    seen: set[int] = set()
    for _ in range(4):
        following = []
        for opener in frontier:
            if getattr(opener, "__module__", None) == "PIL.Image" and getattr(opener, "__name__", None) == "open":
                return opener
            if id(opener) in seen:
                continue
            seen.add(id(opener))
            cells = [c.cell_contents for c in (getattr(opener, "__closure__", None) or ()) if _has_contents(c)]
            for value in [*getattr(opener, "__globals__", {}).values(), *cells]:
                if callable(value) and "open" in str(getattr(value, "__name__", "")).lower() and value is not opener:
                    following.append(value)
        frontier = following
    return Image.open


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - reading an empty cell raises ValueError
    except ValueError:
        return False
    return True


def _check_dimensions(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageLoadError(f"image has no pixels ({width}x{height})")
    if max(width, height) > MAX_IMAGE_SIDE:
        raise ImageLoadError(f"too large a side (decompression-bomb guard): {width}x{height} pixels, "
                             f"the longest side may be {MAX_IMAGE_SIDE}")


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit integer or float grey
        a = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I;16"):  # a known 16-bit range, however dark the image is
            top = 65535.0
        else:  # "I" / "F": the bit depth is unknown, guess it from the values
            top = 65535.0 if a.max(initial=0) > 255 else 255.0
        grey = np.clip(a * (255.0 / top), 0, 255).round().astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8).copy()


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read ``path`` as an ``(H, W, 3)`` RGB ``uint8`` array with EXIF orientation applied.

    Grey, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted.  Any failure
    (missing, empty, truncated, not an image, decompression bomb) raises
    :class:`ImageLoadError` with a one-line reason.
    """
    try:
        if os.path.getsize(path) == 0:
            raise ImageLoadError("empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with pillow_open(path) as im:
                _check_dimensions(im.size)
                im.load()
                im = ImageOps.exif_transpose(im) or im
                return _to_rgb_array(im)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError("file not found") from None
    except UnidentifiedImageError:
        raise ImageLoadError("not an image PIL can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"too many pixels (decompression-bomb guard): {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
        raise ImageLoadError(f"cannot decode: {exc}") from None
    except MemoryError:
        raise ImageLoadError("not enough memory to decode") from None
    except Exception as exc:  # any other decoder failure is still this image's problem, not the run's
        raise ImageLoadError(f"cannot decode: {type(exc).__name__}: {exc}") from None


def image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` after EXIF rotation, read from the file header (nothing decoded); ``None`` if unreadable.

    Opens the file the way :func:`load_rgb` does (Pillow's own ``open``, the same bomb guards),
    so a size is reported exactly for the files a run can read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with pillow_open(path) as im:
                w, h = im.size
                _check_dimensions((w, h))
                try:
                    orientation = im.getexif().get(0x0112, 1)
                except Exception:  # a broken EXIF block must not hide the size
                    orientation = 1
    except Exception:  # any reason the file cannot be opened means "size unknown"
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
