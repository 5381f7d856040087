"""CLIP BPE tokenisation (OpenAI's vocabulary) through the installed ``open_clip`` package.

``open_clip`` (pip ``open-clip-torch``) ships the BPE merges file, so nothing is downloaded.
It is imported on first use only; a missing package raises :class:`ImportError` naming the
extra to install.  :func:`tokenize` reproduces ``clip.tokenize`` as ovdet calls it:
``[SOT] + bpe(text) + [EOT]`` zero-padded to ``context_length``, and an error (no silent
truncation) when a text is too long.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch

from regionkit.models.text.clip_text import EOT_TOKEN, SOT_TOKEN

__all__ = ["get_tokenizer", "tokenize"]


@functools.lru_cache(maxsize=1)
def get_tokenizer() -> Any:
    """open_clip's ``SimpleTokenizer`` (lower-casing, ftfy + whitespace cleaning, as OpenAI's)."""
    try:
        from open_clip.tokenizer import SimpleTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the CLIP tokenizer needs the 'open_clip' package: "
                          "pip install open-clip-torch  (or the regionkit[baron] extra)") from exc
    tok = SimpleTokenizer()
    if (tok.sot_token_id, tok.eot_token_id) != (SOT_TOKEN, EOT_TOKEN):  # pragma: no cover
        raise RuntimeError("unexpected CLIP vocabulary in open_clip: special token ids "
                           f"{tok.sot_token_id}, {tok.eot_token_id}")
    return tok


def tokenize(texts: Sequence[str], context_length: int = 77) -> torch.Tensor:
    """Token ids ``(len(texts), context_length)`` (int64); raises ValueError for a text that does not fit."""
    tok = get_tokenizer()
    result = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [SOT_TOKEN, *tok.encode(text), EOT_TOKEN]
        if len(ids) > context_length:
            raise ValueError(f"text is too long for context length {context_length}: {text!r}")
        result[i, :len(ids)] = torch.tensor(ids)
    return result
