"""Vocabulary builder vs ovdet's tools/hand_craft_prompt.py on the seeded text encoder."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from regionkit.models.detectors.baron import vocab

from . import support
from .support import FIXTURES, LIGHT

baron_model = support.baron_model  # session fixture
seeded_checkpoint = support.seeded_checkpoint  # session fixture


@pytest.fixture(scope="module")
def vocab_reference():
    if not (FIXTURES / "reference_vocab.npy").is_file():
        pytest.skip("missing reference_vocab.npy: run make_reference.py")
    return np.load(FIXTURES / "reference_vocab.npy"), json.loads((FIXTURES / "reference_vocab.json").read_text())


def test_prompts_and_tokens_match_ovdet(vocab_reference):
    pytest.importorskip("open_clip")
    from regionkit.models.text.clip_tokenizer import tokenize

    _, meta = vocab_reference
    for name in meta["classes"]:
        ref = meta["prompts"][name]
        assert vocab.prompts_for(name) == ref["texts"]
        ids = tokenize(ref["texts"])
        assert [row[row > 0].tolist() for row in ids] == ref["ids"]


def test_vocabulary_matches_ovdet(baron_model, vocab_reference):
    pytest.importorskip("open_clip")
    ref, meta = vocab_reference
    emb = vocab.build_class_embeddings(baron_model.detector.text_encoder, meta["classes"])
    assert emb.shape == ref.shape == (len(meta["classes"]), 512) and emb.dtype == np.float32
    cos = (emb * ref).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.9999
    assert np.abs(emb - ref).max() <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


def test_template_rules():
    assert len(vocab.TEMPLATES) == 63
    p = vocab.prompts_for("traffic_light")
    assert p[0] == "There is a traffic light in the scene."
    assert p[2] == "This is a photo of a traffic light in the scene."
    assert vocab.prompts_for("apple")[0] == "There is an apple in the scene."
    assert all(t.startswith(("There", "This is ", "itap")) for t in p)
    assert vocab.prompts_for("Cup.")[5] == "itap of a cup."
    with pytest.raises(ValueError):
        vocab.prompts_for("")


def test_save_and_load_round_trip(tmp_path):
    emb = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float16)
    path = vocab.save_vocabulary(tmp_path / "v.npy", emb)
    back = vocab.load_vocabulary(path)
    assert back.dtype == np.float32 and np.array_equal(back, emb.astype(np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((3, 7)))
    with pytest.raises(ValueError, match="shape"):
        vocab.load_vocabulary(tmp_path / "bad.npy")
    with pytest.raises(FileNotFoundError):
        vocab.load_vocabulary(tmp_path / "missing.npy")


def test_model_vocabulary_options(baron_model, vocab_reference, tmp_path):
    """names -> embedded; .npy -> loaded; array -> used; class names follow."""
    pytest.importorskip("open_clip")
    from regionkit.models.detectors.baron.classes import COCO_CLASSES
    from regionkit.models.detectors.baron.model import BaronDetectorModel

    ref, meta = vocab_reference
    detector = copy.deepcopy(baron_model.detector)  # the session model stays untouched
    model = BaronDetectorModel(detector, baron_model.class_names, **LIGHT)
    assert model.class_names == COCO_CLASSES and model.class_names[9] == "traffic_light"
    model.set_vocabulary(meta["classes"][:2])
    assert model.class_names == tuple(meta["classes"][:2])
    head = detector.roi_head.bbox_head
    assert head.num_classes == 2
    np.testing.assert_allclose(head.cls_embeddings.numpy(), ref[:2], atol=1e-5)
    vocab.save_vocabulary(tmp_path / "v.npy", ref)
    model.set_vocabulary(tmp_path / "v.npy", class_names=["a", "b", "c", "d", "e"])
    assert model.class_names == ("a", "b", "c", "d", "e") and head.num_classes == 5
    model.set_vocabulary(ref[:3])
    assert model.class_names == ("class_0", "class_1", "class_2") and head.num_classes == 3
    with pytest.raises(ValueError):
        model.set_vocabulary(ref[:2], class_names=["x"])
    with pytest.raises(ValueError):
        model.set_vocabulary(np.zeros((2, 7), np.float32))
    emb_before = head.cls_embeddings.clone()
    model.set_vocabulary(None, class_names=["p", "q", "r"])
    assert torch.equal(head.cls_embeddings, emb_before) and model.class_names == ("p", "q", "r")
    det = model.predict([np.zeros((40, 60, 3), np.uint8)])[0]
    assert det.labels.max(initial=0) < 3


def test_from_checkpoint_with_vocabulary(seeded_checkpoint, vocab_reference, tmp_path):
    from regionkit.models.detectors.baron.model import BaronDetectorModel

    ref, _ = vocab_reference
    vocab.save_vocabulary(tmp_path / "v.npy", ref)
    model = BaronDetectorModel.from_checkpoint(seeded_checkpoint, vocabulary=tmp_path / "v.npy",
                                               class_names=["a", "b", "c", "d", "e"])
    assert model.class_names == ("a", "b", "c", "d", "e")
    np.testing.assert_array_equal(model.detector.roi_head.bbox_head.cls_embeddings.numpy(), ref)
    renamed = BaronDetectorModel.from_checkpoint(seeded_checkpoint, class_names=[f"n{i}" for i in range(80)])
    assert renamed.class_names[0] == "n0"
