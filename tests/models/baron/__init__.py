"""Tests of the native BARON detector (regionkit.models.detectors.baron)."""
