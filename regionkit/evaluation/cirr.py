"""The CIRR metric (``cirr_recall``): SPRC's validation numbers, or the evaluation server's submission files on test1.

Each query the validation loop scores arrives as a dict with ``scores`` (one per gallery
image), ``gallery`` (the image names, in score order), ``reference``, ``target`` (``None`` on
``test1``), ``members`` and ``pair_id``.  :func:`~regionkit.evaluation.retrieval.cirr_query_result`
reduces it (the reference is removed from the ranking, as SPRC does); :meth:`CirrRecall.compute_metrics`
gives ``cirr/R@1 ... cirr/Rs@3``, ``cirr/avg`` = (R@5 + Rs@1) / 2 and the means of the seven.

On a split without targets (``test1``), or whenever ``submission_dir`` is set, the two files
the CIRR evaluation server takes are written (``Test-split_server.md``)::

    recall_submission_<name>.json         {"version": "rc2", "metric": "recall", "<pairid>": [top-50 names], ...}
    recall_subset_submission_<name>.json  {"version": "rc2", "metric": "recall_subset", "<pairid>": [top-3 names], ...}
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from regionkit.errors import ConfigError
from regionkit.evaluation.retrieval import cirr_query_result, cirr_recalls, rank_names
from regionkit.io.atomic import atomic_open
from regionkit.params import FileName, PathText, Range, checked

__all__ = ["CirrRecall", "write_cirr_submission"]


def write_cirr_submission(results: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike[str],
                          name: str = "regionkit") -> list[Path]:
    """Write the two CIRR server files from per-query results (``pair_id``, ``top``, ``subset_top``); returns their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    recall: dict[str, Any] = {"version": "rc2", "metric": "recall"}
    subset: dict[str, Any] = {"version": "rc2", "metric": "recall_subset"}
    for r in results:
        key = str(r["pair_id"])
        recall[key] = list(r["top"])
        subset[key] = list(r["subset_top"])
    paths = [folder / f"recall_submission_{name}.json", folder / f"recall_subset_submission_{name}.json"]
    for path, data in zip(paths, (recall, subset)):
        with atomic_open(path) as fh:
            fh.write(json.dumps(data))
    return paths


class CirrRecall(BaseMetric):
    """CIRR Recall@K and Recall_subset@K as SPRC reports them; writes test1 submissions (module docstring).

    ``top_k`` / ``subset_top_k``: names kept per query for the submission (50 and 3, the
    server's); ``submission_dir``: write the submission files there (default: on a split
    without targets only, into ``<work_dir>/cirr_submission``); ``submission_name``: the
    ``<name>`` in the file names.
    """

    default_prefix = "cirr"

    @checked
    def __init__(self, top_k: Annotated[int, Range(1, 10000)] = 50, subset_top_k: Annotated[int, Range(1, 100)] = 3,
                 submission_dir: PathText | None = None, submission_name: Annotated[str, FileName()] = "regionkit",
                 collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.top_k = top_k
        self.subset_top_k = subset_top_k
        self.submission_dir = None if submission_dir is None else str(submission_dir)
        self.submission_name = submission_name
        self.default_output_dir: str | None = None
        self.written: list[Path] = []

    def set_output_dir(self, folder: str | os.PathLike[str]) -> None:
        """Where submission files go when ``submission_dir`` is not set (the validation loop passes the work dir)."""
        self.default_output_dir = str(folder)

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        for sample in data_samples:
            ranking = rank_names(sample["scores"], sample["gallery"])
            result = cirr_query_result(sample["pair_id"], ranking, sample["reference"], sample.get("target"),
                                       sample.get("members", ()), self.top_k, self.subset_top_k)
            self.results.append({"pair_id": result.pair_id, "rank": result.rank, "subset_rank": result.subset_rank,
                                 "top": list(result.top), "subset_top": list(result.subset_top)})

    def compute_metrics(self, results: list) -> dict[str, float]:
        if not results:
            raise ConfigError("the CIRR metric got no queries")
        answered = [r for r in results if r["rank"] is not None]
        if answered and len(answered) != len(results):
            print_log(f"CIRR: {len(results) - len(answered)} of {len(results)} queries have no target; the recalls "
                      f"are over the {len(answered)} that do", logger="current")
        metrics = cirr_recalls(answered) if answered else {}
        folder = self.submission_dir
        if folder is None and not answered:
            folder = os.path.join(self.default_output_dir or ".", "cirr_submission")
        if folder is not None:
            self.written = write_cirr_submission(results, folder, self.submission_name)
            print_log(f"CIRR submission files for {len(results)} queries: {', '.join(map(str, self.written))}",
                      logger="current")
        metrics["queries"] = float(len(results))
        return metrics
