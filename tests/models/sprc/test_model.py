"""The tiny preset end to end on a CPU: forward / backward with SPRC's losses and a region loss, predict."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from regionkit.errors import ComponentNotFoundError, ConfigError
from regionkit.models.errors import WeightsError
from regionkit.models.retrieval.sprc.model import FEATURE_KEYS, ModelTemperature, SprcModel

from .support import one_thread

LOSSES: list[dict[str, Any]] = [dict(type="itc"), dict(type="rtc", loss_weight=0.4), dict(type="align", loss_weight=0.4),
          dict(type="region_itc", loss_weight=0.1)]
CAPTIONS = ["make the dog a cat", "add a red ball (small)!", "remove the people", "show two birds"]


def _boxes(counts: list[int], seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k in counts:
        xy = torch.rand(k, 2, generator=gen) * 0.6
        out.append(torch.cat([xy, xy + 0.1 + torch.rand(k, 2, generator=gen) * 0.3], 1))
    return out


def _inputs(batch: int, ref_counts: list[int], tgt_counts: list[int], seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return dict(ref_images=torch.randn(batch, 3, 224, 224, generator=gen),
                tgt_images=torch.randn(batch, 3, 224, 224, generator=gen), captions=CAPTIONS[:batch],
                ref_boxes=_boxes(ref_counts, seed + 1), tgt_boxes=_boxes(tgt_counts, seed + 2))


@pytest.fixture(scope="module")
def model() -> SprcModel:
    torch.manual_seed(0)
    return SprcModel(preset="tiny", losses=LOSSES)


@pytest.mark.parametrize("batch,ref_counts,tgt_counts", [
    (1, [2], [0]),
    (2, [1, 3], [0, 2]),
    (2, [0, 0], [0, 0]),
    (3, [4, 0, 1], [1, 1, 5]),
])
def test_forward_backward_no_nan(model, batch, ref_counts, tgt_counts):
    model.train()
    model.zero_grad(set_to_none=True)
    with one_thread():
        losses = model(_inputs(batch, ref_counts, tgt_counts), mode="loss")
        total, log_vars = model.parse_losses(losses)
        total.backward()
    assert set(losses) == {"loss_itc", "loss_rtc", "loss_align", "loss_region_itc"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert torch.isfinite(total) and set(log_vars) == {"loss", *losses}
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert not any(n.startswith("visual_encoder.") for n in grads)  # frozen ViT
    assert "ln_vision.weight" in grads and "query_tokens" in grads
    if batch > 1:
        assert float(losses["loss_itc"].detach()) > 0 and float(grads["temp"].abs()) > 0
        assert float(grads["prompt_tokens"].abs().sum()) > 0  # only rtc reaches the prompts
        assert float(grads["region_embedder.proj.weight"].abs().sum()) > 0
    else:
        assert float(losses["loss_itc"].detach()) == 0.0  # one triplet: no negatives (SPRC's .squeeze() would fail)


def test_prompt_tokens_get_no_gradient_from_align(model):
    only_align = SprcModel(preset="tiny", losses=[dict(type="align")])
    only_align.load_state_dict(model.state_dict(), strict=False)
    with one_thread():
        loss, _ = only_align.parse_losses(only_align(_inputs(2, [1, 1], [1, 1]), mode="loss"))
        loss.backward()
    assert only_align.prompt_tokens.grad is None
    assert only_align.query_tokens.grad is not None


def test_features_have_the_documented_shapes(model):
    model.eval()
    with torch.no_grad(), one_thread():
        feats = model(_inputs(2, [2, 0], [1, 3]), mode="tensor")
    assert set(feats) == set(FEATURE_KEYS)
    assert feats["fusion_feats"].shape == feats["text_only_feats"].shape == (2, 64)
    assert feats["target_feats"].shape == (2, 32, 64)
    assert feats["fusion_prompts"].shape == (2, 32, 64) and feats["prompt_tokens"].shape == (1, 32, 64)
    assert feats["ref_tokens"].shape == feats["tgt_tokens"].shape == (2, 257, 48)
    assert torch.allclose(feats["fusion_feats"].norm(dim=-1), torch.ones(2))
    # image 1 of the reference has no box: one whole-image region (the mean of its patches)
    assert feats["ref_region_owner"].tolist() == [0, 0, 1] and feats["tgt_region_owner"].tolist() == [0, 1, 1, 1]
    assert feats["ref_region_feats"].shape == (3, 64)
    assert torch.allclose(feats["tgt_region_feats"].norm(dim=-1), torch.ones(4))


def test_predict_scores_are_the_max_over_target_tokens(model):
    model.eval()
    gen = torch.Generator().manual_seed(5)
    inputs = dict(ref_images=torch.randn(2, 3, 224, 224, generator=gen), captions=CAPTIONS[:2],
                  tgt_images=torch.randn(3, 3, 224, 224, generator=gen))
    with torch.no_grad(), one_thread():
        pred = model(inputs, mode="predict")
        index = model(dict(tgt_images=inputs["tgt_images"]), mode="predict")
        query = model(dict(ref_images=inputs["ref_images"], captions=inputs["captions"]), mode="predict")
    assert pred["query_feats"].shape == (2, 64) and pred["target_feats"].shape == (3, 32, 64)
    expected = torch.einsum("id,jqd->ijq", pred["query_feats"], pred["target_feats"]).max(-1).values
    assert torch.allclose(pred["scores"], expected, atol=1e-6)
    assert set(index) == {"target_feats"} and set(query) == {"query_feats"}
    assert torch.allclose(index["target_feats"], pred["target_feats"])


def test_batch_size_one_predict_and_cached_embeddings(model):
    model.eval()
    image = torch.randn(1, 3, 224, 224)
    with torch.no_grad(), one_thread():
        a = model(dict(ref_images=image, tgt_images=image, captions=["x"]), mode="predict")
        vit = model.encode_vit(image)
        b = model(dict(ref_vit_feats=vit, tgt_embeds=model.embed_vit_tokens(vit), captions=["x"]), mode="predict")
    assert a["scores"].shape == (1, 1)
    assert torch.allclose(a["scores"], b["scores"], atol=1e-6)


def test_boxes_on_the_original_image_are_mapped_through_targetpad(model):
    model.eval()
    inputs = _inputs(1, [0], [0])
    inputs["ref_boxes"] = [torch.tensor([[0.1, 0.2, 0.5, 0.9]])]
    inputs["tgt_boxes"] = [torch.tensor([[0.0, 0.0, 1.0, 1.0]])]
    inputs["ref_image_sizes"], inputs["tgt_image_sizes"] = [(640, 360)], [(375, 500)]
    with torch.no_grad(), one_thread():
        feats = model(inputs, mode="tensor")
    # spec §3.1 worked examples (TargetPad 1.25 -> Resize 224 -> CenterCrop 224)
    assert torch.allclose(feats["ref_boxes"][0], torch.tensor([[0.0, 0.2890625, 0.5, 0.78125]]), atol=1e-6)
    assert torch.allclose(feats["tgt_boxes"][0][0, [1, 3]], torch.tensor([0.0, 1.0]), atol=1e-6)
    assert abs(float(feats["tgt_boxes"][0][0, 0]) - 0.0301) < 1e-3


@pytest.mark.parametrize("tokens", ["ln_vision", "vit", "projected"])
def test_region_token_sources(tokens):
    model = SprcModel(preset="tiny", losses=LOSSES, region_tokens=tokens).eval()
    with torch.no_grad(), one_thread():
        feats = model(_inputs(2, [1, 2], [2, 0]), mode="tensor")
        loss = model(_inputs(2, [1, 2], [2, 0]), mode="loss")["loss_region_itc"]
    assert feats["ref_region_feats"].shape == (3, 64) and torch.isfinite(loss)
    with torch.no_grad():
        vit = model.encode_vit(_inputs(2, [1, 2], [2, 0])["ref_images"])
    expected = vit if tokens == "vit" else model.embed_vit_tokens(vit)
    assert torch.allclose(feats["ref_tokens"], expected, atol=1e-5)


def test_projected_and_pooled_then_projected_agree_for_boxes_inside_the_image():
    a = SprcModel(preset="tiny", losses=LOSSES, region_tokens="ln_vision").eval()
    b = SprcModel(preset="tiny", losses=LOSSES, region_tokens="projected").eval()
    b.load_state_dict(a.state_dict())
    inputs = _inputs(2, [2, 1], [1, 1])
    with torch.no_grad(), one_thread():
        fa, fb = a(inputs, mode="tensor"), b(inputs, mode="tensor")
    assert torch.allclose(fa["ref_region_feats"], fb["ref_region_feats"], atol=1e-5)


def test_input_errors_are_explained(model):
    images = torch.randn(2, 3, 224, 224)
    with pytest.raises(ConfigError, match="needs ref_boxes"):
        model(dict(ref_images=images, tgt_images=images, captions=CAPTIONS[:2]), mode="loss")
    with pytest.raises(ConfigError, match="not several"):
        model(dict(ref_images=images, ref_embeds=images, captions=CAPTIONS[:2]), mode="tensor")
    with pytest.raises(ConfigError, match="mode must be"):
        model(dict(ref_images=images), mode="train")
    with pytest.raises(ConfigError, match="list of strings"):
        model(dict(ref_images=images, captions="one caption"), mode="tensor")
    with pytest.raises(ConfigError, match="reads model output 'fusion_feats'"), one_thread():
        SprcModel(preset="tiny")(dict(tgt_images=images), mode="loss")


def test_config_errors():
    with pytest.raises(ConfigError, match="preset"):
        SprcModel(preset="huge")  # type: ignore[arg-type]
    with pytest.raises((ConfigError, ComponentNotFoundError), match="unknown loss .itcc."):
        SprcModel(preset="tiny", losses=[dict(type="itcc")])
    with pytest.raises(WeightsError, match="vocab_file is required.*bert-base-uncased"), torch.device("meta"):
        SprcModel(preset="pretrain")


def test_frozen_vit_stays_in_eval_mode_and_deepcopy_keeps_the_temperature_link(model):
    model.train()
    assert model.training and not model.visual_encoder.training and model.Qformer.training
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.temp.fill_(1.0)
    assert twin.losses.losses["itc"].temperature.value is twin.temp
    assert model.losses.losses["itc"].temperature.value is model.temp and float(model.temp.detach()) != 1.0


def test_dropout_is_active_in_training_only(model):
    inputs = _inputs(2, [1, 1], [1, 1])
    with torch.no_grad(), one_thread():
        model.eval()
        e1, e2 = model(inputs, mode="tensor")["fusion_feats"], model(inputs, mode="tensor")["fusion_feats"]
        model.train()
        t1 = model(inputs, mode="tensor")["fusion_feats"]
    assert torch.equal(e1, e2) and not torch.allclose(e1, t1)


def test_a_few_optimiser_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = SprcModel(preset="tiny", losses=LOSSES)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    inputs = _inputs(4, [1, 2, 0, 1], [2, 1, 1, 0], seed=3)
    history = []
    model.train()
    with one_thread():
        for _ in range(6):
            loss, _ = model.parse_losses(model(inputs, mode="loss"))
            optim.zero_grad()
            loss.backward()
            optim.step()
            history.append(float(loss.detach()))
    assert history[-1] < history[0]


def test_mmengine_train_and_val_steps():
    from mmengine.optim import OptimWrapper

    torch.manual_seed(0)
    model = SprcModel(preset="tiny", losses=LOSSES)
    wrapper = OptimWrapper(torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4))
    data = dict(inputs=_inputs(2, [1, 0], [2, 1]))
    model.train()
    with one_thread():
        log_vars = model.train_step(data, wrapper)
        model.eval()
        pred = model.val_step(dict(inputs=dict(ref_images=data["inputs"]["ref_images"], captions=CAPTIONS[:2],
                                               tgt_images=data["inputs"]["tgt_images"])))
    assert set(log_vars) == {"loss", "loss_itc", "loss_rtc", "loss_align", "loss_region_itc"}
    assert pred["scores"].shape == (2, 2)


def test_vit_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = SprcModel(preset="tiny", freeze_vit=False, losses=[dict(type="itc")])
    ckpt = SprcModel(preset="tiny", freeze_vit=False, use_grad_checkpoint=True, losses=[dict(type="itc")])
    ckpt.load_state_dict(plain.state_dict())
    inputs = _inputs(2, [0, 0], [0, 0])
    grads = []
    with one_thread():
        for model in (plain, ckpt):
            model.eval()  # no dropout, so both runs are deterministic
            model(inputs, mode="loss")["loss_itc"].backward()
            grads.append(model.get_parameter("visual_encoder.blocks.0.attn.qkv.weight").grad)
    assert grads[0] is not None and grads[1] is not None and float(grads[0].abs().sum()) > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_vit_precision_on_a_cpu():
    from regionkit.models.backbones.eva_vit import convert_to_fp16

    images = torch.randn(1, 3, 224, 224)
    fp16 = SprcModel(preset="tiny", vit_precision="fp16")
    assert fp16.get_parameter("visual_encoder.blocks.0.attn.qkv.weight").dtype == torch.float16
    assert fp16.get_parameter("visual_encoder.blocks.0.norm1.weight").dtype == torch.float32
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        fp16.encode_vit(images)
    auto = SprcModel(preset="tiny").eval()
    with torch.no_grad():
        before = auto.encode_vit(images)
        convert_to_fp16(auto.visual_encoder)  # as after a CUDA run
        after = auto.encode_vit(images)  # back to fp32 on the CPU
    assert auto.get_parameter("visual_encoder.blocks.0.attn.qkv.weight").dtype == torch.float32
    assert after.dtype == torch.float32 and torch.allclose(before, after, atol=1e-2)


def test_a_region_loss_can_share_sprcs_temp():
    model = SprcModel(preset="tiny", losses=LOSSES, share_temperature=[("itc", "rtc", "region_itc")])
    temps = {name: model.get_submodule(f"losses.losses.{name}.temperature") for name in ("itc", "rtc", "region_itc")}
    assert temps["itc"] is temps["rtc"] is temps["region_itc"]
    assert isinstance(temps["itc"], ModelTemperature) and temps["itc"].value is model.temp
    assert not any(k.startswith("losses.") for k in model.state_dict())
