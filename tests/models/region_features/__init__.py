"""Tests of regionkit.models.region_features: RoI Align on token grids, box mapping, dense features."""
