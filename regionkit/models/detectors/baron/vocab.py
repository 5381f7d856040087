"""Class embeddings for a custom BARON vocabulary (ovdet's hand-crafted prompt ensemble).

For each class name, as ovdet's ``tools/hand_craft_prompt.py`` (``build_text_embedding_coco``):

1. the name is processed (``_`` -> space, ``/`` -> `` or ``, lower case, trailing ``.`` removed)
   and put into the 63 ViLD-style templates below (``{article}`` is ``an`` if the *raw* name
   starts with a vowel, else ``a``);
2. a text starting with ``a`` or ``the`` gets ``This is `` prepended;
3. every text is tokenised (CLIP BPE, 77 tokens) and encoded with the CLIP text transformer's
   block-12 output at the EOT token, L2-normalised (no ``ln_final``, no projection: the
   ``_attn12`` embeddings BARON was trained with, not CLIP's usual text embedding);
4. the 63 vectors are averaged and the mean is L2-normalised.

The result is a ``(K, 512)`` float32 array, one row per class, in the order given;
:func:`save_vocabulary` / :func:`load_vocabulary` store it as ``.npy`` (ovdet's
``coco_clip_hand_craft_attn12.npy`` is the same kind of file for the 80 COCO classes).
ovdet computed its file on a GPU with fp16 CLIP weights; this builder runs in float32.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from regionkit.models.text.clip_text import CLIPTextEncoder
from regionkit.models.text.clip_tokenizer import tokenize

__all__ = ["TEMPLATES", "prompts_for", "build_class_embeddings", "save_vocabulary", "load_vocabulary"]

#: ViLD's prompt templates as listed in ovdet's ``tools/hand_craft_prompt.py`` (63 entries).
TEMPLATES: tuple[str, ...] = (
    "There is {article} {} in the scene.",
    "There is the {} in the scene.",
    "a photo of {article} {} in the scene.",
    "a photo of the {} in the scene.",
    "a photo of one {} in the scene.",
    "itap of {article} {}.",
    "itap of my {}.",
    "itap of the {}.",
    "a photo of {article} {}.",
    "a photo of my {}.",
    "a photo of the {}.",
    "a photo of one {}.",
    "a photo of many {}.",
    "a good photo of {article} {}.",
    "a good photo of the {}.",
    "a bad photo of {article} {}.",
    "a bad photo of the {}.",
    "a photo of a nice {}.",
    "a photo of the nice {}.",
    "a photo of a cool {}.",
    "a photo of the cool {}.",
    "a photo of a weird {}.",
    "a photo of the weird {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of a clean {}.",
    "a photo of the clean {}.",
    "a photo of a dirty {}.",
    "a photo of the dirty {}.",
    "a bright photo of {article} {}.",
    "a bright photo of the {}.",
    "a dark photo of {article} {}.",
    "a dark photo of the {}.",
    "a photo of a hard to see {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of {article} {}.",
    "a low resolution photo of the {}.",
    "a cropped photo of {article} {}.",
    "a cropped photo of the {}.",
    "a close-up photo of {article} {}.",
    "a close-up photo of the {}.",
    "a jpeg corrupted photo of {article} {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of {article} {}.",
    "a blurry photo of the {}.",
    "a pixelated photo of {article} {}.",
    "a pixelated photo of the {}.",
    "a black and white photo of the {}.",
    "a black and white photo of {article} {}.",
    "a plastic {}.",
    "the plastic {}.",
    "a toy {}.",
    "the toy {}.",
    "a plushie {}.",
    "the plushie {}.",
    "a cartoon {}.",
    "the cartoon {}.",
    "an embroidered {}.",
    "the embroidered {}.",
    "a painting of the {}.",
    "a painting of a {}.",
)


def _article(name: str) -> str:
    return "an" if name[0] in "aeiou" else "a"


def _processed_name(name: str) -> str:
    return name.replace("_", " ").replace("/", " or ").lower().rstrip(".")


def prompts_for(name: str) -> list[str]:
    """The 63 prompt texts for one raw class name (see the module docstring)."""
    if not name:
        raise ValueError("empty class name")
    texts = [t.format(_processed_name(name), article=_article(name)) for t in TEMPLATES]
    return ["This is " + t if t.startswith("a") or t.startswith("the") else t for t in texts]


@torch.inference_mode()
def build_class_embeddings(text_encoder: CLIPTextEncoder, names: Sequence[str],
                           device: torch.device | str | None = None) -> np.ndarray:
    """``(len(names), 512)`` float32 class embeddings (rows L2-normalised) for ``names``."""
    if isinstance(names, str) or len(names) == 0:
        raise ValueError("names must be a non-empty list of class names")
    if device is None:
        device = next(text_encoder.parameters()).device
    rows = []
    for name in names:
        tokens = tokenize(prompts_for(str(name)), context_length=text_encoder.context_length).to(device)
        # causal attention: the EOT output ignores the zero padding after it, so the sequences
        # can be cut after the longest one's EOT (same maths as 77 tokens, ~4x less work)
        tokens = tokens[:, :int(tokens.argmax(dim=-1).max()) + 1]
        feats = text_encoder.encode_text_endk(tokens, stepk=12, normalize=True)
        rows.append(F.normalize(feats.float().mean(0), dim=0))
    return torch.stack(rows).cpu().numpy().astype(np.float32)


def save_vocabulary(path: str | Path, embeddings: np.ndarray) -> Path:
    """Write ``(K, D)`` embeddings as ``.npy`` (float32); returns the path."""
    arr = np.asarray(embeddings, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (K, D), got shape {arr.shape}")
    path = Path(path)
    np.save(path, arr)
    return path


def load_vocabulary(path: str | Path, dim: int = 512) -> np.ndarray:
    """Read a ``(K, dim)`` ``.npy`` vocabulary (any float dtype; returned as float32)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file not found: {path}")
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] < 1:
        raise ValueError(f"vocabulary {path} must have shape (K, {dim}), got {arr.shape}")
    return arr.astype(np.float32)
