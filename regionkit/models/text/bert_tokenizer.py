"""BERT WordPiece tokenisation from a local ``vocab.txt`` (no download, no ``transformers``).

:class:`BertTokenizer` reproduces what LAVIS's BLIP-2 tokenizer does —
``transformers.BertTokenizer.from_pretrained("bert-base-uncased", truncation_side="right")``
followed by ``add_special_tokens({"bos_token": "[DEC]"})`` — for ``tokenizer(texts,
padding=..., truncation=True, max_length=..., return_tensors="pt")``; the tests compare it id
for id with ``transformers`` 4.36 (slow tokenizer) on a few hundred strings.  The steps:

1. outside the special tokens (``[UNK] [SEP] [PAD] [CLS] [MASK]`` and added ones such as
   ``[DEC]``), lower-case the text **character by character** (``transformers`` does it with a
   regular expression, one character at a time, so a final sigma stays ``σ``);
2. split the text on the special tokens, which are kept whole;
3. per piece, the basic tokenizer: drop NUL, U+FFFD and control characters, map whitespace to a
   space, surround CJK ideographs with spaces, NFC-normalise, split on whitespace, per word
   lower-case, strip accents (NFD, drop combining marks), and split off every punctuation
   character (ASCII symbols count as punctuation);
4. per word, greedy longest-match-first WordPiece with ``##`` continuations; a word longer than
   100 characters or with no full segmentation becomes ``[UNK]``;
5. ``[CLS] ids [SEP]``, truncated to ``max_length`` (the ids lose tokens on the right, or on the
   left with ``truncation_side="left"``), padded with ``[PAD]`` on the right to ``max_length``
   (``padding="max_length"``, SPRC's choice) or to the longest sequence (``"longest"``).

Ids are line numbers of ``vocab.txt``; added tokens get ``len(vocab), len(vocab) + 1, ...``
(``[DEC]`` is 30522 with BERT's 30522-line vocabulary).  :func:`synthetic_vocab` makes a
deterministic stand-in vocabulary for tests and the tiny SPRC preset; it is **not** BERT's.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

__all__ = ["BertTokenizer", "TokenizedText", "synthetic_vocab", "write_vocab", "BERT_SPECIAL_TOKENS",
           "BERT_VOCAB_HELP"]

#: the special tokens of ``bert-base-uncased`` (attribute order of ``transformers``)
BERT_SPECIAL_TOKENS = ("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]")
BERT_VOCAB_HELP = ("The Q-Former tokenizer needs bert-base-uncased's WordPiece vocabulary 'vocab.txt' (30522 lines, "
                   "from the Hugging Face model 'bert-base-uncased'). regionkit never downloads it: copy it to this "
                   "machine and pass its path as vocab_file.")
_MAX_CHARS_PER_WORD = 100

Padding = Literal["max_length", "longest"]
Side = Literal["right", "left"]


@dataclass(frozen=True)
class TokenizedText:
    """``input_ids`` and ``attention_mask``: ``[B, L]`` int64 (1 for tokens, 0 for padding)."""

    input_ids: Tensor
    attention_mask: Tensor

    def to(self, device: torch.device | str) -> TokenizedText:
        return TokenizedText(self.input_ids.to(device), self.attention_mask.to(device))


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _clean(text: str) -> str:
    out = []
    for char in text:
        cp = ord(char)
        if cp == 0 or cp == 0xFFFD or _is_control(char):
            continue
        out.append(" " if _is_whitespace(char) else char)
    return "".join(out)


def _space_cjk(text: str) -> str:
    return "".join(f" {c} " if _is_cjk(ord(c)) else c for c in text)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _split_punctuation(word: str) -> list[str]:
    pieces: list[list[str]] = []
    new_word = True
    for char in word:
        if _is_punctuation(char):
            pieces.append([char])
            new_word = True
        else:
            if new_word:
                pieces.append([])
            new_word = False
            pieces[-1].append(char)
    return ["".join(p) for p in pieces]


def write_vocab(tokens: Iterable[str], path: str | os.PathLike[str]) -> Path:
    """Write ``tokens`` one per line (a ``vocab.txt``) and return the path."""
    path = Path(path)
    path.write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
    return path


def synthetic_vocab(size: int = 30522) -> list[str]:
    """A deterministic WordPiece vocabulary of exactly ``size`` tokens, laid out like BERT's.

    ``[PAD]`` 0, ``[unused0..98]`` 1..99, ``[UNK]`` 100, ``[CLS]`` 101, ``[SEP]`` 102, ``[MASK]``
    103, then printable ASCII characters, their ``##`` continuations, a few hundred English
    words and suffixes common in image-edit captions, and ``[unused<n>]`` fillers.  For tests
    and the tiny preset only (``size >= 400``): real checkpoints need BERT's own ``vocab.txt``.
    """
    head = ["[PAD]", *[f"[unused{i}]" for i in range(99)], "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    words = ["the", "a", "an", "of", "and", "to", "in", "on", "with", "is", "are", "it", "its", "this", "that", "be", "has", "have", "as", "at", "by", "from", "for", "or", "not", "no", "one", "two", "three", "four", "five", "more", "less", "than", "same", "different", "other", "change", "make", "add", "remove", "replace", "put", "take", "show", "shows", "showing", "image", "picture", "photo", "background", "foreground", "color", "colour", "white", "black", "red", "blue", "green", "yellow", "brown", "gray", "grey", "pink", "purple", "orange", "dog", "dogs", "cat", "cats", "bird", "man", "woman", "people", "person", "child", "car", "cars", "bus", "truck", "table", "chair", "bed", "room", "water", "grass", "tree", "trees", "sky", "sun", "snow", "beach", "street", "road", "sign", "animal", "animals", "food", "plate", "bottle", "cup", "glass", "shirt", "dress", "hat", "hand", "left", "right", "top", "bottom", "side", "front", "back", "near", "large", "small", "big", "little", "bigger", "smaller", "closer", "instead", "only", "all", "both", "into", "out", "up", "down", "over", "under", "behind", "next", "between", "there", "their", "them", "they", "he", "she", "his", "her", "who", "which", "have", "has", "had", "looking", "looks", "sitting", "standing", "lying", "holding", "wearing", "playing", "running", "eating", "zoom", "view", "angle", "closeup", "close", "shot", "single", "pair", "group", "##s", "##ed", "##ing", "##er", "##est", "##ly", "##es", "##y", "##n", "##d", "##e", "##t", "##r", "##al", "##ion"]
    body = list(dict.fromkeys([*head, *chars, *[f"##{c}" for c in chars], *words]))
    if size < len(body):
        raise ValueError(f"a synthetic vocabulary needs at least {len(body)} tokens, got size={size}")
    body += [f"[unused{i}]" for i in range(99, 99 + size - len(body))]
    return body


class BertTokenizer:
    """``bert-base-uncased`` WordPiece tokenisation from ``vocab_file`` (see the module docstring).

    ``vocab``: the tokens (instead of a file); ``added_tokens``: special tokens appended after the
    vocabulary (LAVIS adds ``[DEC]`` as bos token); ``truncation_side``: ``"right"`` (LAVIS).
    """

    def __init__(self, vocab_file: str | os.PathLike[str] | None = None, *, vocab: Sequence[str] | None = None,
                 added_tokens: Sequence[str] = ("[DEC]",), do_lower_case: bool = True,
                 tokenize_chinese_chars: bool = True, strip_accents: bool | None = None,
                 truncation_side: Side = "right") -> None:
        if (vocab_file is None) == (vocab is None):
            raise ValueError("give exactly one of vocab_file and vocab")
        if vocab_file is not None:
            path = Path(vocab_file)
            if not path.is_file():
                raise FileNotFoundError(f"BERT vocabulary not found: {path}. {BERT_VOCAB_HELP}")
            with path.open(encoding="utf-8") as handle:  # as transformers' load_vocab
                vocab = [line.rstrip("\n") for line in handle.readlines()]
        assert vocab is not None
        #: token -> id (a repeated line keeps its last id, as transformers' load_vocab)
        self.vocab: dict[str, int] = {token: i for i, token in enumerate(vocab)}
        self.added: dict[str, int] = {}
        for token in added_tokens:
            if token not in self.vocab and token not in self.added:
                self.added[token] = len(self.vocab) + len(self.added)
        missing = [t for t in BERT_SPECIAL_TOKENS if t not in self.vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks the special token(s) {missing}; is it a BERT vocab.txt?")
        if truncation_side not in ("right", "left"):
            raise ValueError(f"truncation_side must be 'right' or 'left', got {truncation_side!r}")
        self.do_lower_case = do_lower_case
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.truncation_side: Side = truncation_side
        self.special_tokens = (*BERT_SPECIAL_TOKENS, *self.added)
        alternatives = sorted(self.special_tokens, key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(re.escape(t) for t in alternatives) + ")")
        self.pad_token_id = self.vocab["[PAD]"]
        self.cls_token_id = self.vocab["[CLS]"]
        self.sep_token_id = self.vocab["[SEP]"]
        self.unk_token_id = self.vocab["[UNK]"]
        self.bos_token_id = self.added.get("[DEC]")

    def __len__(self) -> int:
        """Vocabulary plus added tokens (30523 for LAVIS's BLIP-2 tokenizer)."""
        return len(self.vocab) + len(self.added)

    # ------------------------------------------------------------------ tokens
    def _basic(self, text: str) -> list[str]:
        text = _clean(text)
        if self.tokenize_chinese_chars:
            text = _space_cjk(text)
        words = []
        for word in unicodedata.normalize("NFC", text).split():
            if word in self.special_tokens:
                words.append(word)
                continue
            if self.do_lower_case:
                word = word.lower()
                if self.strip_accents is not False:
                    word = _strip_accents(word)
            elif self.strip_accents:
                word = _strip_accents(word)
            words.extend(_split_punctuation(word))
        return " ".join(words).split()

    def _wordpiece(self, word: str) -> list[str]:
        if len(word) > _MAX_CHARS_PER_WORD:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, match = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    match = piece
                    break
                end -= 1
            if match is None:
                return ["[UNK]"]
            pieces.append(match)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text`` (no ``[CLS]`` / ``[SEP]``)."""
        parts = [p for p in self._special_re.split(text) if p]
        tokens: list[str] = []
        for part in parts:
            if part in self.special_tokens:
                tokens.append(part)
                continue
            if self.do_lower_case:
                part = "".join(c if c == "\n" else c.lower() for c in part)
            for word in self._basic(part):
                tokens.extend(self._wordpiece(word))
        return tokens

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.added.get(t, self.vocab.get(t, self.unk_token_id)) for t in tokens]

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """``[CLS] ids [SEP]``, truncated to ``max_length`` on :attr:`truncation_side`."""
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        if max_length is not None:
            if max_length < 2:
                raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
            keep = max_length - 2
            if len(ids) > keep:
                ids = ids[:keep] if self.truncation_side == "right" else ids[len(ids) - keep:]
        return [self.cls_token_id, *ids, self.sep_token_id]

    def __call__(self, texts: str | Sequence[str], *, max_length: int = 32, padding: Padding = "max_length",
                 truncation: bool = True) -> TokenizedText:
        """Token ids and attention mask ``[B, L]`` (``L = max_length`` or the longest sequence)."""
        if isinstance(texts, str):
            texts = [texts]
        if padding not in ("max_length", "longest"):
            raise ValueError(f"padding must be 'max_length' or 'longest', got {padding!r}")
        rows = [self.encode(t, max_length if truncation else None) for t in texts]
        width = max_length if padding == "max_length" else max((len(r) for r in rows), default=0)
        width = max(width, max((len(r) for r in rows), default=0))
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, :len(row)] = 1
        return TokenizedText(ids, mask)
