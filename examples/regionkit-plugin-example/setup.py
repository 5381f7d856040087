"""Packaging for regionkit-plugin-example: a third-party detector plugin for regionkit.

The entry point is the whole registration: regionkit reads it from the installed
metadata, lists ``edge_density`` in ``regionkit list detectors`` and imports
``regionkit_plugin_example.detectors`` only when a config uses it.
"""
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent

setup(
    name="regionkit-plugin-example",
    version="0.1.0",
    description="Edge-density region boxes for regionkit (an example third-party detector plugin)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["regionkit_plugin_example"],
    install_requires=["regionkit>=0.2", "numpy", "scipy", "Pillow"],
    extras_require={"test": ["pytest>=7"]},
    entry_points={
        "regionkit.detectors": [
            "edge_density = regionkit_plugin_example.detectors:EdgeDensityDetector",
        ],
    },
)
