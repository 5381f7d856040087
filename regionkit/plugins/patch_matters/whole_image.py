"""Patch Matters' whole-image fallback box: the one definition of its label, name and coordinates."""
from __future__ import annotations

from regionkit.structures.boxes import Boxes

__all__ = ["WHOLE_IMAGE_LABEL", "WHOLE_IMAGE_NAME", "whole_image_xyxy", "whole_image_box"]

#: the original's sentinel label for the whole-image fallback box (``true_box_sample.py``, ``get_main_box.py``)
WHOLE_IMAGE_LABEL = 1008611
#: the label name written for it (``object_box.json`` writes ``["None"]``)
WHOLE_IMAGE_NAME = "None"


def whole_image_xyxy(image_size: tuple[int, int]) -> list[float]:
    """``[0, 0, W-1, H-1]`` as the original wrote it; a side of one pixel keeps its full extent ``[0, 1]``.

    The original's ``W-1`` gives a box of zero width on a one-pixel-wide image, which later
    geometry cannot use; every image larger than one pixel in both sides is unchanged.
    """
    w, h = (int(v) for v in image_size)
    return [0.0, 0.0, float(w - 1 if w > 1 else w), float(h - 1 if h > 1 else h)]


def whole_image_box(image_size: tuple[int, int]) -> Boxes:
    """The fallback as :class:`Boxes`: :func:`whole_image_xyxy`, score 1, label 1008611, name ``"None"``."""
    return Boxes.create([whole_image_xyxy(image_size)], image_size, scores=[1.0], labels=[WHOLE_IMAGE_LABEL],
                        label_names=[WHOLE_IMAGE_NAME])
