"""Validation and test loops for composed image retrieval (``regionkit.RetrievalValLoop`` / ``RetrievalTestLoop``).

mmengine's ``ValLoop`` calls ``model.val_step`` batch by batch; retrieval needs the whole
gallery first.  These loops, for a :class:`~regionkit.datasets.base.RetrievalDataset` in the
val / test dataloader (its triplets are the queries):

1. encode the gallery images and the references once into a
   :class:`~regionkit.evaluation.gallery.GalleryFeatureCache` (batched, split across ranks,
   kept between validations while the image encoder is frozen);
2. compute every gallery image's target features (split across ranks, gathered);
3. for each batch of queries of this rank (mmengine's sampler splits them), compose the
   query features from the cached reference tokens and the captions and score them against
   the query's gallery;
4. pass each query's scores, with the gallery names, to the metrics (``cirr_recall``,
   ``fashioniq_recall``), which mmengine gathers across ranks and computes on rank 0.

``batch_size`` / ``num_workers``: for encoding the gallery (default: the dataloader's);
``cache_dtype``: how the cached tokens are stored (``auto``: fp16 after a GPU run).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop

from regionkit.errors import ConfigError
from regionkit.evaluation.gallery import CacheDtype, GalleryFeatureCache, RetrievalAdapter, sharded_map

__all__ = ["RetrievalValLoop", "RetrievalTestLoop", "RetrievalEvaluation"]


class RetrievalEvaluation:
    """The shared work of both loops (module docstring); ``stage`` is ``"val"`` or ``"test"``."""

    def __init__(self, stage: str, batch_size: int | None, num_workers: int | None, cache_dtype: CacheDtype) -> None:
        self.stage = stage
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.cache = GalleryFeatureCache(cache_dtype)

    def run(self, runner: Any, dataloader: Any, evaluator: Any) -> dict:
        dataset = dataloader.dataset
        for needed in ("gallery", "load", "triplets"):
            if not hasattr(dataset, needed):
                raise ConfigError(f"{self.stage}_dataloader.dataset is a {type(dataset).__name__}; the retrieval loop "
                                  f"needs a retrieval dataset (cirr, fashioniq, photo_edits) in relative mode")
        for metric in evaluator.metrics:
            if hasattr(metric, "set_output_dir"):
                metric.set_output_dir(runner.work_dir)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        adapter = RetrievalAdapter(model)
        batch = self.batch_size or dataloader.batch_size or 32
        workers = self.num_workers if self.num_workers is not None else dataloader.num_workers
        galleries = dataset.gallery()
        gallery_names = list(dict.fromkeys(n for names in galleries.values() for n in names))
        references = [t.reference for t in dataset.triplets]
        with torch.no_grad():
            self.cache.ensure(adapter, dataset.gallery_dataset(), [*gallery_names, *references], batch_size=batch,
                              num_workers=workers)
            tokens = self.cache.get(gallery_names)
            feats = sharded_map(lambda a, b: adapter.gallery_features(tokens[a:b]), len(gallery_names), batch)
            row = {n: i for i, n in enumerate(gallery_names)}
            group_rows = {g: torch.tensor([row[n] for n in names], dtype=torch.long, device=feats.device)
                          for g, names in galleries.items()}
            for idx, data_batch in enumerate(dataloader):
                runner.call_hook(f"before_{self.stage}_iter", batch_idx=idx, data_batch=data_batch)
                outputs = self._score(adapter, data_batch, feats, group_rows, galleries)
                evaluator.process(data_samples=outputs, data_batch=data_batch)
                runner.call_hook(f"after_{self.stage}_iter", batch_idx=idx, data_batch=data_batch, outputs=outputs)
        return evaluator.evaluate(len(dataset))

    def _score(self, adapter: RetrievalAdapter, data_batch: dict, feats: torch.Tensor,
               group_rows: dict[str, torch.Tensor], galleries: dict[str, list[str]]) -> list[dict[str, Any]]:
        samples: Sequence[dict[str, Any]] = data_batch["data_samples"]
        captions = data_batch["inputs"]["captions"]
        queries = adapter.query_features(self.cache.get([s["reference"] for s in samples]), captions)
        outputs: list[dict[str, Any]] = [{} for _ in samples]
        for group in dict.fromkeys(s["group"] for s in samples):
            if group not in group_rows:
                raise ConfigError(f"a query belongs to gallery {group!r}, which the dataset does not define")
            picked = [i for i, s in enumerate(samples) if s["group"] == group]
            scores = adapter.score(queries[picked], feats.index_select(0, group_rows[group])).float().cpu()
            for row, i in enumerate(picked):
                outputs[i] = {**samples[i], "scores": scores[row], "gallery": galleries[group]}
        return outputs


class RetrievalValLoop(ValLoop):
    """mmengine's ``ValLoop`` for retrieval (module docstring)."""

    def __init__(self, runner: Any, dataloader: Any, evaluator: Any, batch_size: int | None = None,
                 num_workers: int | None = None, cache_dtype: CacheDtype = "auto") -> None:
        super().__init__(runner, dataloader, evaluator)
        self.retrieval = RetrievalEvaluation("val", batch_size, num_workers, cache_dtype)

    def run(self) -> dict:
        self.runner.call_hook("before_val")
        self.runner.call_hook("before_val_epoch")
        self.runner.model.eval()
        metrics = self.retrieval.run(self.runner, self.dataloader, self.evaluator)
        self.runner.call_hook("after_val_epoch", metrics=metrics)
        self.runner.call_hook("after_val")
        return metrics


class RetrievalTestLoop(TestLoop):
    """mmengine's ``TestLoop`` for retrieval (module docstring)."""

    def __init__(self, runner: Any, dataloader: Any, evaluator: Any, batch_size: int | None = None,
                 num_workers: int | None = None, cache_dtype: CacheDtype = "auto") -> None:
        super().__init__(runner, dataloader, evaluator)
        self.retrieval = RetrievalEvaluation("test", batch_size, num_workers, cache_dtype)

    def run(self) -> dict:
        self.runner.call_hook("before_test")
        self.runner.call_hook("before_test_epoch")
        self.runner.model.eval()
        metrics = self.retrieval.run(self.runner, self.dataloader, self.evaluator)
        self.runner.call_hook("after_test_epoch", metrics=metrics)
        self.runner.call_hook("after_test")
        return metrics
