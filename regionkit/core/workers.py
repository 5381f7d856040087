"""Worker-process side of the runner: decode images (and, for CPU detectors, detect) off the main process.

Kept separate and light so that workers start fast: ``fork`` on Linux (nothing to import),
``spawn`` elsewhere (imports only this module, numpy and Pillow, plus the detector's module
when detection runs in workers).
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from regionkit.core.boxes import Boxes
from regionkit.core.images import ImageLoadError, load_rgb

__all__ = ["Decoded", "worker_context", "init_worker", "process_path"]

_DETECTOR: Any = None


@dataclass
class Decoded:
    """One image as it comes back from a worker (or from the main process with no workers).

    ``error`` is set when the image could not be read; ``boxes``/``detect_error`` are set when
    detection already ran in the worker; ``image`` is ``None`` when nobody downstream needs
    the pixels and detection already happened.
    """

    size: tuple[int, int] | None = None
    image: np.ndarray | None = None
    error: ImageLoadError | None = None
    boxes: Boxes | None = None
    detect_error: str | None = None


def worker_context() -> Any:
    """``fork`` where available (fast start, no re-import of ``__main__``), else ``spawn``."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def init_worker(parent_pid: int, detector_factory: Callable[[], Any] | None) -> None:
    """Initializer: end with the parent (a killed run leaves no workers) and build the detector."""
    global _DETECTOR

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, name="regionkit-parent-watch", daemon=True).start()
    _DETECTOR = detector_factory() if detector_factory is not None else None


def process_path(path: str, keep_image: bool) -> Decoded:
    """Decode ``path``; detect too if this worker holds a detector. Never raises."""
    try:
        image = load_rgb(path)
    except ImageLoadError as exc:
        return Decoded(error=exc)
    size = (image.shape[1], image.shape[0])
    if _DETECTOR is None:
        return Decoded(size=size, image=image)
    try:
        (boxes,) = _DETECTOR.detect([image])
        out = Decoded(size=size, boxes=boxes)
    except Exception as exc:  # reported as this image's failure by the main process
        out = Decoded(size=size, detect_error=f"{type(exc).__name__}: {exc}")
    if keep_image:
        out.image = image
    return out
