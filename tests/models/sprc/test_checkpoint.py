"""Loading BLIP-2 / SPRC checkpoints by local path (weights_only), round trips and the error messages."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

from regionkit.models.backbones.eva_vit import EvaViT
from regionkit.models.errors import WeightsError
from regionkit.models.retrieval.sprc.checkpoint import read_state_dict, save_sprc_checkpoint, sprc_state_dict
from regionkit.models.retrieval.sprc.model import SprcModel

from .support import seeded_tiny


class TrainingState:
    """A non-tensor object such as an mmengine training checkpoint pickles (message hub, ...)."""

    def __init__(self) -> None:
        self.history = [1, 2, 3]


@pytest.fixture(scope="module")
def source() -> SprcModel:
    return seeded_tiny()


def _equal_states(a: torch.nn.Module, b: torch.nn.Module, prefix: str = "") -> None:
    sa, sb = sprc_state_dict(a), sprc_state_dict(b)
    assert list(sa) == list(sb)
    for key in sa:
        if key.startswith(prefix):
            assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("layout", ["sprc", "lavis"])
def test_round_trip_through_sprc_and_lavis_layouts(tmp_path, source, layout):
    path = save_sprc_checkpoint(source, tmp_path / "model.pt", layout=layout)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == ({"epoch", "Blip2QformerCirAlignPrompt"} if layout == "sprc" else {"model"})
    loaded = SprcModel(preset="tiny", checkpoint=path)
    _equal_states(source, loaded)
    report = loaded.load_reports[0]
    assert report.ok and report.loaded == len(sprc_state_dict(source)) and report.kept == []
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        a = source(dict(ref_images=images, tgt_images=images, captions=["a", "b"]), mode="predict")["scores"]
        b = loaded.eval()(dict(ref_images=images, tgt_images=images, captions=["a", "b"]), mode="predict")["scores"]
    assert torch.equal(a, b)


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "module_prefix"])
def test_bare_mmengine_and_ddp_state_dicts(tmp_path, source, wrap):
    state = sprc_state_dict(source)
    if wrap == "module_prefix":
        state = OrderedDict((f"module.{k}", v) for k, v in state.items())
    payload = state if wrap != "state_dict" else {"state_dict": state, "meta": {"epoch": 3}}
    torch.save(payload, tmp_path / "ckpt.pth")
    _equal_states(source, SprcModel(preset="tiny", checkpoint=tmp_path / "ckpt.pth"))


def test_missing_file_is_one_line_naming_the_path_and_the_source(tmp_path):
    for kwargs, names in ((dict(checkpoint=tmp_path / "sprc_cirr.pt"), "sprc_cirr.pt"),
                          (dict(pretrained=tmp_path / "blip2.pth"), "blip2_pretrained.pth"),
                          (dict(vit_checkpoint=tmp_path / "vit.pth"), "eva_vit_g.pth")):
        with pytest.raises(WeightsError) as info:
            SprcModel(preset="tiny", **kwargs)
        message = str(info.value)
        assert "\n" not in message and "not found" in message and str(next(iter(kwargs.values()))) in message
        assert names in message and "never downloads" in message


def test_missing_unexpected_and_mismatched_keys_are_listed(tmp_path, source):
    state = sprc_state_dict(source)
    del state["text_proj.bias"], state["Qformer.bert.encoder.layer.1.output.dense.weight"]
    state["Qformer.bert.pooler.dense.weight"] = torch.zeros(2, 2)
    torch.save({"model": state}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as info:
        SprcModel(preset="tiny", checkpoint=tmp_path / "bad.pth")
    message = str(info.value)
    assert str(tmp_path / "bad.pth") in message
    assert "2 missing key(s): Qformer.bert.encoder.layer.1.output.dense.weight, text_proj.bias" in message
    assert "1 unexpected key(s): Qformer.bert.pooler.dense.weight" in message
    relaxed = SprcModel(preset="tiny", checkpoint=tmp_path / "bad.pth", strict_load=False)
    assert relaxed.load_reports[0].missing == ["Qformer.bert.encoder.layer.1.output.dense.weight", "text_proj.bias"]
    assert torch.equal(relaxed.query_tokens, source.query_tokens)

    state = sprc_state_dict(source)
    state["vision_proj.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"1 shape mismatch key\(s\): vision_proj.weight: \(3, 3\) in file vs "
                                           r"\(64, 64\) in model"):
        SprcModel(preset="tiny", checkpoint=tmp_path / "shape.pth")


def test_blip2_pretrained_file_without_prompts_and_vit(tmp_path, source):
    state = OrderedDict((k, v) for k, v in sprc_state_dict(source).items()
                        if not k.startswith("visual_encoder.") and k not in ("prompt_tokens",
                                                                             "Qformer.bert.embeddings.position_ids"))
    torch.save({"model": state}, tmp_path / "blip2_pretrained.pth")
    model = SprcModel(preset="tiny", pretrained=tmp_path / "blip2_pretrained.pth")
    report = model.load_reports[0]
    assert report.ok and "prompt_tokens" in report.kept
    assert any(k.startswith("visual_encoder.") for k in report.kept)
    assert not torch.equal(model.prompt_tokens, source.prompt_tokens)  # kept at its initialisation, as SPRC
    _equal_states(source, model, prefix="Qformer.")


def test_checkpoint_without_the_vit_needs_a_vit_file(tmp_path, source):
    state = OrderedDict((k, v) for k, v in sprc_state_dict(source).items() if not k.startswith("visual_encoder."))
    torch.save(state, tmp_path / "no_vit.pth")
    with pytest.raises(WeightsError, match="also pass vit_checkpoint"):
        SprcModel(preset="tiny", checkpoint=tmp_path / "no_vit.pth")
    vit = OrderedDict((k, v) for k, v in source.visual_encoder.state_dict().items())
    vit["blocks.2.norm1.weight"] = torch.ones(48)  # EVA-CLIP's file has a block more than LAVIS keeps
    vit["norm.weight"] = torch.ones(48)
    torch.save(vit, tmp_path / "eva_vit_g.pth")
    model = SprcModel(preset="tiny", vit_checkpoint=tmp_path / "eva_vit_g.pth", checkpoint=tmp_path / "no_vit.pth")
    assert model.load_reports[0].ignored == ["blocks.2.norm1.weight", "norm.weight"]
    _equal_states(source, model)


def test_vit_file_may_be_a_full_checkpoint_and_is_resized_to_the_image_size(tmp_path, source):
    save_sprc_checkpoint(source, tmp_path / "full.pt")
    model = SprcModel(preset="tiny", vit_checkpoint=tmp_path / "full.pt")
    _equal_states(source, model, prefix="visual_encoder.")
    small = SprcModel(preset="tiny", img_size=112, vit_checkpoint=tmp_path / "full.pt")
    assert isinstance(small.visual_encoder, EvaViT) and isinstance(source.visual_encoder, EvaViT)
    assert small.visual_encoder.pos_embed.shape == (1, 65, 48)
    assert torch.equal(small.visual_encoder.pos_embed[:, 0], source.visual_encoder.pos_embed[:, 0])


def test_a_vit_file_of_the_other_backbone_is_refused(tmp_path):
    from regionkit.models.backbones.clip_vit import ClipViT, ClipViTConfig

    torch.save(ClipViT(ClipViTConfig(width=48, layers=1, heads=4)).state_dict(), tmp_path / "clip_vit_L.pth")
    with pytest.raises(WeightsError, match=r"EVA ViT-g weights file .* missing key\(s\): visual_encoder.cls_token"):
        SprcModel(preset="tiny", vit_checkpoint=tmp_path / "clip_vit_L.pth")


def test_fp16_vit_weights_in_the_file_load_into_an_fp32_model(tmp_path, source):
    state = sprc_state_dict(source)
    state = OrderedDict((k, v.half() if k.startswith("visual_encoder.") and v.dim() >= 2 else v)
                        for k, v in state.items())
    torch.save({"epoch": 1, "Blip2QformerCirAlignPrompt": state}, tmp_path / "sprc_cirr.pt")
    model = SprcModel(preset="tiny", checkpoint=tmp_path / "sprc_cirr.pt")
    weight = model.get_parameter("visual_encoder.blocks.0.attn.qkv.weight")
    assert weight.dtype == torch.float32
    assert torch.equal(weight, source.get_parameter("visual_encoder.blocks.0.attn.qkv.weight").half().float())


def test_non_tensor_pickles_need_the_explicit_opt_in(tmp_path, source):
    torch.save({"state_dict": sprc_state_dict(source), "message_hub": TrainingState()}, tmp_path / "epoch_1.pth")
    with pytest.raises(WeightsError) as info:
        SprcModel(preset="tiny", checkpoint=tmp_path / "epoch_1.pth")
    message = str(info.value)
    assert "TrainingState" in message and "allow_pickled_objects=True" in message and "epoch_1.pth" in message
    model = SprcModel(preset="tiny", checkpoint=tmp_path / "epoch_1.pth", allow_pickled_objects=True)
    _equal_states(source, model)


def test_non_tensor_entries_in_a_state_dict_are_named(tmp_path):
    torch.save({"weight": torch.zeros(1), "note": "hello"}, tmp_path / "odd.pth")
    with pytest.raises(WeightsError, match="entries that are not tensors: note"):
        read_state_dict(tmp_path / "odd.pth", "SPRC checkpoint", "somewhere")


def test_regionkit_additions_are_optional_both_ways(tmp_path):
    with_region = SprcModel(preset="tiny", losses=[dict(type="itc"), dict(type="region_itc")])
    torch.save({"state_dict": with_region.state_dict()}, tmp_path / "regionkit.pth")
    plain = SprcModel(preset="tiny", checkpoint=tmp_path / "regionkit.pth")
    assert plain.load_reports[0].ignored == ["losses.losses.region_itc.temperature.value",
                                             "region_embedder.proj.bias", "region_embedder.proj.weight"]
    save_sprc_checkpoint(plain, tmp_path / "sprc.pt")
    again = SprcModel(preset="tiny", losses=[dict(type="itc"), dict(type="region_itc")], checkpoint=tmp_path / "sprc.pt")
    assert again.load_reports[0].kept == ["losses.losses.region_itc.temperature.value", "region_embedder.proj.bias",
                                          "region_embedder.proj.weight"]
