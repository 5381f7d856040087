"""A tiny third-party regionkit plugin used by the tests: installed with pip, found by entry points."""
from setuptools import setup

setup(
    name="rk-sample-plugin",
    version="0.3.0",
    packages=["rk_sample_plugin"],
    entry_points={
        "regionkit.detectors": ["center_box = rk_sample_plugin.detectors:CenterBoxDetector"],
        "regionkit.box_selectors": ["largest_only = rk_sample_plugin.selectors:LargestOnly"],
    },
)
