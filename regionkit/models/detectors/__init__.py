"""Whole detection models built from :mod:`regionkit.models` parts (for example BARON in
``detectors.baron``).  No imports here.
"""
