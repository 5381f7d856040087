"""Lifecycle hook specifications (pluggy, project name ``regionkit``).

A lifecycle plugin is a module or object with functions marked ``@hookimpl`` whose names
are among these specs; pluggy checks that each implementation's arguments are a subset of
the spec's.  Declare it as an entry point in the ``regionkit.lifecycle`` group::

    [options.entry_points]
    regionkit.lifecycle =
        my_audit = my_package.audit

Hooks may *observe* (log, count) or *change* results: ``after_detections`` may replace
``result.detections``; ``before_write`` may edit ``record`` in place.  The per-image hooks
are called in order, one image at a time, but not always in the main thread (with the
detector in the main process they run in the runner's helper thread).  In a sharded run
(``torchrun``) every rank calls ``run_start`` and the per-image hooks for its own images;
rank 0 alone calls ``run_end``, with the merged summary.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from regionkit.inference.runner import RunInfo, RunSummary
    from regionkit.structures.results import ImageResult

PROJECT = "regionkit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["hookspec", "hookimpl", "LifecycleSpec", "PROJECT"]


class LifecycleSpec:
    """The events of an inference run, in the order they happen."""

    @hookspec
    def regionkit_run_start(self, run: RunInfo) -> None:
        """Called once before the first image; ``run`` has the config, output folder and image count."""

    @hookspec
    def regionkit_after_detections(self, run: RunInfo, result: ImageResult) -> None:
        """Called for each image after detection (boxes sanitised), before box selection.

        Assign ``result.detections = ...`` (a :class:`~regionkit.structures.boxes.Boxes` for the same
        image) to change what the selectors see.
        """

    @hookspec
    def regionkit_before_write(self, run: RunInfo, result: ImageResult, writer: str, record: Any) -> None:
        """Called for each image and writer with the record about to be stored; edit it in place."""

    @hookspec
    def regionkit_run_end(self, run: RunInfo, summary: RunSummary) -> None:
        """Called once after the output files are written (also when images failed)."""
