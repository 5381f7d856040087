"""Where a Runner finds regionkit's mmengine-level training pieces: registries of scope ``regionkit``.

Loops, parameter schedulers and collate functions are mmengine-level objects with no
regionkit component kind; they live in children of mmengine's ``LOOPS``,
``PARAM_SCHEDULERS`` and ``FUNCTIONS`` registries with scope ``regionkit``, so a config names
them ``regionkit.RetrievalValLoop``, ``regionkit.OneCycleLR``, ``regionkit.retrieval_collate``
(mmengine's own names keep resolving through the parents).

The datasets (``cirr``, ``fashioniq``, ``photo_edits``), metrics (``cirr_recall``,
``fashioniq_recall``) and hooks (``wandb_best_checkpoint``) of the training half are
components of their kinds, declared by entry point in ``setup.py`` like every component.
"""
from __future__ import annotations

import importlib
import threading

from mmengine import registry as mm

__all__ = ["LOOPS", "PARAM_SCHEDULERS", "FUNCTIONS", "ENGINE_OBJECTS", "register_engine_components"]

LOOPS = mm.Registry("loop", parent=mm.LOOPS, scope="regionkit")
PARAM_SCHEDULERS = mm.Registry("parameter scheduler", parent=mm.PARAM_SCHEDULERS, scope="regionkit")
FUNCTIONS = mm.Registry("function", parent=mm.FUNCTIONS, scope="regionkit")

#: mmengine registry -> {name: "module:attr"} of the scope-``regionkit`` children above
ENGINE_OBJECTS: dict[str, dict[str, str]] = {
    "LOOPS": {"RetrievalValLoop": "regionkit.engine.loops:RetrievalValLoop",
              "RetrievalTestLoop": "regionkit.engine.loops:RetrievalTestLoop"},
    "PARAM_SCHEDULERS": {"OneCycleLR": "regionkit.engine.schedulers:OneCycleLR",
                         "OneCycleMomentum": "regionkit.engine.schedulers:OneCycleMomentum",
                         "CosineWarmupRestartsLR": "regionkit.engine.schedulers:CosineWarmupRestartsLR"},
    "FUNCTIONS": {"retrieval_collate": "regionkit.datasets.collate:retrieval_collate"},
}

_lock = threading.Lock()
_done = False


def _load(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def register_engine_components() -> None:
    """Fill the scope-``regionkit`` children of mmengine's registries (idempotent)."""
    global _done
    with _lock:
        if _done:
            return
        own = {"LOOPS": LOOPS, "PARAM_SCHEDULERS": PARAM_SCHEDULERS, "FUNCTIONS": FUNCTIONS}
        for registry_name, objects in ENGINE_OBJECTS.items():
            for name, target in objects.items():
                if name not in own[registry_name].module_dict:
                    own[registry_name].register_module(name=name, module=_load(target))
        _done = True
