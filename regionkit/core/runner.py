"""The inference runner: images → detector → selector stages → writers, with hooks and progress.

The runner takes already-built components (see :mod:`regionkit.core.infer_job` for building
them from a config).

* Images are decoded in ``num_workers`` worker processes with a bounded prefetch window,
  so decoding overlaps detection and memory stays flat.
* The detector sees ``batch_size`` images per call in the main process, except a detector
  that declares ``parallel_safe = True`` (CPU-only, cheap to build, e.g. saliency): with
  workers and a ``detector_factory``, each worker builds its own copy and detects the
  images it decodes, so detection itself uses every core.
* Every image's records go straight to an append-only journal (:mod:`regionkit.core.journal`);
  writers build their final files from it in dataset order, atomically.  ``resume=True``
  skips images the journal already has, and the final files are byte-identical to those of
  an uninterrupted run.
* A bad image never stops a run: it becomes a failure record with a reason, written to
  ``failures.json``; the summary reports it and the CLI exits non-zero.
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from regionkit.core.boxes import Boxes, SanitizeReport
from regionkit.core.interfaces import BaseBoxSelector, BaseWriter, ImageResult
from regionkit.core.io import write_json_list_atomic
from regionkit.core.journal import JOURNAL_FILE, Journal
from regionkit.core.workers import Decoded, init_worker, process_path, worker_context
from regionkit.registry.errors import RegionkitError

__all__ = ["SelectorStage", "RunInfo", "RunSummary", "InferenceRunner", "RunStateError", "FAILURES_FILE"]

FAILURES_FILE = "failures.json"


@dataclass(frozen=True)
class SelectorStage:
    """Apply ``selector`` to the region set ``input`` and store the result as ``output``."""

    selector: BaseBoxSelector
    input: str
    output: str


@dataclass
class RunInfo:
    """What lifecycle hooks learn about the run."""

    out_dir: Path
    num_images: int
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    """The outcome of a run; ``failures`` covers resumed images too."""

    num_images: int
    num_ok: int
    num_resumed: int
    failures: list[dict[str, str]]
    outputs: list[Path]
    sanitize: SanitizeReport
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failures


class DetectorContractError(RuntimeError):
    """A detector returned something other than one Boxes per image (a plugin bug)."""


class RunStateError(RegionkitError):
    """The output folder holds a run that conflicts with this one (resume/overwrite needed)."""


def _stream(items: Sequence[Any], num_workers: int, window: int, detector_factory: Callable[[], Any] | None,
            keep_image: bool) -> Iterator[tuple[Any, Decoded]]:
    """``(item, Decoded)`` in input order; at most ``window`` images in flight at once."""
    if num_workers <= 0:
        for item in items:
            yield item, process_path(item.path, keep_image=True)
        return
    with ProcessPoolExecutor(max_workers=num_workers, mp_context=worker_context(), initializer=init_worker,
                             initargs=(os.getpid(), detector_factory)) as pool:
        pending: deque[tuple[Any, Future]] = deque()
        it = iter(items)
        for item in it:
            pending.append((item, pool.submit(process_path, item.path, keep_image)))
            if len(pending) >= window:
                break
        while pending:
            item, future = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(process_path, nxt.path, keep_image)))
            yield item, future.result()


class InferenceRunner:
    """Run one detector, a chain of selector stages and some writers over image items.

    ``items`` are objects with ``path`` and ``rel_path`` string attributes (see
    :class:`regionkit.plugins.datasets.image_folder.ImageItem`); ``rel_path`` keys the
    journal.  ``hook`` is a pluggy hook relay (``PluginManager.hook``) or ``None``.
    """

    def __init__(self, detector: Any, stages: Sequence[SelectorStage], writers: dict[str, BaseWriter],
                 batch_size: int = 1, num_workers: int = 0, hook: Any = None, progress: bool = True,
                 detector_factory: Callable[[], Any] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.detector = detector
        self.stages = list(stages)
        self.writers = writers
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.hook = hook
        self.progress = progress
        #: picklable zero-argument callable building a copy of the detector inside a worker
        self.detector_factory = detector_factory
        self.check_wiring()

    @property
    def detects_in_workers(self) -> bool:
        return (self.num_workers > 0 and self.detector_factory is not None
                and bool(getattr(self.detector, "parallel_safe", False)))

    @property
    def needs_pixels(self) -> bool:
        """Whether any selector or writer looks at the decoded image after detection."""
        return (any(getattr(st.selector, "needs_image", False) for st in self.stages)
                or any(getattr(w, "needs_image", False) for w in self.writers.values()))

    def check_wiring(self) -> None:
        """Fail before any work if a stage or writer reads a region set nobody produces."""
        produced = ["detections"]
        for stage in self.stages:
            if stage.input not in produced:
                raise ValueError(f"selector stage '{stage.output}' reads '{stage.input}', which no earlier "
                                 f"stage produces (available: {', '.join(produced)})")
            produced.append(stage.output)
        for name, writer in self.writers.items():
            missing = sorted(writer.required_regions() - set(produced))
            if missing:
                raise ValueError(f"writer '{name}' needs region set(s) {', '.join(missing)}, but the selector "
                                 f"stages produce only: {', '.join(produced)}")

    # ------------------------------------------------------------------ one image / batch
    def _detect(self, images: list[np.ndarray]) -> list[Boxes]:
        out = self.detector.detect(images)
        if not isinstance(out, (list, tuple)) or len(out) != len(images) or not all(isinstance(b, Boxes) for b in out):
            raise DetectorContractError(
                f"{type(self.detector).__name__}.detect returned {type(out).__name__} of "
                f"{len(out) if hasattr(out, '__len__') else '?'} items for {len(images)} images; "
                f"it must return one Boxes per image")
        return list(out)

    def _detect_batch(self, loaded: list[tuple[Any, np.ndarray]]) -> list[tuple[Any, np.ndarray, Any]]:
        """``(item, image, Boxes or exception)``; a failing batch is retried image by image."""
        if not loaded:
            return []
        try:
            boxes = self._detect([img for _, img in loaded])
            return [(item, img, b) for (item, img), b in zip(loaded, boxes)]
        except DetectorContractError:
            raise
        except Exception as exc:
            if len(loaded) == 1:
                return [(loaded[0][0], loaded[0][1], exc)]
        out: list[tuple[Any, np.ndarray, Any]] = []
        for item, img in loaded:
            try:
                out.append((item, img, self._detect([img])[0]))
            except DetectorContractError:
                raise
            except Exception as exc:
                out.append((item, img, exc))
        return out

    def _process(self, item: Any, size: tuple[int, int], image: np.ndarray | None, boxes: Any,
                 run: RunInfo) -> tuple[dict[str, Any], SanitizeReport]:
        if not isinstance(boxes, Boxes):
            raise DetectorContractError(f"{type(self.detector).__name__}.detect must return Boxes per image, "
                                        f"got {type(boxes).__name__}")
        if boxes.image_size != size:
            raise DetectorContractError(f"detector reported image_size {boxes.image_size} for a {size} image")
        clean, report = boxes.sanitize()
        result = ImageResult(path=item.path, rel_path=item.rel_path, image_size=size, detections=clean,
                             name=getattr(item, "name", ""), meta=dict(getattr(item, "meta", {}) or {}), image=image)
        if self.hook is not None:
            self.hook.regionkit_after_detections(run=run, result=result)
        for stage in self.stages:
            source = result.region(stage.input)
            if getattr(stage.selector, "needs_image", False):
                result.regions[stage.output] = stage.selector(source, image=image)
            else:
                result.regions[stage.output] = stage.selector(source)
        records = {}
        for name, writer in self.writers.items():
            record = writer.make_record(result)
            if self.hook is not None:
                self.hook.regionkit_before_write(run=run, result=result, writer=name, record=record)
            records[name] = record
        return records, report

    # ------------------------------------------------------------------ the run
    def _open_journal(self, out_dir: Path, fingerprint: str, resume: bool, overwrite: bool) -> Journal:
        path = out_dir / JOURNAL_FILE
        journal = Journal(path)
        state = Journal.inspect(path)
        if state is not None and resume:
            if state.fingerprint != fingerprint:
                raise RunStateError(f"cannot resume in {out_dir}: its journal was written with a different config "
                                    f"or image list; use another --out-dir, or --overwrite to start again")
            journal.reopen()
            return journal
        if state is not None and not state.finished and not overwrite:
            raise RunStateError(f"{out_dir} holds an unfinished run ({state.num_ok} images done); pass --resume to "
                                f"continue it or --overwrite to start again")
        journal.start(fingerprint)
        return journal

    def run(self, items: Sequence[Any], out_dir: Path, config: dict[str, Any] | None = None, fingerprint: str = "",
            resume: bool = False, overwrite: bool = False) -> RunSummary:
        """Process ``items`` into ``out_dir``; see the module docstring for resume semantics."""
        start = time.perf_counter()
        out_dir = Path(out_dir)
        keys = [item.rel_path for item in items]
        if len(set(keys)) != len(keys):
            raise ValueError("the dataset yields the same relative path twice; image keys must be unique")
        journal = self._open_journal(out_dir, fingerprint, resume, overwrite)
        for writer in self.writers.values():
            start_writer = getattr(writer, "start", None)
            if callable(start_writer):
                start_writer(out_dir)
        try:
            done = journal.done_keys()
            todo = [item for item in items if item.rel_path not in done]
            run = RunInfo(out_dir=out_dir, num_images=len(items), config=dict(config or {}))
            if self.hook is not None:
                self.hook.regionkit_run_start(run=run)
            sanitize = self._process_all(todo, journal, run, resumed=len(items) - len(todo))
            summary = self._finalize(items, keys, journal, out_dir, sanitize, start, len(items) - len(todo))
            journal.finish(len(items))
        finally:
            journal.close()
        if self.hook is not None:
            self.hook.regionkit_run_end(run=run, summary=summary)
        return summary

    def _process_all(self, todo: Sequence[Any], journal: Journal, run: RunInfo, resumed: int) -> SanitizeReport:
        sanitize = SanitizeReport()
        in_workers = self.detects_in_workers
        window = 2 * self.num_workers + (1 if in_workers else self.batch_size)
        bar = tqdm(total=resumed + len(todo), initial=resumed, unit="img", desc="infer", disable=not self.progress,
                   dynamic_ncols=True)
        batch: list[tuple[Any, np.ndarray]] = []
        try:
            stream = _stream(todo, self.num_workers, window, self.detector_factory if in_workers else None,
                             keep_image=self.needs_pixels)
            for n, (item, got) in enumerate(stream, start=1):
                if got.error is not None:
                    journal.add_failure(item.rel_path, item.path, "load", str(got.error))
                    bar.update(1)
                elif got.detect_error is not None:
                    journal.add_failure(item.rel_path, item.path, "detect", got.detect_error)
                    bar.update(1)
                elif got.boxes is not None:
                    assert got.size is not None
                    sanitize += self._record(item, got.size, got.image, got.boxes, journal, run)
                    bar.update(1)
                else:
                    assert got.image is not None
                    batch.append((item, got.image))
                if batch and (len(batch) == self.batch_size or n == len(todo)):
                    for item_, image_, boxes in self._detect_batch(batch):
                        size = (image_.shape[1], image_.shape[0])
                        sanitize += self._record(item_, size, image_, boxes, journal, run)
                    bar.update(len(batch))
                    batch = []
        finally:
            bar.close()
        return sanitize

    def _record(self, item: Any, size: tuple[int, int], image: np.ndarray | None, boxes: Any, journal: Journal,
                run: RunInfo) -> SanitizeReport:
        if isinstance(boxes, Exception):
            journal.add_failure(item.rel_path, item.path, "detect", f"{type(boxes).__name__}: {boxes}")
            return SanitizeReport()
        try:
            records, report = self._process(item, size, image, boxes, run)
        except DetectorContractError:
            raise
        except Exception as exc:  # a selector, writer or hook failing on one image
            journal.add_failure(item.rel_path, item.path, "select/write", f"{type(exc).__name__}: {exc}")
            return SanitizeReport()
        journal.add_result(item.rel_path, item.path, records)
        return report

    def _finalize(self, items: Sequence[Any], keys: list[str], journal: Journal, out_dir: Path,
                  sanitize: SanitizeReport, start: float, resumed: int) -> RunSummary:
        outputs: list[Path] = []
        for name, writer in self.writers.items():
            records = (e["records"][name] for e in journal.entries(keys) if "records" in e)
            outputs.extend(writer.finalize(out_dir, records))
        failures = [{"image": e["path"], **e["failure"]} for e in journal.entries(keys) if "failure" in e]
        failures_path = out_dir / FAILURES_FILE
        if failures:
            outputs.append(write_json_list_atomic(failures_path, failures, indent=2))
        elif failures_path.exists():
            failures_path.unlink()  # a stale file from an earlier run would mislead
        return RunSummary(len(items), len(items) - len(failures), resumed, failures, outputs, sanitize,
                          time.perf_counter() - start)
