"""Shared plumbing for components built on ``transformers`` pipelines (captioners, matchers).

Everything here is light to import; ``transformers`` and ``torch`` are imported only when a
pipeline is actually built, after the local model path has been checked.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from regionkit.errors import ConfigError

__all__ = ["ModelPathNotFoundError", "TransformersUnavailableError", "DType", "check_model_path",
           "import_transformers", "torch_dtype", "build_pipeline"]

#: accepted ``dtype`` values (``None`` keeps the model's default, usually float32)
DType = Literal["float32", "float16", "bfloat16", "auto"] | None

_EXTRA_HELP = "install it with: pip install 'regionkit[mainbox]'"


class ModelPathNotFoundError(ConfigError, FileNotFoundError):
    """A local model path given to a transformers-based component does not exist."""


class TransformersUnavailableError(ConfigError, ImportError):
    """``transformers`` is not installed (the ``regionkit[mainbox]`` extra)."""


def check_model_path(model: object, what: str) -> str:
    """Validate a local model path without importing anything heavy; return it as a string."""
    if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
        raise ValueError(f"model must be the local path of a {what} (a folder saved with save_pretrained or "
                         f"a Hugging Face snapshot), got {model!r}")
    text = str(model).strip()
    if "://" in text:
        raise ValueError(f"model must be a local path, not a URL ({text!r}); regionkit never downloads models")
    path = Path(text).expanduser()
    if not path.exists():
        where = str(path) if path.is_absolute() else f"{path} (resolved to {path.resolve()})"
        raise ModelPathNotFoundError(
            f"{what} not found: {where}; regionkit never downloads models: save the model on a machine with "
            f"internet access (e.g. huggingface-cli download ... --local-dir DIR) and pass that folder")
    return str(path)


def import_transformers(what: str) -> Any:
    """``import transformers``, or a :class:`TransformersUnavailableError` naming the extra."""
    try:
        import transformers
    except ImportError as exc:
        raise TransformersUnavailableError(
            f"{what} needs the 'transformers' package, which is not installed; {_EXTRA_HELP}") from exc
    return transformers


def torch_dtype(dtype: str | None) -> Any:
    """The ``torch_dtype`` argument for a pipeline (imports torch; call after the model path check)."""
    if dtype is None or dtype == "auto":
        return dtype
    import torch

    return getattr(torch, dtype)


def build_pipeline(task: str, model: str, device: str | int, dtype: str | None, what: str) -> Any:
    """A ``transformers.pipeline`` for ``task`` from an already-checked local ``model`` path."""
    transformers = import_transformers(what)
    kwargs: dict[str, Any] = dict(task=task, model=model, device=device)
    if dtype is not None:
        kwargs["torch_dtype"] = torch_dtype(dtype)
    return transformers.pipeline(**kwargs)
