"""Reading training checkpoints under ``torch.load(weights_only=True)`` when they pickle non-tensor objects.

Training scripts save optimiser state, schedulers, argparse namespaces or numpy arrays next to
the weights.  ``weights_only=True`` refuses them; rather than switch the safety off, each
global such a file names is mapped to :class:`InertPlaceholder`, a class that accepts and
ignores any state, so no code from the file runs and the tensors come out as usual.  Whether
a loader accepts such files, and which of the placeholders it keeps, is its own policy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["InertPlaceholder", "unsafe_globals", "load_with_placeholders"]


class InertPlaceholder:
    """Stand-in for any non-tensor object pickled in a checkpoint; accepts and ignores its state."""

    def __new__(cls, *args: Any, **kwargs: Any) -> InertPlaceholder:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> InertPlaceholder:
        return InertPlaceholder()


def unsafe_globals(path: str | Path) -> list[str]:
    """The globals ``weights_only=True`` would refuse in ``path`` (empty on torch < 2.5, which cannot list them)."""
    import torch

    find = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    return list(find(str(path))) if find is not None else []


def load_with_placeholders(path: str | Path, names: list[str]) -> Any:
    """``torch.load(path, weights_only=True)`` with each of ``names`` read as an :class:`InertPlaceholder`."""
    import torch

    with torch.serialization.safe_globals([(InertPlaceholder, name) for name in names]):
        return torch.load(path, map_location="cpu", weights_only=True)
