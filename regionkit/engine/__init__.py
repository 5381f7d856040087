"""Glue between regionkit and mmengine's ``Runner``: hooks, safe checkpoint loading, training entry points.

The home of the training half; nothing here is imported by inference.
"""
