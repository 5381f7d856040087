"""Selectors of the sample plugin."""
import numpy as np

from regionkit import BaseBoxSelector


class LargestOnly(BaseBoxSelector):
    """Keep only the largest box."""

    def __call__(self, boxes):
        if len(boxes) == 0:
            return boxes
        return boxes[[int(np.argmax(boxes.areas))]]
