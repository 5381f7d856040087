"""How the CIRR recipe normalised boxes: the one normalisation function of the CIRR filter and the CIRR writer.

``generate_cirr_boxes.py`` wrote ``[x1/W, y1/H, x2/W, y2/H]`` as computed by the detector
that produced the boxes, so the exact floats depend on the arithmetic:

``"float32_div"`` (default)
    ``float32(x) / float32(w)``: ultralytics run on the CPU (PyTorch divides a float32 tensor
    by a Python number in float32).
``"float32_reciprocal"``
    ``float32(x) * (float32(1) / float32(w))``: ultralytics run on a CUDA device.  PyTorch's
    CUDA kernel divides a tensor by a CPU scalar as a multiplication by its reciprocal,
    which differs from the division in the last bit for a large share of values.  This is
    read from PyTorch's ``BinaryDivTrueKernel.cu``; a test checks it where CUDA is available.
``"float64_div"``
    ``x / w`` in float64, as Python divides numbers: the script's saliency path, which
    normalised integer ``cv2.boundingRect`` boxes with Python division.  Pixels are not rounded.

In the float32 modes a box's pixels are held as float32 values (lossless for detectors that,
like ultralytics, produce float32 boxes); :func:`cirr_pixels` does that rounding, and
:func:`cirr_xyxyn` normalises.  Same inputs, same IEEE operations: the writer's floats are
the filter's floats, which are the original's floats.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from regionkit.structures.boxes import Boxes

__all__ = ["ARITHMETICS", "Arithmetic", "check_arithmetic", "cirr_pixels", "cirr_xyxyn", "DEFAULT_ARITHMETIC"]

#: the ways the recipe's normalisation can be reproduced
ARITHMETICS = ("float32_div", "float32_reciprocal", "float64_div")
Arithmetic = Literal["float32_div", "float32_reciprocal", "float64_div"]
DEFAULT_ARITHMETIC = "float32_div"


def check_arithmetic(arithmetic: object) -> str:
    """``arithmetic`` if it is one of :data:`ARITHMETICS`; ``ValueError`` otherwise."""
    if arithmetic not in ARITHMETICS:
        raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
    return str(arithmetic)


def cirr_pixels(xyxy: object, arithmetic: str = DEFAULT_ARITHMETIC) -> np.ndarray:
    """Pixel ``xyxy`` as the recipe holds them: rounded to float32 (returned as float64), or as is for ``float64_div``."""
    arithmetic = check_arithmetic(arithmetic)
    arr = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if arithmetic == "float64_div":
        return arr.copy()
    return arr.astype(np.float32).astype(np.float64)


def cirr_xyxyn(boxes: Boxes, arithmetic: str = DEFAULT_ARITHMETIC) -> list[list[float]]:
    """``boxes`` normalised exactly as the recipe computed them, as the lists of Python floats its JSON holds.

    Apply it to pixels held as :func:`cirr_pixels` holds them (the CIRR filter's output) with
    the filter's ``arithmetic``; the result equals, float for float, what
    ``generate_cirr_boxes.py`` wrote for the same detections.
    """
    arithmetic = check_arithmetic(arithmetic)
    w, h = (int(v) for v in boxes.image_size)
    if arithmetic == "float64_div":
        return (boxes.xyxy / np.array([w, h, w, h], dtype=np.float64)).tolist()
    px = boxes.xyxy.astype(np.float32)
    size = np.array([w, h, w, h], dtype=np.float32)
    if arithmetic == "float32_div":
        return (px / size).tolist()
    return (px * (np.float32(1.0) / size)).tolist()
