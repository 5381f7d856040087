"""The FashionIQ metric (``fashioniq_recall``): Recall@10 and Recall@50 per category and averaged, as SPRC.

Each query arrives from the validation loop with ``scores`` over its category's gallery
(``gallery``: the names), ``target`` and ``group`` (the category).  The reference is *not*
removed from the ranking (SPRC's FashionIQ protocol).  Results:
``fiq/<category>/R@10``, ``fiq/<category>/R@50`` for each category, ``fiq/R@10`` and
``fiq/R@50`` averaged over the categories, and ``fiq/avg`` = (R@10 + R@50) / 2 (SPRC's
``average_recall``, the number papers report as FashionIQ "Avg").
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mmengine.evaluator import BaseMetric

from regionkit.errors import ConfigError
from regionkit.evaluation.retrieval import FIQ_KS, rank_names, rank_of, recall_at_k
from regionkit.params import checked

__all__ = ["FashionIQRecall", "fiq_recalls"]


def fiq_recalls(results: Sequence[Mapping[str, Any]], ks: Sequence[int] = FIQ_KS) -> dict[str, float]:
    """Per-category and averaged recalls (module docstring) from ``{"group", "rank"}`` results."""
    by_group: dict[str, list[int]] = {}
    for r in results:
        by_group.setdefault(str(r["group"]), []).append(int(r["rank"]))
    out: dict[str, float] = {}
    for group in sorted(by_group):
        for k, value in recall_at_k(by_group[group], ks).items():
            out[f"{group}/R@{k}"] = value
    for k in ks:
        out[f"R@{k}"] = sum(out[f"{g}/R@{k}"] for g in by_group) / len(by_group)
    out["avg"] = sum(out[f"R@{k}"] for k in ks) / len(ks)
    return out


class FashionIQRecall(BaseMetric):
    """FashionIQ Recall@K per category and averaged (module docstring); ``ks`` defaults to SPRC's (10, 50)."""

    default_prefix = "fiq"

    @checked
    def __init__(self, ks: Sequence[int] = FIQ_KS, collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not ks or any(k < 1 for k in ks):
            raise ConfigError(f"ks must be positive integers, got {ks!r}")
        self.ks = tuple(ks)

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        for sample in data_samples:
            if sample.get("target") is None:
                raise ConfigError(f"FashionIQ query {sample.get('pair_id')!r} has no target; FashionIQ recall needs one")
            ranking = rank_names(sample["scores"], sample["gallery"])
            self.results.append({"group": sample.get("group", "all"), "rank": rank_of(ranking, sample["target"])})

    def compute_metrics(self, results: list) -> dict[str, float]:
        if not results:
            raise ConfigError("the FashionIQ metric got no queries")
        return fiq_recalls(results, self.ks)
