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
    # the conformance suite for plugin authors: pytest --regionkit-conformance=DIST
    "pytest11": ["regionkit = regionkit.testing.pytest_plugin"],
    "regionkit.detectors": [
        "saliency = regionkit.plugins.detectors.saliency:SaliencyDetector",
        "yolo = regionkit.plugins.detectors.yolo:YoloDetector",
        "hybrid = regionkit.plugins.detectors.hybrid:HybridDetector",
    ],
    "regionkit.box_selectors": [
        "patch_matters_score_filter = regionkit.plugins.selectors.patch_matters:PatchMattersScoreFilter",
        "neighbor_rpn_merge = regionkit.plugins.selectors.patch_matters:NeighborRpnMerge",
        "n_part_regions = regionkit.plugins.selectors.patch_matters:NPartRegions",
        "cirr_box_filter = regionkit.plugins.selectors.cirr:CirrBoxFilter",
        "score_filter = regionkit.plugins.selectors.generic:ScoreFilter",
        "class_filter = regionkit.plugins.selectors.generic:ClassFilter",
        "area_filter = regionkit.plugins.selectors.generic:AreaFilter",
        "top_k = regionkit.plugins.selectors.generic:TopK",
        "nms = regionkit.plugins.selectors.generic:Nms",
        "main_box_union = regionkit.plugins.selectors.main_box:MainBoxUnion",
        "patch_matters_main_box = regionkit.plugins.selectors.main_box:PatchMattersMainBox",
    ],
    "regionkit.captioners": [
        "transformers_captioner = regionkit.plugins.captioners.transformers_captioner:TransformersCaptioner",
    ],
    "regionkit.matchers": [
        "llm_matcher = regionkit.plugins.matchers.llm_matcher:LlmMatcher",
        "keyword_matcher = regionkit.plugins.matchers.llm_matcher:KeywordMatcher",
    ],
    "regionkit.writers": [
        "patch_matters_four_box = regionkit.plugins.writers.patch_matters:PatchMattersFourBoxWriter",
        "patch_matters_object_box = regionkit.plugins.writers.patch_matters:PatchMattersObjectBoxWriter",
        "main_box = regionkit.plugins.writers.main_box:MainBoxWriter",
        "cirr_boxes = regionkit.plugins.writers.cirr:CirrBoxesWriter",
        "coco_results = regionkit.plugins.writers.coco:CocoResultsWriter",
        "visualize_png = regionkit.plugins.writers.visualize:BoxVisualizer",
    ],
    "regionkit.datasets": [
        "image_folder = regionkit.plugins.datasets.image_folder:ImageFolder",
        "cirr_split = regionkit.plugins.datasets.cirr:CirrSplit",
        "coco_images = regionkit.plugins.datasets.coco:CocoImages",
        "image_list = regionkit.plugins.datasets.image_list:ImageList",
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
        "matplotlib",
        "scipy",
        "Pillow>=9.0",
        "tqdm",
    ],
    extras_require={
        "samples": ["scikit-image>=0.21"],
        "mainbox": ["transformers>=4.40,<5"],
        # the headless OpenCV build, so ultralytics never pulls a GUI OpenCV wheel of its own
        "yolo": ["ultralytics-opencv-headless>=8.3"],
        "test": ["pytest>=7", "scikit-image>=0.21", "setuptools>=64", "wheel", "pycocotools>=2.0",
                 "ultralytics-opencv-headless>=8.3"],
    },
    entry_points=ENTRY_POINTS,
)
