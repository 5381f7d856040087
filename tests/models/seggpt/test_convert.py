"""Painter's checkpoint layout <-> transformers': the spec's rename rules, strict loading, the file formats."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from regionkit.models.errors import WeightsError  # noqa: E402
from regionkit.models.segmentation.seggpt.convert import (  # noqa: E402
    SOURCE_FILE,
    config_from_painter,
    convert_checkpoint,
    normalize_transformers_keys,
    painter_to_transformers,
    read_checkpoint_file,
    transformers_to_painter,
)
from regionkit.models.segmentation.seggpt.model import load_seggpt  # noqa: E402
from tests.models.seggpt.support import TINY, tiny_model  # noqa: E402

# the spec's table (section 7), one literal example per rule, block 3 for the per-block rules
SPEC_RULES = {
    "patch_embed.proj.weight": "model.embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "model.embeddings.patch_embeddings.projection.bias",
    "mask_token": "model.embeddings.mask_token",
    "pos_embed": "model.embeddings.position_embeddings",
    "segment_token_x": "model.embeddings.segment_token_input",
    "segment_token_y": "model.embeddings.segment_token_prompt",
    "type_token_cls": "model.embeddings.type_token_semantic",
    "type_token_ins": "model.embeddings.type_token_instance",
    "norm.weight": "model.encoder.layernorm.weight",
    "norm.bias": "model.encoder.layernorm.bias",
    "blocks.3.attn.qkv.weight": "model.encoder.layers.3.attention.qkv.weight",
    "blocks.3.attn.proj.bias": "model.encoder.layers.3.attention.proj.bias",
    "blocks.3.attn.rel_pos_h": "model.encoder.layers.3.attention.rel_pos_h",
    "blocks.3.attn.rel_pos_w": "model.encoder.layers.3.attention.rel_pos_w",
    "blocks.3.mlp.fc1.weight": "model.encoder.layers.3.mlp.lin1.weight",
    "blocks.3.mlp.fc2.bias": "model.encoder.layers.3.mlp.lin2.bias",
    "blocks.3.norm1.weight": "model.encoder.layers.3.layernorm_before.weight",
    "blocks.3.norm2.bias": "model.encoder.layers.3.layernorm_after.bias",
    "decoder_embed.weight": "decoder.decoder_embed.weight",
    "decoder_pred.0.weight": "decoder.decoder_pred.conv.weight",
    "decoder_pred.1.bias": "decoder.decoder_pred.layernorm.bias",
    "decoder_pred.3.weight": "decoder.decoder_pred.head.weight",
}


def _painter_names(depth: int) -> set[str]:
    """The 354 names of Painter's ViT-L checkpoint as the spec lists them (for ``depth`` blocks)."""
    names = {"patch_embed.proj.weight", "patch_embed.proj.bias", "mask_token", "segment_token_x", "segment_token_y",
             "type_token_cls", "type_token_ins", "pos_embed", "norm.weight", "norm.bias", "decoder_embed.weight",
             "decoder_embed.bias"}
    names |= {f"decoder_pred.{i}.{p}" for i in (0, 1, 3) for p in ("weight", "bias")}
    for i in range(depth):
        names |= {f"blocks.{i}.{m}.{p}" for m in ("norm1", "norm2", "attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
                  for p in ("weight", "bias")}
        names |= {f"blocks.{i}.attn.rel_pos_h", f"blocks.{i}.attn.rel_pos_w"}
    return names


def test_every_spec_rule_renames_as_written():
    state = {k: torch.zeros(1) for k in SPEC_RULES}
    assert painter_to_transformers(state).keys() == set(SPEC_RULES.values())
    for painter, hf in SPEC_RULES.items():
        assert list(painter_to_transformers({painter: 0})) == [hf]
    assert transformers_to_painter({v: 0 for v in SPEC_RULES.values()}).keys() == set(SPEC_RULES)


def test_the_vit_large_layout_has_the_354_painter_names_and_round_trips():
    """transformers' default (ViT-L) model, built on the meta device: its keys are exactly Painter's 354, renamed."""
    from transformers import SegGptConfig, SegGptForImageSegmentation

    with torch.device("meta"):
        net = SegGptForImageSegmentation(SegGptConfig())
    hf_state = net.state_dict()
    painter = transformers_to_painter(hf_state)
    assert set(painter) == _painter_names(24) and len(painter) == 354
    assert tuple(painter["blocks.0.attn.rel_pos_h"].shape) == (111, 64)
    assert tuple(painter["blocks.0.attn.rel_pos_w"].shape) == (55, 64)
    back = painter_to_transformers(painter)
    assert set(back) == set(hf_state)
    cfg = config_from_painter(painter)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, list(cfg.image_size)) == (
        1024, 24, 16, [896, 448])
    assert cfg.merge_index == 2 and list(cfg.intermediate_hidden_state_indices) == [5, 11, 17, 23]
    assert (cfg.mlp_dim, cfg.pretrain_image_size, cfg.decoder_hidden_size) == (4096, 224, 64)


def test_unknown_keys_are_named_in_one_line():
    with pytest.raises(WeightsError, match="cls_head.weight") as info:
        painter_to_transformers({"cls_head.weight": 0, "mask_token": 0})
    assert "\n" not in str(info.value)


def test_old_transformers_names_are_normalised():
    old = {"embeddings.mask_token": 1, "encoder.layers.0.mlp.fc1.weight": 2, "decoder.decoder_embed.bias": 3}
    assert normalize_transformers_keys(old) == {"model.embeddings.mask_token": 1,
                                                "model.encoder.layers.0.mlp.lin1.weight": 2,
                                                "decoder.decoder_embed.bias": 3}


def _painter_file(path, net, key="model", prefix="", extra=None):
    state = {prefix + k: v.clone() for k, v in transformers_to_painter(net.state_dict()).items()}
    obj = {key: state} if key else state
    obj.update(extra or {})
    torch.save(obj, path)
    return path


def _forward(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    h, w = TINY["image_size"][0] // 2, TINY["image_size"][1]
    x = [torch.randn(1, 3, h, w, generator=g) for _ in range(3)]
    with torch.inference_mode():
        return net(pixel_values=x[0], prompt_pixel_values=x[1], prompt_masks=x[2]).pred_masks


TINY_HIDDEN = dict(merge_index=TINY["merge_index"],
                   intermediate_hidden_state_indices=TINY["intermediate_hidden_state_indices"])


def test_painter_file_on_random_weights_gives_the_same_outputs(tmp_path, one_thread):
    """A random model written in Painter's layout loads back (config read from shapes) and predicts identically."""
    net = tiny_model(seed=3)
    path = _painter_file(tmp_path / "seggpt_vit_large.pth", net)
    state = read_checkpoint_file(path).state
    cfg = config_from_painter(state, **TINY_HIDDEN)
    for field in ("hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size", "mlp_dim",
                  "pretrain_image_size", "decoder_hidden_size"):
        assert getattr(cfg, field) == TINY[field], field
    assert list(cfg.image_size) == TINY["image_size"]
    loaded = load_seggpt(path, TINY_HIDDEN)
    assert loaded.embedding_type is None  # the release: the type token is not known from the file
    torch.testing.assert_close(_forward(loaded.net), _forward(net), rtol=0, atol=0)


def test_depth_other_than_24_needs_the_merge_index(tmp_path):
    path = _painter_file(tmp_path / "w.pth", tiny_model())
    with pytest.raises(WeightsError, match="merge_index"):
        load_seggpt(path)


def test_fine_tune_file_with_ddp_prefix_and_training_state(tmp_path, one_thread):
    """SegGPT-FineTune's {'model_state_dict': ...} (DDP 'module.' keys, optimiser state) loads and means 'semantic'."""
    net = tiny_model(seed=4)
    path = _painter_file(tmp_path / "best.pt", net, key="model_state_dict", prefix="module.",
                         extra={"optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "epoch": 3})
    loaded = load_seggpt(path, TINY_HIDDEN)
    assert loaded.embedding_type == "semantic"
    torch.testing.assert_close(_forward(loaded.net), _forward(net), rtol=0, atol=0)


def test_missing_and_misshaped_tensors_are_refused(tmp_path):
    net = tiny_model()
    state = transformers_to_painter(net.state_dict())
    del state["blocks.1.mlp.fc1.bias"]
    torch.save({"model": state}, tmp_path / "missing.pth")
    with pytest.raises(WeightsError, match=r"1 missing: model\.encoder\.layers\.1\.mlp\.lin1\.bias") as info:
        load_seggpt(tmp_path / "missing.pth", TINY_HIDDEN)
    assert "\n" not in str(info.value) and "missing.pth" in str(info.value)
    state = transformers_to_painter(net.state_dict())
    state["mask_token"] = torch.zeros(1, 1, 1, 7)
    torch.save({"model": state}, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match="mis-shaped"):
        load_seggpt(tmp_path / "shape.pth", TINY_HIDDEN)


def test_not_a_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "seggpt_vit_large.pth"
    bad.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")  # what a raw/ link downloads
    with pytest.raises(WeightsError, match="cannot read SegGPT checkpoint") as info:
        read_checkpoint_file(bad)
    assert "\n" not in str(info.value)


def test_convert_writes_a_folder_transformers_loads(tmp_path, one_thread):
    from transformers import SegGptForImageSegmentation

    net = tiny_model(seed=5)
    src = _painter_file(tmp_path / "ft.pth", net, key="model_state_dict")
    out = convert_checkpoint(src, tmp_path / "hf", TINY_HIDDEN)
    info = json.loads((out / SOURCE_FILE).read_text())
    assert info["embedding_type"] == "semantic" and info["layout"] == "painter"
    again = SegGptForImageSegmentation.from_pretrained(str(out)).eval()
    torch.testing.assert_close(_forward(again), _forward(net), rtol=0, atol=0)
    ours = load_seggpt(out)
    assert ours.embedding_type == "semantic"
    np.testing.assert_array_equal(_forward(ours.net).numpy(), _forward(net).numpy())
