"""regionkit: region boxes and region-level losses as plugins.

This module is the **public plugin API** (``REGIONKIT_PLUGIN_API = "1.2"`` versions exactly
these names); everything else is internal and may move between releases.  Names load on
first use, so ``import regionkit`` imports neither mmengine nor torch::

    from regionkit import BaseDetector, Boxes, checked, Range

    class MyDetector(BaseDetector):
        @checked
        def __init__(self, *, threshold: Annotated[float, Range(0, 1)] = 0.5) -> None: ...
        def detect(self, images): return [Boxes.empty((im.shape[1], im.shape[0])) for im in images]
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from regionkit._version import PLUGIN_API_VERSION, __version__

#: public name -> module it lives in
_PUBLIC: dict[str, str] = {
    # data structures
    "Boxes": "regionkit.structures.boxes", "SanitizeReport": "regionkit.structures.boxes",
    "ImageItem": "regionkit.structures.results", "ImageResult": "regionkit.structures.results",
    "box_ops": "regionkit.structures",
    # component kinds and their base classes
    "BaseDetector": "regionkit.kinds", "BaseBoxSelector": "regionkit.kinds", "BaseWriter": "regionkit.kinds",
    "BaseCaptioner": "regionkit.kinds", "BaseMatcher": "regionkit.kinds", "ImageListDataset": "regionkit.kinds",
    "KINDS": "regionkit.kinds", "check_detections": "regionkit.kinds.detectors",
    # declared parameters
    "checked": "regionkit.params", "Range": "regionkit.params", "NonEmpty": "regionkit.params",
    "MaxLength": "regionkit.params", "FileName": "regionkit.params", "Component": "regionkit.params",
    "UnitInterval": "regionkit.params", "OutputName": "regionkit.params", "RegionSetName": "regionkit.params",
    "PathText": "regionkit.params", "Device": "regionkit.params", "check_value": "regionkit.params",
    "check_number": "regionkit.params",
    # errors
    "RegionkitError": "regionkit.errors", "ConfigError": "regionkit.errors", "ContractError": "regionkit.errors",
    "ComponentNotFoundError": "regionkit.errors", "AmbiguousNameError": "regionkit.errors",
    "PluginLoadError": "regionkit.errors", "PluginPolicyError": "regionkit.errors",
    # files
    "load_rgb": "regionkit.io.images", "ImageLoadError": "regionkit.io.images",
    "atomic_open": "regionkit.io.atomic", "write_json_list_atomic": "regionkit.io.atomic",
    "write_json_dict_atomic": "regionkit.io.atomic",
    "BoxFormat": "regionkit.io.box_files", "BoxFile": "regionkit.io.box_files", "BoxEntry": "regionkit.io.box_files",
    "BoxFileError": "regionkit.io.box_files", "boxes_array": "regionkit.io.box_files",
    # lifecycle hooks
    "hookimpl": "regionkit.inference.hookspecs",
    # registries (these import mmengine)
    "registry_for": "regionkit.registry",
    # configs with regionkit:: bases and safe overrides (1.2)
    "load_config": "regionkit.config.loader",
    # the conformance kit
    "check_detector": "regionkit.testing", "check_selector": "regionkit.testing", "check_writer": "regionkit.testing",
    "check_loss": "regionkit.testing", "check_captioner": "regionkit.testing", "check_matcher": "regionkit.testing",
    "ConformanceError": "regionkit.testing",
}

__all__ = ["__version__", "PLUGIN_API_VERSION", *_PUBLIC]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from regionkit.config.loader import load_config
    from regionkit.errors import (
        AmbiguousNameError,
        ComponentNotFoundError,
        ConfigError,
        ContractError,
        PluginLoadError,
        PluginPolicyError,
        RegionkitError,
    )
    from regionkit.inference.hookspecs import hookimpl
    from regionkit.io.atomic import atomic_open, write_json_dict_atomic, write_json_list_atomic
    from regionkit.io.box_files import BoxEntry, BoxFile, BoxFileError, BoxFormat, boxes_array
    from regionkit.io.images import ImageLoadError, load_rgb
    from regionkit.kinds import (
        KINDS,
        BaseBoxSelector,
        BaseCaptioner,
        BaseDetector,
        BaseMatcher,
        BaseWriter,
        ImageListDataset,
    )
    from regionkit.kinds.detectors import check_detections
    from regionkit.params import (
        Component,
        Device,
        FileName,
        MaxLength,
        NonEmpty,
        OutputName,
        PathText,
        Range,
        RegionSetName,
        UnitInterval,
        check_number,
        check_value,
        checked,
    )
    from regionkit.registry import registry_for
    from regionkit.structures import box_ops
    from regionkit.structures.boxes import Boxes, SanitizeReport
    from regionkit.structures.results import ImageItem, ImageResult
    from regionkit.testing import (
        ConformanceError,
        check_captioner,
        check_detector,
        check_loss,
        check_matcher,
        check_selector,
        check_writer,
    )


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'regionkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name) if name != "box_ops" else \
        importlib.import_module("regionkit.structures.box_ops")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
