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
    "pytest11": ["regionkit = regionkit.devkit.pytest_plugin"],
    "regionkit.detectors": [
        "saliency = regionkit.plugins.detectors.saliency:SaliencyDetector",
        "yolo = regionkit.plugins.detectors.yolo:YoloDetector",
        "hybrid = regionkit.plugins.detectors.hybrid:HybridDetector",
        "baron = regionkit.plugins.detectors.baron:BaronOpenVocabDetector",
        "seggpt = regionkit.plugins.detectors.seggpt:SegGptDetector",
    ],
    "regionkit.box_selectors": [
        "patch_matters_score_filter = regionkit.plugins.patch_matters.selectors:PatchMattersScoreFilter",
        "neighbor_rpn_merge = regionkit.plugins.patch_matters.selectors:NeighborRpnMerge",
        "n_part_regions = regionkit.plugins.patch_matters.selectors:NPartRegions",
        "main_box_union = regionkit.plugins.patch_matters.main_box:MainBoxUnion",
        "patch_matters_main_box = regionkit.plugins.patch_matters.main_box:PatchMattersMainBox",
        "cirr_box_filter = regionkit.plugins.cirr.box_filter:CirrBoxFilter",
        "score_filter = regionkit.plugins.generic.selectors:ScoreFilter",
        "class_filter = regionkit.plugins.generic.selectors:ClassFilter",
        "area_filter = regionkit.plugins.generic.selectors:AreaFilter",
        "top_k = regionkit.plugins.generic.selectors:TopK",
        "nms = regionkit.plugins.generic.selectors:Nms",
    ],
    "regionkit.losses": [
        "itc = regionkit.models.losses.sprc:ItcLoss",
        "rtc = regionkit.models.losses.sprc:RtcLoss",
        "align = regionkit.models.losses.sprc:AlignLoss",
        "region_itc = regionkit.models.losses.region_itc:RegionItcLoss",
        "fgclip_region_text = regionkit.models.losses.fgclip:FgclipRegionTextLoss",
        "fgclip_hard_negative = regionkit.models.losses.fgclip:FgclipHardNegativeLoss",
    ],
    "regionkit.models": [
        "sprc = regionkit.models.retrieval.sprc.model:SprcModel",
        "seggpt = regionkit.models.segmentation.seggpt.finetune:SegGptFineTune",
    ],
    "regionkit.captioners": [
        "transformers_captioner = regionkit.plugins.language.captioner:TransformersCaptioner",
    ],
    "regionkit.matchers": [
        "llm_matcher = regionkit.plugins.language.matchers:LlmMatcher",
        "keyword_matcher = regionkit.plugins.language.matchers:KeywordMatcher",
    ],
    "regionkit.writers": [
        "patch_matters_four_box = regionkit.plugins.patch_matters.writers:PatchMattersFourBoxWriter",
        "patch_matters_object_box = regionkit.plugins.patch_matters.writers:PatchMattersObjectBoxWriter",
        "main_box = regionkit.plugins.patch_matters.writers:MainBoxWriter",
        "cirr_boxes = regionkit.plugins.cirr.writer:CirrBoxesWriter",
        "coco_results = regionkit.plugins.generic.coco_writer:CocoResultsWriter",
        "visualize_png = regionkit.plugins.generic.visualize:BoxVisualizer",
        "shard_jsonl = regionkit.plugins.generic.shard_writer:ShardJsonlWriter",
        "seggpt_masks = regionkit.plugins.detectors.seggpt_masks:SegGptMaskWriter",
    ],
    "regionkit.datasets": [
        "image_folder = regionkit.plugins.generic.image_folder:ImageFolder",
        "image_list = regionkit.plugins.generic.image_list:ImageList",
        "coco_images = regionkit.plugins.generic.coco_dataset:CocoImages",
        "cirr_split = regionkit.plugins.cirr.dataset:CirrSplit",
        "webdataset = regionkit.plugins.generic.webdataset_dataset:WebDatasetShards",
        # training and evaluation (regionkit train / test)
        "cirr = regionkit.datasets.cirr:CirrDataset",
        "fashioniq = regionkit.datasets.fashioniq:FashionIQDataset",
        "photo_edits = regionkit.datasets.photo_edits:PhotoEditsDataset",
        "seggpt_pairs = regionkit.models.segmentation.seggpt.finetune:SegGptPairs",
    ],
    "regionkit.metrics": [
        "cirr_recall = regionkit.evaluation.cirr:CirrRecall",
        "fashioniq_recall = regionkit.evaluation.fashioniq:FashionIQRecall",
        "seggpt_iou = regionkit.models.segmentation.seggpt.finetune:SegGptIoU",
    ],
    "regionkit.hooks": [
        "wandb_best_checkpoint = regionkit.engine.hooks:WandbBestCheckpointHook",
    ],
}

setup(
    name="regionkit",
    version=VERSION,
    description="Region boxes (detectors, box selectors) and region-level losses as plugins",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["regionkit", "regionkit.*"]),
    # the recipes ship inside the package: regionkit::saliency_four_box.py (configs/ links to them)
    package_data={"regionkit": ["py.typed", "configs/*.py", "configs/*/*.py", "configs/*/*/*.py",
                               "analysis/report_template.html"]},
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "mmengine>=0.10,<0.11",
        "pluggy>=1.2",
        "pyyaml>=5.4",
        "click>=8.0",
        "numpy",
        "matplotlib",
        "scipy",
        "Pillow>=9.1",  # Image.Resampling
        "tqdm",
    ],
    extras_require={
        "samples": ["scikit-image>=0.21"],
        "mainbox": ["transformers>=4.40,<5"],
        # the headless OpenCV build, so ultralytics never pulls a GUI OpenCV wheel of its own
        "yolo": ["ultralytics-opencv-headless>=8.3"],
        # BARON's CLIP BPE tokenizer (open_clip ships OpenAI's vocabulary; nothing is downloaded)
        "baron": ["open-clip-torch>=2.20"],
        # the `webdataset` dataset (local tar shards) and the `shard_jsonl` writer's Parquet format
        "webdataset": ["webdataset>=0.2.86"],
        "parquet": ["pyarrow>=12"],
        # the `seggpt` detector and fine-tuning (transformers' SegGptForImageSegmentation)
        "seggpt": ["transformers>=4.40"],
        # training logs: log_to=['tensorboard', 'wandb']
        "train": ["tensorboard>=2.10", "wandb>=0.16"],
        "test": ["pytest>=7", "hypothesis>=6.100", "scikit-image>=0.21", "setuptools>=64", "wheel",
                 "pycocotools>=2.0", "ultralytics-opencv-headless>=8.3", "webdataset>=0.2.86", "pyarrow>=12",
                 "open-clip-torch>=2.20", "transformers>=4.40", "tensorboard>=2.10", "wandb>=0.16"],
        # the habits CI keeps: a type checker and a linter
        "dev": ["mypy>=1.10", "ruff>=0.5"],
        # the documentation site (mkdocs build --strict; `make docs`)
        "docs": ["mkdocs>=1.6,<2", "mkdocs-material>=9.5", "mkdocstrings[python]>=1.0"],
    },
    entry_points=ENTRY_POINTS,
)
