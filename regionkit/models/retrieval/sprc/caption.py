"""LAVIS's ``BlipCaptionProcessor`` (SPRC's ``txt_processors["eval"]``): the caption text SPRC feeds its tokenizer.

``prompt + pre_caption(caption)`` where ``pre_caption`` lower-cases, replaces each of
``. ! " ( ) * # : ; ~`` with a space, collapses runs of two or more whitespace characters into
one space, strips trailing newlines and surrounding spaces, and keeps the first ``max_words``
(50) space-separated words.  It is idempotent, so applying it to captions that were already
processed changes nothing.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["BlipCaptionProcessor"]

_PUNCT = re.compile(r"([.!\"()*#:;~])")
_SPACES = re.compile(r"\s{2,}")


class BlipCaptionProcessor:
    """``processor(caption) -> str``; ``processor.batch(captions) -> list[str]``."""

    def __init__(self, prompt: str = "", max_words: int = 50) -> None:
        if max_words < 1:
            raise ValueError(f"max_words must be >= 1, got {max_words}")
        self.prompt = prompt
        self.max_words = max_words

    def pre_caption(self, caption: str) -> str:
        caption = _PUNCT.sub(" ", caption.lower())
        caption = _SPACES.sub(" ", caption)
        caption = caption.rstrip("\n").strip(" ")
        words = caption.split(" ")
        if len(words) > self.max_words:
            caption = " ".join(words[: self.max_words])
        return caption

    def __call__(self, caption: str) -> str:
        return self.prompt + self.pre_caption(caption)

    def batch(self, captions: Sequence[str]) -> list[str]:
        return [self(c) for c in captions]
