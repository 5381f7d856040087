"""The native model's state_dict layout equals SPRC's ``Blip2QformerCirAlignPrompt`` (the committed key lists).

The key lists were dumped from SPRC's own model (``make_reference.py keys``): every key, shape and
dtype, in order, for ``pretrain`` (EVA ViT-g, the ViT's linear / conv weights in fp16 as LAVIS
converts them) and ``pretrain_vitL`` (CLIP ViT-L), plus the tiny preset built with SPRC's class.
The full-size models are built on the meta device (no memory, no initialisation).
"""
from __future__ import annotations

import pytest
import torch

from regionkit.models.retrieval.sprc import testing
from regionkit.models.retrieval.sprc.checkpoint import EXTRA_PREFIXES, sprc_state_dict
from regionkit.models.retrieval.sprc.model import SprcModel

from .support import bert_sized_vocab, key_list


def _meta_model(preset: str, **kwargs: object) -> SprcModel:
    with torch.device("meta"):
        return SprcModel(preset=preset, vocab_file=bert_sized_vocab(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("preset", ["pretrain", "pretrain_vitL"])
def test_full_key_layout_names_shapes_dtypes_and_order(preset):
    expected = key_list(preset)
    got = testing.key_specs(_meta_model(preset, vit_precision="fp16").state_dict())
    assert [s.key for s in got] == [s.key for s in expected]
    assert got == expected  # shapes and dtypes too (fp16 ViT weights, fp32 LayerNorms / biases of q, v)


@pytest.mark.parametrize("preset", ["pretrain", "pretrain_vitL"])
def test_auto_precision_keeps_the_vit_fp32_at_build(preset):
    got = {s.key: s for s in testing.key_specs(_meta_model(preset).state_dict())}
    expected = key_list(preset)
    assert {s.key: s.shape for s in expected} == {k: s.shape for k, s in got.items()}
    assert all(s.dtype in (torch.float32, torch.int64) for s in got.values())


def test_key_counts_of_the_fixtures():
    vitg, vitl = key_list("pretrain"), key_list("pretrain_vitL")
    assert len(vitg) == 858 and len(vitl) == 628
    blocks = {s.key.split(".")[2] for s in vitg if s.key.startswith("visual_encoder.blocks.")}
    assert len(blocks) == 39  # LAVIS drops EVA-CLIP's 40th block
    layers = {s.key.split(".")[3] for s in vitl if s.key.startswith("visual_encoder.transformer.resblocks.")}
    assert len(layers) == 23
    cross = {s.key.split(".")[4] for s in vitg if ".crossattention." in s.key}
    assert cross == {"0", "2", "4", "6", "8", "10"}
    spec = {s.key: s for s in vitg}
    assert spec["Qformer.bert.embeddings.word_embeddings.weight"].shape == (30523, 768)
    assert spec["prompt_tokens"].shape == spec["query_tokens"].shape == (1, 32, 768)
    assert spec["temp"].shape == ()


def test_tiny_preset_layout_matches_sprcs_class_at_tiny_sizes():
    assert testing.key_specs(SprcModel(preset="tiny").state_dict()) == key_list("tiny")


def test_region_loss_adds_keys_outside_sprcs_layout():
    model = SprcModel(preset="tiny", losses=[dict(type="itc"), dict(type="region_itc")])
    extra = [k for k in model.state_dict() if k.startswith(EXTRA_PREFIXES)]
    assert extra == ["losses.losses.region_itc.temperature.value", "region_embedder.proj.weight",
                     "region_embedder.proj.bias"]
    assert testing.key_specs(sprc_state_dict(model)) == key_list("tiny")


def test_itc_and_rtc_use_the_models_temp_without_a_key_of_their_own():
    model = SprcModel(preset="tiny")
    assert not any(k.startswith("losses.") for k in model.state_dict())
    assert [n for n, _ in model.named_parameters()].count("temp") == 1
    with torch.no_grad():
        model.temp.fill_(0.5)
    sim = torch.ones(2, 2)
    for name in ("itc", "rtc"):
        assert torch.equal(model.get_submodule(f"losses.losses.{name}.temperature")(sim), sim / 0.5)
