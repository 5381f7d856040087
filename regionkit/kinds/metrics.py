"""Metrics: mmengine ``BaseMetric`` s a Runner evaluates with."""
from __future__ import annotations

from regionkit.kinds.base import ContractMethod, Kind

__all__ = ["KIND"]

KIND = Kind(key="metrics", singular="metric", contract="an mmengine BaseMetric: process(batch, samples); compute_metrics(results)",
            methods=(ContractMethod("process", 2, "process(data_batch, data_samples)"),
                     ContractMethod("compute_metrics", 1, "compute_metrics(results) -> dict")),
            mmengine_parent="METRICS", example_target="my_pkg.metrics:MyMetric")
