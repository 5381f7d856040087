"""LossSet: building by name, consumes routing, errors naming the loss and key, mmengine parse_losses, sharing."""
from __future__ import annotations

import importlib
import importlib.metadata
import inspect

import pytest
import torch
from mmengine.model import BaseModel

from regionkit.errors import ConfigError, RegionkitError
from regionkit.models.losses.loss_set import LossSet, build_loss
from regionkit.models.losses.sprc import AlignLoss, ItcLoss, RtcLoss, sprc_align_loss, sprc_contrastive_loss

ENTRY_POINTS = sorted(f"{ep.name} = {ep.value}" for ep in importlib.metadata.entry_points(group="regionkit.losses")
                      if ep.value.startswith("regionkit."))


def sprc_outputs(batch: int = 4) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"fusion_feats": torch.randn(batch, 8, generator=gen, requires_grad=True),
            "text_only_feats": torch.randn(batch, 8, generator=gen, requires_grad=True),
            "target_feats": torch.randn(batch, 3, 8, generator=gen, requires_grad=True),
            "fusion_prompts": torch.randn(batch, 3, 6, generator=gen, requires_grad=True),
            "prompt_tokens": torch.randn(1, 3, 6, generator=gen), "unused": torch.zeros(1)}


SPRC_CIRR = [dict(type="itc"), dict(type="rtc", loss_weight=0.4), dict(type="align", loss_weight=0.4)]


class _Model(BaseModel):
    def forward(self, *args, **kwargs):  # pragma: no cover - only parse_losses is used
        raise NotImplementedError


def test_sprc_cirr_recipe_through_parse_losses():
    losses = LossSet(SPRC_CIRR, share_temperature=[("itc", "rtc")])
    out = sprc_outputs()
    loss_dict = losses(out)
    assert list(loss_dict) == ["loss_itc", "loss_rtc", "loss_align"]
    total, log_vars = _Model().parse_losses(loss_dict)
    expected = (sprc_contrastive_loss(out["fusion_feats"], out["target_feats"], 0.07)
                + 0.4 * sprc_contrastive_loss(out["text_only_feats"], out["target_feats"], 0.07)
                + 0.4 * sprc_align_loss(out["fusion_prompts"], out["prompt_tokens"]))
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(log_vars) == {"loss", "loss_itc", "loss_rtc", "loss_align"}
    total.backward()
    temps = [p for n, p in losses.named_parameters() if n.endswith("temperature.value")]
    assert len(temps) == 1 and temps[0].grad is not None  # one shared, learnable temp as in SPRC


def test_share_temperature_ties_the_modules():
    losses = LossSet(SPRC_CIRR + [dict(type="region_itc")], share_temperature=[["itc", "rtc", "region_itc"]])
    assert losses.losses["rtc"].temperature is losses.losses["itc"].temperature
    assert losses.losses["region_itc"].temperature.mode == "temperature"  # SPRC's temp: sim / temp
    with pytest.raises(ConfigError, match="not in this loss set"):
        LossSet(SPRC_CIRR, share_temperature=[("itc", "nope")])
    with pytest.raises(ConfigError, match="no temperature"):
        LossSet(SPRC_CIRR, share_temperature=[("itc", "align")])


def test_missing_model_output_names_loss_key_and_produced_keys():
    losses = LossSet(SPRC_CIRR)
    out = sprc_outputs()
    del out["text_only_feats"]
    with pytest.raises(ConfigError) as info:
        losses(out)
    message = str(info.value)
    assert "loss 'rtc'" in message and "'text_only_feats'" in message
    assert "the model produced: fusion_feats, fusion_prompts, prompt_tokens, target_feats, unused" in message


def test_inputs_remap_names_and_modules():
    out = sprc_outputs()
    out["query"] = out.pop("fusion_feats")
    losses = LossSet({"global": dict(type="itc", inputs={"fusion_feats": "query"}), "prompts": AlignLoss(loss_weight=2.0)})
    loss_dict = losses(out)
    assert set(loss_dict) == {"loss_global", "loss_prompts"}
    assert losses.consumed_keys() == {"query", "target_feats", "fusion_prompts", "prompt_tokens"}
    assert loss_dict["loss_prompts"].item() == pytest.approx(
        2 * sprc_align_loss(out["fusion_prompts"], out["prompt_tokens"]).item())
    named = LossSet([dict(type="itc", name="itc_a"), dict(type="itc", name="itc_b", loss_weight=0.5), RtcLoss()])
    assert list(named.losses) == ["itc_a", "itc_b", "rtc"]
    with pytest.raises(ConfigError, match="two losses are named 'itc'"):
        LossSet([dict(type="itc"), ItcLoss()])
    with pytest.raises(ConfigError, match="does not consume"):
        LossSet([dict(type="itc", inputs={"query": "q"})])


def test_build_errors_are_config_errors():
    with pytest.raises(RegionkitError, match="did you mean 'region_itc'"):
        build_loss(dict(type="region_itcc"))
    with pytest.raises(ConfigError, match="unknown parameter 'temprature'.*did you mean 'temperature'"):
        build_loss(dict(type="itc", temprature=0.1))
    with pytest.raises(ConfigError, match="loss 'itc': loss_weight"):
        build_loss(dict(type="itc", loss_weight="heavy"))
    with pytest.raises(ConfigError, match="'type'"):
        build_loss(dict(loss_weight=1.0))
    with pytest.raises(ConfigError, match="mode"):
        build_loss(dict(type="region_itc", mode="hardest"))
    assert isinstance(build_loss(dict(type=ItcLoss, loss_weight=0.3)), ItcLoss)
    custom = LossSet([dict(type="anything")], builder=lambda cfg: RtcLoss())
    assert list(custom.losses) == ["anything"]


@pytest.mark.parametrize("line", ENTRY_POINTS)
def test_entry_point_targets_and_contracts(line):
    name, _, target = (part.strip() for part in line.partition("="))
    module, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    assert cls.name == name
    assert cls.__init__.__regionkit_checked__  # regionkit.params.checked
    forward = [p for p in inspect.signature(cls.forward).parameters if p != "self"]
    assert tuple(forward) == cls.consumes  # forward takes exactly the consumed entries
    assert tuple(cls.example_inputs()) == cls.consumes
    assert inspect.signature(cls).parameters["loss_weight"].default == 1.0
    built = build_loss(dict(type=name, loss_weight=0.25))
    assert built.loss_weight == 0.25 and isinstance(built, torch.nn.Module)
