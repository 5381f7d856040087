"""regionkit's registries: one per component kind, filled from entry points.

Public surface::

    from regionkit.registry import DETECTORS, BOX_SELECTORS, WRITERS, registry_for
    det = DETECTORS.build(dict(type="saliency", threshold=0.5))

``DETECTORS``, ``BOX_SELECTORS``, ``LOSSES``, ``WRITERS`` are root registries of scope
``regionkit``; ``MODELS``, ``DATASETS``, ``METRICS`` and ``HOOKS`` are children of mmengine's
root registries of the same kind, so mmengine's Runner can build regionkit components.
"""
from __future__ import annotations

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS

from regionkit.registry.discovery import (EntrySpec, PluginDist, PluginIndex, configure_plugins,
                                          get_index, refresh_index)
from regionkit.registry.errors import (AmbiguousNameError, ComponentNotFoundError, ConfigError,
                                       PluginLoadError, PluginPolicyError, RegionkitError)
from regionkit.registry.hookspecs import hookimpl
from regionkit.registry.kinds import KINDS, normalize_kind
from regionkit.registry.policy import PluginPolicy
from regionkit.registry.registry import ComponentInfo, ComponentRegistry

_PARENTS = {"MODELS": MMENGINE_MODELS, "DATASETS": MMENGINE_DATASETS,
            "METRICS": MMENGINE_METRICS, "HOOKS": MMENGINE_HOOKS}

DETECTORS = ComponentRegistry(KINDS["detectors"])
BOX_SELECTORS = ComponentRegistry(KINDS["box_selectors"])
LOSSES = ComponentRegistry(KINDS["losses"])
WRITERS = ComponentRegistry(KINDS["writers"])
MODELS = ComponentRegistry(KINDS["models"], parent=_PARENTS["MODELS"])
DATASETS = ComponentRegistry(KINDS["datasets"], parent=_PARENTS["DATASETS"])
METRICS = ComponentRegistry(KINDS["metrics"], parent=_PARENTS["METRICS"])
HOOKS = ComponentRegistry(KINDS["hooks"], parent=_PARENTS["HOOKS"])
CAPTIONERS = ComponentRegistry(KINDS["captioners"])
MATCHERS = ComponentRegistry(KINDS["matchers"])

REGISTRIES: dict[str, ComponentRegistry] = {
    "detectors": DETECTORS, "box_selectors": BOX_SELECTORS, "losses": LOSSES, "models": MODELS,
    "datasets": DATASETS, "writers": WRITERS, "metrics": METRICS, "hooks": HOOKS,
    "captioners": CAPTIONERS, "matchers": MATCHERS,
}


def registry_for(kind: str) -> ComponentRegistry:
    """The registry of ``kind`` (``detectors``, ``detector``, ``selectors``, …)."""
    key = normalize_kind(kind)
    if key is None:
        from regionkit.registry.errors import did_you_mean
        raise ConfigError(f"unknown component kind {kind!r}{did_you_mean(kind, KINDS)}; kinds: {', '.join(KINDS)}")
    return REGISTRIES[key]


__all__ = [
    "DETECTORS", "BOX_SELECTORS", "LOSSES", "WRITERS", "MODELS", "DATASETS", "METRICS", "HOOKS", "CAPTIONERS",
    "MATCHERS",
    "REGISTRIES", "KINDS", "registry_for", "ComponentRegistry", "ComponentInfo", "EntrySpec", "PluginDist",
    "PluginIndex", "PluginPolicy", "get_index", "configure_plugins", "refresh_index", "hookimpl",
    "RegionkitError", "ComponentNotFoundError", "AmbiguousNameError", "ConfigError", "PluginLoadError",
    "PluginPolicyError",
]
