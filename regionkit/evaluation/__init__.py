"""Evaluation metrics as mmengine ``BaseMetric`` s (retrieval recall@k and the CIRR subset metric, COCO).

The home of the training half's metrics; registered in ``regionkit.metrics`` like every component.
"""
