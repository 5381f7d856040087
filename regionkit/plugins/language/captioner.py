"""Image captions from a local Hugging Face model through a ``transformers`` pipeline (e.g. BLIP-2).

Install the extra with ``pip install 'regionkit[mainbox]'``.  Nothing heavy is imported
when this module is imported: ``transformers`` (and torch) are imported when a
:class:`TransformersCaptioner` is built.

**Models never download.**  ``model`` must be a local folder (or file) holding the model,
for example a snapshot of ``Salesforce/blip2-opt-2.7b`` (Patch Matters' captioner) saved on
a machine with internet access.  A path that does not exist raises
:class:`ModelPathNotFoundError`, naming the path, before ``transformers`` is imported.

The helpers :func:`check_model_path` and :func:`import_transformers` are shared with the
LLM matcher (:mod:`regionkit.plugins.language.matchers`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np

from regionkit.kinds.captioners import BaseCaptioner
from regionkit.params import Device, MaxLength, NonEmpty, PathText, Range, checked
from regionkit.plugins.language.transformers_support import (
    DType,
    ModelPathNotFoundError,
    TransformersUnavailableError,
    build_pipeline,
    check_model_path,
)

__all__ = ["TransformersCaptioner", "ModelPathNotFoundError", "TransformersUnavailableError"]

def _to_pil(image: object, index: int) -> Any:
    from PIL import Image

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"image {index}: expected an RGB uint8 numpy array, got "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ValueError(f"image {index}: expected shape (H, W, 3), got {image.shape}")
    return Image.fromarray(np.ascontiguousarray(image)).convert("RGB")


class TransformersCaptioner(BaseCaptioner):
    """Captions from a local image-to-text model (e.g. BLIP-2) via a transformers pipeline; never downloads.

    Parameters (keyword only):

    model:
        Local folder of an image-to-text model (``Blip2ForConditionalGeneration`` as in Patch
        Matters, BLIP, GIT, ...).  Missing path: :class:`ModelPathNotFoundError`.
    device:
        ``'cpu'``, ``'cuda'``, ``'cuda:0'``, ... or a GPU index, passed to the pipeline.
    prompt:
        Optional text prompt (conditional captioning).  Patch Matters' original used none;
        the community port used ``"Describe this image in one sentence."`` with 30 new
        tokens.  If the model echoes the prompt, it is removed from the caption.
    max_new_tokens:
        Maximum number of generated tokens.
    dtype:
        ``None`` (the model's default), ``'float16'`` (as Patch Matters), ``'bfloat16'``,
        ``'float32'`` or ``'auto'``.

    Decoding is the model's default (greedy for BLIP-2), so captions are deterministic.
    """

    conformance_skip = "needs a local image-to-text model"

    @checked
    def __init__(self, *, model: PathText = "", device: Device = "cpu",
                 prompt: Annotated[str, NonEmpty(), MaxLength(4000)] | None = None,
                 max_new_tokens: Annotated[int, Range(1, 4096)] = 30, dtype: DType = None) -> None:
        self.model = check_model_path(model, "image-to-text model")
        self.device = device
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.dtype = dtype
        self._pipe = build_pipeline("image-to-text", self.model, self.device, self.dtype, "the transformers captioner")

    def __repr__(self) -> str:
        return (f"TransformersCaptioner(model={self.model!r}, device={self.device!r}, prompt={self.prompt!r}, "
                f"max_new_tokens={self.max_new_tokens}, dtype={self.dtype!r})")

    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        captions = []
        for i, image in enumerate(images):
            kwargs: dict[str, Any] = {"generate_kwargs": {"max_new_tokens": self.max_new_tokens}}
            if self.prompt is not None:
                kwargs["prompt"] = self.prompt
            out = self._pipe(_to_pil(image, i), **kwargs)
            while isinstance(out, list):  # [{"generated_text": ...}] (or nested for batched inputs)
                out = out[0]
            text = str(out["generated_text"]).strip()
            if self.prompt is not None and text.startswith(self.prompt.strip()):
                text = text[len(self.prompt.strip()):].strip()
            captions.append(text)
        return captions
