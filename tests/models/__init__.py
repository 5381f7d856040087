"""Tests of regionkit.models (native re-implementations)."""
