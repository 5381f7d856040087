"""Worker-process side of the runner: decode images (and, for CPU detectors, detect) off the main process.

Kept separate and light so that workers start fast: ``fork`` on Linux (nothing to import),
``spawn`` elsewhere (imports only this module, numpy and Pillow, plus the detector's module
when detection runs in workers).  Workers ignore Ctrl-C (the main process handles it and
ends them) and end themselves when the main process dies.
"""
from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from regionkit.inference.journal import ImageId
from regionkit.inference.sources import Source, load_source, source_id
from regionkit.inference.threads import ThreadPlan, apply_worker
from regionkit.io.images import ImageLoadError
from regionkit.kinds.detectors import check_detections

__all__ = ["Decoded", "worker_context", "init_worker", "process_source", "process_path", "describe_exception"]

_DETECTOR: Any = None


@dataclass
class Decoded:
    """One image as it comes back from a worker (or from the main process with no workers).

    ``ident`` is the file's identity (size, mtime) when it was read; ``error`` is set when
    the image could not be read; ``boxes``/``detect_error`` are set when detection already
    ran in the worker; ``worker_error`` is set when the worker itself failed on this image
    (died, timed out, could not send its result); ``image`` is ``None`` when nobody
    downstream needs the pixels and detection already happened.
    """

    ident: ImageId = None
    size: tuple[int, int] | None = None
    image: np.ndarray | None = None
    error: str | None = None
    boxes: Any = None
    detect_error: str | None = None
    worker_error: str | None = None


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` for a failure record (``SystemExit`` worded as what it is)."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def worker_context() -> Any:
    """``fork`` where available (fast start, no re-import of ``__main__``), else ``spawn``."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def init_worker(parent_pid: int, detector_factory: Callable[[], Any] | None,
                threads: ThreadPlan | None = None) -> None:
    """Initializer: ignore Ctrl-C, end with the parent (a killed run leaves no workers), take the worker's
    share of the thread budget (:mod:`regionkit.inference.threads`), build the detector.

    A worker that crashes in native code becomes the failure record of its image; Python's
    fault handler (enabled by some test runners) would only add a stack dump to the log.
    """
    global _DETECTOR
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.disable()

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, name="regionkit-parent-watch", daemon=True).start()
    apply_worker(threads)
    _DETECTOR = detector_factory() if detector_factory is not None else None


def process_source(source: Source, keep_image: bool) -> Decoded:
    """Decode ``source`` (a path or a tar member); detect too if this worker holds a detector.

    Never raises for the image's own problems.
    """
    ident = source_id(source)
    try:
        image = load_source(source)
    except ImageLoadError as exc:
        return Decoded(ident=ident, error=str(exc))
    size = (image.shape[1], image.shape[0])
    if _DETECTOR is None:
        return Decoded(ident=ident, size=size, image=image)
    try:
        (boxes,) = check_detections(_DETECTOR.detect([image]), [size], f"{type(_DETECTOR).__name__}.detect")
        result = Decoded(ident=ident, size=size, boxes=boxes)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # reported as this image's failure by the main process
        result = Decoded(ident=ident, size=size, detect_error=describe_exception(exc))
    if keep_image:
        result.image = image
    return result


#: the name before tar members could be sources (a path is a :data:`~regionkit.inference.sources.Source`)
process_path = process_source
