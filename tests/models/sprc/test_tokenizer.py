"""The WordPiece tokenizer and caption processor vs ``transformers.BertTokenizer`` / LAVIS (recorded ids).

``fixtures/reference_tokenizer.json`` holds, for each string, what ``transformers`` 4.36.2's slow
``BertTokenizer`` (with ``[DEC]`` added as bos token, ``truncation_side="right"``) returned for
``tokenizer(text, padding="max_length", truncation=True, max_length=32)`` and what LAVIS's
``BlipCaptionProcessor`` made of it, using the synthetic 30522-token vocabulary
(``make_reference.py tokenizer``).
"""
from __future__ import annotations

import json

import pytest
import torch

from regionkit.models.retrieval.sprc.caption import BlipCaptionProcessor
from regionkit.models.text.bert_tokenizer import BertTokenizer, synthetic_vocab, write_vocab

from .support import FIXTURES, bert_sized_vocab

REFERENCE = json.loads((FIXTURES / "reference_tokenizer.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizer() -> BertTokenizer:
    return BertTokenizer(bert_sized_vocab())


def test_length_and_special_ids_match(tokenizer):
    assert len(tokenizer) == REFERENCE["meta"]["len"] == 30523
    assert tokenizer.bos_token_id == REFERENCE["meta"]["bos_token_id"] == 30522
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id) == \
        (0, 100, 101, 102)


@pytest.mark.parametrize("row", REFERENCE["rows"], ids=lambda r: repr(r["text"])[:40])
def test_ids_mask_and_tokens_match_transformers(tokenizer, row):
    enc = tokenizer(row["text"], max_length=32, padding="max_length")
    assert enc.input_ids[0].tolist() == row["input_ids"]
    assert enc.attention_mask[0].tolist() == row["attention_mask"]
    assert tokenizer.tokenize(row["text"]) == row["tokens"]


@pytest.mark.parametrize("row", REFERENCE["rows"], ids=lambda r: repr(r["text"])[:40])
def test_caption_processor_matches_lavis(row):
    processor = BlipCaptionProcessor()
    assert processor(row["text"]) == row["caption"]
    assert processor(processor(row["text"])) == processor(row["text"])  # idempotent


def test_batch_padding_longest_and_max_length(tokenizer):
    texts = ["a dog", "a dog and a cat"]
    longest = tokenizer(texts, padding="longest")
    assert longest.input_ids.shape == (2, 7) and longest.attention_mask.sum(1).tolist() == [4, 7]
    fixed = tokenizer(texts, max_length=32, padding="max_length")
    assert fixed.input_ids.shape == (2, 32)
    assert torch.equal(fixed.input_ids[:, :7], longest.input_ids)


def test_truncation_keeps_cls_and_sep_and_the_left_part(tokenizer):
    ids = tokenizer(" ".join(["dog"] * 50), max_length=8).input_ids[0].tolist()
    dog = tokenizer.convert_tokens_to_ids(["dog"])[0]
    assert ids == [101] + [dog] * 6 + [102]
    left = BertTokenizer(bert_sized_vocab(), truncation_side="left")
    assert left.encode("a " * 3 + "dog", max_length=3) == [101, dog, 102]


def test_missing_vocabulary_names_the_file_and_where_it_comes_from(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"vocab\.txt.*bert-base-uncased"):
        BertTokenizer(tmp_path / "vocab.txt")


def test_a_vocabulary_without_bert_special_tokens_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        BertTokenizer(write_vocab(["a", "b"], tmp_path / "vocab.txt"))


def test_synthetic_vocab_has_the_requested_size_and_bert_layout():
    vocab = synthetic_vocab(1000)
    assert len(vocab) == len(set(vocab)) == 1000
    assert (vocab[0], vocab[100], vocab[101], vocab[102], vocab[103]) == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    with pytest.raises(ValueError):
        synthetic_vocab(10)
