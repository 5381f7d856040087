"""The inference runner: images -> detector -> selector stages -> writers, with hooks and progress.

The runner takes already-built components (:mod:`regionkit.inference.job` builds them from a
config).

* Images are decoded in ``num_workers`` worker processes with a bounded prefetch window,
  so decoding overlaps detection and memory stays flat (:mod:`regionkit.inference.pool`).
* The detector sees ``batch_size`` images per call in the main process, except a detector
  that declares ``parallel_safe = True`` (CPU-only, cheap to build, e.g. saliency): with
  workers and a ``detector_factory``, each worker builds its own copy and detects the
  images it decodes, so detection itself uses every core.
* With the detector in the main process, what follows detection (sanitising, selectors,
  hooks, records, the journal) runs in one helper thread, in order, so it overlaps the next
  forward pass; the thread budget (:mod:`regionkit.inference.threads`) shares the cores
  between torch and the decode workers.
* :meth:`InferenceRunner.process_items` is the loop itself, over any iterable of items and
  into any sink; sharded runs (:mod:`regionkit.inference.distributed`) drive it part by part.
* Every image's records go straight to an append-only journal (:mod:`regionkit.inference.journal`);
  writers build their final files from it in dataset order, atomically.  ``resume=True``
  skips images the journal already has, and the final files are byte-identical to those of
  an uninterrupted run.  The output folder is locked for the run's lifetime
  (:mod:`regionkit.inference.run_folder`).
* Nothing about one image stops a run: an unreadable file, a detector that raises, breaks
  its contract, calls ``sys.exit``, hangs (``image_timeout``) or kills its worker, a selector
  or writer that fails: each becomes a failure record with a reason in ``failures.json``;
  the summary reports it and the CLI exits with code 1.
"""
from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from regionkit.errors import ConfigError, ContractError
from regionkit.inference.distributed import refuse_unfinished_sharded_run
from regionkit.inference.journal import JOURNAL_FILE, ImageId, Journal
from regionkit.inference.pool import WorkerPool, decode_in_process
from regionkit.inference.run_folder import (
    FAILURES_FILE,
    SHARDS_DIR,
    OutputError,
    RunFolder,
    RunStateError,
    describe_os_error,
    writer_outputs,
)
from regionkit.inference.sources import source_id, source_of
from regionkit.inference.threads import ThreadPlan, apply_main, plan_threads, restore_main, torch_threads
from regionkit.inference.workers import Decoded, describe_exception
from regionkit.io.atomic import dumps_strict, write_json_list_atomic
from regionkit.kinds import BOX_SELECTOR, DETECTOR, WRITER
from regionkit.kinds.detectors import check_detections
from regionkit.structures.boxes import Boxes, SanitizeReport
from regionkit.structures.results import ImageItem, ImageResult

__all__ = ["SelectorStage", "RunInfo", "RunSummary", "RankStats", "InferenceRunner", "RunStateError", "OutputError",
           "FAILURES_FILE", "ImageTimeout", "ResultSink"]


@dataclass(frozen=True)
class SelectorStage:
    """Apply ``selector`` to the region set ``input`` and store the result as ``output``."""

    selector: Any
    input: str
    output: str


@dataclass
class RunInfo:
    """What lifecycle hooks learn about the run."""

    out_dir: Path
    num_images: int
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class RankStats:
    """What one rank of a sharded run did (:mod:`regionkit.inference.distributed`)."""

    rank: int
    world_size: int
    processed: int
    resumed: int
    seconds: float
    units: int
    threads: str = ""

    @property
    def images_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        resumed = f" ({self.resumed} already done)" if self.resumed else ""
        return (f"rank {self.rank}/{self.world_size}: {self.processed} image(s){resumed} in {self.units} part(s), "
                f"{self.seconds:.1f}s, {self.images_per_second:.1f} img/s")


@dataclass
class RunSummary:
    """The outcome of a run; ``failures`` covers resumed images too; ``ranks`` is set for sharded runs."""

    num_images: int
    num_ok: int
    num_resumed: int
    failures: list[dict[str, str]]
    outputs: list[Path]
    sanitize: SanitizeReport
    seconds: float
    worker_restarts: int = 0
    ranks: list[RankStats] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class ImageTimeout(Exception):
    """Raised inside a main-process detector call that outlived ``image_timeout``."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`ImageTimeout` in the main thread after ``seconds`` (Python code only; no-op elsewhere)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise ImageTimeout(f"timed out: detection took longer than {seconds:g} s (runtime.image_timeout)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class ResultSink(Protocol):
    """Where the runner records each image: a :class:`~regionkit.inference.journal.Journal`, or a router over several."""

    def add_result(self, key: str, path: str, ident: ImageId, records: dict[str, Any]) -> None: ...

    def add_failure(self, key: str, path: str, ident: ImageId, stage: str, reason: str) -> None: ...


@dataclass
class _Pending:
    """An image decoded in the main process's view, waiting for batched detection."""

    item: ImageItem
    ident: ImageId
    image: np.ndarray


class InferenceRunner:
    """Run one detector, a chain of selector stages and some writers over image items.

    ``items`` are :class:`~regionkit.ImageItem` s; ``rel_path`` keys the journal.  ``hook``
    is a pluggy hook relay (``PluginManager.hook``) or ``None``.  ``image_timeout`` (seconds)
    turns an image whose processing outlives it into a failure: enforced exactly in worker
    processes, and for main-process detectors whose time goes to Python code.
    """

    def __init__(self, detector: Any, stages: Sequence[SelectorStage], writers: Mapping[str, Any],
                 batch_size: int = 1, num_workers: int = 0, hook: Any = None, progress: bool = True,
                 detector_factory: Callable[[], Any] | None = None, image_timeout: float | None = None,
                 threads: int | str = "auto", local_world_size: int = 1) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {num_workers}")
        self.detector = detector
        self.stages = list(stages)
        self.writers = dict(writers)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.hook = hook
        self.progress = progress
        self.image_timeout = image_timeout
        #: picklable zero-argument callable building a copy of the detector inside a worker
        self.detector_factory = detector_factory
        self._detector_name = type(detector).__name__
        self._parallel_safe = DETECTOR.trait(detector, "parallel_safe")
        self._selector_needs_image = [BOX_SELECTOR.trait(st.selector, "needs_image") for st in self.stages]
        self._writer_needs_image = any(WRITER.trait(w, "needs_image") for w in self.writers.values())
        self.outputs = writer_outputs(self.writers)
        RunFolder.check_names(self.outputs)
        self.check_wiring()
        producers: dict[str, Any] = {"detections": None}
        producers.update({st.output: st.selector for st in self.stages})
        for writer in self.writers.values():
            writer.bind(producers)
        #: how this process's cores are shared (``runtime.threads``, :mod:`regionkit.inference.threads`)
        self.thread_plan: ThreadPlan = plan_threads(threads, num_workers=num_workers,
                                                    detects_in_workers=self.detects_in_workers,
                                                    local_world_size=local_world_size)
        self._budget_settled = False

    @property
    def detects_in_workers(self) -> bool:
        return self.num_workers > 0 and self.detector_factory is not None and self._parallel_safe

    @property
    def needs_pixels(self) -> bool:
        """Whether any selector or writer looks at the decoded image after detection."""
        return any(self._selector_needs_image) or self._writer_needs_image

    def check_wiring(self) -> None:
        """Fail before any work if a stage or writer reads a region set nobody produces."""
        produced = ["detections"]
        for stage in self.stages:
            if stage.input not in produced:
                raise ConfigError(f"selector stage '{stage.output}' reads '{stage.input}', which no earlier "
                                  f"stage produces (available: {', '.join(produced)})")
            if stage.output in produced:
                raise ConfigError(f"two selector stages write the region set '{stage.output}'; give one of them "
                                  f"another output='...'")
            produced.append(stage.output)
        for name, writer in self.writers.items():
            missing = sorted(set(writer.required_regions()) - set(produced))
            if missing:
                raise ConfigError(f"writer '{name}' needs region set(s) {', '.join(missing)}, but the selector "
                                  f"stages produce only: {', '.join(produced)}")

    # ------------------------------------------------------------------ detection in the main process
    def _detect(self, images: list[np.ndarray]) -> list[Boxes]:
        with _time_limit(self.image_timeout * len(images) if self.image_timeout else None):
            out = self.detector.detect(images)
        if not self._budget_settled:  # a detector may set torch's threads when it first runs (ultralytics does)
            self._budget_settled = True
            apply_main(self.thread_plan)
        return check_detections(out, [(im.shape[1], im.shape[0]) for im in images], f"{self._detector_name}.detect")

    def _detect_batch(self, batch: list[_Pending]) -> list[Boxes | str]:
        """One Boxes (or a failure reason) per image; a failing batch is retried image by image."""
        try:
            return list(self._detect([p.image for p in batch]))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            if len(batch) == 1:
                return [self._reason(exc)]
        out: list[Boxes | str] = []
        for pending in batch:
            try:
                out.append(self._detect([pending.image])[0])
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                out.append(self._reason(exc))
        return out

    @staticmethod
    def _reason(exc: BaseException) -> str:
        if isinstance(exc, (ImageTimeout, ContractError)):
            return str(exc)
        return describe_exception(exc)

    # ------------------------------------------------------------------ one image after detection
    def _process(self, item: ImageItem, image: np.ndarray | None, size: tuple[int, int], boxes: Boxes,
                 run: RunInfo) -> tuple[dict[str, Any], SanitizeReport]:
        clean, report = boxes.sanitize()
        result = ImageResult(item=item, image_size=size, detections=clean, image=image)
        if self.hook is not None:
            self.hook.regionkit_after_detections(run=run, result=result)
            if not isinstance(result.detections, Boxes) or result.detections.image_size != size:
                raise ContractError("a lifecycle hook replaced result.detections with something that is not Boxes "
                                    "for this image")
        for stage, needs_image in zip(self.stages, self._selector_needs_image):
            source = result.region(stage.input)
            out = stage.selector(source, image=image) if needs_image else stage.selector(source)
            if not isinstance(out, Boxes) or out.image_size != size:
                got = f"Boxes for image_size {out.image_size}" if isinstance(out, Boxes) else type(out).__name__
                raise ContractError(f"selector stage '{stage.output}' ({type(stage.selector).__name__}) returned "
                                    f"{got}; it must return Boxes for this {size} image")
            result.regions[stage.output] = out
        records = {}
        for name, writer in self.writers.items():
            record = writer.make_record(result)
            if self.hook is not None:
                self.hook.regionkit_before_write(run=run, result=result, writer=name, record=record)
            try:
                dumps_strict(record)
            except (TypeError, ValueError, RecursionError) as exc:
                raise ContractError(f"writer '{name}' made a record that is not strict JSON ({exc})") from None
            records[name] = record
        return records, report

    # ------------------------------------------------------------------ the run
    def _open_journal(self, out_dir: Path, fingerprint: str, config_part: dict[str, Any], resume: bool,
                      overwrite: bool, items: Sequence[ImageItem]) -> Journal:
        path = out_dir / JOURNAL_FILE
        journal = Journal(path)
        try:
            state = Journal.inspect(path)
        except ValueError as exc:
            if not overwrite:
                raise RunStateError(f"{exc}; pass --overwrite to start a new run in {out_dir}") from None
            state = None
        except OSError as exc:
            raise OutputError(f"cannot read {path}: {describe_os_error(exc)}") from exc
        if state is not None and resume:
            if state.fingerprint != fingerprint:
                raise RunStateError(f"cannot resume in {out_dir}: {_config_change(state.config, config_part)}; "
                                    f"use another --out-dir, or --overwrite to start again")
            journal.reopen()
            check_identities(journal, items, out_dir)
            return journal
        if state is not None and not state.finished and not overwrite:
            raise RunStateError(f"{out_dir} holds an unfinished run ({state.num_ok} images done); pass --resume to "
                                f"continue it or --overwrite to start again")
        if not overwrite:  # checked here, under the folder's lock: the sharded run's journals are removed below
            refuse_unfinished_sharded_run(out_dir)
        journal.start(fingerprint, config_part)
        shutil.rmtree(out_dir / SHARDS_DIR, ignore_errors=True)  # a finished (or discarded) sharded run's journals
        return journal

    def run(self, items: Sequence[ImageItem], out_dir: Path, config: dict[str, Any] | None = None,
            fingerprint: str = "", resume: bool = False, overwrite: bool = False,
            config_part: dict[str, Any] | None = None) -> RunSummary:
        """Process ``items`` into ``out_dir``; see the module docstring for resume semantics.

        ``fingerprint`` identifies what determines the output; ``config_part`` is that part of
        the config (stored, so a refused resume can say what changed).
        """
        start = time.perf_counter()
        out_dir = Path(out_dir)
        keys = [item.rel_path for item in items]
        if len(set(keys)) != len(keys):
            raise ConfigError("the dataset yields the same relative path twice; image keys must be unique")
        folder = RunFolder(out_dir, self.outputs)
        with folder:
            try:
                journal = self._open_journal(out_dir, fingerprint, dict(config_part or {}), resume, overwrite, items)
            except OSError as exc:
                raise OutputError(f"cannot write the journal in {out_dir}: {describe_os_error(exc)}") from exc
            try:
                for writer in self.writers.values():
                    writer.start(out_dir)
                done = journal.done_keys()
                todo = [item for item in items if item.rel_path not in done]
                run = RunInfo(out_dir=out_dir, num_images=len(items), config=dict(config or {}))
                if self.hook is not None:
                    self.hook.regionkit_run_start(run=run)
                resumed = len(items) - len(todo)
                sanitize, restarts = self._process_all(todo, journal, run, resumed)
                summary = self._finalize(items, keys, journal, out_dir, sanitize, start, resumed, restarts)
                journal.finish(len(items))
            except OSError as exc:
                raise OutputError(f"cannot write in {out_dir}: {describe_os_error(exc)}") from exc
            finally:
                journal.close()
        if self.hook is not None:
            self.hook.regionkit_run_end(run=run, summary=summary)
        return summary

    def _stream(self, todo: Iterable[ImageItem]) -> tuple[Iterator[tuple[ImageItem, Decoded]], WorkerPool | None]:
        if self.num_workers <= 0:
            return decode_in_process(todo), None
        in_workers = self.detects_in_workers
        window = 2 * self.num_workers + (1 if in_workers else self.batch_size)
        pool = WorkerPool(self.num_workers, window, self.detector_factory if in_workers else None,
                          keep_image=self.needs_pixels or not in_workers, timeout=self.image_timeout,
                          threads=self.thread_plan)
        return pool.map(todo), pool

    def _process_all(self, todo: Sequence[ImageItem], journal: Journal, run: RunInfo,
                     resumed: int) -> tuple[SanitizeReport, int]:
        bar = tqdm(total=resumed + len(todo), initial=resumed, unit="img", desc="infer", disable=not self.progress,
                   dynamic_ncols=True)
        try:
            return self.process_items(todo, journal, run, bar.update)
        finally:
            bar.close()

    def process_items(self, todo: Iterable[ImageItem], sink: ResultSink, run: RunInfo,
                      tick: Callable[[int], Any] = lambda n: None) -> tuple[SanitizeReport, int]:
        """Detect, select and record every item of ``todo`` (consumed lazily) into ``sink``.

        ``tick(n)`` is called as ``n`` more images are recorded.  Returns the sanitising
        report and the number of worker-pool restarts.
        """
        previous_threads = torch_threads()  # given back at the end: a run leaves torch as it found it
        apply_main(self.thread_plan)
        self._budget_settled = False
        batch: list[_Pending] = []
        stream, pool = self._stream(todo)
        # with the detector in this process, what follows detection runs in a helper thread, so it
        # overlaps the next forward pass (torch releases the GIL) instead of adding to it
        recorder = _Recorder(threaded=not self.detects_in_workers)

        def record_batch(done: list[_Pending], results: list[Boxes | str]) -> SanitizeReport:
            report = SanitizeReport()
            for pending, boxes in zip(done, results):
                size = (pending.image.shape[1], pending.image.shape[0])
                report += self._record(pending.item, pending.ident, size, pending.image, boxes, sink, run)
            tick(len(done))
            return report

        def record_one(item: ImageItem, got: Decoded) -> SanitizeReport:
            failure = _failure_of(got)
            if failure is not None:
                sink.add_failure(item.rel_path, item.path, got.ident, *failure)
                report = SanitizeReport()
            else:
                assert got.size is not None
                report = self._record(item, got.ident, got.size, got.image, got.boxes, sink, run)
            tick(1)
            return report

        def flush() -> None:
            nonlocal batch
            done, batch = batch, []
            recorder.submit(record_batch, done, self._detect_batch(done))

        try:
            for item, got in stream:
                if _failure_of(got) is not None or got.boxes is not None:
                    recorder.submit(record_one, item, got)
                else:
                    assert got.image is not None
                    batch.append(_Pending(item, got.ident, got.image))
                if len(batch) == self.batch_size:
                    flush()
            if batch:
                flush()
            recorder.drain()
        finally:
            recorder.close()
            if pool is not None:
                pool.close()
            restore_main(previous_threads)
        return recorder.sanitize, pool.restarts if pool is not None else 0

    def _record(self, item: ImageItem, ident: ImageId, size: tuple[int, int], image: np.ndarray | None,
                boxes: Boxes | str, journal: ResultSink, run: RunInfo) -> SanitizeReport:
        if isinstance(boxes, str):
            journal.add_failure(item.rel_path, item.path, ident, "detect", boxes)
            return SanitizeReport()
        try:
            records, report = self._process(item, image, size, boxes, run)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a selector, writer or hook failing on one image
            reason = str(exc) if isinstance(exc, ContractError) else describe_exception(exc)
            journal.add_failure(item.rel_path, item.path, ident, "select/write", reason)
            return SanitizeReport()
        journal.add_result(item.rel_path, item.path, ident, records)
        return report

    def _finalize(self, items: Sequence[ImageItem], keys: list[str], journal: Journal, out_dir: Path,
                  sanitize: SanitizeReport, start: float, resumed: int, restarts: int) -> RunSummary:
        outputs: list[Path] = []
        for name, writer in self.writers.items():
            records = (e["records"][name] for e in journal.entries(keys) if "records" in e)
            try:
                outputs.extend(writer.finalize(out_dir, records))
            except OSError:
                raise
            except Exception as exc:
                raise OutputError(f"writer '{name}' could not write its output: {describe_exception(exc)}; the "
                                  f"results are kept in {out_dir / JOURNAL_FILE}: fix the cause and rerun with "
                                  f"--resume") from exc
        failures = [{"image": e["path"], **e["failure"]} for e in journal.entries(keys) if "failure" in e]
        failures_path = out_dir / FAILURES_FILE
        if failures:
            outputs.append(write_json_list_atomic(failures_path, failures, indent=2))
        elif failures_path.exists():
            failures_path.unlink()  # a stale file from an earlier run would mislead
        return RunSummary(len(items), len(items) - len(failures), resumed, failures, outputs, sanitize,
                          time.perf_counter() - start, restarts)


class _Recorder:
    """Runs the work after detection (selectors, hooks, records, journal), in submission order.

    ``threaded``: in one helper thread, at most ``depth`` tasks ahead (memory stays bounded);
    an exception of a task is raised in the caller at the next :meth:`submit` or :meth:`drain`.
    Otherwise each task runs at once, in the caller.
    """

    def __init__(self, threaded: bool, depth: int = 2) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="regionkit-record") if threaded else None
        self._pending: deque[Future[SanitizeReport]] = deque()
        self.depth = depth
        self.sanitize = SanitizeReport()

    def submit(self, fn: Callable[..., SanitizeReport], *args: Any) -> None:
        if self._executor is None:
            self.sanitize += fn(*args)
            return
        self._pending.append(self._executor.submit(fn, *args))
        while len(self._pending) > self.depth:
            self.sanitize += self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self.sanitize += self._pending.popleft().result()

    def close(self) -> None:
        """Wait for the running task (a journal line is never cut short by the helper), drop the others."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _failure_of(got: Decoded) -> tuple[str, str] | None:
    """``(stage, reason)`` if a worker reported this image as failed."""
    if got.error is not None:
        return "load", got.error
    if got.worker_error is not None:
        return "worker", got.worker_error
    if got.detect_error is not None:
        return "detect", got.detect_error
    return None


def _config_change(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """Which parts of the config differ between a journal and this run, for the refusal message."""
    if old is None:
        return "its journal was written by an older regionkit or with a different config"
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if not changed:
        return "its journal was written with a different config"
    return "it holds a run made with a different config (" + ", ".join(changed) + " changed)"


def check_identities(journal: Journal, items: Iterable[ImageItem], out_dir: Path) -> None:
    """Refuse to resume when a journaled image is now a different file (replaced, or opened by another path)."""
    problems: list[str] = []
    for item in items:
        recorded = journal.recorded(item.rel_path)
        if recorded is None:
            continue
        path, ident = recorded
        if path != item.path:
            problems.append(f"{item.rel_path}: was opened as {path!r}, now as {item.path!r}")
        elif ident is not None and source_id(source_of(item)) != ident:
            problems.append(f"{item.rel_path}: the file changed since it was processed")
        if len(problems) > 3:
            break
    if problems:
        more = "" if len(problems) <= 3 else " (and more)"
        raise RunStateError(f"cannot resume in {out_dir}: " + "; ".join(problems[:3]) + more
                            + "; its results would be stale. Use --overwrite to start again")

