"""Real sample photographs for demos and tests, copied from scikit-image's bundled data files."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from regionkit.errors import RegionkitError

__all__ = ["SAMPLE_FILES", "write_sample_images"]

#: photographs that ship inside the scikit-image wheel (no download); camera.png is greyscale
SAMPLE_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "camera.png")


def write_sample_images(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Copy the sample photographs into ``out_dir`` (created if needed) and return their paths."""
    try:
        import skimage.data
    except ImportError:
        raise RegionkitError("sample images come from scikit-image; install it with: "
                             "pip install 'regionkit[samples]'") from None
    data_dir = Path(skimage.data.__file__).parent
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SAMPLE_FILES:
        src = data_dir / name
        if not src.is_file():
            version = getattr(skimage, "__version__", "?")
            raise RegionkitError(f"scikit-image {version} does not ship {name} in {data_dir}")
        dst = out / name
        shutil.copyfile(src, dst)
        written.append(dst)
    return written
