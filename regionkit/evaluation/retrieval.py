"""Ranking and recall for composed image retrieval: the arithmetic the CIRR and FashionIQ metrics share.

A query's *ranking* is the gallery sorted by score, best first; equal scores keep gallery
order (a stable sort), so a ranking is a pure function of the scores.  SPRC ranks by
``1 - score`` ascending, which is the same order.

* :func:`rank_names` sorts a gallery by score, optionally leaving the reference out (CIRR).
* :func:`cirr_query_result` reduces one CIRR query to what the metrics need: the target's
  position in the ranking without the reference, its position among the image set's other
  members (the subset ranking), the top 50 names and the top 3 subset names (the evaluation
  server's submission).
* :func:`recall_at_k` turns target positions into ``Recall@K`` in percent.
* :func:`cirr_recalls` gives SPRC's CIRR numbers: ``R@1/5/10/50``, ``Rs@1/2/3``, ``avg``
  = (R@5 + Rs@1) / 2 (the number CIRR papers report) and the arithmetic, harmonic and
  geometric means of the seven (SPRC keeps its "best" checkpoint by the arithmetic one).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["rank_names", "rank_of", "recall_at_k", "CirrQueryResult", "cirr_query_result", "cirr_recalls",
           "CIRR_KS", "CIRR_SUBSET_KS", "FIQ_KS"]

CIRR_KS = (1, 5, 10, 50)
CIRR_SUBSET_KS = (1, 2, 3)
FIQ_KS = (10, 50)


def rank_names(scores: Tensor | Sequence[float], names: Sequence[str], exclude: Iterable[str] = ()) -> list[str]:
    """``names`` sorted by ``scores`` (higher first; ties in gallery order), without the names in ``exclude``."""
    values = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    if values.numel() != len(names):
        raise ValueError(f"got {values.numel()} scores for a gallery of {len(names)} images")
    if torch.isnan(values).any():
        raise ValueError("scores contain NaN; the model's features are broken (check the loss and the inputs)")
    order = torch.sort(values, descending=True, stable=True).indices.tolist()
    skip = set(exclude)
    return [names[i] for i in order if names[i] not in skip]


def rank_of(ranking: Sequence[str], name: str, what: str = "target") -> int:
    """0-based position of ``name`` in ``ranking``; ``ValueError`` naming the image when it is absent."""
    try:
        return ranking.index(name) if isinstance(ranking, list) else list(ranking).index(name)
    except ValueError:
        raise ValueError(f"the {what} image {name!r} is not in the gallery it is ranked against") from None


def recall_at_k(positions: Sequence[int], ks: Sequence[int]) -> dict[int, float]:
    """``{K: 100 * fraction of positions < K}`` (0-based positions; an empty list gives 0)."""
    n = len(positions)
    return {k: (100.0 * sum(1 for p in positions if p < k) / n) if n else 0.0 for k in ks}


@dataclass(frozen=True)
class CirrQueryResult:
    """One CIRR query reduced: ``rank`` / ``subset_rank`` of the target (0-based; ``None`` without a target),
    the ``top`` names (submission ``recall``) and the ``subset_top`` names (submission ``recall_subset``)."""

    pair_id: Any
    rank: int | None
    subset_rank: int | None
    top: tuple[str, ...]
    subset_top: tuple[str, ...]


def cirr_query_result(pair_id: Any, ranking: Sequence[str], reference: str, target: str | None,
                      members: Sequence[str], top_k: int = 50, subset_top_k: int = 3) -> CirrQueryResult:
    """SPRC's CIRR protocol for one query, from a ranking of the whole split gallery.

    The reference is removed from the ranking; the subset ranking keeps, in ranking order,
    only the image set's members (the reference excluded).  SPRC asserts that the target
    occurs exactly once in both; here its absence is a ``ValueError``.
    """
    ranked = [n for n in ranking if n != reference]
    member_set = {m for m in members if m != reference}
    subset = [n for n in ranked if n in member_set]
    rank = subset_rank = None
    if target is not None:
        rank = rank_of(ranked, target)
        if member_set:
            subset_rank = rank_of(subset, target, "target (in the image set)")
    return CirrQueryResult(pair_id, rank, subset_rank, tuple(ranked[:top_k]), tuple(subset[:subset_top_k]))


def _means(values: Sequence[float]) -> dict[str, float]:
    arithmetic = sum(values) / len(values)
    harmonic = len(values) / sum(1.0 / v for v in values) if all(v > 0 for v in values) else 0.0
    geometric = math.exp(sum(math.log(v) for v in values) / len(values)) if all(v > 0 for v in values) else 0.0
    return {"mean": arithmetic, "harmonic_mean": harmonic, "geometric_mean": geometric}


def cirr_recalls(results: Sequence[CirrQueryResult | Mapping[str, Any]]) -> dict[str, float]:
    """``R@1 R@5 R@10 R@50 Rs@1 Rs@2 Rs@3 avg mean harmonic_mean geometric_mean`` (percent) of queries with targets."""
    ranks = [_get(r, "rank") for r in results if _get(r, "rank") is not None]
    subset = [_get(r, "subset_rank") for r in results if _get(r, "subset_rank") is not None]
    out = {f"R@{k}": v for k, v in recall_at_k(ranks, CIRR_KS).items()}
    out.update({f"Rs@{k}": v for k, v in recall_at_k(subset, CIRR_SUBSET_KS).items()})
    out["avg"] = (out["R@5"] + out["Rs@1"]) / 2
    out.update(_means([out[f"R@{k}"] for k in CIRR_KS] + [out[f"Rs@{k}"] for k in CIRR_SUBSET_KS]))
    return out


def _get(result: CirrQueryResult | Mapping[str, Any], key: str) -> Any:
    return result[key] if isinstance(result, Mapping) else getattr(result, key)
