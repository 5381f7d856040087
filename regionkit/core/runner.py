"""The inference runner: images → detector → selector stages → writers, with hooks and progress.

The runner takes already-built components (see :mod:`regionkit.core.infer_job` for building
them from a config).  A bad image never stops a run: it becomes a failure record with a
reason, written to ``failures.json``; the summary reports it and the CLI exits non-zero.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from regionkit.core.boxes import Boxes, SanitizeReport
from regionkit.core.images import ImageLoadError, load_rgb
from regionkit.core.interfaces import BaseBoxSelector, BaseWriter, ImageResult
from regionkit.core.io import write_json_atomic

__all__ = ["SelectorStage", "RunInfo", "RunSummary", "InferenceRunner", "FAILURES_FILE"]

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
    num_images: int
    num_ok: int
    failures: list[dict[str, str]]
    outputs: list[Path]
    sanitize: SanitizeReport
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failures


class DetectorContractError(RuntimeError):
    """A detector returned something other than one Boxes per image (a plugin bug)."""


class InferenceRunner:
    """Run one detector, a chain of selector stages and some writers over image items.

    ``items`` are objects with ``path`` and ``rel_path`` string attributes (see
    :class:`regionkit.plugins.datasets.image_folder.ImageItem`).  ``hook`` is a pluggy hook
    relay (``PluginManager.hook``) or ``None``.
    """

    def __init__(self, detector: Any, stages: Sequence[SelectorStage], writers: dict[str, BaseWriter],
                 batch_size: int = 1, hook: Any = None, progress: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.detector = detector
        self.stages = list(stages)
        self.writers = writers
        self.batch_size = batch_size
        self.hook = hook
        self.progress = progress
        self.check_wiring()

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

    # ------------------------------------------------------------------ one batch
    def _detect(self, images: list[np.ndarray]) -> list[Boxes]:
        out = self.detector.detect(images)
        if not isinstance(out, (list, tuple)) or len(out) != len(images) or not all(isinstance(b, Boxes) for b in out):
            raise DetectorContractError(
                f"{type(self.detector).__name__}.detect returned {type(out).__name__} of "
                f"{len(out) if hasattr(out, '__len__') else '?'} items for {len(images)} images; "
                f"it must return one Boxes per image")
        return list(out)

    def _process(self, item: Any, image: np.ndarray, boxes: Boxes, run: RunInfo) -> tuple[ImageResult, SanitizeReport]:
        size = (image.shape[1], image.shape[0])
        if boxes.image_size != size:
            raise DetectorContractError(f"detector reported image_size {boxes.image_size} for a {size} image")
        clean, report = boxes.sanitize()
        result = ImageResult(path=item.path, rel_path=item.rel_path, image_size=size, detections=clean)
        if self.hook is not None:
            self.hook.regionkit_after_detections(run=run, result=result)
        for stage in self.stages:
            result.regions[stage.output] = stage.selector(result.region(stage.input))
        for name, writer in self.writers.items():
            record = writer.make_record(result)
            if self.hook is not None:
                self.hook.regionkit_before_write(run=run, result=result, writer=name, record=record)
            writer.add_record(result, record)
        return result, report

    # ------------------------------------------------------------------ the run
    def run(self, items: Sequence[Any], out_dir: Path, config: dict[str, Any] | None = None) -> RunSummary:
        start = time.perf_counter()
        out_dir = Path(out_dir)
        run = RunInfo(out_dir=out_dir, num_images=len(items), config=dict(config or {}))
        if self.hook is not None:
            self.hook.regionkit_run_start(run=run)
        failures: list[dict[str, str]] = []
        sanitize = SanitizeReport()
        num_ok = 0
        bar = tqdm(total=len(items), unit="img", desc="infer", disable=not self.progress, dynamic_ncols=True)
        try:
            for lo in range(0, len(items), self.batch_size):
                batch = items[lo:lo + self.batch_size]
                loaded: list[tuple[Any, np.ndarray]] = []
                for item in batch:
                    try:
                        loaded.append((item, load_rgb(item.path)))
                    except ImageLoadError as exc:
                        failures.append(_failure(item, "load", exc))
                for item, image, boxes in self._detect_batch(loaded, failures):
                    try:
                        _, report = self._process(item, image, boxes, run)
                    except DetectorContractError:
                        raise
                    except Exception as exc:  # a selector or hook failing on one image
                        failures.append(_failure(item, "select/write", exc))
                        continue
                    sanitize = sanitize + report
                    num_ok += 1
                bar.update(len(batch))
        finally:
            bar.close()
        outputs: list[Path] = []
        for writer in self.writers.values():
            outputs.extend(writer.finalize(out_dir))
        failures_path = out_dir / FAILURES_FILE
        if failures:
            outputs.append(write_json_atomic(failures_path, failures, indent=2))
        elif failures_path.exists():
            failures_path.unlink()  # a stale file from an earlier run would mislead
        summary = RunSummary(len(items), num_ok, failures, outputs, sanitize, time.perf_counter() - start)
        if self.hook is not None:
            self.hook.regionkit_run_end(run=run, summary=summary)
        return summary

    def _detect_batch(self, loaded: list[tuple[Any, np.ndarray]],
                      failures: list[dict[str, str]]) -> list[tuple[Any, np.ndarray, Boxes]]:
        """Detect on the whole batch; if that raises, retry image by image to isolate the bad one."""
        if not loaded:
            return []
        try:
            boxes = self._detect([img for _, img in loaded])
            return [(item, img, b) for (item, img), b in zip(loaded, boxes)]
        except DetectorContractError:
            raise
        except Exception as exc:
            if len(loaded) == 1:
                failures.append(_failure(loaded[0][0], "detect", exc))
                return []
        out = []
        for item, img in loaded:
            try:
                out.append((item, img, self._detect([img])[0]))
            except DetectorContractError:
                raise
            except Exception as exc:
                failures.append(_failure(item, "detect", exc))
        return out


def _failure(item: Any, stage: str, exc: BaseException) -> dict[str, str]:
    """A failures.json record: which image, at which stage, and why."""
    reason = str(exc) if isinstance(exc, ImageLoadError) else f"{type(exc).__name__}: {exc}"
    return {"image": item.path, "stage": stage, "reason": reason}
