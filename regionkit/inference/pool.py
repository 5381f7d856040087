"""Decode (and, for CPU detectors, detect) images in worker processes, in input order, surviving worker failures.

:class:`WorkerPool` keeps at most ``window`` images in flight.  When a worker dies (the OOM
killer, a segfault in a decoder, ``os._exit`` in plugin code) or an image takes longer than
``timeout`` seconds, the pool is restarted and the images that were in flight are run again
one at a time in a fresh pool: the image that kills (or hangs) its worker again becomes a
failure with that reason, the others are processed normally.  Nothing is lost and no
innocent image is blamed.  A result a worker cannot send back (it does not pickle) is that
image's failure too.
"""
from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from regionkit.inference.sources import source_id, source_of
from regionkit.inference.threads import ThreadPlan
from regionkit.inference.workers import Decoded, describe_exception, init_worker, process_source, worker_context

__all__ = ["WorkerPool", "decode_in_process"]

T = TypeVar("T")


def decode_in_process(items: Iterable[T]) -> Iterator[tuple[T, Decoded]]:
    """What :class:`WorkerPool` yields, without worker processes (``num_workers=0``)."""
    for item in items:
        yield item, process_source(source_of(item), keep_image=True)


class WorkerPool:
    """A restartable process pool that maps :func:`~regionkit.inference.workers.process_path` over items in order."""

    def __init__(self, num_workers: int, window: int, detector_factory: Callable[[], Any] | None,
                 keep_image: bool, timeout: float | None = None, threads: ThreadPlan | None = None) -> None:
        self.num_workers = num_workers
        self.threads = threads
        self.window = max(1, window)
        self.detector_factory = detector_factory
        self.keep_image = keep_image
        self.timeout = timeout
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None

    # ------------------------------------------------------------------ executor lifecycle
    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=self.num_workers, mp_context=worker_context(),
                                                 initializer=init_worker,
                                                 initargs=(os.getpid(), self.detector_factory, self.threads))
        return self._executor

    def _kill(self) -> None:
        """End every worker now (hung ones included) and drop the executor."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = list(getattr(executor, "_processes", {}).values())  # no public API to end a hung worker
        manager = getattr(executor, "_executor_manager_thread", None)
        for process in processes:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.kill()
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
                process.join(timeout=5)
        # Let the executor's manager thread finish (it closes its wake-up pipe as it ends). Left
        # running, it races concurrent.futures' exit hook, which writes to that pipe: after Ctrl-C
        # Python < 3.12 then printed "Bad file descriptor" with a traceback as the process ended.
        if manager is not None:
            manager.join(timeout=5)

    def close(self) -> None:
        """End the workers (also on Ctrl-C: running tasks are not waited for)."""
        self._kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ mapping
    def _submit(self, item: Any) -> Future:
        return self._pool().submit(process_source, source_of(item), self.keep_image)

    def _wait(self, future: Future) -> Decoded:
        """The result of ``future``; re-raises pool breakage and time-outs, turns other errors into a failure."""
        try:
            return future.result(timeout=self.timeout)
        except (BrokenProcessPool, FutureTimeout):
            raise
        except Exception as exc:  # e.g. the worker's result did not pickle
            return Decoded(worker_error=f"the worker could not return its result: {describe_exception(exc)}")

    def map(self, items: Iterable[T]) -> Iterator[tuple[T, Decoded]]:
        """``(item, Decoded)`` for every item, in order (see the module docstring for failures)."""
        source = iter(items)
        pending: deque[tuple[T, Future]] = deque()

        def fill() -> None:
            while len(pending) < self.window:
                nxt = next(source, None)
                if nxt is None:
                    return
                pending.append((nxt, self._submit(nxt)))

        fill()
        while pending:
            item, future = pending[0]
            try:
                decoded = self._wait(future)
            except (BrokenProcessPool, FutureTimeout):
                in_flight = [it for it, _ in pending]
                pending.clear()
                self._kill()
                self.restarts += 1
                yield from self._isolate(in_flight)
                fill()
                continue
            pending.popleft()
            fill()
            yield item, decoded

    def _isolate(self, items: list[T]) -> Iterator[tuple[T, Decoded]]:
        """Run ``items`` one at a time in fresh pools; the ones that break their worker again fail with the reason."""
        for item in items:
            try:
                decoded = self._wait(self._submit(item))
            except FutureTimeout:
                self._kill()
                self.restarts += 1
                decoded = Decoded(ident=source_id(source_of(item)), worker_error=(
                    f"timed out: processing took longer than {self.timeout:g} s (runtime.image_timeout); "
                    f"the worker was stopped"))
            except BrokenProcessPool:
                self._kill()
                self.restarts += 1
                decoded = Decoded(ident=source_id(source_of(item)), worker_error=(
                    "a worker process died while processing this image (killed, out of memory, or crashed in "
                    "native code)"))
            yield item, decoded
