"""Parameter checks shared by components: clear ``ValueError`` messages for bad config values."""
from __future__ import annotations

import math
import numbers

__all__ = ["check_number"]


def check_number(name: str, value: object, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float if it is a finite real number (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    out = float(value)
    if not (math.isfinite(out) and low <= out <= high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    return out
