"""Decode image files into RGB ``uint8`` arrays, turning every failure into a reason string."""
from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageLoadError", "load_rgb"]


class ImageLoadError(Exception):
    """An image file could not be decoded; ``str(error)`` is a short human reason."""


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
            with Image.open(path) as im:
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
