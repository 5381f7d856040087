"""regionkit's registries: one per component kind, filled from entry points.

Public surface::

    from regionkit.registry import DETECTORS, BOX_SELECTORS, WRITERS, registry_for
    det = DETECTORS.build(dict(type="saliency", threshold=0.5))

Every registry has scope ``regionkit``.  For the kinds an mmengine Runner builds, ours are
children of mmengine's root registries (``MODELS``, ``DATASETS``, ``METRICS``, ``HOOKS``), so
``default_scope='regionkit'`` or ``type='regionkit.name'`` finds them there; our ``MODELS``
also resolves losses, and ``LOSSES`` is a child of it.  mmengine imports this module when a
config's default scope is ``regionkit``, so the registries are created at import (this is
the one module here that imports mmengine).
"""
from __future__ import annotations

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS

from regionkit.errors import ConfigError, did_you_mean
from regionkit.kinds import KINDS, normalize_kind
from regionkit.registry.registry import ComponentInfo, ComponentRegistry, allow_custom_imports

MODELS = ComponentRegistry(KINDS["models"], parent=MMENGINE_MODELS, also=("losses",))
LOSSES = ComponentRegistry(KINDS["losses"], parent=MODELS)
DATASETS = ComponentRegistry(KINDS["datasets"], parent=MMENGINE_DATASETS)
METRICS = ComponentRegistry(KINDS["metrics"], parent=MMENGINE_METRICS)
HOOKS = ComponentRegistry(KINDS["hooks"], parent=MMENGINE_HOOKS)
DETECTORS = ComponentRegistry(KINDS["detectors"])
BOX_SELECTORS = ComponentRegistry(KINDS["box_selectors"])
WRITERS = ComponentRegistry(KINDS["writers"])
CAPTIONERS = ComponentRegistry(KINDS["captioners"])
MATCHERS = ComponentRegistry(KINDS["matchers"])

#: kind key -> its registry, in :data:`regionkit.kinds.KINDS` order
REGISTRIES: dict[str, ComponentRegistry] = {r.kind.key: r for r in sorted(
    (DETECTORS, BOX_SELECTORS, LOSSES, MODELS, DATASETS, WRITERS, METRICS, HOOKS, CAPTIONERS, MATCHERS),
    key=lambda r: list(KINDS).index(r.kind.key))}
assert set(REGISTRIES) == set(KINDS), "every kind needs a registry"


def registry_for(kind: str) -> ComponentRegistry:
    """The registry of ``kind`` (``detectors``, ``detector``, ``selectors``, ...)."""
    key = normalize_kind(kind)
    if key is None:
        raise ConfigError(f"unknown component kind {kind!r}{did_you_mean(kind, KINDS)}; kinds: {', '.join(KINDS)}")
    return REGISTRIES[key]


__all__ = ["DETECTORS", "BOX_SELECTORS", "LOSSES", "WRITERS", "MODELS", "DATASETS", "METRICS", "HOOKS", "CAPTIONERS",
           "MATCHERS", "REGISTRIES", "registry_for", "ComponentRegistry", "ComponentInfo", "allow_custom_imports"]
