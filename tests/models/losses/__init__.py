"""Tests of regionkit.models.losses: formula checks, parity with the original SPRC / FG-CLIP code, conformance."""
