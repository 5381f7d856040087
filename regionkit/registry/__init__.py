"""regionkit's registries: one per component kind, filled from entry points.

Public surface::

    from regionkit.registry import DETECTORS, BOX_SELECTORS, WRITERS, registry_for
    det = DETECTORS.build(dict(type="saliency", threshold=0.5))

Every registry has scope ``regionkit``.  For the kinds an mmengine Runner builds, ours are
children of mmengine's root registries (``MODELS``, ``DATASETS``, ``METRICS``, ``HOOKS``), so
``default_scope='regionkit'`` or ``type='regionkit.name'`` finds them there; our ``MODELS``
also resolves losses, and ``LOSSES`` is a child of it.  The registries are made from
:data:`regionkit.kinds.KINDS`, so a new kind needs no code here.  mmengine imports this module
when a config's default scope is ``regionkit``, so the registries are created at import (this
is the one module here that imports mmengine).
"""
from __future__ import annotations

from mmengine import registry as mmengine_registry

from regionkit.errors import ConfigError, did_you_mean
from regionkit.kinds import KINDS, Kind, normalize_kind
from regionkit.registry.registry import ComponentInfo, ComponentRegistry, allow_custom_imports


def _make_registries() -> dict[str, ComponentRegistry]:
    """One registry per kind of :data:`regionkit.kinds.KINDS`, wired into mmengine's tree.

    A kind whose ``mmengine_parent`` is named like it (``models`` / ``MODELS``) becomes the
    child of that mmengine root and also resolves the other kinds with the same parent
    (losses, for ``MODELS``); those kinds' own registries are its children.
    """
    primary: dict[str, Kind] = {k.mmengine_parent: k for k in KINDS.values()
                                if k.mmengine_parent is not None and k.key == k.mmengine_parent.lower()}
    out: dict[str, ComponentRegistry] = {}
    for parent_name, kind in primary.items():
        also = tuple(k.key for k in KINDS.values() if k.mmengine_parent == parent_name and k is not kind)
        out[kind.key] = ComponentRegistry(kind, parent=getattr(mmengine_registry, parent_name), also=also)
    for kind in KINDS.values():
        if kind.key in out:
            continue
        parent = out[primary[kind.mmengine_parent].key] if kind.mmengine_parent in primary else None
        if kind.mmengine_parent is not None and parent is None:
            parent = getattr(mmengine_registry, kind.mmengine_parent)
        out[kind.key] = ComponentRegistry(kind, parent=parent)
    return {key: out[key] for key in KINDS}


#: kind key -> its registry, in :data:`regionkit.kinds.KINDS` order
REGISTRIES: dict[str, ComponentRegistry] = _make_registries()

DETECTORS = REGISTRIES["detectors"]
BOX_SELECTORS = REGISTRIES["box_selectors"]
LOSSES = REGISTRIES["losses"]
MODELS = REGISTRIES["models"]
DATASETS = REGISTRIES["datasets"]
WRITERS = REGISTRIES["writers"]
METRICS = REGISTRIES["metrics"]
HOOKS = REGISTRIES["hooks"]
CAPTIONERS = REGISTRIES["captioners"]
MATCHERS = REGISTRIES["matchers"]


def registry_for(kind: str) -> ComponentRegistry:
    """The registry of ``kind`` (``detectors``, ``detector``, ``selectors``, ...)."""
    key = normalize_kind(kind)
    if key is None:
        raise ConfigError(f"unknown component kind {kind!r}{did_you_mean(kind, KINDS)}; kinds: {', '.join(KINDS)}")
    return REGISTRIES[key]


__all__ = ["DETECTORS", "BOX_SELECTORS", "LOSSES", "WRITERS", "MODELS", "DATASETS", "METRICS", "HOOKS", "CAPTIONERS",
           "MATCHERS", "REGISTRIES", "registry_for", "ComponentRegistry", "ComponentInfo", "allow_custom_imports"]
