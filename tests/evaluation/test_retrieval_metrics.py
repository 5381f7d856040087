"""CIRR and FashionIQ metrics on hand-built rankings with known answers, and against a transcription of SPRC's code."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from regionkit.evaluation.cirr import CirrRecall, write_cirr_submission
from regionkit.evaluation.fashioniq import FashionIQRecall, fiq_recalls
from regionkit.evaluation.retrieval import (
    CirrQueryResult,
    cirr_query_result,
    cirr_recalls,
    rank_names,
    recall_at_k,
)


def scores_for(ranking: list[str], gallery: list[str]) -> torch.Tensor:
    """Scores over ``gallery`` that rank it exactly as ``ranking`` (first = highest)."""
    value = {name: float(len(ranking) - i) for i, name in enumerate(ranking)}
    return torch.tensor([value[n] for n in gallery])


def test_rank_names_sorts_by_score_and_keeps_gallery_order_on_ties():
    assert rank_names([0.1, 0.9, 0.5], ["a", "b", "c"]) == ["b", "c", "a"]
    assert rank_names([0.5, 0.5, 0.1, 0.5], ["a", "b", "c", "d"]) == ["a", "b", "d", "c"]
    assert rank_names([0.5, 0.5, 0.1], ["a", "b", "c"], exclude=["a"]) == ["b", "c"]
    with pytest.raises(ValueError, match="2 scores for a gallery of 3"):
        rank_names([0.1, 0.2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="NaN"):
        rank_names([float("nan"), 0.2], ["a", "b"])


def test_recall_at_k_counts_positions_below_k():
    assert recall_at_k([0, 3, 7, 60], (1, 5, 10, 50)) == {1: 25.0, 5: 50.0, 10: 75.0, 50: 75.0}
    assert recall_at_k([], (1,)) == {1: 0.0}


def test_one_cirr_query_removes_the_reference_and_ranks_the_subset():
    # ranking of the whole split gallery: the reference first (it is removed), then x1, the target, ...
    ranking = ["ref", "x1", "m1", "tgt", "x2", "m2", "m3", "m4", "x3"]
    members = ["ref", "tgt", "m1", "m2", "m3", "m4"]
    r = cirr_query_result(7, ranking, "ref", "tgt", members, top_k=3, subset_top_k=3)
    assert r.rank == 2  # x1, m1 before it once the reference is gone
    assert r.subset_rank == 1  # m1 before it among the five other members
    assert r.top == ("x1", "m1", "tgt")
    assert r.subset_top == ("m1", "tgt", "m2")
    with pytest.raises(ValueError, match="'nowhere' is not in the gallery"):
        cirr_query_result(1, ranking, "ref", "nowhere", members)


def test_cirr_recalls_known_numbers():
    results = [CirrQueryResult(i, rank, subset, (), ()) for i, (rank, subset) in
               enumerate([(0, 0), (3, 1), (7, 2), (60, 4)])]
    out = cirr_recalls(results)
    expected = {"R@1": 25.0, "R@5": 50.0, "R@10": 75.0, "R@50": 75.0, "Rs@1": 25.0, "Rs@2": 50.0, "Rs@3": 75.0}
    for key, value in expected.items():
        assert out[key] == pytest.approx(value), key
    assert out["avg"] == pytest.approx((50.0 + 25.0) / 2)
    seven = list(expected.values())
    assert out["mean"] == pytest.approx(sum(seven) / 7)
    assert out["harmonic_mean"] == pytest.approx(7 / sum(1 / v for v in seven))
    assert out["geometric_mean"] == pytest.approx(math.exp(sum(math.log(v) for v in seven) / 7))


def sprc_cirr_reference(scores: np.ndarray, names: list[str], refs: list[str], targets: list[str],
                        members: list[list[str]]) -> dict[str, float]:
    """SPRC's ``compute_cirr_val_metrics`` transcribed with numpy: sort by distance, drop the reference, count."""
    names_arr = np.array(names)
    distances = 1 - scores
    sorted_names = names_arr[np.argsort(distances, axis=1, kind="stable")]
    keep = sorted_names != np.array(refs)[:, None]
    sorted_names = sorted_names[keep].reshape(len(refs), -1)
    labels = sorted_names == np.array(targets)[:, None]
    out = {f"R@{k}": float(labels[:, :k].sum(1).mean() * 100) for k in (1, 5, 10, 50)}
    group = np.array([[n in set(m) for n in row] for row, m in zip(sorted_names, members)])
    group_labels = labels[group].reshape(len(refs), -1)
    out.update({f"Rs@{k}": float(group_labels[:, :k].sum(1).mean() * 100) for k in (1, 2, 3)})
    return out


def test_cirr_metric_matches_a_transcription_of_sprcs_evaluation():
    rng = np.random.default_rng(3)
    gallery = [f"img{i}" for i in range(80)]
    samples, refs, targets, members = [], [], [], []
    for q in range(40):
        chosen = rng.choice(80, size=6, replace=False)
        ref, tgt = gallery[chosen[0]], gallery[chosen[1]]
        mem = [gallery[c] for c in chosen]
        scores = rng.random(80).astype(np.float32)
        samples.append({"pair_id": q, "reference": ref, "target": tgt, "members": mem, "scores": torch.from_numpy(scores),
                        "gallery": gallery})
        refs.append(ref)
        targets.append(tgt)
        members.append(mem)
    metric = CirrRecall(prefix="cirr")
    metric.process({}, samples)
    ours = metric.compute_metrics(metric.results)
    reference = sprc_cirr_reference(np.stack([s["scores"].numpy() for s in samples]), gallery, refs, targets, members)
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value), key
    assert ours["queries"] == 40


def test_cirr_metric_evaluate_adds_the_prefix():
    gallery = ["ref", "tgt", "a", "b"]
    metric = CirrRecall()
    metric.process({}, [{"pair_id": 0, "reference": "ref", "target": "tgt", "members": ["ref", "tgt", "a"],
                         "scores": scores_for(["ref", "tgt", "a", "b"], gallery), "gallery": gallery}])
    out = metric.evaluate(1)
    assert out["cirr/R@1"] == 100.0 and out["cirr/Rs@1"] == 100.0 and out["cirr/avg"] == 100.0


def test_test1_queries_write_the_servers_submission_files(tmp_path):
    gallery = [f"g{i}" for i in range(60)]
    metric = CirrRecall(submission_name="mine")
    metric.set_output_dir(tmp_path)
    order = list(reversed(gallery))  # g59 best
    metric.process({}, [{"pair_id": 123, "reference": "g59", "target": None, "members": ["g59", "g0", "g1", "g2", "g3", "g4"],
                         "scores": scores_for(order, gallery), "gallery": gallery}])
    out = metric.compute_metrics(metric.results)
    assert "R@1" not in out and out["queries"] == 1
    recall = json.loads((tmp_path / "cirr_submission" / "recall_submission_mine.json").read_text())
    subset = json.loads((tmp_path / "cirr_submission" / "recall_subset_submission_mine.json").read_text())
    assert recall["version"] == "rc2" and recall["metric"] == "recall"
    assert recall["123"] == [f"g{i}" for i in range(58, 8, -1)]  # top 50 without the reference
    assert subset["version"] == "rc2" and subset["metric"] == "recall_subset"
    assert subset["123"] == ["g4", "g3", "g2"]


def test_write_cirr_submission_keys_are_pair_ids(tmp_path):
    paths = write_cirr_submission([{"pair_id": 5, "top": ["a"], "subset_top": ["b"]}], tmp_path, "x")
    assert [p.name for p in paths] == ["recall_submission_x.json", "recall_subset_submission_x.json"]
    assert json.loads(paths[0].read_text()) == {"version": "rc2", "metric": "recall", "5": ["a"]}


def test_fashioniq_recall_per_category_does_not_remove_the_reference():
    gallery = ["ref", "t", "x"]
    metric = FashionIQRecall(ks=(1, 2))
    # the reference ranks first: the target is at position 1, so R@1 = 0 and R@2 = 100 (SPRC keeps the reference)
    metric.process({}, [{"pair_id": "dress/0", "reference": "ref", "target": "t", "group": "dress",
                         "scores": scores_for(["ref", "t", "x"], gallery), "gallery": gallery},
                        {"pair_id": "shirt/0", "reference": "ref", "target": "t", "group": "shirt",
                         "scores": scores_for(["t", "ref", "x"], gallery), "gallery": gallery}])
    out = metric.compute_metrics(metric.results)
    assert out["dress/R@1"] == 0.0 and out["dress/R@2"] == 100.0
    assert out["shirt/R@1"] == 100.0 and out["shirt/R@2"] == 100.0
    assert out["R@1"] == 50.0 and out["R@2"] == 100.0 and out["avg"] == 75.0


def test_fiq_recalls_average_over_categories_not_queries():
    results = [{"group": "dress", "rank": 0}, {"group": "dress", "rank": 99}, {"group": "toptee", "rank": 20}]
    out = fiq_recalls(results)
    assert out["dress/R@10"] == 50.0 and out["toptee/R@10"] == 0.0 and out["toptee/R@50"] == 100.0
    assert out["R@10"] == 25.0 and out["R@50"] == 75.0 and out["avg"] == 50.0
