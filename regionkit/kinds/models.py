"""Models: torch modules a training loop (mmengine's Runner) builds from config."""
from __future__ import annotations

from regionkit.kinds.base import Kind

__all__ = ["KIND"]

KIND = Kind(key="models", singular="model", contract="an mmengine BaseModel / torch.nn.Module",
            mmengine_parent="MODELS", example_target="my_pkg.models:MyModel")
