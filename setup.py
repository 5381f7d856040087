"""Packaging for regionkit.

regionkit's own components are declared through the same entry-point groups a third-party
plugin uses (``regionkit.<kind>``); nothing is registered by import side effects.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "regionkit" / "_version.py").read_text()).group(1)

ENTRY_POINTS = {
    "console_scripts": ["regionkit = regionkit.cli.main:main"],
    "regionkit.detectors": [
        "saliency = regionkit.plugins.detectors.saliency:SaliencyDetector",
    ],
    "regionkit.box_selectors": [
        "patch_matters_score_filter = regionkit.plugins.selectors.patch_matters:PatchMattersScoreFilter",
        "neighbor_rpn_merge = regionkit.plugins.selectors.patch_matters:NeighborRpnMerge",
        "n_part_regions = regionkit.plugins.selectors.patch_matters:NPartRegions",
    ],
    "regionkit.writers": [
        "patch_matters_four_box = regionkit.plugins.writers.patch_matters:PatchMattersFourBoxWriter",
        "patch_matters_object_box = regionkit.plugins.writers.patch_matters:PatchMattersObjectBoxWriter",
    ],
    "regionkit.datasets": [
        "image_folder = regionkit.plugins.datasets.image_folder:ImageFolder",
    ],
}

setup(
    name="regionkit",
    version=VERSION,
    description="Region boxes (detectors, box selectors) and region-level losses as plugins",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["regionkit", "regionkit.*"]),
    package_data={"regionkit": ["py.typed"]},
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "mmengine>=0.10,<0.11",
        "pluggy>=1.2",
        "click>=8.0",
        "numpy",
        "scipy",
        "Pillow>=9.0",
        "tqdm",
    ],
    extras_require={
        "samples": ["scikit-image>=0.21"],
        "test": ["pytest>=7", "scikit-image>=0.21", "setuptools>=64", "wheel"],
    },
    entry_points=ENTRY_POINTS,
)
