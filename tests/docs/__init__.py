"""Tests of the documentation site (docs/, mkdocs.yml)."""
