"""Hooks: mmengine ``Hook`` s for the training loop."""
from __future__ import annotations

from regionkit.kinds.base import Kind

__all__ = ["KIND"]

KIND = Kind(key="hooks", singular="hook", contract="an mmengine Hook for the training loop",
            mmengine_parent="HOOKS", example_target="my_pkg.hooks:MyHook")
